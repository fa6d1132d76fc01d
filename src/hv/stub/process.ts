// One process of the stub: a guest program (./guest.ts) behind real Node streams — pipes, or one duplex for a
// terminal — with the contract's exit status. A signal (a guest number, ../signals.ts) ends it at once (the
// guest has no handlers): 128+N. It has no pid: nothing runs on the host to have one.

import { Duplex, PassThrough } from 'node:stream';
import { HvError } from '../errors.js';
import type { ExitStatus, HvProcess } from '../types.js';
import { GuestInput, type GuestContext } from './guest.js';

export interface StubLaunch {
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly hostname: string;
  readonly tty: { cols: number; rows: number } | undefined;
  readonly files: GuestContext['files'];
  readonly run: (context: GuestContext) => Promise<number>;
}

export class StubProcess implements HvProcess {
  readonly stdin: PassThrough | null;
  readonly stdout: PassThrough | null;
  readonly stderr: PassThrough | null;
  readonly terminal: Duplex | null;
  readonly exited: Promise<ExitStatus>;
  private status: ExitStatus | undefined;
  private size: { cols: number; rows: number } | undefined;
  private readonly killed = new AbortController();
  private settle!: (status: ExitStatus) => void;
  private readonly input: GuestInput;
  /** where the program's output goes: stdout and stderr, or the terminal's one output */
  private readonly outputs: PassThrough[];

  constructor(launch: StubLaunch) {
    this.size = launch.tty;
    this.exited = new Promise((resolve) => (this.settle = resolve));
    const toGuest = new PassThrough();
    if (launch.tty) {
      const fromGuest = new PassThrough();
      this.terminal = Duplex.from({ writable: toGuest, readable: fromGuest });
      this.stdin = this.stdout = this.stderr = null;
      this.outputs = [fromGuest];
    } else {
      this.stdin = toGuest;
      this.stdout = new PassThrough();
      this.stderr = new PassThrough();
      this.terminal = null;
      this.outputs = [this.stdout, this.stderr];
    }
    this.input = new GuestInput(toGuest, launch.tty !== undefined);
    const write = (stream: PassThrough) => (data: string | Buffer) => {
      if (this.status) return;
      // A terminal's line discipline turns each new line into CR LF.
      stream.write(launch.tty ? data.toString().replace(/\n/g, '\r\n') : data);
    };
    const context: GuestContext = {
      args: launch.args,
      env: launch.env,
      cwd: launch.cwd,
      hostname: launch.hostname,
      stdin: this.input,
      out: write(this.outputs[0]!),
      err: write(this.outputs[1] ?? this.outputs[0]!),
      terminal: () => this.size ?? null,
      files: launch.files,
      killed: this.killed.signal,
    };
    // After spawn has returned, as a real process starts on its own.
    setImmediate(() => {
      launch.run(context).then(
        (exitCode) => this.finish({ exitCode, signal: null }),
        (error: Error) => {
          context.err(`${error.message}\n`);
          this.finish({ exitCode: 1, signal: null });
        },
      );
    });
  }

  get running(): boolean {
    return this.status === undefined;
  }

  async kill(signal: number): Promise<void> {
    if (this.status) throw new HvError('exited', 'the process has exited');
    // Signal 0 asks only whether it is there.
    if (signal === 0) return;
    this.finish({ exitCode: 128 + signal, signal });
  }

  async resize(cols: number, rows: number): Promise<void> {
    if (!this.terminal) throw new HvError('failed', 'not a terminal');
    if (this.status) throw new HvError('exited', 'the process has exited');
    this.size = { cols, rows };
  }

  private finish(status: ExitStatus): void {
    if (this.status) return;
    this.status = status;
    this.killed.abort();
    for (const output of this.outputs) output.end();
    this.input.close();
    this.settle(status);
  }
}
