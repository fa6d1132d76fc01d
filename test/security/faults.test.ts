// Faults injected into a real `lxssd` process: SIGKILL during an import, an export, a stdio stream and a
// shutdown; the instance's /init killed from the host; the state disk filled during an import and a
// configure. After each the service starts again, says clearly what happened, still has every registered
// distribution, and leaves nothing of the old service's VMs running on the host [R2].

import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { killHard, lxssd } from '../helpers/binary.js';
import { ustarFileHeader } from '../helpers/ustar.js';
import { eventually } from '../helpers/eventually.js';
import { localRequest } from '../helpers/local-client.js';
import { attach } from '../helpers/process-client.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { sharedTempDir } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

interface Service {
  child: ChildProcess;
  port: number;
  socketPath: string;
  stateDir: string;
  log: string[];
}

/** `lxssd serve` on `dir` (state and socket inside), resolved once its log says it is ready. */
async function serve(t: TestContext, dir: string, stateDir = join(dir, 'state')): Promise<Service> {
  const socketPath = join(dir, 'run', 'lxssd.sock');
  const child = spawn(process.execPath, [lxssd, 'serve', '--listen', '127.0.0.1:0', '--socket', socketPath, '--state-dir', stateDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => killHard(child));
  const log: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      log.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'lxssd ready' && entry.url) resolve(entry.url);
      } catch {
        // not JSON; kept
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`lxssd exited (${signal ?? code}) before it was ready:\n${stderr}\n${log.join('\n')}`)));
  });
  return { child, port: Number(new URL(url).port), socketPath, stateDir, log };
}


/** Every live (non-zombie) process whose ancestry leads to `root`. */
async function descendants(root: number): Promise<number[]> {
  const parents = new Map<number, number>();
  const zombies = new Set<number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') zombies.add(Number(entry));
    parents.set(Number(entry), Number(fields[1]));
  }
  return [...parents.keys()].filter((pid) => {
    if (zombies.has(pid)) return false;
    for (let p = parents.get(pid); p !== undefined && p > 0; p = parents.get(p)) if (p === root) return true;
    return false;
  });
}

async function alive(pids: number[]): Promise<string[]> {
  const left: string[] = [];
  for (const pid of pids) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
    if (status && !/^State:\s+Z/m.test(status)) left.push(`${pid} ${(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ')}`);
  }
  return left;
}

/** SIGKILLs the service and waits until nothing it started (counted just before) is alive on the host. */
async function crash(service: Service): Promise<number> {
  const tree = await descendants(service.child.pid!);
  await killHard(service.child);
  await eventually(async () => assert.deepEqual(await alive(tree), [], 'orphans of the killed service'), { timeoutMs: 15_000, what: 'no orphan of the killed service' });
  return tree.length;
}

function uploadTar(socketPath: string, name: string, file: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { socketPath, method: 'POST', path: `/v1/distributions?name=${name}`, headers: { host: 'localhost', 'content-type': 'application/x-tar' } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
      },
    );
    req.on('error', reject);
    pipeline(createReadStream(file), req).catch(reject);
  });
}


/** A tar of one file of `size` random bytes. */
async function bigTar(file: string, size: number): Promise<void> {
  const out = createWriteStream(file);
  out.write(ustarFileHeader('./big.bin', size));
  for (let written = 0; written < size; written += MiB) {
    if (!out.write(randomBytes(Math.min(MiB, size - written)))) await once(out, 'drain');
  }
  out.write(Buffer.alloc((512 - (size % 512)) % 512));
  out.end(Buffer.alloc(1024));
  await once(out, 'finish');
}

async function names(service: Service): Promise<string[]> {
  const listed = await localRequest(service.socketPath, 'GET', '/v1/distributions');
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  return (listed.body.distributions as Array<{ name: string; state: string }>).map((d) => `${d.name}:${d.state}`).sort();
}

/** A service with busybox `bb` registered (and started), in a fresh folder. */
async function withBusybox(t: TestContext): Promise<{ dir: string; service: Service }> {
  const dir = await sharedTempDir('lxssd-faults-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const service = await serve(t, dir);
  const imported = await uploadTar(service.socketPath, 'bb', await busyboxRootfsTar());
  assert.equal(imported.status, 201, JSON.stringify(imported.body));
  return { dir, service };
}

async function tokenFor(service: Service): Promise<string> {
  const minted = await localRequest(service.socketPath, 'POST', '/v1/tokens', {});
  assert.equal(minted.status, 201);
  return minted.body.token as string;
}

/** Restarts on `dir` and checks the common promises: ready, every distribution kept and not stuck. */
async function restartKeeping(t: TestContext, dir: string, expected: string[]): Promise<Service> {
  const again = await serve(t, dir);
  assert.deepEqual(await names(again), expected, 'every registered distribution is back, in a settled state');
  const ran = await localRequest(again.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['echo', 'alive'] });
  if (expected.some((e) => e.startsWith('bb:'))) assert.equal(ran.body.stdout, 'alive\n', `bb runs after the restart: ${JSON.stringify(ran.body)}`);
  return again;
}

