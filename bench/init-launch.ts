// What a launch through lxssd-init costs, next to Node's own child_process.spawn: 200 sequential launches of
// /bin/true each, median and p95. init runs as a plain child here (no namespaces), so the numbers are the
// protocol + fork + exec, not instance setup. Run: node dist/bench/init-launch.js

import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { closeAll, stdioPair } from '../src/hv/linux/fd-passing.js';
import { InitChannel, initPath } from '../src/hv/linux/init-channel.js';

const RUNS = 200;
const WARMUP = 10;

type Row = Record<string, string | number>;

function summarize(name: string, samples: number[]): Row {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { what: name, runs: samples.length, 'median ms': +at(0.5).toFixed(2), 'p95 ms': +at(0.95).toFixed(2) };
}

async function measure(fn: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return samples;
}

function nodeSpawn(stdio: 'pipe' | 'ignore'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/true', [], { stdio });
    child.on('error', reject);
    child.on('close', () => resolve());
  });
}

export async function run(): Promise<Row[]> {
  const child = spawn(initPath(), [], { stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'] });
  const channel = new InitChannel(child);
  try {
    await channel.hello();
    const uid = process.getuid?.() ?? 0;
    let toLaunched = 0;
    const launchedSamples: number[] = [];
    const viaInit = async (): Promise<void> => {
      const { child: fds, local } = stdioPair('pipe');
      closeAll(local);
      const start = process.hrtime.bigint();
      const launched = await channel.launch({ argv: ['/bin/true'], uid, stdio: fds });
      toLaunched = Number(process.hrtime.bigint() - start) / 1e6;
      await launched.exit;
    };
    const exited = await measure(async () => {
      await viaInit();
      launchedSamples.push(toLaunched);
    });
    const pty = await measure(async () => {
      const launched = await channel.launch({ argv: ['/bin/true'], uid, pty: { cols: 80, rows: 24 } });
      await launched.exit;
      closeAll([launched.ptyMaster!]);
    });
    return [
      summarize("child_process.spawn('/bin/true'), stdio 'pipe', to 'close'", await measure(() => nodeSpawn('pipe'))),
      summarize("child_process.spawn('/bin/true'), stdio 'ignore', to 'close'", await measure(() => nodeSpawn('ignore'))),
      summarize('init LAUNCH /bin/true, pipes, to LAUNCHED (exec done)', launchedSamples.slice(WARMUP)),
      summarize('init LAUNCH /bin/true, pipes, to EXITED', exited),
      summarize('init LAUNCH /bin/true, pty, to EXITED', pty),
    ];
  } finally {
    await channel.terminate().catch(() => undefined);
    await channel.exited;
  }
}

export const initLaunchBenchmark = { name: `launch /bin/true ${RUNS}x: lxssd-init vs child_process.spawn`, run };

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(`\n${initLaunchBenchmark.name}`);
  console.table(await run());
}
