// A child process's whole output and how it ended, for tests of the native helpers.

import type { Subprocess } from '../../src/hv/linux/helper-spawn.js';
import { once } from 'node:events';
import { collectStreams } from '../../src/core/output-collect.js';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Resolves once the child has exited and its output streams have closed. */
export async function collect(child: Subprocess): Promise<ChildResult> {
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const [output, [code, signal]] = await Promise.all([collectStreams(child), closed]);
  const text = (pieces: Buffer[]) => Buffer.concat(pieces).toString('utf8');
  return { code, signal, stdout: text(output.stdout), stderr: text(output.stderr) };
}