const faults = { injected: 0, orphansChecked: 0 };

describe('faults', { concurrency: false }, () => {
  it('SIGKILL during an import: restarted, the half import is gone, the rest kept, no orphan [R2]', async (t) => {
    if (!isRoot) return t.skip('needs root for user namespaces');
    const { dir, service } = await withBusybox(t);
    const req = httpRequest({ socketPath: service.socketPath, method: 'POST', path: '/v1/distributions?name=half', headers: { host: 'localhost', 'content-type': 'application/x-tar' } });
    req.on('error', () => undefined);
    req.write(ustarFileHeader('./big.bin', 512 * MiB));
    for (let i = 0; i < 8; i++) req.write(randomBytes(MiB));
    await eventually(async () => assert.ok((await names(service)).includes('half:Installing')), { timeoutMs: 30_000, what: 'the import under way' });
    faults.orphansChecked += await crash(service);
    faults.injected += 1;
    req.destroy();
    await restartKeeping(t, dir, ['bb:Installed']);
  });

  it('SIGKILL during an export: restarted, the distribution is kept and not stuck Exporting, no orphan [R2]', async (t) => {
    if (!isRoot) return t.skip('needs root for user namespaces');
    const { dir, service } = await withBusybox(t);
    const big = join(dir, 'big.tar');
    await bigTar(big, 64 * MiB);
    assert.equal((await uploadTar(service.socketPath, 'big', big)).status, 201);
    await rm(big);
    // Ask for the export and read nothing: the stream stops on backpressure, mid-archive.
    const response = await new Promise<IncomingMessage>((resolve, reject) =>
      httpRequest({ socketPath: service.socketPath, method: 'GET', path: '/v1/distributions/big/export', headers: { host: 'localhost' } }, resolve)
        .on('error', reject)
        .end(),
    );
    assert.equal(response.statusCode, 200);
    response.pause();
    response.on('error', () => undefined);
    await eventually(async () => assert.ok((await names(service)).includes('big:Exporting')), { timeoutMs: 10_000, what: 'the export under way' }).catch(() => undefined);
    faults.orphansChecked += await crash(service);
    faults.injected += 1;
    response.destroy();
    await restartKeeping(t, dir, ['bb:Installed', 'big:Installed']);
  });

  it('SIGKILL during a stdio stream: restarted, the process and its instance are gone, no orphan [R2]', async (t) => {
    if (!isRoot) return t.skip('needs root for user namespaces');
    const { dir, service } = await withBusybox(t);
    const token = await tokenFor(service);
    const started = await localRequest(service.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['cat'], stdin: true });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const attached = await attach({ port: service.port }, token, started.body.id);
    attached.socket.on('error', () => undefined);
    attached.socket.send(Buffer.concat([Buffer.of(0), Buffer.from('before the crash\n')]));
    await eventually(() => assert.match(attached.text(1), /before the crash/), { what: 'the echo' });
    const writer = setInterval(() => attached.socket.readyState === 1 && attached.socket.send(Buffer.concat([Buffer.of(0), randomBytes(4096)])), 5);
    faults.orphansChecked += await crash(service);
    faults.injected += 1;
    clearInterval(writer);
    const closed = await attached.closed;
    assert.notEqual(closed.code, 1000, 'the client sees an abnormal close, not a clean end');
    const again = await restartKeeping(t, dir, ['bb:Installed']);
    const gone = await localRequest(again.socketPath, 'GET', `/v1/processes/${started.body.id}`);
    assert.equal(gone.status, 404, 'the old process is not pretended to run');
    assert.equal(gone.headers['content-type']?.toString().split(';')[0], 'application/problem+json');
  });

  it('SIGKILL during a shutdown: restarted, nothing of the old instances left [R2] [R3]', async (t) => {
    if (!isRoot) return t.skip('needs root for user namespaces');
    const { dir, service } = await withBusybox(t);
    for (let i = 0; i < 5; i++) assert.equal((await localRequest(service.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '600'] })).status, 201);
    const tree = await descendants(service.child.pid!);
    const shutdown = localRequest(service.socketPath, 'POST', '/v1/shutdown').catch(() => undefined);
    await killHard(service.child);
    await shutdown;
    await eventually(async () => assert.deepEqual(await alive(tree), []), { timeoutMs: 15_000, what: 'no orphan after a kill mid-shutdown' });
    faults.orphansChecked += tree.length;
    faults.injected += 1;
    await restartKeeping(t, dir, ['bb:Installed']);
  });

  it("/init killed from the host: its processes are reported ended, the service stays up and starts it again [R3]", async (t) => {
    if (!isRoot) return t.skip('needs root for user namespaces');
    const { dir, service } = await withBusybox(t);
    const started = await localRequest(service.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '600'] });
    assert.equal(started.status, 201);
    const instance = await localRequest(service.socketPath, 'GET', '/v1/distributions/bb/instance');
    assert.equal(instance.status, 200, JSON.stringify(instance.body));
    const initPid = instance.body.pid as number;
    assert.ok(initPid > 1, JSON.stringify(instance.body));
    const inside = (await descendants(initPid)).concat(initPid);
    process.kill(initPid, 'SIGKILL');
    faults.injected += 1;
    await eventually(async () => assert.deepEqual(await alive(inside), []), { timeoutMs: 15_000, what: "the instance's processes gone" });
    faults.orphansChecked += inside.length;
    await eventually(
      async () => {
        const proc = await localRequest(service.socketPath, 'GET', `/v1/processes/${started.body.id}`);
        assert.equal(proc.body.state, 'exited', `the sleeper is reported ended: ${JSON.stringify(proc.body)}`);
        const state = await localRequest(service.socketPath, 'GET', '/v1/distributions/bb/instance');
        assert.notEqual(state.body.pid, initPid, `the dead instance is not shown running: ${JSON.stringify(state.body)}`);
      },
      { timeoutMs: 15_000, what: 'the views agree that the instance died' },
    );
    const ran = await localRequest(service.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['echo', 'back'] });
    assert.equal(ran.body.stdout, 'back\n', `a new instance starts: ${JSON.stringify(ran.body)}`);
    faults.orphansChecked += await crash(service);
    await restartKeeping(t, dir, ['bb:Installed']);
  });

  describe('a full state disk', () => {
    async function smallDisk(t: TestContext, sizeMiB: number): Promise<{ dir: string; stateDir: string }> {
      const dir = await sharedTempDir('lxssd-full-');
      const stateDir = join(dir, 'state');
      await mkdir(stateDir);
      await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'lxssd-test-full', stateDir]);
      t.after(async () => {
        await run('umount', ['--lazy', stateDir]).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      });
      return { dir, stateDir };
    }

    it('during an import: 507 ERROR_DISK_FULL, nothing half made, the rest kept across a restart [R2]', async (t) => {
      if (!isRoot) return t.skip('needs root to mount a tmpfs');
      const { dir, stateDir } = await smallDisk(t, 24);
      const service = await serve(t, dir, stateDir);
      assert.equal((await uploadTar(service.socketPath, 'bb', await busyboxRootfsTar())).status, 201);
      const big = join(dir, 'big.tar');
      await bigTar(big, 48 * MiB);
      const full = await uploadTar(service.socketPath, 'big', big);
      faults.injected += 1;
      assert.equal(full.status, 507, JSON.stringify(full.body));
      assert.equal(full.body.code, 'ERROR_DISK_FULL');
      assert.deepEqual(await names(service), ['bb:Installed']);
      faults.orphansChecked += await crash(service);
      const again = await serve(t, dir, stateDir);
      assert.deepEqual(await names(again), ['bb:Installed']);
      await killHard(again.child);
    });

    it('during a configure: 507 ERROR_DISK_FULL and the previous settings intact [R2]', async (t) => {
      if (!isRoot) return t.skip('needs root to mount a tmpfs');
      const { dir, stateDir } = await smallDisk(t, 16);
      const service = await serve(t, dir, stateDir);
      assert.equal((await uploadTar(service.socketPath, 'bb', await busyboxRootfsTar())).status, 201);
      // Fill what is left.
      await run('sh', ['-c', `dd if=/dev/zero of=${join(stateDir, 'filler')} bs=1M 2>/dev/null || true`]);
      const before = await localRequest(service.socketPath, 'GET', '/v1/distributions/bb');
      const env = Array.from({ length: 64 }, (_, i) => `K${i}=${'v'.repeat(1000)}`);
      const configured = await localRequest(service.socketPath, 'PATCH', '/v1/distributions/bb', { defaultEnvironment: env });
      faults.injected += 1;
      assert.equal(configured.status, 507, JSON.stringify(configured.body));
      assert.equal(configured.body.code, 'ERROR_DISK_FULL');
      assert.equal(configured.headers['content-type']?.toString().split(';')[0], 'application/problem+json');
      const after = await localRequest(service.socketPath, 'GET', '/v1/distributions/bb');
      assert.deepEqual(after.body.defaultEnvironment, before.body.defaultEnvironment, 'the previous settings');
      faults.orphansChecked += await crash(service);
      await rm(join(stateDir, 'filler'));
      const again = await serve(t, dir, stateDir);
      assert.deepEqual(await names(again), ['bb:Installed']);
      const kept = await localRequest(again.socketPath, 'GET', '/v1/distributions/bb');
      assert.deepEqual(kept.body.defaultEnvironment, before.body.defaultEnvironment, 'the registry survived the full disk');
    });
  });

  after(() => {
    console.log(`# faults: ${faults.injected} injected, ${faults.orphansChecked} processes of killed services or instances checked gone`);
  });
});
