// The NDJSON encoding of a process's output (src/core/process-stdio.ts), fed chunk by chunk through a real
// OutputLog: a UTF-8 character split between two reads goes out whole as text, bytes that are not UTF-8 as
// base64, nothing reordered across streams, and the exit status last.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { ProcessOutputStream } from '../../src/core/process-stdio.js';
import { ProcessEntry } from '../../src/core/processes.js';

/** A process entry with no process behind it: its output log is fed by the test. */
const newEntry = () => new ProcessEntry('d', () => 'd', ['x'], { executable: 'x', shell: 'none' }, null, null, false, null);

async function collect(stream: ProcessOutputStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

describe('ProcessOutputStream (ndjson)', () => {
  it('keeps a split character whole, sends invalid bytes as base64, keeps the order across streams, ends with the exit', async () => {
    const entry = newEntry();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    entry.output.addSource(stdout, 1);
    entry.output.addSource(stderr, 2);
    const stream = new ProcessOutputStream(entry, { follow: true, stream: 'both', format: 'ndjson' });
    const text = collect(stream);
    const writes: Array<[PassThrough, number[]]> = [
      [stdout, [0x61, 0xc3]], // "a" and the first byte of é
      [stdout, [0xa9, 0x0a]], // the rest of é, "\n"
      [stdout, [0xe2, 0x82]], // two of the three bytes of €, then stderr comes between
      [stderr, [0x62]],
      [stdout, [0xac]],
      [stdout, [0xff]],
    ];
    for (const [source, bytes] of writes) {
      source.write(Buffer.from(bytes));
      await tick();
    }
    stdout.end();
    stderr.end();
    await entry.output.whenEnded();
    entry.finish({ exitCode: 7, signal: null });
    entry.settle();
    const lines = (await text).trim().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(lines, [
      { stream: 'stdout', data: 'a' },
      { stream: 'stdout', data: 'é\n' },
      { stream: 'stdout', encoding: 'base64', data: Buffer.from([0xe2, 0x82]).toString('base64') },
      { stream: 'stderr', data: 'b' },
      { stream: 'stdout', encoding: 'base64', data: Buffer.from([0xac]).toString('base64') },
      { stream: 'stdout', encoding: 'base64', data: Buffer.from([0xff]).toString('base64') },
      { exit: { exitCode: 7, signal: null } },
    ]);
  });

  it('without follow ends with what is there, and no exit line while the process runs', async () => {
    const entry = newEntry();
    const stdout = new PassThrough();
    entry.output.addSource(stdout, 1);
    stdout.write('now\n');
    await tick();
    const now = await collect(new ProcessOutputStream(entry, { follow: false, stream: 'both', format: 'ndjson' }));
    assert.deepEqual(now.trim().split('\n').map((line) => JSON.parse(line)), [{ stream: 'stdout', data: 'now\n' }]);
    stdout.end();
  });
});
