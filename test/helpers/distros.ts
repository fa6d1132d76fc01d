// Distributions for tests: archives every test user can read, imported over the local socket as a user.

import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sharedTempDir } from './server.js';
import { busyboxRootfsTar } from './rootfs.js';
import { curlLocalAs, ensureUser, type TestUser } from './users.js';

export interface ImportedDistribution {
  id: string;
  name: string;
  basePath: string;
}

/** A copy of `source` in a folder every user may read, removed after the test. */
export async function readableArchive(t: TestContext, source: string): Promise<string> {
  const dir = await sharedTempDir('lxssd-archive-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'rootfs.tar');
  await copyFile(source, file);
  return file;
}

/** Imports `file` as `user`'s distribution `name` and insists on 201. */
export async function importAs(user: TestUser, socketPath: string, name: string, file: string): Promise<ImportedDistribution> {
  const response = await curlLocalAs(user, socketPath, 'POST', `/v1/distributions?name=${name}`, undefined, {
    upload: { file, contentType: 'application/x-tar' },
  });
  assert.equal(response.status, 201, JSON.stringify(response.json));
  return response.json as ImportedDistribution;
}

/** The test users `names` (created when missing), each with a busybox distribution of their own named `bb`. */
export async function usersWithBusybox<Names extends string[]>(
  t: TestContext,
  socketPath: string,
  ...names: Names
): Promise<{ [K in keyof Names]: TestUser }> {
  const users = await Promise.all(names.map((name) => ensureUser(name)));
  const tar = await readableArchive(t, await busyboxRootfsTar());
  for (const user of users) await importAs(user, socketPath, 'bb', tar);
  return users as { [K in keyof Names]: TestUser };
}
