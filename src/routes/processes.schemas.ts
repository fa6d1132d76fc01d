// Wire types of processes: /v1/distributions/{distro}/processes, /v1/processes[/{id}], run.

import { Type, type Static } from '@sinclair/typebox';
import { ARGV_SUMMARY, KILL_CONFIRM_MS, MAX_LAUNCH_BYTES, MAX_LAUNCH_STRING_BYTES, OUTPUT_DRAIN_MS } from '../core/process-limits.js';
import { NextCursor } from './paging.js';
import { ref, StringEnum } from './schema-helpers.js';

// A process's strings reach execve as C strings: a NUL would cut them short.
const LAUNCH_LIMIT =
  `argv and env together at most ${MAX_LAUNCH_BYTES} bytes (UTF-8, 4 more per string, the distribution's default ` +
  `environment included) and ${MAX_LAUNCH_STRING_BYTES} bytes for one string, or 400 E_INVALIDARG before anything starts`;
const Argv = Type.Array(Type.String({ maxLength: 131072, pattern: '^[^\\x00]*$' }), {
  minItems: 1,
  maxItems: 4096,
  description:
    `the program (not empty) and its arguments, exec'd exactly: no shell parses them (wsl --exec). Without argv ` +
    `and commandLine the user’s login shell starts; ${LAUNCH_LIMIT}`,
});
const CommandLine = Type.String({
  minLength: 1,
  maxLength: 131072,
  pattern: '^[^\\x00]*$',
  description:
    'a command for the user’s shell (their /etc/passwd shell, else /bin/sh), run as `$SHELL -c "<commandLine>"` ' +
    '(as `wsl <command line>` does): an explicit request for a shell. Not with argv',
  examples: ['echo $HOME; exit 3'],
});
const Shell = StringEnum(['login', 'standard', 'none'], {
  description:
    'wsl’s --shell-type. `login`: the user’s shell as a login shell (argv[0] `-bash`), the default without argv and ' +
    'commandLine; `standard`: the shell as is, not a login shell, the default with commandLine; `none`: argv is ' +
    'exec’d directly, the default with argv (which it requires). A login or standard shell with argv, argv with ' +
    'commandLine, or none without argv is a 400 E_INVALIDARG: one way to start per request',
});
const Env = Type.Record(Type.String({ pattern: '^[^=\\x00]+$' }), Type.String({ pattern: '^[^\\x00]*$' }), {
  additionalProperties: false,
  description: `added over the distribution’s default environment and the user’s HOME, USER, SHELL, PATH, TERM; ${LAUNCH_LIMIT}`,
});
const Cwd = Type.String({
  pattern: '^(/|~$|~/)[^\\x00]*$',
  maxLength: 4096,
  description:
    'absolute, `~` (the user’s home) or `~/...` (below it). Default: the home; a user whose home does not exist ' +
    '(nobody, www-data) starts in `/`, as in WSL. A cwd given that does not exist (`~/...` included) never runs: exit code 125 and `error` say why',
  examples: ['~', '/tmp'],
});
export const TerminalSize = Type.Object(
  { cols: Type.Integer({ minimum: 1, maximum: 4096 }), rows: Type.Integer({ minimum: 1, maximum: 4096 }) },
  { additionalProperties: false },
);
const UserChoice = {
  user: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'a user of the distribution’s /etc/passwd' })),
  uid: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967294 })),
};

/** Characters of stdin a run request may carry, and the body size that leaves room for them JSON-escaped. */
export const RUN_STDIN_MAX = 16 * 1024 * 1024;
export const RUN_BODY_LIMIT = 2 * RUN_STDIN_MAX + (1 << 20);

const EXIT_CODE_MEANING =
  'the program’s code; 128+N for signal N; 127 program not found; 126 not executable; ' +
  '125 it could not be started as asked, e.g. a cwd that does not exist (`error` says why)';

const StartMode = {
  argv: Type.Optional(Argv),
  commandLine: Type.Optional(CommandLine),
  shell: Type.Optional(Shell),
};

export const CreateProcessBody = Type.Object(
  {
    ...StartMode,
    cwd: Type.Optional(Cwd),
    env: Type.Optional(Env),
    ...UserChoice,
    tty: Type.Optional(TerminalSize),
    stdin: Type.Optional(Type.Boolean({ description: 'keep stdin open for a writer (default: only with a tty)' })),
  },
  {
    $id: 'CreateProcessRequest',
    additionalProperties: false,
    examples: [{ argv: ['/bin/sh', '-c', 'read line; echo "$line"'], stdin: true }, { tty: { cols: 120, rows: 40 } }],
  },
);
export type CreateProcessBody = Static<typeof CreateProcessBody>;

