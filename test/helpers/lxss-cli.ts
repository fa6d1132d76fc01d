// The real `lxss` binary, run as a user runs it: a child process with its own environment, stdin from a buffer,
// a file or nothing, and its stdout/stderr kept as bytes.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';

export const lxssBin = new URL('../../../bin/lxss.js', import.meta.url).pathname;

export interface LxssResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface LxssRun {
  child: ChildProcess;
  done: Promise<LxssResult>;
}

/** lxss's environment: only what is given (plus PATH and HOME), so the host's own LXSS_* never leak in. */
export function lxssEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
}

export function startLxss(args: string[], env: Record<string, string | undefined>, stdin?: Buffer | { file: string }): LxssRun {
  const child = spawn(process.execPath, [lxssBin, ...args], { env: lxssEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin!.on('error', () => undefined);
  if (stdin === undefined) child.stdin!.end();
  else if (Buffer.isBuffer(stdin)) child.stdin!.end(stdin);
  else createReadStream(stdin.file).pipe(child.stdin!);
  // 'close', not 'exit': the output may still be in the pipes when the process has gone.
  const done = once(child, 'close').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
    stdout: Buffer.concat(stdout),
    stderr,
  }));
  return { child, done };
}

export function lxss(args: string[], env: Record<string, string | undefined>, stdin?: Buffer | { file: string }): Promise<LxssResult> {
  return startLxss(args, env, stdin).done;
}
