// The real `lxssd` binary, started as an operator would: a separate process with its own memory.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export const lxssd = new URL('../../../bin/lxssd.js', import.meta.url).pathname;

/** Starts `lxssd serve` and resolves once its log says it is ready. */
export async function serve(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [lxssd, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    if (entry.msg === 'lxssd ready' && entry.url) return { child, url: entry.url };
  }
  throw new Error('lxssd exited before it was ready');
}

/** SIGKILLs a child (unless it has ended) and resolves once it has exited. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}
