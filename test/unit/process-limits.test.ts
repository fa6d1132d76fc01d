// The pieces that bound one process request, each on its own: the launch limit against the agent's frame, the
// streamed `run` answer against the document it stands for, output that settles after an exit, list pages.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { text } from 'node:stream/consumers';
import { OutputLog } from '../../src/core/output-log.js';
import { MAX_LAUNCH_BYTES, MAX_LAUNCH_STRING_BYTES } from '../../src/core/process-limits.js';
import type { RunResult } from '../../src/core/processes.js';
import { encodeLaunch, LaunchMode, MAX_FRAME, NO_UID } from '../../src/hv/linux/init-protocol.js';
import { pageByKey } from '../../src/routes/paging.js';
import { runAnswer } from '../../src/routes/run-answer.js';

describe('MAX_LAUNCH_BYTES', () => {
  it('fits in one agent frame with the longest user name and cwd the schema allows', () => {
    // argv + env strings whose bytes plus 4 each come to exactly the limit.
    const strings: string[] = [];
    let left = MAX_LAUNCH_BYTES;
    while (left > 0) {
      const bytes = Math.min(MAX_LAUNCH_STRING_BYTES, left - 4);
      strings.push('a'.repeat(bytes));
      left -= bytes + 4;
    }
    assert.equal(left, 0);
    const frame = encodeLaunch(1, {
      mode: LaunchMode.Pipes,
      user: '\u20ac'.repeat(256),
      uid: NO_UID,
      argv: strings.slice(0, 2),
      env: strings.slice(2),
      cwd: `/${'\u20ac'.repeat(4095)}`,
      cols: 0,
      rows: 0,
    });
    assert.ok(frame.length <= MAX_FRAME, `${frame.length} bytes`);
  });
});

function result(stdout: Buffer[], stderr: Buffer[]): RunResult {
  return { id: '0b1f5e0c-5f7e-4a8e-9a47-1d2c3b4a5f6e', exitCode: 3, signal: null, stdout, stderr, truncated: true, timedOut: false, error: null, release: () => undefined };
}

describe('the streamed run answer', () => {
  it('is the very document JSON.stringify would make, for any bytes, in both encodings, however they are cut', async () => {
    const cases: Array<[string, Buffer]> = [
      ['random bytes', randomBytes(300_000)],
      ['NULs and controls', Buffer.alloc(70_000, 0)],
      ['multi-byte text', Buffer.from('żółw 🐢 "quoted" \\ \n'.repeat(9000))],
      ['nothing', Buffer.alloc(0)],
    ];
    for (const [what, data] of cases) {
      // Cut at odd places: inside characters, inside base64 groups.
      const pieces = [data.subarray(0, 1), data.subarray(1, 65_537), data.subarray(65_537, 200_001), data.subarray(200_001)];
      for (const encoding of ['utf8', 'base64'] as const) {
        const streamed = await text(runAnswer(result(pieces, [data.subarray(0, 5)]), encoding));
        const expected = JSON.stringify({
          id: '0b1f5e0c-5f7e-4a8e-9a47-1d2c3b4a5f6e',
          exitCode: 3,
          signal: null,
          stdout: data.toString(encoding),
          stderr: data.subarray(0, 5).toString(encoding),
          encoding,
          truncated: true,
          timedOut: false,
          error: null,
        });
        assert.equal(streamed, expected, `${what} as ${encoding}`);
      }
    }
  });
});

describe('OutputLog.settled', () => {
  it('resolves when the output ends, or when it has been quiet while a source stays open, but not while readers are behind', async () => {
    const ended = new OutputLog();
    const source = new PassThrough();
    ended.addSource(source, 1);
    const settling = ended.settled(60_000);
    source.end('last');
    await settling;
    assert.equal(ended.ended, true);

    const held = new OutputLog();
    const holder = new PassThrough();
    held.addSource(holder, 1);
    holder.write('hi');
    await held.settled(50);
    assert.equal(held.ended, false, 'quiet, though the pipe is still open');

    const paused = new OutputLog(10, 5);
    const flood = new PassThrough();
    paused.addSource(flood, 1);
    paused.attach(); // a reader that never reads
    flood.write('more than ten bytes');
    let done = false;
    const waiting = paused.settled(20).then(() => (done = true));
    const cursor = paused.attach();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(done, false, 'held back by a slow reader is not quiet');
    cursor.close();
    // Ending the source is what lets it settle now (the first reader still holds the log back).
    flood.destroy();
    await waiting;
    assert.equal(done, true);
  });
});

describe('pageByKey', () => {
  it('pages in key order with opaque cursors, unmoved by an item removed between pages', () => {
    const items = ['c', 'a', 'e', 'b', 'd'].map((key) => ({ key }));
    const first = pageByKey(items, (item) => item.key, { limit: 2 });
    assert.deepEqual(first.items.map((item) => item.key), ['a', 'b']);
    assert.ok(first.next && !first.next.includes('b'), 'the cursor is opaque');
    const rest = items.filter((item) => item.key !== 'b');
    const second = pageByKey(rest, (item) => item.key, { limit: 2, after: first.next! });
    assert.deepEqual(second.items.map((item) => item.key), ['c', 'd']);
    const last = pageByKey(rest, (item) => item.key, { limit: 2, after: second.next! });
    assert.deepEqual([last.items.map((item) => item.key), last.next], [['e'], null]);
    assert.deepEqual(pageByKey(items, (item) => item.key, {}).items.length, 5, 'the default page holds them all');
  });
});
