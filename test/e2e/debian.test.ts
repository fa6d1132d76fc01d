// A real Debian bookworm minbase (debootstrap), imported by a real user over the local socket, configured,
// exported and unregistered: the whole life of a distribution with a real-world root filesystem.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chown, copyFile, chmod, lstat, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { debianMinbaseTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot, runAs, type TestUser } from '../helpers/users.js';

const run = promisify(execFile);
const BIG_OUTPUT = { maxBuffer: 256 * 1024 * 1024 };

/** curl over the local socket as `user` with extra arguments; the status comes from `-w`. */
async function curlAs(
  user: TestUser,
  socketPath: string,
  args: string[],
  path: string,
): Promise<{ status: number; text: string; json: any }> {
  const result = await runAs(user, [
    'curl',
    '-sS',
    '--unix-socket',
    socketPath,
    '-w',
    '\n%{http_code}',
    ...args,
    `http://localhost${path}`,
  ]);
  if (result.code !== 0) throw new Error(`curl as ${user.name} failed (${result.code}): ${result.stderr}`);
  const cut = result.stdout.lastIndexOf('\n');
  const text = result.stdout.slice(0, cut);
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = undefined;
  }
  return { status: Number(result.stdout.slice(cut + 1)), text, json };
}

/** `tar -tf` of an archive (`z` for gzip), one member name per line. */
async function members(archive: string, gzip = false): Promise<string[]> {
  const { stdout } = await run('tar', [gzip ? '-tzf' : '-tf', archive], BIG_OUTPUT);
  return stdout.split('\n').filter((line) => line !== '');
}

