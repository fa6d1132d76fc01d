// lxss's transfer progress: what the line says (bytes, share, rate, time left), and that it is drawn only on a
// terminal and cleared at the end, so a redirected stderr gets nothing but real messages.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { formatBytes, progressLine, progressMeter } from '../../src/cli/progress.js';

function sink(isTTY: boolean): Writable & { isTTY: boolean; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  }) as Writable & { isTTY: boolean; text: () => string };
  stream.isTTY = isTTY;
  stream.text = () => text;
  return stream;
}

describe('lxss progress', () => {
  it('says bytes, share, rate and time left', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(3 * 1024 * 1024 + 512 * 1024), '3.5 MiB');
    assert.equal(progressLine('Importing x', 10 * 1024 * 1024, 2000, 40 * 1024 * 1024), 'Importing x: 10.0 MiB of 40.0 MiB (25%), 5.0 MiB/s, ETA 6s');
    assert.equal(progressLine('Importing x', 1024, 1000), 'Importing x: 1.0 KiB, 1.0 KiB/s', 'no total (stdin): no share, no ETA');
    assert.match(progressLine('Exporting x', 1, 1000, 600 * 1024 * 1024), /ETA \d+m\d\ds$/);
  });

  it('draws on a terminal only, passes every byte, and clears its line', async () => {
    const data = Buffer.alloc(256 * 1024, 7);
    for (const isTTY of [true, false]) {
      const err = sink(isTTY);
      const out: Buffer[] = [];
      const meter = progressMeter('Importing x', data.length, err as unknown as NodeJS.WriteStream);
      await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), meter, new Writable({
        write(chunk: Buffer, _encoding, callback) {
          out.push(chunk);
          callback();
        },
      }));
      meter.finish();
      assert.ok(Buffer.concat(out).equals(data));
      if (isTTY) {
        assert.match(err.text(), /^\r\x1b\[KImporting x: 1000 B of 256\.0 KiB \(0%\)/);
        assert.ok(err.text().endsWith('\r\x1b[K'), 'the line is cleared');
      } else assert.equal(err.text(), '', 'nothing on a stderr that is not a terminal');
    }
  });
});