export const ProcessSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    distributionId: Type.String({ format: 'uuid' }),
    distribution: Type.String(),
    pid: Type.Union([Type.Integer(), Type.Null()], { description: 'pid inside the distribution; null if it never ran' }),
    argv: Type.Array(Type.String(), {
      description: `in lists, at most ${ARGV_SUMMARY.items} items and ${ARGV_SUMMARY.bytes} bytes (argvTruncated says so); all of it in GET /v1/processes/{id}`,
    }),
    argvTruncated: Type.Boolean({ description: 'argv was shortened for a list' }),
    executable: Type.String({
      description: 'the program executed: argv[0], except for a login shell, whose argv[0] is `-` and its name (`-bash`)',
    }),
    shell: StringEnum(['login', 'standard', 'none'], {
      description: 'how it started: the user’s shell as a login shell, the shell as is (a commandLine), or argv exec’d with no shell',
    }),
    user: Type.Union([Type.String(), Type.Null()], { description: 'the user it runs as, as the distribution resolved it' }),
    uid: Type.Union([Type.Integer(), Type.Null()]),
    home: Type.Union([Type.String(), Type.Null()], { description: 'that user’s home in the distribution (`/` when it names none)' }),
    tty: Type.Union([TerminalSize, Type.Null()]),
    stdin: Type.Boolean(),
    state: StringEnum(['running', 'exited']),
    startedAt: Type.String({ format: 'date-time' }),
    exitedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    exitCode: Type.Union([Type.Integer(), Type.Null()], { description: EXIT_CODE_MEANING }),
    signal: Type.Union([Type.Integer(), Type.Null()]),
    error: Type.Union([Type.String(), Type.Null()], { description: 'why it never ran' }),
  },
  { $id: 'Process', additionalProperties: false },
);

export const ProcessListSchema = Type.Object(
  { processes: Type.Array(ref(ProcessSchema)), next: NextCursor },
  { $id: 'ProcessList', additionalProperties: false },
);

export const ProcessParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const SignalBody = Type.Object(
  {
    signal: Type.Union([Type.String({ pattern: '^(SIG)?[A-Z0-9+-]{2,12}$' }), Type.Integer({ minimum: 1, maximum: 64 })], {
      description: 'a name (SIGTERM, TERM, SIGRTMIN+2 as glibc numbers them) or a number',
    }),
  },
  { $id: 'SignalRequest', additionalProperties: false, examples: [{ signal: 'SIGTERM' }] },
);

export const ResizeBody = Type.Object(TerminalSize.properties, {
  $id: 'ResizeRequest',
  additionalProperties: false,
  examples: [{ cols: 120, rows: 40 }],
});

export const RunBody = Type.Object(
  {
    ...StartMode,
    cwd: Type.Optional(Cwd),
    env: Type.Optional(Env),
    ...UserChoice,
    stdin: Type.Optional(
      Type.String({
        maxLength: RUN_STDIN_MAX,
        description: `written to stdin, then EOF; the whole request body may be at most ${RUN_BODY_LIMIT >> 20} MiB (413)`,
      }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 24 * 3600 * 1000,
        default: 60000,
        description:
          `the service's own deadline: the program is killed (SIGKILL) and the answer comes with the output so far, ` +
          `even when the distribution does not answer (then after up to ${KILL_CONFIRM_MS} ms more, with \`error\` saying ` +
          'the kill is unconfirmed; a process not even started by then is a 504 LXSSD_E_TIMEOUT)',
      }),
    ),
    maxOutputBytes: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 64 * 1024 * 1024,
        default: 1048576,
        description:
          'bytes of output kept per stream; the rest is read and dropped. A run reserves 2 × this of the ' +
          'maxRunOutputBytes all your runs in progress may hold (default 256 MiB): past it a 503 LXSSD_E_OUT_OF_RESOURCES',
      }),
    ),
  },
  {
    $id: 'RunRequest',
    additionalProperties: false,
    examples: [{ argv: ['uname', '-a'] }, { commandLine: 'echo $HOME; exit 3', cwd: '~' }, { argv: ['cat'], stdin: 'hello\n' }],
  },
);

export const RunQuery = Type.Object(
  { encoding: Type.Optional(StringEnum(['utf8', 'base64'], { default: 'utf8' })) },
  { additionalProperties: false },
);

/** The three ways to start a process (WslClient's "three possible cases"), for the create and run operations. */
export const START_MODES_DESCRIPTION =
  'A process starts in one of WSL’s three ways: with neither `argv` nor `commandLine`, the user’s login shell from ' +
  'the distribution’s /etc/passwd (`/bin/sh` when it names none), started as a login shell (argv[0] `-bash`), as bare ' +
  '`wsl` does; with `commandLine`, the user’s shell runs it (`$SHELL -c "<commandLine>"`, as `wsl <command line>`); ' +
  'with `argv`, exactly that program and arguments, no shell (`wsl --exec`). `shell` mirrors `--shell-type`. ' +
  '`@default` names your default distribution.';

export const RUN_DESCRIPTION =
  `${START_MODES_DESCRIPTION} Answers when the program exits, with the output that came by then or within ${OUTPUT_DRAIN_MS} ms after: a ` +
  'background child still holding stdout or stderr open does not hold the answer back (it is left running, and ' +
  'what it writes later is not collected). At timeoutMs the program is killed and the answer comes with the ' +
  'output so far. The answer is streamed as it is encoded, so its size (a NUL is six bytes in JSON) costs the ' +
  'service no more than the output itself.';

export const RunResultSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    exitCode: Type.Integer({ description: EXIT_CODE_MEANING }),
    signal: Type.Union([Type.Integer(), Type.Null()]),
    stdout: Type.String(),
    stderr: Type.String(),
    encoding: StringEnum(['utf8', 'base64']),
    truncated: Type.Boolean({ description: 'some output was over maxOutputBytes and left out' }),
    timedOut: Type.Boolean({ description: 'the deadline came before the program exited' }),
    error: Type.Union([Type.String(), Type.Null()], { description: 'why it never ran' }),
  },
  { $id: 'RunResult', additionalProperties: false },
);
