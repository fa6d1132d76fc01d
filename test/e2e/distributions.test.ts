// Distributions as REST resources, with real users, real user namespaces and real archives (WSL's
// RegisterDistribution, EnumerateDistributions, Configure/Unregister/Export/Move, default distribution).

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chown, copyFile, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { LxssEvent } from '../../src/core/events.js';
import { eventually } from '../helpers/eventually.js';
import { localRequest } from '../helpers/local-client.js';
import { busyboxRootfsTar, craftedTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer, type TestServer } from '../helpers/server.js';
import { digestTar } from '../helpers/tar-digest.js';
import { curlLocalAs, ensureUser, isRoot, type TestUser } from '../helpers/users.js';

const run = promisify(execFile);

interface Distribution {
  id: string;
  name: string;
  state: string;
  isDefault: boolean;
  basePath: string;
  defaultUid: number;
  sizeBytes: number;
}

/** A folder every test user can read, holding the archives the tests upload. */
async function archives(t: TestContext): Promise<{ dir: string; busybox: string }> {
  const dir = await sharedTempDir('lxssd-archives-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const busybox = join(dir, 'busybox.tar');
  await copyFile(await busyboxRootfsTar(), busybox);
  return { dir, busybox };
}

async function importAs(
  user: TestUser,
  server: TestServer,
  name: string,
  file: string,
  contentType = 'application/x-tar',
): Promise<{ status: number; json: any }> {
  return curlLocalAs(user, server.socketPath, 'POST', `/v1/distributions?name=${encodeURIComponent(name)}`, undefined, {
    upload: { file, contentType },
  });
}

async function subuidBase(user: TestUser): Promise<number> {
  const line = (await readFile('/etc/subuid', 'utf8')).split('\n').find((entry) => entry.startsWith(`${user.name}:`));
  assert.ok(line, `${user.name} has a subordinate uid range`);
  return Number(line.split(':')[1]);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A ustar header announcing a regular file of `size` bytes; its body is the caller's to send (or not). */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('0', 156);
  header.write('ustar\0' + '00', 257);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}

describe('POST /v1/distributions (import)', () => {
  it('imports as alice and as root; each lists only its own, another user gets 404 by id and name [S4]', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and user namespaces');
    const server = await startServer(t);
    const { busybox } = await archives(t);
    const [alice, bob, root] = await Promise.all([ensureUser('alice'), ensureUser('bob'), ensureUser('root')]);

    const alices = await importAs(alice, server, 'bb', busybox);
    assert.equal(alices.status, 201, JSON.stringify(alices.json));
    assert.equal(alices.json.state, 'Installed');
    assert.equal(alices.json.isDefault, true, 'the first distribution becomes the default');
    assert.ok(alices.json.sizeBytes > 1_000_000, 'size on disk');
    const roots = await importAs(root, server, 'bb', busybox);
    assert.equal(roots.status, 201, 'the same name is free for another user');
    assert.notEqual(roots.json.id, alices.json.id);

    for (const [user, own] of [[alice, alices.json], [root, roots.json]] as const) {
      const listed = await curlLocalAs(user, server.socketPath, 'GET', '/v1/distributions');
      assert.deepEqual((listed.json as any).distributions.map((d: Distribution) => d.id), [own.id], `${user.name} sees only its own`);
    }
    for (const path of [`/v1/distributions/${alices.json.id}`, '/v1/distributions/bb', `/v1/distributions/${alices.json.id}/export`]) {
      const foreign = await curlLocalAs(bob, server.socketPath, 'GET', path);
      assert.equal(foreign.status, 404, `bob: ${path}`);
      assert.equal((foreign.json as any).code, 'WSL_E_DISTRO_NOT_FOUND', `bob: ${path}`);
    }
    const byName = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/distributions/BB');
    assert.equal((byName.json as any).id, alices.json.id, 'names are case-insensitive');
  });

  it('shifts alice’s file owners into her range and exports them unshifted, contents byte-identical', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and user namespaces');
    const server = await startServer(t);
    const { busybox } = await archives(t);
    const alice = await ensureUser('alice');
    const imported = await importAs(alice, server, 'bb', busybox);
    assert.equal(imported.status, 201);
    const rootfs = join(imported.json.basePath, 'rootfs');

    assert.equal((await stat(join(rootfs, 'bin/busybox'))).uid, alice.uid, 'inner root is alice on the host');
    const base = await subuidBase(alice);
    const hello = await stat(join(rootfs, 'home/alice/hello.txt'));
    assert.equal(hello.uid, base + 1000, 'inner uid 1000 is subuid base + 1000 on the host');
    assert.equal(hello.gid, (await subgidBase(alice)) + 1000, 'inner gid 1000 is subgid base + 1000');

    const out = await sharedTempDir('lxssd-export-');
    t.after(() => rm(out, { recursive: true, force: true }));
    await chown(out, alice.uid, alice.gid);
    const exportFile = join(out, 'bb.tar');
    const exported = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/distributions/bb/export', undefined, {
      download: exportFile,
    });
    assert.equal(exported.status, 200);

    const [original, roundTrip] = await Promise.all([digestTar(busybox), digestTar(exportFile)]);
    assert.deepEqual(roundTrip.get('bin/busybox'), original.get('bin/busybox'), 'busybox: owner 0/0 and same bytes');
    assert.deepEqual(
      { uid: roundTrip.get('home/alice/hello.txt')?.uid, gid: roundTrip.get('home/alice/hello.txt')?.gid },
      { uid: 1000, gid: 1000 },
      'hello.txt owned by 1000 again',
    );
    for (const [name, entry] of original) {
      if (entry.type !== 'file') continue;
      assert.deepEqual(roundTrip.get(name), entry, `${name}: same owners and bytes after the round trip`);
    }

    const gz = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/distributions/bb/export?format=tar.gz', undefined, {
      download: join(out, 'bb.tar.gz'),
    });
    assert.equal(gz.status, 200);
    const fromGzip = await digestTar(join(out, 'bb.tar.gz'), true);
    assert.deepEqual(fromGzip.get('home/alice/hello.txt'), roundTrip.get('home/alice/hello.txt'), 'tar.gz export');
  });

  it('imports gzip and xz archives, told by their magic bytes', async (t) => {
    if (!isRoot) return t.skip('needs root for user namespaces');
    const server = await startServer(t);
    const { dir, busybox } = await archives(t);
    const root = await ensureUser('root');
    await writeFile(join(dir, 'bb.tar.gz'), gzipSync(await readFile(busybox)));
    await run('sh', ['-c', 'xz --stdout "$1" > "$2"', 'sh', busybox, join(dir, 'bb.tar.xz')]);
    for (const [name, file, type] of [
      ['gz', 'bb.tar.gz', 'application/gzip'],
      ['xz', 'bb.tar.xz', 'application/x-xz'],
      ['octet', 'bb.tar.gz', 'application/octet-stream'],
    ] as const) {
      const imported = await importAs(root, server, name, join(dir, file), type);
      assert.equal(imported.status, 201, `${name}: ${JSON.stringify(imported.json)}`);
      assert.ok(await exists(join(imported.json.basePath, 'rootfs/home/alice/hello.txt')), `${name}: extracted`);
    }
  });

  it('refuses a crafted tar that reaches outside, writes nothing outside and leaves nothing registered [S6]', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and user namespaces');
    const server = await startServer(t);
    const { dir } = await archives(t);
    const [alice, root] = await Promise.all([ensureUser('alice'), ensureUser('root')]);
    const marker = `lxssd-escape-${process.pid}-${Date.now()}`;
    const cases: Array<[string, Parameters<typeof craftedTar>[1], string[]]> = [
      ['dot-dot', [{ type: 'file', name: './ok.txt', content: 'ok' }, { type: 'file', name: `../../tmp/${marker}`, content: 'x' }], [`/tmp/${marker}`]],
      ['absolute', [{ type: 'file', name: './ok.txt', content: 'ok' }, { type: 'file', name: `/etc/${marker}`, content: 'x' }], [`/etc/${marker}`]],
      ['symlink', [{ type: 'symlink', name: 'evil', target: '/etc' }, { type: 'file', name: `evil/${marker}`, content: 'x' }], [`/etc/${marker}`]],
      ['hard link', [{ type: 'file', name: './ok.txt', content: 'ok' }, { type: 'hardlink', name: 'shadow', target: '/etc/shadow' }], []],
    ];
    for (const user of [alice, root]) {
      for (const [name, entries, outside] of cases) {
        const file = join(dir, `${name.replace(' ', '-')}.tar`);
        await craftedTar(file, entries);
        const shadowBefore = await stat('/etc/shadow');
        const response = await importAs(user, server, `evil-${name.replace(' ', '-')}`, file);
        const what = `${user.name}, ${name}`;
        assert.equal(response.status, 400, `${what}: ${JSON.stringify(response.json)}`);
        assert.equal(response.json.code, 'WSL_E_IMPORT_FAILED', what);
        for (const path of outside) assert.equal(await exists(path), false, `${what}: ${path} was not written`);
        const shadowAfter = await stat('/etc/shadow');
        assert.equal(shadowAfter.nlink, shadowBefore.nlink, `${what}: /etc/shadow got no new link`);
        const listed = await curlLocalAs(user, server.socketPath, 'GET', '/v1/distributions');
        assert.deepEqual((listed.json as any).distributions, [], `${what}: nothing registered`);
      }
      const folder = join(server.stateDir, 'users', `S-1-22-1-${user.uid}`, 'distributions');
      assert.deepEqual(await readdir(folder).catch(() => []), [], `${user.name}: no files left behind`);
    }
  });

  it('refuses bad names, taken names, non-tar bodies and archives over the size limit, leaving nothing', async (t) => {
    if (!isRoot) return t.skip('needs root for user namespaces');
    const server = await startServer(t, { maxImportBytes: 1_000_000 });
    const { dir, busybox } = await archives(t);
    const root = await ensureUser('root');
    const small = join(dir, 'small.tar');
    await craftedTar(small, [{ type: 'dir', name: 'etc' }, { type: 'file', name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' }]);
    const text = join(dir, 'not-a-tar.txt');
    await writeFile(text, 'hello, I am not a tar archive at all'.repeat(100));

    for (const [name, code] of [
      ['Legacy', 'E_INVALIDARG'],
      ['bad/name', 'E_INVALIDARG'],
      ['x'.repeat(257), 'E_INVALIDARG'],
      ['.', 'E_INVALIDARG'],
      ['..', 'E_INVALIDARG'],
    ] as const) {
      const response = await importAs(root, server, name, small);
      assert.equal(response.status, 400, `name ${name.slice(0, 20)}`);
      assert.equal(response.json.code, code, `name ${name.slice(0, 20)}`);
    }
    assert.equal((await importAs(root, server, 'small', small)).status, 201);
    const taken = await importAs(root, server, 'SMALL', small);
    assert.equal(taken.status, 409, 'the name is taken, whatever its case');
    assert.equal(taken.json.code, 'ERROR_ALREADY_EXISTS');

    const garbage = await importAs(root, server, 'garbage', text);
    assert.equal(garbage.status, 400);
    assert.equal(garbage.json.code, 'WSL_E_IMPORT_FAILED');

    const big = await importAs(root, server, 'big', busybox);
    assert.equal(big.status, 413, 'over maxImportBytes');
    assert.equal(big.json.code, 'LXSSD_E_PAYLOAD_TOO_LARGE');

    const json = await localRequest(server.socketPath, 'POST', '/v1/distributions?name=json', { not: 'a tar' });
    assert.equal(json.status, 415, 'a JSON body is not an archive');

    const listed = await localRequest(server.socketPath, 'GET', '/v1/distributions');
    assert.deepEqual(listed.body.distributions.map((d: Distribution) => d.name), ['small'], 'only the good import stays');
    const folder = join(server.stateDir, 'users', 'S-1-22-1-0', 'distributions');
    assert.equal((await readdir(folder)).length, 1, 'one distribution folder on disk');
  });

  it('fails an import that fills the disk with 507 ERROR_DISK_FULL and removes what it wrote', async (t) => {
    if (!isRoot) return t.skip('needs root to mount a small tmpfs');
    const server = await startServer(t);
    const { busybox } = await archives(t);
    const root = await ensureUser('root');
    const small = await sharedTempDir('lxssd-small-disk-');
    await run('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', small]);
    t.after(async () => {
      await run('umount', ['-l', small]);
      await rm(small, { recursive: true, force: true });
    });
    const location = join(small, 'bb');
    const response = await curlLocalAs(
      root,
      server.socketPath,
      'POST',
      `/v1/distributions?name=full&location=${encodeURIComponent(location)}`,
      undefined,
      { upload: { file: busybox, contentType: 'application/x-tar' } },
    );
    assert.equal(response.status, 507, JSON.stringify(response.json));
    assert.equal((response.json as any).code, 'ERROR_DISK_FULL');
    assert.equal(await exists(location), false, 'the partial files are removed');
    const listed = await localRequest(server.socketPath, 'GET', '/v1/distributions');
    assert.deepEqual(listed.body.distributions, [], 'nothing registered');
  });

  it('fails a truncated or empty archive and a dropped upload, leaving nothing, and the service stays up', async (t) => {
    if (!isRoot) return t.skip('needs root for user namespaces');
    const server = await startServer(t);
    const { dir, busybox } = await archives(t);
    const root = await ensureUser('root');
    const whole = await readFile(busybox);
    const cuts: Array<[string, Buffer]> = [
      ['a tar cut inside a file', whole.subarray(0, Math.floor(whole.length / 2) + 100)],
      ['a gzip cut short', gzipSync(whole).subarray(0, 100_000)],
      ['an empty body', Buffer.alloc(0)],
      ['only the end-of-archive blocks', Buffer.alloc(1024)],
    ];
    for (const [what, bytes] of cuts) {
      const file = join(dir, 'cut.bin');
      await writeFile(file, bytes);
      const response = await importAs(root, server, 'cut', file);
      assert.equal(response.status, 400, `${what}: ${JSON.stringify(response.json)}`);
      assert.equal(response.json.code, 'WSL_E_IMPORT_FAILED', what);
    }

    // The client goes away halfway through a file.
    const upload = httpRequest({
      socketPath: server.socketPath,
      method: 'POST',
      path: '/v1/distributions?name=dropped',
      headers: { host: 'localhost', 'content-type': 'application/x-tar' },
    });
    upload.on('error', () => undefined);
    upload.write(tarHeader('half.bin', 1024 * 1024));
    upload.write(Buffer.alloc(64 * 1024));
    await eventually(async () => {
      const listed = await localRequest(server.socketPath, 'GET', '/v1/distributions');
      assert.equal(listed.body.distributions[0]?.state, 'Installing');
    }, { what: 'the upload is being imported' });
    upload.destroy();
    await eventually(async () => {
      const listed = await localRequest(server.socketPath, 'GET', '/v1/distributions');
      assert.deepEqual(listed.body.distributions, [], 'nothing registered');
    }, { what: 'the dropped import is gone' });
    const folder = join(server.stateDir, 'users', 'S-1-22-1-0', 'distributions');
    assert.deepEqual(await readdir(folder).catch(() => []), [], 'no distribution folder left on disk');
    assert.equal((await importAs(root, server, 'cut', busybox)).status, 201, 'the service still imports');
  });

  it('shows an import in progress as Installing to its owner, refuses to unregister it, and hides it from others', async (t) => {
    if (!isRoot) return t.skip('needs root for user namespaces');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    // A tar whose first entry is announced but not yet sent: the import waits for us.
    const header = tarHeader('slow.bin', 1024 * 1024);

    let finished!: (status: number) => void;
    const done = new Promise<number>((resolve) => (finished = resolve));
    const upload = httpRequest(
      { socketPath: server.socketPath, method: 'POST', path: '/v1/distributions?name=slow', headers: { host: 'localhost', 'content-type': 'application/x-tar' } },
      (response) => {
        response.resume();
        response.on('end', () => finished(response.statusCode ?? 0));
      },
    );
    upload.write(header);
    upload.write(Buffer.alloc(64 * 1024));

    const installing = await eventually(async () => {
      const listed = await localRequest(server.socketPath, 'GET', '/v1/distributions');
      const slow = listed.body.distributions.find((d: Distribution) => d.name === 'slow');
      assert.equal(slow?.state, 'Installing');
      return slow as Distribution;
    }, { what: 'the import shows as Installing' });
    const removal = await localRequest(server.socketPath, 'DELETE', '/v1/distributions/slow');
    assert.equal(removal.status, 409);
    assert.equal(removal.body.code, 'E_ILLEGAL_STATE_CHANGE');
    const asAlice = await curlLocalAs(alice, server.socketPath, 'GET', `/v1/distributions/${installing.id}`);
    assert.equal(asAlice.status, 404, 'invisible to another user');
    const patch = await localRequest(server.socketPath, 'PATCH', '/v1/distributions/slow', { defaultUid: 5 });
    assert.equal(patch.status, 409, 'cannot configure while installing');
    const makeDefault = await localRequest(server.socketPath, 'PUT', '/v1/default-distribution', { distro: 'slow' });
    assert.deepEqual([makeDefault.status, makeDefault.body.code], [409, 'E_ILLEGAL_STATE_CHANGE'], 'nor make it the default');

    upload.write(Buffer.alloc(1024 * 1024 - 64 * 1024));
    upload.end(Buffer.alloc(1024));
    assert.equal(await done, 201);
    const after = await localRequest(server.socketPath, 'GET', '/v1/distributions/slow');
    assert.equal(after.body.state, 'Installed');
  });
});

