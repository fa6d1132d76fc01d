// The local terminal while a process in a distribution owns it: raw mode, and restoring it however lxss ends —
// a normal exit, a thrown error, or a signal — since a terminal left raw is unusable to the user's shell.

import type { ReadStream } from 'node:tty';

export interface RawTerminal {
  restore(): void;
}

export function enterRawMode(input: ReadStream): RawTerminal {
  let raw = true;
  input.setRawMode(true);
  const restore = () => {
    if (!raw) return;
    raw = false;
    try {
      input.setRawMode(false);
    } catch {
      // the terminal is gone (hung up): nothing to restore
    }
  };
  // 'exit' runs for process.exit and after an uncaught exception; signals are handled by the caller, which
  // exits through process.exit too.
  process.once('exit', restore);
  return { restore };
}

export function terminalSize(output: NodeJS.WriteStream): { cols: number; rows: number } {
  return { cols: Math.max(1, output.columns || 80), rows: Math.max(1, output.rows || 24) };
}
