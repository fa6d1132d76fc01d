// The stub's "guest": a handful of programs written in TypeScript, run when a process of that name is
// launched, so the contract can be exercised without an OS underneath. They behave as busybox's do for what
// the contract suite asks of them, and no further:
//
//   true, false          exit 0 / 1
//   echo [-n] WORDS      the words, space-separated
//   cat [FILE...]        the files, or stdin until EOF (also ^D on a terminal)
//   ls [DIR...]          the names in a folder, one a line
//   sleep SECONDS        waits (until killed)
//   env, pwd, hostname   the launch's environment, working folder, the instance's hostname
//   stty size            "ROWS COLS" of the terminal, or fails without one
//   sh [-c SCRIPT]       simple commands separated by `;` or new lines (from SCRIPT, else read from stdin),
//                        words quoted with '' or "", `>&2` to send a command's output to stderr, and the
//                        builtins exit and read; anything more (pipes, $, &&) is refused with exit 2
//
// A program is found as a shell would (a name with `/` as it is, else along PATH) in the distribution's
// files; one the stub does not implement is "not found" (127) even where the file exists.

import { setTimeout as delay } from 'node:timers/promises';

/** What a running program sees of its folder tree (the distribution's, with the shared folders in it). */
export interface GuestFiles {
  /** whether `path` names a file (links followed), for finding a program */
  isFile(path: string): boolean;
  /** the file's bytes, or a message (e.g. `No such file or directory`) */
  read(path: string): Promise<Buffer | string>;
  /** the names in the folder, sorted, or a message */
  list(path: string): Promise<string[] | string>;
}

/** A process's stdin as lines or chunks; a terminal's ^D ends it as EOF would. */
export class GuestInput {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(source: NodeJS.ReadableStream, private readonly terminal: boolean) {
    // Always flowing: what is written after the end (or the exit) is dropped, as a pipe nobody reads would.
    source.on('data', (chunk: Buffer) => {
      if (this.ended) return;
      const eot = terminal ? chunk.indexOf(0x04) : -1;
      this.buffered = Buffer.concat([this.buffered, eot === -1 ? chunk : chunk.subarray(0, eot)]);
      if (eot !== -1) this.ended = true;
      this.notify();
    });
    source.on('end', () => {
      this.ended = true;
      this.notify();
    });
  }

