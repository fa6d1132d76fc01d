// A client in another language, driven only by the committed document: Perl's OpenAPI::Client (Debian
// libopenapi-client-perl) builds its methods from openapi/openapi.json and runs the whole distribution flow
// (test/fixtures/openapi-client.pl) over TCP and over the local socket; every answer is also checked against the
// document there. This test judges the JSON lines it prints and the archive it exported.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tokenOf } from '../helpers/process-client.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer } from '../helpers/server.js';
import { digestTar } from '../helpers/tar-digest.js';
import { isRoot } from '../helpers/users.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const script = join(root, 'test', 'fixtures', 'openapi-client.pl');
const spec = join(root, 'openapi', 'openapi.json');

interface Step {
  step: string;
  status: number;
  error: string | null;
  problems: string[];
  [key: string]: unknown;
}

async function hasOpenApiClient(): Promise<boolean> {
  return run('perl', ['-MOpenAPI::Client', '-e', '1']).then(
    () => true,
    () => false,
  );
}

/** Runs the Perl flow against `baseUrl` and returns its steps by name (a repeated step: its last line). */
async function perlFlow(t: TestContext, baseUrl: string, token: string | null, name: string): Promise<{ steps: Map<string, Step>; lines: Step[]; exported: string }> {
  const dir = await sharedTempDir('lxssd-perl-client-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tar = join(dir, 'rootfs.tar');
  await copyFile(await busyboxRootfsTar(), tar);
  const exported = join(dir, 'exported.tar');
  const { stdout, stderr } = await run('perl', [script, spec, baseUrl, token ?? '-', name, tar, exported], {
    maxBuffer: 16 << 20,
    timeout: 180_000,
  });
  const lines = stdout.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Step);
  assert.ok(lines.length > 0, `the Perl client printed nothing; stderr: ${stderr}`);
  return { steps: new Map(lines.map((line) => [line.step, line])), lines, exported };
}

async function checkFlow(t: TestContext, baseUrl: string, token: string | null, name: string, via: string): Promise<void> {
  const { steps, lines, exported } = await perlFlow(t, baseUrl, token, name);
  for (const line of lines) {
    assert.equal(line.error, null, `${via} ${line.step}: the request failed: ${line.error}`);
    assert.deepEqual(line.problems, [], `${via} ${line.step} (${line.status}): the answer differs from the document`);
  }
  const step = (key: string): Step => {
    const found = steps.get(key);
    assert.ok(found, `${via}: the Perl client reached ${key}; it printed ${lines.map((line) => line.step).join(', ')}`);
    return found;
  };
  assert.equal(step('version').status, 200, `${via} version`);
  assert.equal(step('import').status, 201, `${via} import: ${JSON.stringify(step('import'))}`);
  assert.equal(step('import').name, name, `${via} import names the distribution`);
  assert.match(String(step('import').location), /^\/v1\/distributions\/[0-9a-f-]{36}$/, `${via} import's Location`);
  assert.equal(step('list').status, 200, `${via} list`);
  assert.ok((step('list').names as string[]).includes(name), `${via} the list has ${name}`);
  assert.ok([200, 201].includes(step('start').status), `${via} start: ${step('start').status}`);
  assert.equal(step('start').state, 'Running', `${via} the instance runs`);
  assert.equal(step('run').status, 200, `${via} run`);
  assert.deepEqual(
    [step('run').exitCode, step('run').stdout, step('run').stderr],
    [3, 'lxssd-busybox\n', 'to-stderr\n'],
    `${via} run: the exit code and both streams`,
  );
  assert.equal(step('create').status, 201, `${via} create`);
  assert.equal(step('output').status, 200, `${via} output`);
  assert.equal(step('output').output, 'from-a-process\n', `${via} the process's output, followed to its end`);
  assert.deepEqual([step('state').status, step('state').state, step('state').exitCode], [200, 'exited', 7], `${via} the process's state`);
  assert.equal(step('export').status, 200, `${via} export`);
  assert.equal(step('export').contentType, 'application/x-tar', `${via} export's type`);
  assert.equal(step('export').disposition, `attachment; filename="${name}.tar"`, `${via} export's Content-Disposition`);
  assert.equal(step('unregister').status, 204, `${via} unregister`);
  assert.equal(step('listAfter').status, 200, `${via} list after`);
  assert.ok(!(step('listAfter').names as string[]).includes(name), `${via} ${name} is gone from the list`);

  // The export holds what was imported, owners as the distribution sees them.
  const [before, after] = await Promise.all([digestTar(await busyboxRootfsTar()), digestTar(exported)]);
  for (const entry of ['etc/hostname', 'etc/passwd', 'bin/busybox', 'home/alice/hello.txt']) {
    assert.deepEqual(after.get(entry), before.get(entry), `${via} the exported ${entry} is the imported one`);
  }
}

describe('Perl OpenAPI::Client driven by openapi/openapi.json alone', () => {
  it('imports, lists, starts, runs, creates a process, reads it, exports and unregisters over TCP and the local socket', { timeout: 6 * 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    if (!(await hasOpenApiClient())) return t.skip('Perl OpenAPI::Client is missing: apt-get install libopenapi-client-perl (scripts/setup.sh)');
    const server = await startServer(t);
    const token = await tokenOf(server);
    await t.test('over TCP with a bearer token', () => checkFlow(t, server.url, token, 'perl-tcp', 'TCP'));
    await t.test('over the local socket (Mojo’s http+unix)', () =>
      checkFlow(t, `http+unix://${encodeURIComponent(server.socketPath)}`, null, 'perl-unix', 'socket'),
    );
  });
});
