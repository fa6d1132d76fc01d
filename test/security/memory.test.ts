// What one request can make the service hold [S10]: the peak RSS of a real lxssd process, measured around a
// hostile `run` (32 MiB of NULs, each six bytes once JSON-escaped) and a list of processes with large argv;
// argv and env a launch cannot carry refused with 400 before anything starts; the per-user budget of `run`
// output across concurrent runs.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { serve } from '../helpers/binary.js';
import { importAs, readableArchive, usersWithBusybox } from '../helpers/distros.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { eventually } from '../helpers/eventually.js';
import { localRequest } from '../helpers/local-client.js';
import { sharedTempDir, startServer } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

const MiB = 1024 * 1024;
/** The stated budgets: how much above its resting RSS the service may peak for each hostile request. */
const HOSTILE_RUN_BUDGET = 256 * MiB;
const LARGE_LIST_BUDGET = 64 * MiB;

function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/**
 * The service's peak RSS above where it started while `action` runs: the kernel's high-water mark, reset first
 * (clear_refs 5), and VmRSS sampled besides in case the reset is not allowed.
 */
async function peakGrowth<T>(pid: number, action: () => Promise<T>): Promise<{ growth: number; result: T }> {
  const before = statusField(pid, 'VmRSS');
  let reset = true;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    reset = false;
  }
  let sampled = before;
  const sampler = setInterval(() => (sampled = Math.max(sampled, statusField(pid, 'VmRSS'))), 10);
  try {
    const result = await action();
    const peak = Math.max(sampled, statusField(pid, 'VmRSS'), reset ? statusField(pid, 'VmHWM') : 0);
    return { growth: peak - before, result };
  } finally {
    clearInterval(sampler);
  }
}

