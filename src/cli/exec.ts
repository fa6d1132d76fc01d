// Running a command in a distribution, as wsl.exe does: create the process, attach to its stdio over the
// lxss.stdio.v1 WebSocket, relay the local stdin/stdout/stderr with backpressure both ways, and exit with the
// process's own code. With a terminal on stdin the process gets a pty of the terminal's size, the terminal goes
// raw (so Ctrl-C reaches the process as a byte) and SIGWINCH resizes it; with pipes, the signals lxss receives
// are passed on and stdin's end is the process's EOF.

import { constants } from 'node:os';
import WebSocket from 'ws';
import type { ReadStream } from 'node:tty';
import type { components } from '../client/openapi.js';
import { problemFromText } from '../client/problem.js';
import type { Connection } from './connect.js';
import { CliFailure, failureFromAnswer } from './failure.js';
import { enterRawMode, type RawTerminal, terminalSize } from './terminal.js';

type CreateProcessRequest = components['schemas']['CreateProcessRequest'];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const EXIT = 3;
const RESIZE = 4;
const SIGNAL = 5;
const CLOSE = 255;
/** Local stdin stops being read while this much is queued on the WebSocket, so a fast producer cannot flood memory. */
const STDIN_HIGH_WATER = 1024 * 1024;
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
/** The same signal this many times while the process does not end: lxss gives up waiting and exits itself. */
const GIVE_UP_AFTER = 3;

export interface ExecOptions {
  distro: string;
  /** argv for `--exec`/`--shell-type none`; else joined into a command line for the user's shell */
  command: string[];
  exec: boolean;
  shellType?: 'login' | 'standard' | 'none';
  user?: string;
  cwd?: string;
}

/** The create body for WSL's three cases: nothing (login shell), a command line (the shell), or argv (exec). */
export function createBody(options: ExecOptions, tty: { cols: number; rows: number } | undefined): CreateProcessRequest {
  const body: CreateProcessRequest = { stdin: true };
  const shell = options.exec ? 'none' : options.shellType;
  if (options.command.length > 0) {
    if (shell === 'none') body.argv = options.command;
    else {
      // As wsl.exe and ssh do: the words become one command line the shell parses (quote for the shell).
      body.commandLine = options.command.join(' ');
      if (shell) body.shell = shell;
    }
  } else if (shell === 'none') {
    throw new CliFailure('E_INVALIDARG', '--exec and --shell-type none need a command to run');
  } else if (shell) body.shell = shell;
  if (options.user !== undefined) {
    if (/^\d+$/.test(options.user)) body.uid = Number(options.user);
    else body.user = options.user;
  }
  if (options.cwd !== undefined) body.cwd = options.cwd;
  if (tty) body.tty = tty;
  return body;
}

function frame(channel: number, data: Buffer | string): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data) : data;
  const out = Buffer.allocUnsafe(payload.length + 1);
  out[0] = channel;
  payload.copy(out, 1);
  return out;
}

interface ExitStatus {
  exitCode: number | null;
  signal: number | string | null;
}

