// Reading an OutputLog (src/core/output-log.ts) by iterating a cursor, and collecting it
// (src/core/output-collect.ts), with real streams as its sources: the order kept across channels, caps marking
// the answer truncated, a reader stopped early, and a lagging reader pausing the sources until it catches up [R1].

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { collect, collectedText } from '../../src/core/output-collect.js';
import { type OutputChunk, OutputLog } from '../../src/core/output-log.js';

function sources(log: OutputLog): { stdout: PassThrough; stderr: PassThrough } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  log.addSource(stdout, 1);
  log.addSource(stderr, 2);
  return { stdout, stderr };
}

/** Writes each piece to its stream, one event-loop turn apart (so each arrives as its own chunk). */
async function writeInTurns(writes: Array<[PassThrough, string]>): Promise<void> {
  for (const [stream, text] of writes) {
    stream.write(text);
    await tick();
  }
}

const asText = (chunks: OutputChunk[]) => chunks.map((chunk) => [chunk.channel, chunk.data.toString()]);

describe('OutputCursor as an async iterable', () => {
  it('yields every chunk in the order it came across both channels, and ends when the output has [R1]', async () => {
    const log = new OutputLog();
    const { stdout, stderr } = sources(log);
    const seen: OutputChunk[] = [];
    const reading = (async () => {
      for await (const chunk of log.attach()) seen.push(chunk);
    })();
    await writeInTurns([
      [stdout, 'one'],
      [stderr, 'two'],
      [stdout, 'three'],
      [stderr, 'four'],
    ]);
    stdout.end();
    stderr.end();
    await reading;
    assert.deepEqual(asText(seen), [
      [1, 'one'],
      [2, 'two'],
      [1, 'three'],
      [2, 'four'],
    ]);
  });

  it('stops at once when its signal aborts, and lets go of the log', async () => {
    const log = new OutputLog(10, 5);
    const { stdout } = sources(log);
    const stopping = new AbortController();
    const seen: string[] = [];
    const other = log.attach();
    const reading = (async () => {
      for await (const chunk of log.attach().chunks({ signal: stopping.signal })) seen.push(chunk.data.toString());
    })();
    await writeInTurns([[stdout, 'first']]);
    stopping.abort();
    await reading;
    assert.deepEqual(seen, ['first'], 'ended while the source is still open');
    await writeInTurns([[stdout, 'more than the ten bytes']]);
    assert.equal(log.isPaused, true, 'past the limit while the other reader is behind');
    assert.deepEqual([other.read()?.data.toString(), other.read()?.data.toString()], ['first', 'more than the ten bytes']);
    // Were the stopped reader still attached where it stopped, it would hold the second chunk in the log.
    assert.equal(log.isPaused, false, 'resumed: the stopped reader holds nothing back');
    other.close();
  });
});

describe('collect', () => {
  it('keeps each channel up to its cap and says the rest was left out', async () => {
    const log = new OutputLog();
    const { stdout, stderr } = sources(log);
    const collecting = collect(log.attach(), { maxBytesPerChannel: 5 });
    await writeInTurns([
      [stdout, 'hel'],
      [stderr, 'ab'],
      [stdout, 'lo world'],
      [stderr, 'cde'],
    ]);
    stdout.end();
    stderr.end();
    const output = await collecting;
    assert.deepEqual(
      [Buffer.concat(output.stdout).toString(), Buffer.concat(output.stderr).toString(), output.truncated],
      ['hello', 'abcde', true],
    );
    assert.deepEqual(asText(output.chunks), [
      [1, 'hel'],
      [2, 'ab'],
      [1, 'lo'],
      [2, 'cde'],
    ]);

    const exact = new OutputLog();
    const exactSources = sources(exact);
    exactSources.stdout.end('12345');
    exactSources.stderr.end('67890');
    assert.equal((await collect(exact.attach(), { maxBytesPerChannel: 5 })).truncated, false, 'exactly the cap is all of it');
  });

  it('caps both channels together, keeping their order, text decoded once (a character split between chunks stays whole)', async () => {
    const log = new OutputLog();
    const { stdout, stderr } = sources(log);
    const collecting = collect(log.attach(), { maxBytes: 8 });
    const euro = Buffer.from('€');
    stdout.write(Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]));
    await tick();
    stdout.write(euro.subarray(1));
    await tick();
    await writeInTurns([
      [stderr, 'bc'],
      [stdout, 'defgh'],
    ]);
    stdout.end();
    stderr.end();
    const output = await collecting;
    assert.deepEqual([collectedText(output), output.truncated], ['a€bcde', true]);
  });

  it('stops once `until` has passed and it has what arrived by then, though a source stays open', async () => {
    const log = new OutputLog();
    const { stdout, stderr } = sources(log);
    let pass!: () => void;
    const until = new Promise<void>((resolve) => (pass = resolve));
    let done = false;
    const collecting = collect(log.attach(), { until }).then((output) => {
      done = true;
      return output;
    });
    await writeInTurns([[stdout, 'before']]);
    assert.equal(done, false, 'still reading before the deadline');
    await writeInTurns([[stderr, 'at the deadline']]);
    pass();
    const output = await collecting;
    assert.deepEqual(asText(output.chunks), [
      [1, 'before'],
      [2, 'at the deadline'],
    ]);
    assert.equal(log.ended, false, 'the sources are still open');
    stdout.end();
    stderr.end();
  });

  it('pauses the sources while an attached reader lags, resumes them as it catches up, and loses no byte [R1]', async () => {
    const log = new OutputLog(10, 5);
    const { stdout, stderr } = sources(log);
    const lagging = log.attach()[Symbol.asyncIterator]();
    const collecting = collect(log.attach());
    stdout.write('0123456789ab');
    await tick();
    assert.equal(log.isPaused, true, 'past the limit while a reader is behind');
    assert.equal(stdout.isPaused(), true, 'the source is held back');
    stderr.write('written while paused');
    await tick();
    assert.equal(stderr.isPaused(), true, 'every source is held back');
    // The lagging reader catches up; what the sources held back flows in, and it reads that too.
    const lagged: OutputChunk[] = [];
    for (;;) {
      const next = await lagging.next();
      lagged.push(next.value as OutputChunk);
      if (lagged.length === 2) break;
    }
    assert.equal(log.isPaused, false, 'resumed once the readers have caught up');
    assert.equal(stdout.isPaused(), false);
    await writeInTurns([[stdout, 'after']]);
    stdout.end();
    stderr.end();
    for (;;) {
      const next = await lagging.next();
      if (next.done) break;
      lagged.push(next.value);
    }
    const expected = [
      [1, '0123456789ab'],
      [2, 'written while paused'],
      [1, 'after'],
    ];
    assert.deepEqual(asText(lagged), expected, 'the lagging reader');
    assert.deepEqual(asText((await collecting).chunks), expected, 'the reader that kept up');
  });
});
