// `npm run bench`: every row family against one lxssd, interleaved with its floors (and, with --peers, docker
// and podman); prints one Markdown table and writes results.json. Numbers are for reading, never asserted.

import { cpus, release } from 'node:os';
import { apiRateFamily } from './api-rate.js';
import { coldStartFamily } from './cold-start.js';
import { concurrentFamily } from './concurrent.js';
import { execFamily } from './exec.js';
import type { Family } from './family.js';
import { markdownTable, type Row, writeResults } from './measure.js';
import { parseOptions } from './options.js';
import { type Peers, startPeers } from './peers.js';
import { SERVICE_LOG, startService } from './service.js';
import { sseFamily } from './sse.js';
import { stdioFamily } from './stdio.js';
import { busyboxRootfsTar } from '../test/helpers/rootfs.js';

const FAMILIES: Family[] = [execFamily, stdioFamily, apiRateFamily, coldStartFamily, concurrentFamily, sseFamily];

const options = parseOptions(process.argv.slice(2));
const unknown = options.only.filter((name) => !FAMILIES.some((family) => family.name === name));
if (unknown.length > 0) throw new Error(`--only: no row family ${unknown.join(', ')}`);
const families = FAMILIES.filter((family) => options.only.length === 0 || options.only.includes(family.name));

const started = new Date();
const service = await startService(options.sizes.concurrent);
let peers: Peers | undefined;
const rows: Row[] = [];
try {
  if (options.peers) peers = await startPeers(await busyboxRootfsTar());
  for (const family of families) {
    process.stderr.write(`[bench] ${family.name}\n`);
    rows.push(...(await family.rows({ sizes: options.sizes, service, peers })));
  }
} catch (error) {
  process.stderr.write(`[bench] failed; the service's log is ${SERVICE_LOG}\n`);
  throw error;
} finally {
  await peers?.stop();
  await service.stop();
}

console.log(markdownTable(rows));
await writeResults(
  options.out,
  {
    started: started.toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, kernel: release(), node: process.version },
    sizes: options.sizes,
    peers: options.peers ? { engines: peers?.engines.map((engine) => engine.name), notes: peers?.notes } : false,
  },
  rows,
);
process.stderr.write(`[bench] wrote ${options.out}\n`);
