// Reads Server-Sent Events from any byte stream (curl's stdout, an HTTP response) as they arrive.

import type { Readable } from 'node:stream';

export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

export class SseReader {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  private pending = '';
  private ended = false;
  private readonly waiters = new Set<() => void>();

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => this.feed(text));
    stream.on('end', () => this.finish());
    stream.on('close', () => this.finish());
  }

  /** Resolves with the first message (already read or still to come) that `match` accepts. */
  waitFor(match: (message: SseMessage) => boolean, what = 'a matching event'): Promise<SseMessage> {
    return this.until(() => this.messages.find(match), what);
  }

  /** Resolves once a comment line containing `text` has arrived. */
  waitForComment(text: string): Promise<string> {
    return this.until(() => this.comments.find((comment) => comment.includes(text)), `a comment with "${text}"`);
  }

  /** Resolves when the stream has ended. */
  closed(): Promise<void> {
    return this.until(() => (this.ended ? true : undefined), 'the end of the stream').then(() => undefined);
  }

  private until<T>(found: () => T | undefined, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const value = found();
        if (value !== undefined) {
          this.waiters.delete(check);
          resolve(value);
        } else if (this.ended) {
          this.waiters.delete(check);
          reject(new Error(`the event stream ended before ${what}; got ${JSON.stringify(this.messages.map((m) => m.event))}`));
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  private feed(text: string): void {
    this.pending += text;
    for (let end = this.pending.indexOf('\n\n'); end >= 0; end = this.pending.indexOf('\n\n')) {
      const block = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + 2);
      this.parse(block);
    }
    for (const waiter of [...this.waiters]) waiter();
  }

  private parse(block: string): void {
    const message: SseMessage = { id: undefined, event: 'message', data: '' };
    let hasField = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') message.id = value;
      else if (field === 'event') message.event = value;
      else if (field === 'data') message.data += (message.data ? '\n' : '') + value;
      else continue;
      hasField = true;
    }
    if (hasField && (message.data || message.id !== undefined)) this.messages.push(message);
  }

  private finish(): void {
    this.ended = true;
    for (const waiter of [...this.waiters]) waiter();
  }
}