/** POSTs a run and reads the answer as it streams, keeping only its size, head and tail. */
function streamedRun(socketPath: string, body: unknown): Promise<{ status: number; bytes: number; head: string; tail: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method: 'POST', path: '/v1/distributions/bb/run', headers: { host: 'localhost', 'content-type': 'application/json' } },
      (res) => {
        let bytes = 0;
        let head = Buffer.alloc(0);
        let tail = Buffer.alloc(0);
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (head.length < 256) head = Buffer.concat([head, chunk.subarray(0, 256 - head.length)]);
          tail = Buffer.concat([tail, chunk]).subarray(-512);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, head: head.toString(), tail: tail.toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('memory one request can make the service hold [S10]', () => {
  it('keeps a hostile run and a large list within a stated RSS budget, and refuses oversized argv and env with 400', { timeout: 300_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces and /proc/PID/clear_refs');
    const dir = await sharedTempDir('lxssd-memory-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'run', 'lxssd.sock');
    const { child } = await serve(['--listen', '127.0.0.1:0', '--socket', socketPath, '--state-dir', join(dir, 'state')]);
    t.after(async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    });
    const pid = child.pid!;
    await usersWithBusybox(t, socketPath, 'root');
    const warm = await localRequest(socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['true'] });
    assert.equal(warm.status, 200, 'the instance runs before anything is measured');

    // 32 MiB of NULs, kept whole: as JSON that is 192 MiB of \u0000, which the service once built as strings.
    const nuls = 32 * MiB;
    const hostile = await peakGrowth(pid, () =>
      streamedRun(socketPath, { argv: ['head', '-c', String(nuls), '/dev/zero'], maxOutputBytes: nuls, timeoutMs: 120_000 }),
    );
    const answer = hostile.result;
    assert.equal(answer.status, 200, answer.head);
    const prefix = /^\{"id":"[0-9a-f-]{36}","exitCode":0,"signal":null,"stdout":"/.exec(answer.head);
    assert.ok(prefix, `the answer starts as RunResultSchema does: ${answer.head.slice(0, 120)}`);
    const suffix = '","stderr":"","encoding":"utf8","truncated":false,"timedOut":false,"error":null}';
    assert.ok(answer.tail.endsWith(`\\u0000${suffix}`), `the answer ends whole: ${answer.tail.slice(-160)}`);
    assert.equal(answer.bytes, prefix[0].length + 6 * nuls + suffix.length, 'every NUL is in the answer, escaped');
    t.diagnostic(`hostile run: RSS +${(hostile.growth / MiB).toFixed(1)} MiB`);
    assert.ok(
      hostile.growth < HOSTILE_RUN_BUDGET,
      `the hostile run raised the service's RSS by ${(hostile.growth / MiB).toFixed(0)} MiB (budget ${HOSTILE_RUN_BUDGET / MiB} MiB)`,
    );

    // 50 processes, each with 800 KiB of argv: the list shows a summary of each, the process itself all of it.
    const big = Array.from({ length: 8 }, (_, i) => String(i).repeat(100 * 1024));
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const created = await localRequest(socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sh', '-c', 'sleep 1000', 'sh', ...big] });
      assert.equal(created.status, 201, JSON.stringify(created.body).slice(0, 300));
      ids.push(created.body.id);
    }
    const listing = await peakGrowth(pid, () => localRequest(socketPath, 'GET', '/v1/processes'));
    const listed = listing.result;
    assert.equal(listed.status, 200);
    // The warm-up run, the hostile run and the 50.
    assert.equal(listed.body.processes.length, 52, 'every process is on the one default page');
    assert.equal(listed.body.next, null);
    const size = Buffer.byteLength(JSON.stringify(listed.body));
    assert.ok(size < MiB, `the list is ${size} bytes (it was 47 MB with whole argv)`);
    const summary = listed.body.processes.find((p: { id: string }) => p.id === ids[0]);
    assert.equal(summary.argvTruncated, true, 'the list says argv was shortened');
    t.diagnostic(`large list: RSS +${(listing.growth / MiB).toFixed(1)} MiB, ${size} bytes`);
    assert.ok(
      listing.growth < LARGE_LIST_BUDGET,
      `the list raised the service's RSS by ${(listing.growth / MiB).toFixed(0)} MiB (budget ${LARGE_LIST_BUDGET / MiB} MiB)`,
    );
    const one = await localRequest(socketPath, 'GET', `/v1/processes/${ids[0]}`);
    assert.deepEqual([one.body.argv.length, one.body.argvTruncated], [12, false], 'the process itself shows all of argv');
    assert.equal(one.body.argv[11], big[7]);
    const firstPage = await localRequest(socketPath, 'GET', '/v1/processes?limit=20');
    const secondPage = await localRequest(socketPath, 'GET', `/v1/processes?limit=20&after=${firstPage.body.next}`);
    const thirdPage = await localRequest(socketPath, 'GET', `/v1/processes?limit=20&after=${secondPage.body.next}`);
    assert.deepEqual(
      [firstPage.body.processes, secondPage.body.processes, thirdPage.body.processes].map((page) => page.length),
      [20, 20, 12],
      'pages of 20',
    );
    assert.equal(thirdPage.body.next, null, 'the last page has no next');
    const paged = [firstPage, secondPage, thirdPage].flatMap((page) => page.body.processes.map((p: { id: string }) => p.id));
    assert.deepEqual(paged, listed.body.processes.map((p: { id: string }) => p.id), 'the pages are the list, in order, once each');

    // What a launch cannot carry is refused before anything starts: a 400 naming the limit, never a 500.
    const before = (await localRequest(socketPath, 'GET', '/v1/processes')).body.processes.length;
    const oversized: Array<[string, string, object]> = [
      ['env over the launch limit', '/run', { argv: ['env'], env: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`V${i}`, 'v'.repeat(120 * 1024)])) }],
      ['one env string over MAX_ARG_STRLEN', '/run', { argv: ['env'], env: { HUGE: 'x'.repeat(200 * 1024) } }],
      ['argv of many strings over the limit', '/run', { argv: ['echo', ...Array.from({ length: 4000 }, () => 'a'.repeat(300))] }],
      ['argv over the limit in a body under 1 MiB', '/processes', { argv: ['echo', ...Array.from({ length: 10 }, () => 'b'.repeat(100 * 1024))] }],
    ];
    for (const [what, route, body] of oversized) {
      const refused = await localRequest(socketPath, 'POST', `/v1/distributions/bb${route}`, body);
      assert.equal(refused.status, 400, `${what}: ${JSON.stringify(refused.body).slice(0, 300)}`);
      assert.equal(refused.body.code, 'E_INVALIDARG', what);
      assert.match(refused.body.detail, /\d+ bytes/, `${what}: the detail names the limit`);
    }
    assert.equal((await localRequest(socketPath, 'GET', '/v1/processes')).body.processes.length, before, 'nothing was started');
    assert.equal(child.exitCode, null, 'the service is still up');
  });

  it('holds each user’s concurrent run output to maxRunOutputBytes: 503 past it, 400 for one run over all of it', { timeout: 120_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const server = await startServer(t, { maxRunOutputBytes: 4 * MiB });
    await usersWithBusybox(t, server.socketPath, 'root');
    const run = (body: object) => localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', body);
    // Two runs of 1 MiB per stream reserve 2 MiB each: all of the 4 MiB.
    const held = [run({ argv: ['sleep', '1000'], maxOutputBytes: MiB }), run({ argv: ['sleep', '1001'], maxOutputBytes: MiB })];
    await eventually(async () => {
      const listed = (await localRequest(server.socketPath, 'GET', '/v1/processes')).body.processes;
      assert.equal(listed.filter((p: { state: string }) => p.state === 'running').length, 2, 'both runs are running');
    });
    const refused = await run({ argv: ['true'], maxOutputBytes: 1024 });
    assert.deepEqual([refused.status, refused.body.code], [503, 'LXSSD_E_OUT_OF_RESOURCES'], JSON.stringify(refused.body));
    assert.match(refused.body.detail, /maxRunOutputBytes/);
    const tooBig = await run({ argv: ['true'], maxOutputBytes: 3 * MiB });
    assert.deepEqual([tooBig.status, tooBig.body.code], [400, 'E_INVALIDARG'], JSON.stringify(tooBig.body));

    // When a run has answered, its share comes back.
    const sleepers = (await localRequest(server.socketPath, 'GET', '/v1/processes')).body.processes;
    for (const sleeper of sleepers) await localRequest(server.socketPath, 'POST', `/v1/processes/${sleeper.id}/signal`, { signal: 'KILL' });
    const answers = await Promise.all(held);
    assert.deepEqual(answers.map((answer) => [answer.status, answer.body.exitCode]), [[200, 137], [200, 137]]);
    // (The share comes back when the server has finished the response, which may trail the client's end by a moment.)
    await eventually(async () => {
      const again = await run({ argv: ['echo', 'room'], maxOutputBytes: MiB });
      assert.deepEqual([again.status, again.body.stdout], [200, 'room\n'], 'the budget is free again');
    });
  });

  it('pages the other lists that can grow (tokens, distributions) with the same limit/after/next, in their own order', { timeout: 120_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root to import distributions');
    const server = await startServer(t);
    const minted: string[] = [];
    for (let i = 0; i < 5; i++) {
      const token = await localRequest(server.socketPath, 'POST', '/v1/tokens', { label: `t${i}` });
      assert.equal(token.status, 201);
      minted.push(token.body.info.id);
    }
    const all = (await localRequest(server.socketPath, 'GET', '/v1/tokens')).body;
    assert.deepEqual([all.tokens.map((token: { id: string }) => token.id), all.next], [minted, null], 'one default page, oldest first');
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const query: string = after === null ? '?limit=2' : `?limit=2&after=${after}`;
      const listed = (await localRequest(server.socketPath, 'GET', `/v1/tokens${query}`)).body;
      assert.ok(listed.tokens.length <= 2, 'a page holds at most limit');
      seen.push(...listed.tokens.map((token: { id: string }) => token.id));
      after = listed.next;
      if (after === null) break;
    }
    assert.deepEqual(seen, minted, 'the pages are the list, once each');
    const tooMany = await localRequest(server.socketPath, 'GET', '/v1/tokens?limit=100000');
    assert.deepEqual([tooMany.status, tooMany.body.code], [400, 'E_INVALIDARG'], 'a limit over 1000 is refused');

    const [root] = await usersWithBusybox(t, server.socketPath, 'root');
    await importAs(root, server.socketPath, 'bb2', await readableArchive(t, await busyboxRootfsTar()));
    const whole = (await localRequest(server.socketPath, 'GET', '/v1/distributions')).body;
    assert.deepEqual(whole.distributions.map((d: { name: string }) => d.name), ['bb', 'bb2'], 'oldest first, as before paging');
    const first = (await localRequest(server.socketPath, 'GET', '/v1/distributions?limit=1')).body;
    const rest = (await localRequest(server.socketPath, 'GET', `/v1/distributions?limit=1&after=${first.next}`)).body;
    assert.deepEqual(
      [...first.distributions, ...rest.distributions].map((d: { name: string }) => d.name),
      ['bb', 'bb2'],
      'two pages of one',
    );
    assert.equal(rest.next, null);
    assert.equal(rest.defaultDistribution, whole.defaultDistribution, 'the default is named whatever page it is on');
  });
});
