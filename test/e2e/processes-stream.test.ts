// Process stdio under load [R1]: 200 MiB through `cat` against the real binary in bounded memory, output
// kept for a late reader while the process waits, and 100 processes of two users at once.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import request from 'supertest';
import { serve } from '../helpers/binary.js';
import { usersWithBusybox } from '../helpers/distros.js';
import { localRequest } from '../helpers/local-client.js';
import { attach, tokenOf } from '../helpers/process-client.js';
import { sharedTempDir, startServer } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

const MiB = 1 << 20;
const TOTAL = 200 * MiB;
/** Below the service's 1 MiB WebSocket frame limit, channel byte included. */
const CHUNK = 256 * 1024;
const RSS_BOUND = 64 * MiB;

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/^VmRSS:\s+(\d+) kB/m)?.[1]) * 1024;
}

const Channel = { Stdin: 0, Stdout: 1, Exit: 3, Close: 255 } as const;

describe('process stdio under load', () => {
  it('carries 200 MiB through cat byte for byte, attached 2 s late and read slowly, in bounded service memory', { timeout: 10 * 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const dir = await sharedTempDir('lxssd-stream-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'run', 'lxssd.sock');
    const { child, url } = await serve(['--listen', '127.0.0.1:0', '--socket', socketPath, '--state-dir', join(dir, 'state')]);
    t.after(async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    });
    const port = Number(new URL(url).port);
    await usersWithBusybox(t, socketPath, 'root');
    const token = await tokenOf({ socketPath });

    const cat = await localRequest(socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['cat'], stdin: true });
    assert.equal(cat.status, 201, JSON.stringify(cat.body));
    await delay(2000); // the acceptance's "attach 2 s after the process started"

    const baseline = await rssOf(child.pid!);
    let peak = baseline;
    const sampler = setInterval(() => {
      rssOf(child.pid!).then((rss) => (peak = Math.max(peak, rss)), () => undefined);
    }, 50);
    t.after(() => clearInterval(sampler));

    const stdio = await attach({ port }, token, cat.body.id);
    const socket = stdio.socket;
    stdio.frames.length = 0; // this test hashes frames as they come instead of keeping them
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let receivedBytes = 0;
    let outputAfterExit = false;
    let exit: { exitCode: number; signal: number | null } | undefined;
    let slowPhases = 0;
    socket.on('message', (data: Buffer) => {
      stdio.frames.length = 0;
      if (data[0] === Channel.Stdout) {
        if (exit) outputAfterExit = true;
        received.update(data.subarray(1));
        const before = receivedBytes;
        receivedBytes += data.length - 1;
        // Two slow stretches: stop reading for 1.5 s at 50 MiB and at 120 MiB.
        for (const mark of [50 * MiB, 120 * MiB]) {
          if (before < mark && receivedBytes >= mark) {
            slowPhases++;
            socket.pause();
            setTimeout(() => socket.resume(), 1500);
          }
        }
      } else if (data[0] === Channel.Exit) {
        exit = JSON.parse(data.subarray(1).toString());
      }
    });

    for (let offset = 0; offset < TOTAL; offset += CHUNK) {
      const chunk = randomBytes(CHUNK);
      sent.update(chunk);
      // Waiting for each send is the writer's backpressure: the service stops reading while cat is full.
      await new Promise<void>((resolve, reject) =>
        socket.send(Buffer.concat([Buffer.of(Channel.Stdin), chunk]), (error) => (error ? reject(error) : resolve())),
      );
    }
    socket.send(Buffer.of(Channel.Close, Channel.Stdin));
    const closed = await stdio.closed;
    clearInterval(sampler);

    assert.equal(closed.code, 1000);
    assert.deepEqual(exit, { exitCode: 0, signal: null }, 'stdin EOF ends cat with 0');
    assert.equal(outputAfterExit, false, 'the exit status comes after the last output byte');
    assert.equal(slowPhases, 2);
    assert.equal(receivedBytes, TOTAL);
    assert.equal(received.digest('hex'), sent.digest('hex'), 'sha256 of what came back equals what was sent');
    const growth = peak - baseline;
    t.diagnostic(`service RSS: baseline ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB, growth ${(growth / MiB).toFixed(1)} MiB`);
    assert.ok(growth < RSS_BOUND, `service RSS grew ${(growth / MiB).toFixed(1)} MiB (bound ${RSS_BOUND / MiB} MiB)`);
  });

  it('keeps all output for a reader who attaches late, pausing the process instead of dropping', async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const server = await startServer(t);
    await usersWithBusybox(t, server.socketPath, 'root');
    const token = await tokenOf(server);
    // ~2 MiB of output: twice what the service holds for a process nobody reads.
    const created = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', {
      argv: ['sh', '-c', 'seq 1 300000; echo done >&2; exit 9'],
    });
    assert.equal(created.status, 201);
    await delay(2000);
    const meanwhile = await localRequest(server.socketPath, 'GET', `/v1/processes/${created.body.id}`);
    assert.equal(meanwhile.body.state, 'running', 'unread output holds the process, it is not thrown away');

    const stdio = await attach(server, token, created.body.id);
    await stdio.closed;
    const expected = Array.from({ length: 300000 }, (_, i) => `${i + 1}\n`).join('');
    assert.equal(stdio.text(Channel.Stdout), expected, 'every line, in order');
    assert.equal(stdio.text(2), 'done\n');
    const last = stdio.frames.at(-1)!;
    assert.equal(last.channel, Channel.Exit, 'the exit status is the last frame');
    assert.deepEqual(JSON.parse(last.data.toString()), { exitCode: 9, signal: null });
  });

  it('sees the end of 100 silent processes that exit at once, with the CPU busy', async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const server = await startServer(t);
    await usersWithBusybox(t, server.socketPath, 'root');
    // Busy CPUs make the service see a process's EOF before init's LAUNCHED: the order that once lost the end.
    const load = [0, 1].map(() => spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
    t.after(() => load.forEach((busy) => busy.kill('SIGKILL')));
    for (let i = 0; i < 100; i++) {
      const run = localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['true'] });
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<'stuck'>((resolve) => (timer = setTimeout(() => resolve('stuck'), 20_000)));
      const result = await Promise.race([run, stuck]);
      clearTimeout(timer);
      assert.notEqual(result, 'stuck', `run ${i} of \`true\` never finished`);
      assert.equal((result as { body: { exitCode: number } }).body.exitCode, 0);
    }
  });

  it('runs 100 processes of two users at once, each with exactly its own output and exit code', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const [alice, bob] = await usersWithBusybox(t, server.socketPath, 'alice', 'bob');
    const tokens = {
      alice: await tokenOf(server, `S-1-22-1-${alice.uid}`),
      bob: await tokenOf(server, `S-1-22-1-${bob.uid}`),
    };
    const jobs = Array.from({ length: 100 }, (_, i) => ({ user: i % 2 ? 'alice' : 'bob', i }) as const);
    const results = await Promise.all(
      jobs.map(({ user, i }) =>
        request(server.url)
          .post('/v1/distributions/bb/run')
          .set('authorization', `Bearer ${tokens[user]}`)
          // 64 KiB of lines naming the job, so outputs that crossed would show; the sleep keeps all 100 alive together.
          .send({ argv: ['sh', '-c', `yes ${user}-${i} | head -c 65536; echo err-${i} >&2; sleep 0.5; exit ${i}`] }),
      ),
    );
    jobs.forEach(({ user, i }, index) => {
      const result = results[index]!;
      assert.equal(result.status, 200, JSON.stringify(result.body));
      const line = `${user}-${i}\n`;
      const expected = line.repeat(Math.ceil(65536 / line.length)).slice(0, 65536);
      assert.equal(result.body.stdout, expected, `${user}-${i} stdout`);
      assert.equal(result.body.stderr, `err-${i}\n`, `${user}-${i} stderr`);
      assert.equal(result.body.exitCode, i, `${user}-${i} exit code`);
    });
    for (const user of ['alice', 'bob'] as const) {
      const listed = await request(server.url).get('/v1/processes').set('authorization', `Bearer ${tokens[user]}`);
      assert.equal(listed.body.processes.length, 50, `${user} has exactly their 50`);
      for (const process of listed.body.processes) assert.match(process.argv[2], new RegExp(`^yes ${user}-`));
    }
  });
});
