// What the process API costs end to end, against the real `lxssd serve` in its own process (needs root for
// namespaces): a `run` of /bin/true over the local socket, and bytes through `cat` over the lxss.stdio.v1
// WebSocket, next to the same bytes through a local `cat` on Node's pipes. Run: node dist/bench/process-api.js

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve } from '../test/helpers/binary.js';
import { importAs, readableArchive } from '../test/helpers/distros.js';
import { localRequest } from '../test/helpers/local-client.js';
import { attach, tokenOf } from '../test/helpers/process-client.js';
import { busyboxRootfsTar } from '../test/helpers/rootfs.js';
import { sharedTempDir } from '../test/helpers/server.js';
import { ensureUser } from '../test/helpers/users.js';

const RUNS = 100;
const WARMUP = 10;
const STREAM_BYTES = 256 << 20;
const CHUNK = 256 << 10;

type Row = Record<string, string | number>;

function summarize(name: string, samples: number[]): Row {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { what: name, runs: samples.length, 'median ms': +at(0.5).toFixed(2), 'p95 ms': +at(0.95).toFixed(2), 'MiB/s': '' };
}

function throughput(name: string, seconds: number): Row {
  return { what: name, runs: 1, 'median ms': +(seconds * 1000).toFixed(0), 'p95 ms': '', 'MiB/s': +(STREAM_BYTES / 1048576 / seconds).toFixed(0) };
}

async function timeIt(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** The same bytes through a local cat on plain pipes: what the OS and Node cost without lxssd. */
async function localCat(chunks: Buffer[]): Promise<void> {
  const cat = spawn('cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
  let received = 0;
  cat.stdout.on('data', (data: Buffer) => (received += data.length));
  const closed = once(cat, 'close');
  for (const chunk of chunks) if (!cat.stdin.write(chunk)) await once(cat.stdin, 'drain');
  cat.stdin.end();
  await closed;
  if (received !== STREAM_BYTES) throw new Error(`local cat returned ${received} bytes`);
}

async function catOverWebSocket(socketPath: string, port: number, token: string, chunks: Buffer[]): Promise<void> {
  const created = await localRequest(socketPath, 'POST', '/v1/distributions/bench/processes', { argv: ['cat'], stdin: true });
  const stdio = await attach({ port }, token, created.body.id);
  let received = 0;
  stdio.socket.on('message', (data: Buffer) => {
    stdio.frames.length = 0;
    if (data[0] === 1) received += data.length - 1;
  });
  for (const chunk of chunks) {
    await new Promise<void>((resolve, reject) =>
      stdio.socket.send(Buffer.concat([Buffer.of(0), chunk]), (error) => (error ? reject(error) : resolve())),
    );
  }
  stdio.socket.send(Buffer.of(255, 0));
  await stdio.closed;
  if (received !== STREAM_BYTES) throw new Error(`cat over the WebSocket returned ${received} bytes`);
}

export async function run(): Promise<Row[]> {
  if (process.getuid?.() !== 0) throw new Error('the process API benchmark needs root (namespaces)');
  const dir = await sharedTempDir('lxssd-bench-');
  const cleanups: Array<() => Promise<unknown>> = [() => rm(dir, { recursive: true, force: true })];
  const context = { after: (fn: () => Promise<unknown>) => cleanups.push(fn) } as unknown as Parameters<typeof readableArchive>[0];
  const socketPath = join(dir, 'run', 'lxssd.sock');
  const { child, url } = await serve(['--listen', '127.0.0.1:0', '--socket', socketPath, '--state-dir', join(dir, 'state')]);
  try {
    await importAs(await ensureUser('root'), socketPath, 'bench', await readableArchive(context, await busyboxRootfsTar()));
    const token = await tokenOf({ socketPath });
    const port = Number(new URL(url).port);

    const runs: number[] = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const seconds = await timeIt(async () => {
        const response = await localRequest(socketPath, 'POST', '/v1/distributions/bench/run', { argv: ['true'] });
        if (response.body.exitCode !== 0) throw new Error(`run: ${JSON.stringify(response.body)}`);
      });
      if (i >= WARMUP) runs.push(seconds * 1000);
    }

    const chunks = Array.from({ length: STREAM_BYTES / CHUNK }, () => randomBytes(CHUNK));
    return [
      summarize('POST /run ["true"] over the local socket, to its answer', runs),
      throughput('256 MiB through cat: local child on pipes (no lxssd)', await timeIt(() => localCat(chunks))),
      throughput('256 MiB through cat in a distribution, lxss.stdio.v1 over TCP', await timeIt(() => catOverWebSocket(socketPath, port, token, chunks))),
    ];
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

export const processApiBenchmark = { name: `the process API against lxssd serve (${RUNS} runs; ${STREAM_BYTES >> 20} MiB streams)`, run };

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(`\n${processApiBenchmark.name}`);
  console.table(await run());
}
