// Bytes over lxss.stdio.v1: through `cat` (stdin in, stdout back) against a bare ws echo between two Node
// processes, and stdin only into `cat >/dev/null` against Node writing into a local pipe. The client keeps
// `window` sends in flight, as a streaming client does; the frames are built before the clock starts.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { attach } from '../test/helpers/process-client.js';
import type { Family } from './family.js';
import { startFloor } from './floor-process.js';
import { elapsedMs, interleave, now, rowOf } from './measure.js';
import { DISTRO, type Service } from './service.js';

const MAX_CHUNK = 256 << 10;
const POOL = 8;

/** The stream: `count` frames of `size` payload bytes after a stdin channel byte, from a small pool. */
interface Stream {
  frames: Buffer[];
  count: number;
  size: number;
  bytes: number;
}

function streamOf(bytes: number): Stream {
  const size = Math.min(MAX_CHUNK, bytes);
  const count = Math.ceil(bytes / size);
  const frames = Array.from({ length: Math.min(POOL, count) }, () => Buffer.concat([Buffer.of(0), randomBytes(size)]));
  return { frames, count, size, bytes: count * size };
}

/** Sends every frame of `stream` with at most `window` sends not yet written to the socket. */
async function sendWindowed(socket: WebSocket, stream: Stream, window: number): Promise<void> {
  let inFlight = 0;
  let failed: Error | undefined;
  let wake: (() => void) | undefined;
  const settle = (error?: Error | null): void => {
    inFlight--;
    if (error) failed = error;
    const waiting = wake;
    wake = undefined;
    waiting?.();
  };
  for (let i = 0; i < stream.count; i++) {
    while (inFlight >= window) await new Promise<void>((resolve) => (wake = resolve));
    if (failed) throw failed;
    inFlight++;
    socket.send(stream.frames[i % stream.frames.length]!, { binary: true }, settle);
  }
  while (inFlight > 0) await new Promise<void>((resolve) => (wake = resolve));
  if (failed) throw failed;
}

const mibPerSecond = (bytes: number, ms: number): number => bytes / 1048576 / (ms / 1000);

/** MiB/s of `stream` through argv in the bench distribution; `echoed`: its stdout must bring them back. */
async function throughLxssd(service: Service, argv: string[], stream: Stream, window: number, echoed: boolean): Promise<number> {
  const created = await service.request('POST', `/v1/distributions/${DISTRO}/processes`, { argv, stdin: true });
  if (created.status !== 201) throw new Error(`creating ${argv.join(' ')}: ${created.status} ${JSON.stringify(created.body)}`);
  const stdio = await attach({ port: service.port }, service.token, created.body.id);
  let received = 0;
  stdio.socket.on('message', (data: Buffer) => {
    stdio.frames.length = 0; // the helper keeps every frame; a GiB of them must not pile up
    if (data[0] === 1) received += data.length - 1;
  });
  const start = now();
  await sendWindowed(stdio.socket, stream, window);
  stdio.socket.send(Buffer.of(255, 0));
  await stdio.closed;
  const ms = elapsedMs(start);
  if (received !== (echoed ? stream.bytes : 0)) throw new Error(`${argv.join(' ')} over lxss.stdio.v1 returned ${received} of ${stream.bytes} bytes`);
  return mibPerSecond(stream.bytes, ms);
}

async function throughEcho(port: number, stream: Stream, window: number): Promise<number> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  await once(socket, 'open');
  let received = 0;
  const done = new Promise<void>((resolve) =>
    socket.on('message', (data: Buffer) => {
      received += data.length - 1;
      if (received >= stream.bytes) resolve();
    }),
  );
  const start = now();
  await sendWindowed(socket, stream, window);
  await done;
  const ms = elapsedMs(start);
  socket.close();
  await once(socket, 'close');
  return mibPerSecond(stream.bytes, ms);
}

/** Node writing the same payload into a local `cat >/dev/null` on a pipe. */
async function throughPipe(stream: Stream): Promise<number> {
  const cat = spawn('sh', ['-c', 'cat >/dev/null'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const closed = once(cat, 'close');
  await once(cat, 'spawn'); // lxssd's clock starts with its process running too
  const payloads = stream.frames.map((frame) => frame.subarray(1));
  const start = now();
  for (let i = 0; i < stream.count; i++) if (!cat.stdin.write(payloads[i % payloads.length]!)) await once(cat.stdin, 'drain');
  cat.stdin.end();
  await closed;
  return mibPerSecond(stream.bytes, elapsedMs(start));
}

export const stdioFamily: Family = {
  name: 'stdio',
  async rows({ sizes, service }) {
    const stream = streamOf(sizes.streamBytes);
    const window = sizes.window;
    const echo = await startFloor('ws-echo');
    try {
      const size = `${+(stream.bytes / 1048576).toFixed(2)} MiB`;
      const cat = await interleave(sizes.rounds, {
        lxssd: async () => [await throughLxssd(service, ['cat'], stream, window, true)],
        floor: async () => [await throughEcho(echo.port, stream, window)],
      });
      const stdinOnly = await interleave(sizes.rounds, {
        lxssd: async () => [await throughLxssd(service, ['sh', '-c', 'cat >/dev/null'], stream, window, false)],
        floor: async () => [await throughPipe(stream)],
      });
      const sending = `${stream.size >> 10} KiB frames, ${window} in flight`;
      return [
        rowOf({
          what: `${size} through cat over lxss.stdio.v1`,
          unit: 'MiB/s',
          kind: 'rate',
          target: '≤ 1.3×',
          lxssd: cat.lxssd,
          floor: { what: `bare ws echo between two Node processes (bufferutil ${echo.info.bufferutil ? 'present' : 'absent'})`, samples: cat.floor },
          notes: [sending],
        }),
        rowOf({
          what: `${size} stdin only into cat >/dev/null`,
          unit: 'MiB/s',
          kind: 'rate',
          target: '≤ 3×',
          lxssd: stdinOnly.lxssd,
          floor: { what: 'Node into a local pipe to cat >/dev/null', samples: stdinOnly.floor },
          notes: [sending],
        }),
      ];
    } finally {
      await echo.stop();
    }
  },
};
