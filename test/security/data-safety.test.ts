// Data safety and honest answers [R5]: an export or an answer is complete or visibly a failure; missing files,
// damaged state files and a full disk are named, limited to what they touch, and change nothing else.
// Real servers (in-process and the real binary), real users, real archives, a real full tmpfs.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chown, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import request from 'supertest';
import { lxssd } from '../helpers/binary.js';
import { localRequest } from '../helpers/local-client.js';
import { craftedTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer, type TestServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot, runAs, type TestUser } from '../helpers/users.js';

const run = promisify(execFile);

interface Distribution {
  id: string;
  name: string;
  state: string;
  basePath: string;
}

async function workDir(t: TestContext, prefix = 'lxssd-safety-'): Promise<string> {
  const dir = await sharedTempDir(prefix);
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A small archive every user can read. */
async function smallArchive(t: TestContext): Promise<string> {
  const dir = await workDir(t, 'lxssd-safety-archive-');
  const file = join(dir, 'small.tar');
  await craftedTar(file, [
    { type: 'dir', name: 'etc/' },
    { type: 'file', name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
    { type: 'file', name: 'hello.txt', content: 'hello\n'.repeat(1000) },
  ]);
  return file;
}

async function importAs(user: TestUser, socketPath: string, name: string, file: string): Promise<Distribution> {
  const response = await curlLocalAs(user, socketPath, 'POST', `/v1/distributions?name=${name}`, undefined, {
    upload: { file, contentType: 'application/x-tar' },
  });
  assert.equal(response.status, 201, JSON.stringify(response.json));
  return response.json as Distribution;
}

/** curl as `user` downloading `path` to `out` with --fail: its exit code, as a script would see it. */
async function curlDownload(user: TestUser, socketPath: string, path: string, out: string): Promise<{ code: number; stderr: string }> {
  const result = await runAs(user, ['curl', '-sS', '--fail', '--unix-socket', socketPath, '-o', out, `http://localhost${path}`]);
  return { code: result.code, stderr: result.stderr };
}

describe('export, start and unregister answer honestly [R5]', () => {
  it('an export whose files are gone is an error before the first byte, and curl fails', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and user namespaces');
    const server = await startServer(t);
    const user = await ensureUser('lxssd-ds-exp');
    const distro = await importAs(user, server.socketPath, 'gone', await smallArchive(t));
    // Removed behind the service's back.
    await rm(join(distro.basePath, 'rootfs'), { recursive: true, force: true });

    const answer = await curlLocalAs(user, server.socketPath, 'GET', '/v1/distributions/gone/export');
    assert.equal(answer.status, 409, JSON.stringify(answer.json));
    assert.equal((answer.json as { code: string }).code, 'LXSSD_E_DISTRO_FILES_MISSING');
    assert.match((answer.json as { detail: string }).detail, /rootfs/, 'the detail names what is missing');

    const out = await workDir(t);
    await chown(out, user.uid, user.gid);
    for (const format of ['tar', 'tar.gz', 'tar.xz']) {
      const download = await curlDownload(user, server.socketPath, `/v1/distributions/gone/export?format=${format}`, join(out, `x.${format}`));
      assert.notEqual(download.code, 0, `${format}: curl must not report an empty backup as success`);
    }
    const after = await curlLocalAs(user, server.socketPath, 'GET', '/v1/distributions/gone');
    assert.equal((after.json as Distribution).state, 'Installed', 'the failed export does not leave it Exporting');
  });

  it('an export that fails part way is a cut stream the client sees as a failure, never a clean end', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and user namespaces');
    const server = await startServer(t);
    const user = await ensureUser('lxssd-ds-cut');
    const distro = await importAs(user, server.socketPath, 'cut', await smallArchive(t));
    // A file the user's namespace cannot read (owned by host root, 0600): tar reads everything else, then fails.
    await writeFile(join(distro.basePath, 'rootfs', 'zz-unreadable'), 'secret\n', { mode: 0o600 });
    await writeFile(join(distro.basePath, 'rootfs', 'big'), Buffer.alloc(4 * 1024 * 1024, 1));
    const out = await workDir(t);
    await chown(out, user.uid, user.gid);
    for (const format of ['tar', 'tar.gz']) {
      const download = await curlDownload(user, server.socketPath, `/v1/distributions/cut/export?format=${format}`, join(out, `y.${format}`));
      assert.notEqual(download.code, 0, `${format}: an incomplete archive must not end as a success`);
    }
    const after = await curlLocalAs(user, server.socketPath, 'GET', '/v1/distributions/cut');
    assert.equal((after.json as Distribution).state, 'Installed', 'and it is not left Exporting');
  });

  it('a rootfs missing at instance start or run is a clear 409 naming it, not a 500', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and user namespaces');
    const server = await startServer(t);
    const user = await ensureUser('lxssd-ds-start');
    const distro = await importAs(user, server.socketPath, 'nofiles', await smallArchive(t));
    await rm(join(distro.basePath, 'rootfs'), { recursive: true, force: true });
    const cases: Array<[string, string, unknown]> = [
      ['start', '/v1/distributions/nofiles/instance', undefined],
      ['process', '/v1/distributions/nofiles/processes', { argv: ['/bin/true'] }],
      ['run', '/v1/distributions/nofiles/run', { argv: ['/bin/true'] }],
    ];
    for (const [what, path, body] of cases) {
      const answer = await curlLocalAs(user, server.socketPath, 'POST', path, body ?? {});
      assert.equal(answer.status, 409, `${what}: ${JSON.stringify(answer.json)}`);
      assert.equal((answer.json as { code: string }).code, 'LXSSD_E_DISTRO_FILES_MISSING', what);
      assert.match((answer.json as { detail: string }).detail, new RegExp(`${distro.basePath}/rootfs`), `${what}: names the folder`);
    }
    // Unregistering it still works: that is the way out.
    const removed = await curlLocalAs(user, server.socketPath, 'DELETE', '/v1/distributions/nofiles');
    assert.equal(removed.status, 204, JSON.stringify(removed.json));
  });

  it('a start that fails leaves the VM it booted to its idle rule: it stops, no instance left holding it', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and user namespaces');
    const server = await startServer(t, { vmIdleTimeout: 300 });
    const user = await ensureUser('lxssd-ds-start');
    const distro = await importAs(user, server.socketPath, 'gone', await smallArchive(t));
    await rm(join(distro.basePath, 'rootfs'), { recursive: true, force: true });
    const session = server.app.lxss.sessions.forSid(`S-1-22-1-${user.uid}`);
    const stopped = new Promise<string>((resolve) =>
      session.events.subscribe((event) => {
        if (event.type === 'vm-stopped') resolve(event.reason);
      }),
    );
    const answer = await curlLocalAs(user, server.socketPath, 'POST', '/v1/distributions/gone/instance');
    assert.equal(answer.status, 409, JSON.stringify(answer.json));
    let guard: NodeJS.Timeout | undefined;
    const kept = new Promise<string>((resolve) => (guard = setTimeout(() => resolve('still running after 20 s'), 20_000)));
    assert.equal(await Promise.race([stopped, kept]), 'idle', 'the VM booted for the failed start stopped when idle');
    clearTimeout(guard);
  });

  it('a failed unregister puts the distribution back as it was, never stuck Uninstalling', async (t) => {
    if (!isRoot) return t.skip('needs root to mount and to create users');
    const server = await startServer(t);
    const user = await ensureUser('lxssd-ds-unreg');
    const distro = await importAs(user, server.socketPath, 'stuck', await smallArchive(t));
    // A read-only mount inside the root filesystem: the removal cannot finish.
    const mountPoint = join(distro.basePath, 'rootfs', 'ro');
    await mkdir(mountPoint);
    await run('mount', ['-t', 'tmpfs', 'tmpfs', mountPoint]);
    let mounted = true;
    const unmount = async () => {
      if (mounted) await run('umount', ['-l', mountPoint]);
      mounted = false;
    };
    t.after(unmount);
    await writeFile(join(mountPoint, 'kept'), 'x');
    await run('mount', ['-o', 'remount,ro', mountPoint]);

    const failed = await curlLocalAs(user, server.socketPath, 'DELETE', '/v1/distributions/stuck');
    assert.ok(failed.status >= 400 && failed.status < 500, `a clear 4xx: ${JSON.stringify(failed.json)}`);
    assert.match((failed.json as { detail: string }).detail, /stays registered \(Installed\)/, 'says what state it is left in');
    const after = await curlLocalAs(user, server.socketPath, 'GET', '/v1/distributions/stuck');
    assert.equal(after.status, 200);
    assert.equal((after.json as Distribution).state, 'Installed', 'rolled back, not Uninstalling');
    const registry = JSON.parse(await readFile(join(server.stateDir, 'users', `S-1-22-1-${user.uid}`, 'registry.json'), 'utf8'));
    assert.equal(registry.distributions[0].state, 'Installed', 'on disk too');

    await unmount();
    const removed = await curlLocalAs(user, server.socketPath, 'DELETE', '/v1/distributions/stuck');
    assert.equal(removed.status, 204, `once the cause is gone it unregisters: ${JSON.stringify(removed.json)}`);
  });
});