/** Runs the command to its end; resolves with the exit status lxss should end with. */
export async function execute(connection: Connection, options: ExecOptions): Promise<number> {
  const stdin = process.stdin;
  const interactive = stdin.isTTY === true;
  const size = interactive ? terminalSize(process.stdout.isTTY ? process.stdout : process.stderr) : undefined;
  // Signals are taken from the start, so one that comes while the process is being created or attached is
  // passed on once the socket is open, not lost (nor left to kill lxss and orphan the process).
  const control: Control = { socket: undefined, queued: [] };
  const cleanups: Array<() => void> = [];
  let terminal: RawTerminal | undefined;
  forwardSignals(control, interactive, cleanups, () => terminal?.restore());
  let processId: string;
  let socket: WebSocket;
  try {
    const created = await connection.client.api.POST('/v1/distributions/{distro}/processes', {
      params: { path: { distro: options.distro } },
      body: createBody(options, size),
    });
    if (!created.data) throw failureFromAnswer(created.response.status, created.error);
    processId = created.data.id;
    const target = connection.webSocket(`/v1/processes/${encodeURIComponent(processId)}/stdio`, 'lxss.stdio.v1');
    socket = new WebSocket(target.url, target.protocols, { ...target.options, perMessageDeflate: false });
  } catch (error) {
    for (const cleanup of cleanups) cleanup();
    throw error;
  }

  const status = await new Promise<ExitStatus | undefined>((resolve, reject) => {
    let exit: ExitStatus | undefined;
    socket.binaryType = 'nodebuffer';
    socket.on('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => {
        const { code, detail } = problemFromText(response.statusCode ?? 0, text);
        reject(new CliFailure(code, detail));
      });
    });
    socket.on('error', (error) => reject(new CliFailure('LXSSD_E_STDIO', `the stdio connection failed: ${error.message}`)));
    socket.on('message', (data: Buffer) => {
      if (data.length === 0) return;
      const channel = data[0];
      const payload = data.subarray(1);
      if (channel === STDOUT || channel === STDERR) {
        const out = channel === STDOUT ? process.stdout : process.stderr;
        // A local reader slower than the process pauses the socket, and so the process (the service holds
        // what it cannot send): nothing is dropped and nothing piles up here.
        if (!out.write(payload)) {
          socket.pause();
          out.once('drain', () => socket.resume());
        }
      } else if (channel === EXIT) {
        try {
          exit = JSON.parse(payload.toString('utf8')) as ExitStatus;
        } catch {
          exit = { exitCode: null, signal: null };
        }
      }
    });
    socket.on('close', (code, reason) => {
      if (exit || code === 1000) resolve(exit);
      else reject(new CliFailure('LXSSD_E_STDIO', `the stdio connection closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`));
    });
    socket.on('open', () => {
      if (interactive) {
        terminal = enterRawMode(stdin as ReadStream);
        const output = process.stdout.isTTY ? process.stdout : process.stderr;
        const onResize = () => socket.send(frame(RESIZE, JSON.stringify(terminalSize(output))));
        output.on('resize', onResize);
        cleanups.push(() => output.off('resize', onResize));
      }
      pumpStdin(socket, stdin, cleanups);
      control.socket = socket;
      for (const queued of control.queued.splice(0)) socket.send(queued);
    });
  }).finally(() => {
    for (const cleanup of cleanups) cleanup();
    terminal?.restore();
    stdin.pause();
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.terminate();
  });

  if (status?.exitCode !== null && status?.exitCode !== undefined) {
    if (status.exitCode >= 125 && status.exitCode <= 127) await explainLaunchFailure(connection, processId);
    return status.exitCode;
  }
  // The socket closed normally without a status frame: ask the process itself.
  const view = await connection.client.api.GET('/v1/processes/{id}', { params: { path: { id: processId } } });
  if (view.data?.exitCode !== null && view.data?.exitCode !== undefined) return view.data.exitCode;
  throw new CliFailure('LXSSD_E_STDIO', `the process ${processId} did not report how it ended`);
}

function pumpStdin(socket: WebSocket, stdin: NodeJS.ReadStream, cleanups: Array<() => void>): void {
  const onData = (chunk: Buffer) => {
    if (socket.readyState !== WebSocket.OPEN) return;
    // A send's callback runs once its frame is written, and so is everything sent before it: resuming there
    // keeps at most about STDIN_HIGH_WATER queued however fast stdin is.
    const full = socket.bufferedAmount + chunk.length > STDIN_HIGH_WATER;
    socket.send(frame(STDIN, chunk), full ? () => stdin.resume() : undefined);
    if (full) stdin.pause();
  };
  const onEnd = () => {
    if (socket.readyState === WebSocket.OPEN) socket.send(Buffer.from([CLOSE, STDIN]));
  };
  stdin.on('data', onData);
  stdin.once('end', onEnd);
  stdin.once('error', onEnd);
  cleanups.push(() => {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.off('error', onEnd);
  });
}

interface Control {
  /** set once the stdio socket is open */
  socket: WebSocket | undefined;
  /** frames (signals) that came before it was */
  queued: Buffer[];
}

function forwardSignals(control: Control, interactive: boolean, cleanups: Array<() => void>, restore: () => void): void {
  const counts = new Map<string, number>();
  for (const name of FORWARDED_SIGNALS) {
    // With a terminal, the keys that make signals are bytes to the pty; what still reaches lxss comes from
    // outside (kill, a hangup), and is passed on all the same.
    if (interactive && name === 'SIGINT') continue;
    const handler = () => {
      const count = (counts.get(name) ?? 0) + 1;
      counts.set(name, count);
      const signal = frame(SIGNAL, JSON.stringify({ signal: name }));
      const { socket } = control;
      if (!socket) control.queued.push(signal);
      else if (socket.readyState === WebSocket.OPEN) socket.send(signal);
      if (count >= GIVE_UP_AFTER || (socket && socket.readyState !== WebSocket.OPEN)) {
        restore();
        process.stderr.write(`lxss: ${name} ${count} times; no longer waiting for the process\n`);
        process.exit(128 + signalNumber(name));
      }
    };
    process.on(name, handler);
    cleanups.push(() => process.off(name, handler));
  }
}

/** lxss runs on this host: a shell here reports its own signal's number as 128+N. */
function signalNumber(name: (typeof FORWARDED_SIGNALS)[number]): number {
  return constants.signals[name];
}

/** 125–127 mean the program never ran (no such program, not executable, no such cwd): say why, as a shell does. */
async function explainLaunchFailure(connection: Connection, processId: string): Promise<void> {
  const view = await connection.client.api.GET('/v1/processes/{id}', { params: { path: { id: processId } } }).catch(() => undefined);
  const error = view?.data?.error;
  if (error) process.stderr.write(`lxss: ${error}\n`);
}
