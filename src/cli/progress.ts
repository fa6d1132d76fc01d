// Transfer progress on stderr, only when it is a terminal: bytes so far, rate, and with a known total the share
// and the time left. Redrawn at most a few times a second, on one line that is cleared at the end.

import { Transform } from 'node:stream';
import { formatBytes } from '../client/format.js';

export { formatBytes };

const REDRAW_MS = 200;

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const whole = Math.ceil(seconds);
  return whole >= 60 ? `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s` : `${whole}s`;
}

export function progressLine(label: string, bytes: number, elapsedMs: number, total?: number): string {
  const rate = elapsedMs > 0 ? (bytes * 1000) / elapsedMs : 0;
  let line = `${label}: ${formatBytes(bytes)}`;
  if (total !== undefined && total > 0) {
    line += ` of ${formatBytes(total)} (${Math.min(100, Math.floor((bytes * 100) / total))}%)`;
  }
  line += `, ${formatBytes(Math.round(rate))}/s`;
  if (total !== undefined && total > 0 && rate > 0) line += `, ETA ${formatSeconds((total - bytes) / rate)}`;
  return line;
}

/** A pass-through stream that counts what goes by and draws the progress line; `finish()` clears it. */
export function progressMeter(label: string, total?: number, output: NodeJS.WriteStream = process.stderr): Transform & { finish(): void } {
  const shown = output.isTTY === true;
  const started = Date.now();
  let bytes = 0;
  let drawnAt = 0;
  const draw = () => {
    drawnAt = Date.now();
    output.write(`\r\x1b[K${progressLine(label, bytes, drawnAt - started, total)}`);
  };
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (shown && Date.now() - drawnAt >= REDRAW_MS) draw();
      callback(null, chunk);
    },
  }) as Transform & { finish(): void };
  meter.finish = () => {
    if (shown && drawnAt !== 0) output.write('\r\x1b[K');
  };
  return meter;
}
