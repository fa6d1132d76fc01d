// run ["true"] over HTTP (the local socket, to its answer) against Node's spawn('/bin/true') to 'close', and
// (--peers) `docker exec CTR true` / `podman exec CTR true` from their CLIs, all interleaved.

import { spawn } from 'node:child_process';
import type { Family } from './family.js';
import { interleave, repeatMs, rowOf } from './measure.js';
import { runCommand } from './peers.js';

export function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/true', [], { stdio: 'pipe' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`/bin/true exited ${code}`))));
  });
}

export const execFamily: Family = {
  name: 'exec',
  async rows({ sizes, service, peers }) {
    const engines = peers?.engines ?? [];
    // Peers cost 30–150 ms each: a tenth of the runs keeps their share of the time sane.
    const peerRuns = Math.max(2, Math.ceil(sizes.runs / 10));
    const samples = await interleave(sizes.rounds, {
      lxssd: () => repeatMs(sizes.runs, () => service.run(['true'])),
      floor: () => repeatMs(sizes.runs, spawnTrue),
      ...Object.fromEntries(engines.map((engine) => [engine.name, () => repeatMs(peerRuns, () => runCommand(engine.exec), 1)])),
    } as Record<string, () => Promise<number[]>>);
    return [
      rowOf({
        what: 'run ["true"] over HTTP (local socket)',
        unit: 'ms',
        kind: 'cost',
        target: '≤ 0.9× the floor; ≥ 30× faster than docker exec, ≥ 60× than podman exec',
        lxssd: samples.lxssd!,
        floor: { what: "Node spawn('/bin/true')", samples: samples.floor! },
        peers: engines.map((engine) => ({ what: `${engine.name} exec CTR true`, samples: samples[engine.name]! })),
      }),
    ];
  },
};