  /** The process has exited: nothing more is kept of what arrives. */
  close(): void {
    this.ended = true;
    this.buffered = Buffer.alloc(0);
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async more(): Promise<void> {
    await new Promise<void>((resolve) => (this.wake = resolve));
  }

  /** The next bytes, or null at EOF. */
  async chunk(): Promise<Buffer | null> {
    while (this.buffered.length === 0 && !this.ended) await this.more();
    if (this.buffered.length === 0) return null;
    const chunk = this.buffered;
    this.buffered = Buffer.alloc(0);
    return chunk;
  }

  /** The next line without its end (a terminal's Enter is a CR), or null at EOF with nothing left. */
  async line(): Promise<string | null> {
    for (;;) {
      const end = this.terminal ? this.buffered.findIndex((byte) => byte === 0x0a || byte === 0x0d) : this.buffered.indexOf(0x0a);
      if (end !== -1) {
        const line = this.buffered.subarray(0, end).toString('utf8');
        this.buffered = this.buffered.subarray(end + 1);
        return line;
      }
      if (this.ended) {
        if (this.buffered.length === 0) return null;
        const rest = this.buffered.toString('utf8');
        this.buffered = Buffer.alloc(0);
        return rest;
      }
      await this.more();
    }
  }
}

export interface GuestContext {
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly hostname: string;
  readonly stdin: GuestInput;
  readonly out: (data: string | Buffer) => void;
  readonly err: (data: string | Buffer) => void;
  /** the terminal's size now, or null for pipes */
  readonly terminal: () => { cols: number; rows: number } | null;
  readonly files: GuestFiles;
  /** aborted when the process is killed */
  readonly killed: AbortSignal;
}

type Program = (context: GuestContext) => Promise<number>;

const absolute = (cwd: string, path: string): string => (path.startsWith('/') ? path : `${cwd.replace(/\/$/, '')}/${path}`);

const PROGRAMS: Record<string, Program> = {
  true: async () => 0,
  false: async () => 1,
  async echo({ args, out }) {
    const newline = args[0] !== '-n';
    out(`${(newline ? args : args.slice(1)).join(' ')}${newline ? '\n' : ''}`);
    return 0;
  },
  async cat({ args, stdin, out, err, files, cwd }) {
    let status = 0;
    for (const name of args.length === 0 ? ['-'] : args) {
      if (name === '-') {
        for (let chunk = await stdin.chunk(); chunk !== null; chunk = await stdin.chunk()) out(chunk);
        continue;
      }
      const data = await files.read(absolute(cwd, name));
      if (typeof data === 'string') {
        err(`cat: can't open '${name}': ${data}\n`);
        status = 1;
      } else {
        out(data);
      }
    }
    return status;
  },
  async ls({ args, out, err, files, cwd }) {
    let status = 0;
    for (const name of args.length === 0 ? ['.'] : args) {
      const names = await files.list(absolute(cwd, name));
      if (typeof names === 'string') {
        err(`ls: ${name}: ${names}\n`);
        status = 1;
      } else {
        for (const entry of names) out(`${entry}\n`);
      }
    }
    return status;
  },
  async sleep({ args, err, killed }) {
    const seconds = Number(args[0]);
    if (!Number.isFinite(seconds) || seconds < 0) {
      err(`sleep: invalid number '${args[0] ?? ''}'\n`);
      return 1;
    }
    await delay(seconds * 1000, undefined, { signal: killed }).catch(() => undefined);
    return 0;
  },
  async env({ env, out }) {
    for (const entry of env) out(`${entry}\n`);
    return 0;
  },
  async pwd({ cwd, out }) {
    out(`${cwd}\n`);
    return 0;
  },
  async hostname({ hostname, out }) {
    out(`${hostname}\n`);
    return 0;
  },
  async stty({ args, terminal, out, err }) {
    const size = terminal();
    if (size === null) {
      err('stty: standard input: Not a tty\n');
      return 1;
    }
    if (args[0] !== 'size') {
      err(`stty: the stub knows only "stty size"\n`);
      return 1;
    }
    out(`${size.rows} ${size.cols}\n`);
    return 0;
  },
  sh: shell,
};

/** The program `name` runs; undefined when a shell would say "not found". */
export function findProgram(name: string, env: readonly string[], files: GuestFiles): Program | undefined {
  const program = PROGRAMS[name.slice(name.lastIndexOf('/') + 1)];
  if (program === undefined) return undefined;
  if (name.includes('/')) return files.isFile(name) ? program : undefined;
  const path = env.find((entry) => entry.startsWith('PATH='))?.slice(5) ?? '/bin:/usr/bin';
  return path.split(':').some((dir) => dir !== '' && files.isFile(`${dir}/${name}`)) ? program : undefined;
}

/** Splits a script into commands of words; a string says why it cannot be run. */
function parseScript(script: string): string[][] | string {
  const commands: string[][] = [];
  let words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < script.length; i++) {
    const char = script[i]!;
    if (char === "'" || char === '"') {
      const close = script.indexOf(char, i + 1);
      if (close === -1) return 'unterminated quoted string';
      word = (word ?? '') + script.slice(i + 1, close);
      i = close;
    } else if (char === ' ' || char === '\t' || char === ';' || char === '\n') {
      if (word !== undefined) words.push(word);
      word = undefined;
      if ((char === ';' || char === '\n') && words.length > 0) {
        commands.push(words);
        words = [];
      }
    } else if ('|&$`<>()\\*?'.includes(char) && !script.startsWith('>&2', i)) {
      return `"${char}" is more than the stub's shell understands`;
    } else if (script.startsWith('>&2', i)) {
      if (word !== undefined) words.push(word);
      words.push('>&2');
      word = undefined;
      i += 2;
    } else {
      word = (word ?? '') + char;
    }
  }
  if (word !== undefined) words.push(word);
  if (words.length > 0) commands.push(words);
  return commands;
}

/** Runs one script; `exit` ends the shell with its code, which is what the returned `exit` says. */
async function runScript(script: string, context: GuestContext, last: number): Promise<{ status: number; exit: boolean }> {
  const commands = parseScript(script);
  if (typeof commands === 'string') {
    context.err(`sh: ${commands}\n`);
    return { status: 2, exit: false };
  }
  let status = last;
  for (const words of commands) {
    if (context.killed.aborted) break;
    const toStderr = words.includes('>&2');
    const [name, ...args] = words.filter((word) => word !== '>&2') as [string, ...string[]];
    const out = toStderr ? context.err : context.out;
    if (name === 'exit') return { status: args[0] === undefined ? status : Number(args[0]) & 0xff, exit: true };
    if (name === 'read') {
      status = (await context.stdin.line()) === null ? 1 : 0;
      continue;
    }
    const program = findProgram(name, context.env, context.files);
    if (program === undefined) {
      context.err(`sh: ${name}: not found\n`);
      status = 127;
      continue;
    }
    status = await program({ ...context, args, out });
  }
  return { status, exit: false };
}

async function shell(context: GuestContext): Promise<number> {
  if (context.args[0] === '-c') return (await runScript(context.args[1] ?? '', context, 0)).status;
  let status = 0;
  for (let line = await context.stdin.line(); line !== null; line = await context.stdin.line()) {
    const result = await runScript(line, context, status);
    status = result.status;
    if (result.exit) break;
  }
  return status;
}
