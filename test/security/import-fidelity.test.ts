// Import fidelity: what an archive says is what lands on disk, or the import is refused or says what it changed.
// Real server, real users, real tars (GNU tar's sparse formats, crafted owners), extracted by the real
// extractor inside the user's namespace.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import { guardTar, type GuardReport } from '../../src/hv/linux/tar-guard.js';
import { craftedTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer, type TestServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot, type TestUser } from '../helpers/users.js';

const run = promisify(execFile);

async function workDir(t: TestContext): Promise<string> {
  const dir = await sharedTempDir('lxssd-fidelity-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function importAs(user: TestUser, server: TestServer, name: string, file: string) {
  return curlLocalAs(user, server.socketPath, 'POST', `/v1/distributions?name=${encodeURIComponent(name)}`, undefined, {
    upload: { file, contentType: 'application/x-tar' },
  });
}

async function names(user: TestUser, server: TestServer): Promise<string[]> {
  const listed = await curlLocalAs(user, server.socketPath, 'GET', '/v1/distributions');
  return (listed.json as { distributions: Array<{ name: string }> }).distributions.map((d) => d.name);
}

/** What the user's own distributions folder holds: nothing, after a refused import. */
async function leftovers(server: TestServer, user: TestUser): Promise<string[]> {
  return readdir(join(server.stateDir, 'users', `S-1-22-1-${user.uid}`, 'distributions')).catch(() => []);
}

async function subBase(file: '/etc/subuid' | '/etc/subgid', user: TestUser): Promise<number> {
  const line = (await readFile(file, 'utf8')).split('\n').find((entry) => entry.startsWith(`${user.name}:`));
  assert.ok(line, `${user.name} has a range in ${file}`);
  return Number(line.split(':')[1]);
}

describe('import fidelity', () => {
  it('refuses sparse files in every GNU tar format rather than import them as 0 bytes or scrambled', async (t) => {
    if (!isRoot) return t.skip('needs root: imports run in a user namespace');
    const server = await startServer(t);
    const user = await ensureUser('lxssd-fid1');
    const dir = await workDir(t);
    const source = join(dir, 'src');
    await run('mkdir', ['-p', source]);
    // A 4 MiB file that is mostly hole, with data at its start and end.
    const sparse = join(source, 'disk.img');
    await writeFile(sparse, 'head');
    await run('truncate', ['-s', '4M', sparse]);
    await run('sh', ['-c', `printf tail | dd of=${sparse} bs=1 seek=4194000 conv=notrunc status=none`]);
    await writeFile(join(source, 'plain.txt'), 'plain\n');
    const formats: Array<[string, string[]]> = [
      ['GNU old sparse', ['--format=gnu']],
      ['PAX 0.0', ['--format=posix', '--sparse-version=0.0']],
      ['PAX 0.1', ['--format=posix', '--sparse-version=0.1']],
      ['PAX 1.0', ['--format=posix', '--sparse-version=1.0']],
    ];
    for (const [index, [format, flags]] of formats.entries()) {
      const archive = join(dir, `sparse-${index}.tar`);
      await run('tar', ['--sparse', ...flags, '-C', source, '-cf', archive, 'plain.txt', 'disk.img']);
      await chmod(archive, 0o644);
      // The archive really is sparse in this format: GNU tar restores the file whole.
      const listing = await run('tar', ['-tvf', archive]);
      assert.match(listing.stdout, /disk\.img/, `${format}: GNU tar lists the sparse member`);
      const response = await importAs(user, server, `sparse${index}`, archive);
      assert.equal(response.status, 400, `${format}: ${JSON.stringify(response.json)}`);
      const problem = response.json as { code: string; detail: string };
      assert.equal(problem.code, 'WSL_E_IMPORT_FAILED', format);
      assert.match(problem.detail, /sparse/, `${format}: the refusal says why`);
      assert.match(problem.detail, /disk\.img/, `${format}: and names the member`);
    }
    assert.deepEqual(await names(user, server), [], 'nothing registered');
    assert.deepEqual(await leftovers(server, user), [], 'nothing left on disk');
  });

  it('gives owners the mapping cannot hold the overflow id and drops their set-id bits, and says so in warnings', async (t) => {
    if (!isRoot) return t.skip('needs root: imports run in a user namespace');
    const server = await startServer(t);
    const user = await ensureUser('lxssd-fid2');
    const dir = await workDir(t);
    const archive = join(dir, 'owners.tar');
    await craftedTar(archive, [
      { type: 'dir', name: 'bin/' },
      { type: 'file', name: 'bin/su-high', content: '#!/bin/sh\n', mode: 0o4755, uid: 70000, gid: 0 },
      { type: 'file', name: 'bin/sg-high', content: '#!/bin/sh\n', mode: 0o2755, uid: 0, gid: 70000 },
      { type: 'file', name: 'bin/su-ok', content: '#!/bin/sh\n', mode: 0o4755, uid: 1000, gid: 1000 },
      { type: 'file', name: 'bin/su-root', content: '#!/bin/sh\n', mode: 0o4755, uid: 0, gid: 0 },
    ]);
    await chmod(archive, 0o644);
    const response = await importAs(user, server, 'owners', archive);
    assert.equal(response.status, 201, JSON.stringify(response.json));
    const created = response.json as { basePath: string; warnings: string[] };
    assert.equal(created.warnings.length, 1, JSON.stringify(created.warnings));
    assert.match(created.warnings[0]!, /2 entries/, 'counts the remapped entries');
    assert.match(created.warnings[0]!, /65534/, 'names the overflow id');
    assert.match(created.warnings[0]!, /setuid\/setgid/, 'says the set-id bits were dropped');
    assert.match(created.warnings[0]!, /bin\/su-high/, 'names an example');

    const uidBase = await subBase('/etc/subuid', user);
    const gidBase = await subBase('/etc/subgid', user);
    const rootfs = join(created.basePath, 'rootfs');
    const high = await stat(join(rootfs, 'bin/su-high'));
    assert.equal(high.uid, uidBase + 65534, 'uid 70000 became the overflow id inside, never root');
    assert.equal(high.mode & 0o7777, 0o755, 'and lost its setuid bit');
    const sg = await stat(join(rootfs, 'bin/sg-high'));
    assert.equal(sg.gid, gidBase + 65534, 'gid 70000 became the overflow group');
    assert.equal(sg.uid, user.uid, 'its mappable owner (root inside) is kept');
    assert.equal(sg.mode & 0o7777, 0o755, 'and lost its setgid bit');
    const ok = await stat(join(rootfs, 'bin/su-ok'));
    assert.equal(ok.uid, uidBase + 1000, 'a mappable owner is shifted as usual');
    assert.equal(ok.mode & 0o7777, 0o4755, 'and keeps its setuid bit');
    const rootOwned = await stat(join(rootfs, 'bin/su-root'));
    assert.equal(rootOwned.uid, user.uid, 'root inside is the user outside');
    assert.equal(rootOwned.mode & 0o7777, 0o4755, 'a setuid root file the archive really has keeps its bit');

    // A plain archive has no warnings.
    const plain = join(dir, 'plain.tar');
    await craftedTar(plain, [{ type: 'file', name: 'hello', content: 'hi\n' }]);
    await chmod(plain, 0o644);
    const clean = await importAs(user, server, 'plain', plain);
    assert.equal(clean.status, 201, JSON.stringify(clean.json));
    assert.deepEqual((clean.json as { warnings: string[] }).warnings, []);
  });

  it('with a one-id mapping (no subordinate range), non-root owners become the user without set-id bits, and it says so', async (t) => {
    if (!isRoot) return t.skip('needs root: imports run in a user namespace');
    // Id files with no range for anyone: the service maps the user's own uid only.
    const ids = await workDir(t);
    await writeFile(join(ids, 'subuid'), '');
    await writeFile(join(ids, 'subgid'), '');
    await writeFile(join(ids, 'login.defs'), 'UID_MIN 1000\n');
    const server = await startServer(t, { idFilesDir: ids });
    const user = await ensureUser('lxssd-fid5');
    const dir = await workDir(t);
    const archive = join(dir, 'owners.tar');
    await craftedTar(archive, [
      { type: 'file', name: 'su-user', content: '#!/bin/sh\n', mode: 0o4755, uid: 1000, gid: 1000 },
      { type: 'file', name: 'su-root', content: '#!/bin/sh\n', mode: 0o4755, uid: 0, gid: 0 },
    ]);
    await chmod(archive, 0o644);
    const response = await importAs(user, server, 'oneid', archive);
    assert.equal(response.status, 201, JSON.stringify(response.json));
    const created = response.json as { basePath: string; warnings: string[] };
    assert.match(created.warnings.join('\n'), /one-id mapping/, `the warning names the cause: ${JSON.stringify(created.warnings)}`);
    assert.match(created.warnings.join('\n'), /su-user/);
    const remapped = await stat(join(created.basePath, 'rootfs', 'su-user'));
    assert.equal(remapped.uid, user.uid, 'uid 1000 became root inside (the user outside)');
    assert.equal(remapped.mode & 0o7777, 0o755, 'without its setuid bit: never a setuid root file the archive did not have');
    const rootOwned = await stat(join(created.basePath, 'rootfs', 'su-root'));
    assert.equal(rootOwned.mode & 0o7777, 0o4755, 'a file the archive gives root keeps its bit');
  });

  it('with a one-id mapping, every non-root owner becomes root inside without set-id bits (the guard alone)', async () => {
    // The guard itself, as a one-id namespace (only inner 0) would use it: a real archive through the real guard.
    const pack = tar.pack();
    pack.entry({ name: 'a', mode: 0o4755, uid: 1000, gid: 1000 }, 'x');
    pack.entry({ name: 'b', mode: 0o6755, uid: 0, gid: 50 }, 'y');
    pack.entry({ name: 'c', mode: 0o4755, uid: 0, gid: 0 }, 'z');
    pack.finalize();
    const input = new PassThrough();
    (pack as unknown as Readable).pipe(input);
    const report: GuardReport = { entries: 0, skippedDevices: 0, remappedOwners: 0, remappedExamples: [] };
    const guarded = guardTar(input, report, { maxEntries: 100, mapsUid: (id) => id === 0, mapsGid: (id) => id === 0 });
    const seen = new Map<string, { uid: number; gid: number; mode: number }>();
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      seen.set(header.name, { uid: header.uid, gid: header.gid, mode: header.mode & 0o7777 });
      stream.on('end', () => next());
      stream.resume();
    });
    const done = new Promise((resolve, reject) => {
      extract.on('finish', () => resolve(undefined));
      extract.on('error', reject);
    });
    guarded.pipe(extract as unknown as NodeJS.WritableStream);
    await done;
    assert.deepEqual(seen.get('a'), { uid: 0, gid: 0, mode: 0o755 }, 'uid 1000 → root inside, setuid dropped');
    assert.deepEqual(seen.get('b'), { uid: 0, gid: 0, mode: 0o755 }, 'gid 50 → root inside, set-id bits dropped');
    assert.deepEqual(seen.get('c'), { uid: 0, gid: 0, mode: 0o4755 }, 'a root-owned file is as the archive says');
    assert.equal(report.remappedOwners, 2);
  });

  it('bounds the number of entries like the bytes: past maxImportEntries the import fails and leaves nothing', async (t) => {
    if (!isRoot) return t.skip('needs root: imports run in a user namespace');
    const server = await startServer(t, { maxImportEntries: 50 });
    const user = await ensureUser('lxssd-fid3');
    const dir = await workDir(t);
    const many = join(dir, 'many.tar');
    await craftedTar(
      many,
      Array.from({ length: 120 }, (_, i) => ({ type: 'file' as const, name: `f${i}`, content: '' })),
    );
    await chmod(many, 0o644);
    const response = await importAs(user, server, 'many', many);
    assert.equal(response.status, 400, JSON.stringify(response.json));
    const problem = response.json as { code: string; detail: string };
    assert.equal(problem.code, 'WSL_E_IMPORT_FAILED');
    assert.match(problem.detail, /50 entries/, 'names the limit');
    assert.match(problem.detail, /maxImportEntries/, 'and the setting');
    assert.deepEqual(await names(user, server), [], 'nothing registered');
    assert.deepEqual(await leftovers(server, user), [], 'nothing left on disk');

    // Few entries, many folders: the parents the extractor makes count too.
    const deep = join(dir, 'deep.tar');
    await craftedTar(deep, [{ type: 'file', name: `${Array.from({ length: 60 }, () => 'd').join('/')}/f`, content: 'x' }]);
    await chmod(deep, 0o644);
    const tooDeep = await importAs(user, server, 'deep', deep);
    assert.equal(tooDeep.status, 400, `one file under 60 folders is 61 inodes: ${JSON.stringify(tooDeep.json)}`);
    assert.match((tooDeep.json as { detail: string }).detail, /maxImportEntries/);
    assert.deepEqual(await leftovers(server, user), [], 'nothing left on disk');

    const few = join(dir, 'few.tar');
    await craftedTar(few, Array.from({ length: 50 }, (_, i) => ({ type: 'file' as const, name: `f${i}`, content: '' })));
    await chmod(few, 0o644);
    const fits = await importAs(user, server, 'few', few);
    assert.equal(fits.status, 201, `exactly the limit fits: ${JSON.stringify(fits.json)}`);
  });

  it('refuses names shaped like a GUID, which would shadow another distribution’s id [S4]', async (t) => {
    if (!isRoot) return t.skip('needs root: imports run in a user namespace');
    const server = await startServer(t);
    const user = await ensureUser('lxssd-fid4');
    const dir = await workDir(t);
    const archive = join(dir, 'one.tar');
    await craftedTar(archive, [{ type: 'file', name: 'hello', content: 'hi\n' }]);
    await chmod(archive, 0o644);
    const first = await importAs(user, server, 'first', archive);
    assert.equal(first.status, 201, JSON.stringify(first.json));
    const firstId = (first.json as { id: string }).id;
    for (const name of [firstId, firstId.toUpperCase(), '00000000-0000-0000-0000-000000000000']) {
      const response = await importAs(user, server, name, archive);
      assert.equal(response.status, 400, `import as ${name}: ${JSON.stringify(response.json)}`);
      assert.match((response.json as { detail: string }).detail, /GUID/, name);
      const renamed = await curlLocalAs(user, server.socketPath, 'PATCH', `/v1/distributions/first`, { name });
      assert.equal(renamed.status, 400, `rename to ${name}: ${JSON.stringify(renamed.json)}`);
    }
    assert.deepEqual(await names(user, server), ['first'], 'only the first is registered, under its own name');
  });
});
