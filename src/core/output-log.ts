// A process's output, kept from its start until every attached reader has it: ordered chunks tagged with
// their channel (1 stdout, 2 stderr). Bounded: past the limit the sources are paused — the process then
// blocks on its pipe — and resumed as readers catch up. Nothing is ever dropped; a slow reader slows the
// process instead of growing memory. A reader iterates its cursor (`for await`), or collects it (output-collect.ts).

import type { Readable } from 'node:stream';

export interface OutputChunk {
  readonly channel: 1 | 2;
  readonly data: Buffer;
}

/** When a reader stops before the output is finished. */
export interface ReadOptions {
  /** once aborted, no further chunk is read (the reader went away) */
  signal?: AbortSignal;
  /**
   * once settled, the reader stops when it has caught up with what has arrived (a deadline passed, or the
   * output is as complete as it gets while a background child holds the pipe)
   */
  until?: Promise<unknown>;
  /** asked before each read: true stops the reader (e.g. at the position the log had reached when it came) */
  stopWhen?: (cursor: OutputCursor) => boolean;
}

export class OutputLog {
  private readonly chunks: OutputChunk[] = [];
  /** absolute index of chunks[0] */
  private base = 0;
  private bytes = 0;
  private openSources = 0;
  private readonly sources: Readable[] = [];
  private readonly cursors = new Set<OutputCursor>();
  private waiters: Array<() => void> = [];
  private paused = false;

  constructor(
    private readonly limitBytes = 1 << 20,
    private readonly resumeBytes = 256 << 10,
  ) {}

  /** Reads `source` into the log as `channel` until it ends (or fails: a failed source just ends). */
  addSource(source: Readable, channel: 1 | 2): void {
    this.sources.push(source);
    this.openSources++;
    source.on('data', (data: Buffer) => this.push(channel, data));
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.openSources--;
      this.wake();
    };
    source.on('end', finish);
    source.on('close', finish);
    source.on('error', finish);
    if (this.paused) source.pause();
  }

  /** True once every source has ended: what readers have not read yet is all there will ever be. */
  get ended(): boolean {
    return this.openSources === 0;
  }

  get end(): number {
    return this.base + this.chunks.length;
  }

  get bufferedBytes(): number {
    return this.bytes;
  }

  /** True while the sources are held back because readers are behind: more output is on its way. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Resolves once every source has ended. */
  async whenEnded(): Promise<void> {
    while (!this.ended) await this.changed();
  }

  /**
   * Resolves once the output has ended, or once no byte has arrived for `quietMs` while nothing was held back
   * (a background child may keep the pipe open without writing: the output is then as complete as it gets).
   */
  async settled(quietMs: number): Promise<void> {
    let seen = this.end;
    let quietSince = Date.now();
    while (!this.ended) {
      const left = quietSince + quietMs - Date.now();
      if (left <= 0 && !this.paused) return;
      await this.changedWithin(Math.max(left, quietMs));
      if (this.end !== seen || this.paused) {
        seen = this.end;
        quietSince = Date.now();
      }
    }
  }

  /** A reader starting at the oldest output still kept (everything, for the first reader). */
  attach(): OutputCursor {
    const cursor = new OutputCursor(this, this.base);
    this.cursors.add(cursor);
    return cursor;
  }

  /** Resolves at the next output or end. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves at the next output or end, or after `ms` at the latest (leaving no waiter behind). */
  changedWithin(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== wake);
        resolve();
      }, ms);
      this.waiters.push(wake);
    });
  }

  /** @internal for OutputCursor */
  chunkAt(index: number): OutputChunk | undefined {
    return this.chunks[index - this.base];
  }

  /** @internal for OutputCursor: drops what every attached reader has, and lets the sources flow again. */
  trim(): void {
    if (this.cursors.size === 0) return;
    let lowest = Infinity;
    for (const cursor of this.cursors) lowest = Math.min(lowest, cursor.position);
    while (this.base < lowest && this.chunks.length > 0) {
      this.bytes -= this.chunks.shift()!.data.length;
      this.base++;
    }
    if (this.paused && this.bytes <= this.resumeBytes) {
      this.paused = false;
      for (const source of this.sources) source.resume();
    }
  }

  /** @internal for OutputCursor */
  detach(cursor: OutputCursor): void {
    this.cursors.delete(cursor);
    this.trim();
  }

  private push(channel: 1 | 2, data: Buffer): void {
    this.chunks.push({ channel, data });
    this.bytes += data.length;
    if (!this.paused && this.bytes > this.limitBytes) {
      this.paused = true;
      for (const source of this.sources) source.pause();
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** One reader's place in an OutputLog. */
export class OutputCursor {
  constructor(
    private readonly log: OutputLog,
    public position: number,
  ) {}

  /** The chunk read() would return next, left unread (a reader deciding whether it belongs with what it holds). */
  peek(): OutputChunk | undefined {
    return this.log.chunkAt(this.position);
  }

  /** The next chunk, or undefined when the reader has everything there is so far. */
  read(): OutputChunk | undefined {
    const chunk = this.log.chunkAt(this.position);
    if (chunk === undefined) return undefined;
    this.position++;
    this.log.trim();
    return chunk;
  }

  /** True when the output has ended and this reader has all of it. */
  get finished(): boolean {
    return this.log.ended && this.position >= this.log.end;
  }

  changed(): Promise<void> {
    return this.log.changed();
  }

  close(): void {
    this.log.detach(this);
  }

  /**
   * The chunks from here on, in order, until the output is finished or `options` stop the reader; then the
   * cursor is closed. Each chunk is read as the consumer asks for it, so a consumer that awaits between chunks
   * holds the log (and, past its limit, the process) back just as read() does.
   */
  async *chunks({ signal, until, stopWhen }: ReadOptions = {}): AsyncGenerator<OutputChunk, void, undefined> {
    let untilPassed = false;
    // Registered before any wait below, so the flag is set by the time such a wait wakes.
    const passing = until?.then(
      () => void (untilPassed = true),
      () => void (untilPassed = true),
    );
    let onAbort: (() => void) | undefined;
    const aborted =
      signal &&
      new Promise<void>((resolve) => {
        onAbort = () => resolve();
        signal.addEventListener('abort', onAbort);
      });
    const wakers = [passing, aborted].filter((waker) => waker !== undefined);
    try {
      for (;;) {
        if (signal?.aborted) return;
        if (stopWhen?.(this)) return;
        const chunk = this.read();
        if (chunk) {
          yield chunk;
          continue;
        }
        if (this.finished || untilPassed) return;
        await Promise.race([this.changed(), ...wakers]);
      }
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      this.close();
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<OutputChunk, void, undefined> {
    return this.chunks();
  }
}
