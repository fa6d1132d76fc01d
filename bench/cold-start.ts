// An instance's cold start to its first output: stop the instance (untimed), then time run ["echo", "ok"]
// until its answer, against `unshare -Urpf --mount-proc true` (the namespaces alone) and, with --peers,
// `docker run --rm IMG true` / `podman run --rm IMG true`.

import { spawn } from 'node:child_process';
import type { Family } from './family.js';
import { interleave, repeatMs, rowOf, timeMs } from './measure.js';
import { runCommand } from './peers.js';
import { DISTRO, type Service } from './service.js';

function unshareTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['-Urpf', '--mount-proc', 'true'], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`unshare exited ${code}`))));
  });
}

async function stopInstance(service: Service): Promise<void> {
  const response = await service.request('DELETE', `/v1/distributions/${DISTRO}/instance`);
  if (response.status >= 500) throw new Error(`stopping the instance: ${response.status} ${JSON.stringify(response.body)}`);
}

/** `runs` cold starts, each after a stop that is not timed. */
async function coldStarts(service: Service, runs: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    await stopInstance(service);
    samples.push(await timeMs(() => service.run(['echo', 'ok'])));
  }
  return samples;
}

export const coldStartFamily: Family = {
  name: 'cold-start',
  async rows({ sizes, service, peers }) {
    const engines = peers?.engines ?? [];
    const runs = Math.max(2, Math.ceil(sizes.runs / 5));
    const peerRuns = Math.max(1, Math.ceil(sizes.runs / 20));
    await service.run(['true']); // the VM is up: a cold start here is the instance's
    const samples = await interleave(sizes.rounds, {
      lxssd: () => coldStarts(service, runs),
      floor: () => repeatMs(runs, unshareTrue, 1),
      ...Object.fromEntries(engines.map((engine) => [engine.name, () => repeatMs(peerRuns, () => runCommand(engine.coldRun), 1)])),
    } as Record<string, () => Promise<number[]>>);
    return [
      rowOf({
        what: 'instance cold start to first output',
        unit: 'ms',
        kind: 'cost',
        target: '≤ 2×',
        lxssd: samples.lxssd!,
        floor: { what: 'unshare -Urpf --mount-proc true', samples: samples.floor! },
        peers: engines.map((engine) => ({ what: `${engine.name} run --rm IMG true`, samples: samples[engine.name]! })),
      }),
    ];
  },
};
