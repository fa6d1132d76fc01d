// A non-root `lxssd serve` refuses to start, saying why, rather than serving a socket on which every import
// would be a 500: the Linux backend sets up each user's namespaces as root. The real binary, as a real user.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chown, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { lxssd } from '../helpers/binary.js';
import { sharedTempDir } from '../helpers/server.js';
import { ensureUser, isRoot, runAs } from '../helpers/users.js';

describe('lxssd serve as a non-root user', () => {
  it('refuses to start with a message naming root, and leaves no socket or state behind', async (t) => {
    if (!isRoot) return t.skip('needs root to create a test user and run the binary as it');
    const user = await ensureUser('alice');
    const dir = await sharedTempDir('lxssd-nonroot-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const home = join(dir, 'home');
    await mkdir(home);
    await chown(home, user.uid, user.gid);

    for (const args of [
      ['serve', '--listen', '127.0.0.1:0', '--state-dir', join(home, 'state'), '--socket', join(home, 'lxssd.sock')],
      ['serve'],
      ['--listen', '127.0.0.1:0'],
    ]) {
      // `timeout`: were it to start serving, the test fails at 60 s rather than hanging.
      const result = await runAs({ ...user, home }, ['timeout', '60', process.execPath, lxssd, ...args]);
      const what = `lxssd ${args.join(' ')}`;
      assert.equal(result.code, 2, `${what}: exit code (stderr: ${result.stderr})`);
      assert.match(result.stderr, /^lxssd: lxssd serve must run as root/, `${what}: says why`);
      assert.match(result.stderr, /sudo lxssd serve/, `${what}: says how`);
      assert.doesNotMatch(result.stdout, /lxssd ready/, `${what}: never ready`);
      assert.deepEqual(await readdir(home), [], `${what}: no state directory, lock or socket was made`);
    }
  });

  it('still lets a non-root user print the version and the OpenAPI document', async (t) => {
    if (!isRoot) return t.skip('needs root to create a test user and run the binary as it');
    const user = await ensureUser('alice');
    const dir = await sharedTempDir('lxssd-nonroot-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    await chown(dir, user.uid, user.gid);

    const version = await runAs({ ...user, home: dir }, ['timeout', '60', process.execPath, lxssd, '--version']);
    assert.equal(version.code, 0, version.stderr);
    const document = await runAs({ ...user, home: dir }, ['timeout', '60', process.execPath, lxssd, 'openapi']);
    assert.equal(document.code, 0, document.stderr);
    assert.equal(JSON.parse(document.stdout).info.title, 'lxssd');
  });
});