/** The bytes of one member, extracted with `tar -xOf`. */
async function memberBytes(archive: string, member: string, gzip = false): Promise<Buffer> {
  const options = { ...BIG_OUTPUT, encoding: 'buffer' as const };
  const { stdout } = await run('tar', [gzip ? '-xzOf' : '-xOf', archive, member], options);
  return stdout;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('the debootstrap Debian', () => {
  const name = 'imports as alice (owned by her ids), takes a default user, exports with inner owners and unregisters';
  it(name, { timeout: 10 * 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root: creates the user alice and the service maps ids for her');
    if (process.env.LXSSD_TEST_DEBIAN === '0') {
      return t.skip('LXSSD_TEST_DEBIAN=0: the Debian minbase test is turned off');
    }
    const tar = await debianMinbaseTar();
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const work = await sharedTempDir('lxssd-debian-');
    t.after(() => rm(work, { recursive: true, force: true }));
    // curl runs as alice: it reads the tar and writes the export, so both must be hers to reach.
    const aliceDir = join(work, 'alice');
    await mkdir(aliceDir, { mode: 0o700 });
    await chown(aliceDir, alice.uid, alice.gid);
    let upload = tar;
    if ((await runAs(alice, ['test', '-r', tar])).code !== 0) {
      upload = join(work, 'debian.tar');
      await copyFile(tar, upload);
      await chmod(upload, 0o644);
    }

    // Import.
    const importStarted = Date.now();
    const imported = await curlAs(
      alice,
      server.socketPath,
      ['-X', 'POST', '-H', 'content-type: application/x-tar', '--data-binary', `@${upload}`],
      '/v1/distributions?name=Debian',
    );
    const importMs = Date.now() - importStarted;
    assert.equal(imported.status, 201, imported.text);
    const distro = imported.json as { name: string; state: string; sizeBytes: number; basePath: string };
    assert.equal(distro.name, 'Debian');
    assert.equal(distro.state, 'Installed');
    assert.ok(distro.sizeBytes > 100_000_000, `sizeBytes ${distro.sizeBytes} > 100 MB`);
    const uploadMiB = ((await stat(upload)).size / 1048576).toFixed(1);
    t.diagnostic(`imported ${uploadMiB} MiB in ${importMs} ms; sizeBytes ${distro.sizeBytes}`);

    // On the host: inner root is alice.
    const rootfs = join(distro.basePath, 'rootfs');
    const dpkg = await lstat(join(rootfs, 'usr/bin/dpkg'));
    assert.ok(dpkg.isFile(), '/usr/bin/dpkg is a regular file on the host');
    assert.equal(dpkg.uid, alice.uid, "/usr/bin/dpkg is owned by alice's uid on the host");
    assert.equal(dpkg.gid, alice.gid, "/usr/bin/dpkg is owned by alice's gid on the host");
    const debianVersion = join(rootfs, 'etc/debian_version');
    assert.ok((await lstat(debianVersion)).isFile(), '/etc/debian_version is a regular file');
    assert.match(await readFile(debianVersion, 'utf8'), /^12\.\d+\n?$/);

    // The default user, looked up in the distribution's own /etc/passwd.
    // nobody first, so that root (the default already) is a real change.
    const patch = (body: unknown) => curlLocalAs(alice, server.socketPath, 'PATCH', '/v1/distributions/Debian', body);
    const toNobody = await patch({ defaultUser: 'nobody' });
    assert.equal(toNobody.status, 200, JSON.stringify(toNobody.json));
    assert.equal((toNobody.json as { defaultUid: number }).defaultUid, 65534);
    const toRoot = await patch({ defaultUser: 'root' });
    assert.equal(toRoot.status, 200, JSON.stringify(toRoot.json));
    assert.equal((toRoot.json as { defaultUid: number }).defaultUid, 0);
    const unknown = await patch({ defaultUser: 'nosuchuser' });
    assert.equal(unknown.status, 400, JSON.stringify(unknown.json));
    assert.equal((unknown.json as { code: string }).code, 'WSL_E_USER_NOT_FOUND');
    const afterPatches = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/distributions/Debian');
    assert.equal(afterPatches.status, 200);
    assert.equal((afterPatches.json as { defaultUid: number }).defaultUid, 0, 'the refused PATCH changed nothing');

    // Export as tar.gz.
    const exported = join(aliceDir, 'Debian.tar.gz');
    const exportStarted = Date.now();
    const exportPath = '/v1/distributions/Debian/export?format=tar.gz';
    const exportReply = await curlAs(alice, server.socketPath, ['-o', exported], exportPath);
    const exportMs = Date.now() - exportStarted;
    assert.equal(exportReply.status, 200, await readFile(exported, 'utf8').catch(() => ''));
    t.diagnostic(`exported ${((await stat(exported)).size / 1048576).toFixed(1)} MiB of tar.gz in ${exportMs} ms`);

    const { stdout: verbose } = await run('tar', ['-tzvf', exported, '--numeric-owner'], BIG_OUTPUT);
    const entries = verbose.split('\n');
    const line = (member: string) =>
      entries.find((entry) => entry.endsWith(` ${member}`) || entry.includes(` ${member} -> `));
    const dpkgLine = line('./usr/bin/dpkg');
    assert.ok(dpkgLine, `./usr/bin/dpkg is in the export`);
    assert.match(dpkgLine, /^-\S+ 0\/0 /, `./usr/bin/dpkg is owned 0/0 inside: ${dpkgLine}`);
    const osReleaseLine = line('./etc/os-release');
    assert.ok(osReleaseLine, './etc/os-release is in the export');
    assert.match(osReleaseLine, /^l\S+ 0\/0 .* \.\/etc\/os-release -> \.\.\/usr\/lib\/os-release$/, 'symlink kept');

    const original = await members(tar);
    const roundTrip = await members(exported, true);
    const drift = Math.abs(roundTrip.length - original.length) / original.length;
    t.diagnostic(`entries: imported tar ${original.length}, export ${roundTrip.length}`);
    assert.ok(drift <= 0.01, `export: ${roundTrip.length} entries, imported tar: ${original.length} (over 1% apart)`);

    for (const member of ['./usr/lib/os-release', './usr/bin/dpkg', './etc/debian_version']) {
      const before = await memberBytes(tar, member);
      const after = await memberBytes(exported, member, true);
      assert.ok(before.length > 0, `${member} has content in the imported tar`);
      assert.ok(before.equals(after), `${member} is byte-identical after the round trip`);
    }

    // Unregister.
    const deleted = await curlAs(alice, server.socketPath, ['-X', 'DELETE'], '/v1/distributions/Debian');
    assert.equal(deleted.status, 204, deleted.text);
    assert.equal(await exists(distro.basePath), false, `${distro.basePath} is removed`);
    const listed = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/distributions');
    assert.deepEqual((listed.json as { distributions: unknown[] }).distributions, []);
  });
});
