// Distributions for tests: archives every test user can read, imported over the local socket as a user.

import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sharedTempDir } from './server.js';
import { curlLocalAs, type TestUser } from './users.js';

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