/** The real binary, its log lines collected; resolves once ready. */
async function serveCollecting(t: TestContext, args: string[]): Promise<{ child: ChildProcess; url: string; lines: string[] }> {
  const child = spawn(process.execPath, [lxssd, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines: string[] = [];
  for await (const line of createInterface({ input: child.stdout! })) {
    lines.push(line);
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    if (entry.msg === 'lxssd ready' && entry.url) return { child, url: entry.url, lines };
  }
  throw new Error(`lxssd exited before it was ready: ${stderr}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

describe('damaged state files', () => {
  it("a damaged registry.json affects only its user, with a 503 naming the file and the fault until it is repaired", async (t) => {
    if (!isRoot) return t.skip('needs root to create users and user namespaces');
    const dir = await workDir(t, 'lxssd-safety-state-');
    const archive = await smallArchive(t);
    const damaged = await ensureUser('lxssd-ds-a');
    const other = await ensureUser('lxssd-ds-b');
    const first = await startServer(t, {}, dir);
    await importAs(damaged, first.socketPath, 'mine', archive);
    await importAs(other, first.socketPath, 'theirs', archive);
    await first.app.close();

    const file = join(first.stateDir, 'users', `S-1-22-1-${damaged.uid}`, 'registry.json');
    const good = await readFile(file);
    const elsewhere = join(dir, 'registry-copy.json');
    await writeFile(elsewhere, good);
    const cases: Array<[string, () => Promise<void>, RegExp]> = [
      ['truncated', () => writeFile(file, good.subarray(0, Math.floor(good.length / 2))), /not valid JSON/],
      ['empty', () => writeFile(file, ''), /is empty/],
      ['binary', () => writeFile(file, Buffer.from([0xff, 0xfe, 0x00, 0x13, 0x80, 0x81])), /binary/],
      ['wrong version', () => writeFile(file, JSON.stringify({ version: 7, distributions: [] })), /version 7/],
      ['bad record', () => writeFile(file, JSON.stringify({ version: 1, defaultDistribution: null, distributions: [{ id: 5 }] })), /distribution 0/],
      ['a directory', async () => { await rm(file); await mkdir(file); }, /is a directory/],
      ['a symlink', async () => { await rm(file); await symlink(elsewhere, file); }, /symbolic link/],
    ];
    for (const [what, damage, fault] of cases) {
      await damage();
      const server = await startServer(t, {}, dir);
      const theirs = await curlLocalAs(other, server.socketPath, 'GET', '/v1/distributions');
      assert.equal(theirs.status, 200, `${what}: the service started and serves the other user`);
      assert.deepEqual((theirs.json as { distributions: Distribution[] }).distributions.map((d) => d.name), ['theirs'], what);
      const mine = await curlLocalAs(damaged, server.socketPath, 'GET', '/v1/distributions');
      assert.equal(mine.status, 503, `${what}: ${JSON.stringify(mine.json)}`);
      const problem = mine.json as { code: string; detail: string };
      assert.equal(problem.code, 'LXSSD_E_STATE_FILE_DAMAGED', what);
      assert.ok(problem.detail.includes(file), `${what}: the detail names the file: ${problem.detail}`);
      assert.match(problem.detail, fault, `${what}: and what is wrong with it`);
      const root = await localRequest(server.socketPath, 'GET', '/v1/distributions');
      assert.equal(root.status, 200, `${what}: root is served too`);
      // Repaired while the service runs: the next request works.
      await rm(file, { recursive: true, force: true });
      await writeFile(file, good, { mode: 0o600 });
      const repaired = await curlLocalAs(damaged, server.socketPath, 'GET', '/v1/distributions');
      assert.equal(repaired.status, 200, `${what}: repaired, served again`);
      assert.deepEqual((repaired.json as { distributions: Distribution[] }).distributions.map((d) => d.name), ['mine'], what);
      await server.app.close();
    }
    assert.deepEqual(await readFile(elsewhere), good, 'the symlink was never followed, nor its target written');
  });

  it('a damaged tokens.json is set aside with a log line naming it, and the service starts with no tokens', async (t) => {
    if (!isRoot) return t.skip('needs root to create users');
    const dir = await workDir(t, 'lxssd-safety-tokens-');
    const stateDir = join(dir, 'state');
    const socketPath = join(dir, 'run', 'lxssd.sock');
    const args = ['--listen', '127.0.0.1:0', '--socket', socketPath, '--state-dir', stateDir];
    const user = await ensureUser('lxssd-ds-tok');
    const file = join(stateDir, 'tokens.json');
    const target = join(dir, 'tokens-target.json');
    const cases: Array<[string, () => Promise<void>, RegExp]> = [
      ['truncated', async () => writeFile(file, (await readFile(file)).subarray(0, 40)), /not valid JSON/],
      ['empty', () => writeFile(file, ''), /is empty/],
      ['binary', () => writeFile(file, Buffer.from([0x00, 0xff, 0xc3, 0x28])), /binary/],
      ['wrong version', () => writeFile(file, JSON.stringify({ version: 2, tokens: [] })), /version 2/],
      ['a directory', async () => { await rm(file); await mkdir(file); }, /is a directory/],
      ['a symlink', async () => { await writeFile(target, await readFile(file)); await rm(file); await symlink(target, file); }, /symbolic link/],
    ];
    for (const [what, damage, fault] of cases) {
      // A good token first, from a clean start.
      const before = await serveCollecting(t, args);
      const minted = await curlLocalAs(user, socketPath, 'POST', '/v1/tokens', {});
      assert.equal(minted.status, 201, `${what}: ${JSON.stringify(minted.json)}`);
      const { token } = minted.json as { token: string };
      await stop(before.child);

      await damage();
      const after = await serveCollecting(t, args);
      const line = after.lines.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.file === file);
      assert.ok(line, `${what}: a log line names ${file}: ${after.lines.join('\n')}`);
      assert.match(String(line.msg), /set aside/, `${what}: and says it was set aside`);
      assert.match(String(line.fault), fault, `${what}: and what is wrong`);
      const movedTo = String(line.movedTo);
      assert.ok(movedTo.startsWith(`${file}.corrupt-`), `${what}: moved to ${movedTo}`);
      assert.ok((await readdir(stateDir)).includes(movedTo.slice(stateDir.length + 1)), `${what}: the damaged file is kept`);

      const old = await request(after.url).get('/v1/session').set('authorization', `Bearer ${token}`);
      assert.equal(old.status, 401, `${what}: no tokens survive a damaged file`);
      const fresh = await curlLocalAs(user, socketPath, 'POST', '/v1/tokens', {});
      assert.equal(fresh.status, 201, `${what}: new tokens can be minted`);
      const works = await request(after.url).get('/v1/session').set('authorization', `Bearer ${(fresh.json as { token: string }).token}`);
      assert.equal(works.status, 200, what);
      await stop(after.child);
      await rm(movedTo, { recursive: true, force: true });
    }
    assert.match(await readFile(target, 'utf8'), /"version": 1/, "the symlink's target was not written");
  });
});

describe('a full disk is 507 ERROR_DISK_FULL and changes nothing', () => {
  it('configure, default, unregister, token mint and revoke on a full state disk keep the previous state', async (t) => {
    if (!isRoot) return t.skip('needs root to mount a small tmpfs');
    const dir = await sharedTempDir('lxssd-safety-full-');
    const stateDir = join(dir, 'state');
    await mkdir(stateDir);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', stateDir]);
    t.after(async () => {
      await run('umount', ['-l', stateDir]);
      await rm(dir, { recursive: true, force: true });
    });
    const server: TestServer = await startServer(t, {}, dir);
    const user = await ensureUser('lxssd-ds-full');
    const archive = await smallArchive(t);
    await importAs(user, server.socketPath, 'one', archive);
    await importAs(user, server.socketPath, 'two', archive);
    const minted = await curlLocalAs(user, server.socketPath, 'POST', '/v1/tokens', { label: 'kept' });
    assert.equal(minted.status, 201);
    const token = minted.json as { token: string; info: { id: string } };

    const registryFile = join(stateDir, 'users', `S-1-22-1-${user.uid}`, 'registry.json');
    const tokensFile = join(stateDir, 'tokens.json');
    const registryBefore = await readFile(registryFile);
    const tokensBefore = await readFile(tokensFile);
    const listBefore = (await curlLocalAs(user, server.socketPath, 'GET', '/v1/distributions')).json;
    const filler = join(stateDir, 'filler');
    // dd stops at ENOSPC with a non-zero exit: that is the point.
    await run('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k']).catch(() => undefined);

    const attempts: Array<[string, string, string, unknown]> = [
      ['configure', 'PATCH', '/v1/distributions/one', { name: 'renamed', defaultEnvironment: ['A=1'] }],
      ['default', 'PUT', '/v1/default-distribution', { distro: 'two' }],
      ['unregister', 'DELETE', '/v1/distributions/two', undefined],
      ['token mint', 'POST', '/v1/tokens', { label: 'new' }],
      ['token revoke', 'DELETE', `/v1/tokens/${token.info.id}`, undefined],
    ];
    for (const [what, method, path, body] of attempts) {
      const answer = await curlLocalAs(user, server.socketPath, method, path, body);
      assert.equal(answer.status, 507, `${what}: ${JSON.stringify(answer.json)}`);
      assert.equal((answer.json as { code: string }).code, 'ERROR_DISK_FULL', what);
      assert.deepEqual((await curlLocalAs(user, server.socketPath, 'GET', '/v1/distributions')).json, listBefore, `${what}: the view is unchanged`);
    }
    assert.deepEqual(await readFile(registryFile), registryBefore, 'the registry file is unchanged');
    assert.deepEqual(await readFile(tokensFile), tokensBefore, 'the token file is unchanged');
    const temps = (await readdir(stateDir)).concat(await readdir(join(stateDir, 'users', `S-1-22-1-${user.uid}`)));
    assert.deepEqual(temps.filter((name) => name.endsWith('.tmp')), [], 'no temp file is left behind');
    const tokens = (await curlLocalAs(user, server.socketPath, 'GET', '/v1/tokens')).json as { tokens: Array<{ label: string }> };
    assert.deepEqual(tokens.tokens.map((info) => info.label), ['kept'], 'no token was half-minted');
    const stillValid = await request(server.url).get('/v1/session').set('authorization', `Bearer ${token.token}`);
    assert.equal(stillValid.status, 200, 'the token whose revocation failed still works, as the file says');

    await rm(filler);
    const renamed = await curlLocalAs(user, server.socketPath, 'PATCH', '/v1/distributions/one', { name: 'renamed' });
    assert.equal(renamed.status, 200, `with space again it works: ${JSON.stringify(renamed.json)}`);
    // Restarted, the service sees what the answers said.
    await server.app.close();
    const again = await startServer(t, {}, dir);
    const listed = (await curlLocalAs(user, again.socketPath, 'GET', '/v1/distributions')).json as { distributions: Distribution[] };
    assert.deepEqual(listed.distributions.map((d) => d.name).sort(), ['renamed', 'two']);
    await again.app.close();
  });
});