async function subgidBase(user: TestUser): Promise<number> {
  const line = (await readFile('/etc/subgid', 'utf8')).split('\n').find((entry) => entry.startsWith(`${user.name}:`));
  assert.ok(line, `${user.name} has a subordinate gid range`);
  return Number(line.split(':')[1]);
}

describe('recovery after a crash [R2]', () => {
  it('never removes what was at a location before the import claimed it', async (t) => {
    if (!isRoot) return t.skip('needs root for user namespaces');
    const dir = await sharedTempDir('lxssd-recover-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const location = join(dir, 'precious');
    await run('mkdir', ['-p', join(location, 'rootfs')]);
    await writeFile(join(location, 'rootfs', 'data.txt'), 'keep me');
    // What a service killed between writing the Installing record and creating the folder leaves behind.
    const users = join(dir, 'state', 'users', 'S-1-22-1-0');
    await run('mkdir', ['-p', users]);
    const record = {
      id: '00000000-0000-4000-8000-000000000001',
      name: 'half',
      basePath: location,
      version: 2,
      state: 'Installing',
      defaultUid: 0,
      flags: 7,
      defaultEnvironment: [],
      createdAt: new Date().toISOString(),
      sizeBytes: 0,
    };
    await writeFile(join(users, 'registry.json'), JSON.stringify({ version: 1, defaultDistribution: null, distributions: [record] }));
    const server = await startServer(t, {}, dir);
    const listed = await localRequest(server.socketPath, 'GET', '/v1/distributions');
    assert.deepEqual(listed.body.distributions, [], 'the half import is gone from the registry');
    assert.equal(await readFile(join(location, 'rootfs', 'data.txt'), 'utf8'), 'keep me', 'the folder it never created is intact');
  });
});

describe('configure, default, move and unregister', () => {
  it('refuses locations with a file in the way, where no folder can be, or nesting with a distribution, changing nothing', async (t) => {
    if (!isRoot) return t.skip('needs root for user namespaces');
    const server = await startServer(t);
    const { dir, busybox } = await archives(t);
    const root = await ensureUser('root');
    const first = (await importAs(root, server, 'first', busybox)).json as Distribution;
    const file = join(dir, 'a-file');
    await writeFile(file, 'in the way');
    const importAt = (name: string, location: string) =>
      curlLocalAs(root, server.socketPath, 'POST', `/v1/distributions?name=${name}&location=${encodeURIComponent(location)}`, undefined, {
        upload: { file: busybox, contentType: 'application/x-tar' },
      });
    const cases: Array<[string, string, number, string]> = [
      ['a file', file, 409, 'ERROR_FILE_EXISTS'],
      ['below a file', join(file, 'sub'), 409, 'ERROR_FILE_EXISTS'],
      ['in /proc', '/proc/self', 400, 'E_INVALIDARG'],
      ['inside another distribution', join(first.basePath, 'rootfs', 'tmp'), 409, 'ERROR_FILE_EXISTS'],
      ['around another distribution', dirname(first.basePath), 409, 'ERROR_FILE_EXISTS'],
      ['another distribution’s, spelled with a slash', `${first.basePath}/`, 409, 'ERROR_FILE_EXISTS'],
    ];
    for (const [what, location, status, code] of cases) {
      const imported = await importAt('second', location);
      assert.deepEqual([imported.status, (imported.json as any).code], [status, code], `import to ${what}: ${JSON.stringify(imported.json)}`);
      const moved = await curlLocalAs(root, server.socketPath, 'POST', '/v1/distributions/first/move', { location });
      if (location === `${first.basePath}/`) {
        assert.equal(moved.status, 200, 'a move to where it is does nothing');
        continue;
      }
      assert.deepEqual([moved.status, (moved.json as any).code], [status, code], `move to ${what}: ${JSON.stringify(moved.json)}`);
    }
    const listed = await localRequest(server.socketPath, 'GET', '/v1/distributions');
    assert.deepEqual(
      listed.body.distributions.map((d: Distribution) => [d.name, d.basePath, d.state]),
      [['first', first.basePath, 'Installed']],
      'nothing registered, nothing moved',
    );
    assert.equal(await readFile(file, 'utf8'), 'in the way');
    assert.ok(await exists(join(first.basePath, 'rootfs/bin/busybox')));
  });

  it('renames, sets the default user and flags, moves, and keeps it all across a restart', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and user namespaces');
    const dir = await sharedTempDir('lxssd-restart-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const { busybox } = await archives(t);
    const alice = await ensureUser('alice');
    const first = await startServer(t, {}, dir);
    const events: LxssEvent[] = [];
    first.app.lxss.sessions.forSid(`S-1-22-1-${alice.uid}`).events.subscribe((event) => events.push(event));

    const a = (await importAs(alice, first, 'one', busybox)).json as Distribution;
    const b = (await importAs(alice, first, 'two', busybox)).json as Distribution;
    assert.equal(b.isDefault, false);

    const call = (method: string, path: string, body?: unknown) => curlLocalAs(alice, first.socketPath, method, path, body);
    const renamed = await call('PATCH', '/v1/distributions/two', { name: 'Second', defaultUser: 'alice', flags: { enableInterop: false } });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.json));
    assert.equal((renamed.json as any).name, 'Second');
    assert.equal((renamed.json as any).defaultUid, 1000, 'alice is uid 1000 in the distribution’s /etc/passwd');
    assert.deepEqual((renamed.json as any).flags, { enableInterop: false, appendNtPath: true, enableDriveMounting: true });
    const unknownUser = await call('PATCH', '/v1/distributions/Second', { defaultUser: 'mallory' });
    assert.equal(unknownUser.status, 400);
    assert.equal((unknownUser.json as any).code, 'WSL_E_USER_NOT_FOUND');
    const clash = await call('PATCH', '/v1/distributions/Second', { name: 'ONE' });
    assert.equal(clash.status, 409, 'rename onto a taken name');
    const empty = await call('PATCH', '/v1/distributions/Second', {});
    assert.equal(empty.status, 400, 'an empty patch');

    assert.equal((await call('PUT', '/v1/default-distribution', { distro: 'second' })).status, 200);
    const target = join(dir, 'alice-moved');
    await writeFile(join(dir, 'marker'), '');
    await chown(dir, alice.uid, alice.gid);
    const moved = await call('POST', '/v1/distributions/Second/move', { location: target });
    assert.equal(moved.status, 200, JSON.stringify(moved.json));
    assert.equal((moved.json as any).basePath, target);
    assert.equal((moved.json as any).state, 'Installed', 'the answer shows the state after the move');
    assert.ok(await exists(join(target, 'rootfs/bin/busybox')), 'files are at the new place');
    assert.equal(await exists(b.basePath), false, 'and gone from the old one');

    await first.app.close();
    const second = await startServer(t, {}, dir);
    const listed = (await curlLocalAs(alice, second.socketPath, 'GET', '/v1/distributions')).json as any;
    const again = listed.distributions.find((d: Distribution) => d.id === b.id);
    assert.deepEqual(
      { name: again.name, defaultUid: again.defaultUid, basePath: again.basePath, isDefault: again.isDefault, interop: again.flags.enableInterop },
      { name: 'Second', defaultUid: 1000, basePath: target, isDefault: true, interop: false },
      'everything survived the restart',
    );
    assert.equal(listed.defaultDistribution, b.id);

    const unregistered = await curlLocalAs(alice, second.socketPath, 'DELETE', '/v1/distributions/Second');
    assert.equal(unregistered.status, 204);
    assert.equal(await exists(join(target, 'rootfs')), false, 'files removed');
    const heir = (await curlLocalAs(alice, second.socketPath, 'GET', '/v1/default-distribution')).json as any;
    assert.equal(heir.id, a.id, 'the default moved to the remaining distribution');
    const reused = await importAs(alice, second, 'second', busybox);
    assert.equal(reused.status, 201, 'the name is free again');
    assert.equal((await curlLocalAs(alice, second.socketPath, 'DELETE', '/v1/distributions/one')).status, 204);
    assert.equal((await curlLocalAs(alice, second.socketPath, 'DELETE', '/v1/distributions/second')).status, 204);
    const none = await curlLocalAs(alice, second.socketPath, 'GET', '/v1/default-distribution');
    assert.equal(none.status, 404);
    assert.equal((none.json as any).code, 'WSL_E_DEFAULT_DISTRO_NOT_FOUND');

    assert.deepEqual(
      // Progress events come as many times as the transfer takes: the order of the rest is what matters here.
      events.filter((event) => !event.type.endsWith('-progress')).map((event) => event.type),
      [
        'distribution-registered',
        'default-distribution-changed',
        'distribution-registered',
        'distribution-configured',
        'default-distribution-changed',
        'distribution-configured',
      ],
      'the first server’s events, in order',
    );
    assert.ok(events.every((event, i) => i === 0 || event.id > events[i - 1]!.id), 'event ids increase');
  });
});
