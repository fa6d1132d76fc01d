// The README's examples run as written: every ```sh block marked with <!-- readme-test --> is run, in order, in
// one bash, against a real server (root, its local socket and a TCP port, named through the LXSSD_SOCKET and
// LXSSD_URL the examples read). Every command must succeed: curl answers below 400 (the test's curl adds
// --fail-with-body), every other command exit 0. Only the slow part the README itself skips when it is done is
// done beforehand: debian.tar is the test cache's debootstrap minbase.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { lxssd } from '../helpers/binary.js';
import { localRequest } from '../helpers/local-client.js';
import { debianMinbaseTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

const run = promisify(execFile);
const checkout = join(dirname(lxssd), '..');
const MARK = '<!-- readme-test -->';

/** The marked ```sh blocks of the README, in order. */
export function readmeExamples(markdown: string): string[] {
  const lines = markdown.split('\n');
  const blocks: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== MARK) continue;
    let start = i + 1;
    while (start < lines.length && lines[start]!.trim() === '') start++;
    if (lines[start] !== '```sh') throw new Error(`README line ${i + 1}: ${MARK} is not followed by a \`\`\`sh block`);
    const end = lines.indexOf('```', start + 1);
    if (end < 0) throw new Error(`README line ${start + 1}: the block never ends`);
    blocks.push(lines.slice(start + 1, end).join('\n'));
    i = end;
  }
  return blocks;
}

describe('README examples', () => {
  it('run as written, in order, against a real server', { timeout: 900_000 }, async (t) => {
    if (!isRoot) return t.skip('the examples run as root (debootstrap, an administrator\'s routes)');
    const blocks = readmeExamples(await readFile(join(checkout, 'README.md'), 'utf8'));
    assert.ok(blocks.length >= 5, `found only ${blocks.length} marked examples`);
    const script = blocks.join('\n');
    for (const needed of ['name=Debian', '/instance', '/mounts', '/run', '/processes', '-X DELETE http://localhost/v1/distributions/Debian']) {
      assert.ok(script.includes(needed), `the examples cover ${needed}`);
    }

    const server = await startServer(t);
    const work = await sharedTempDir('lxssd-readme-');
    t.after(() => rm(work, { recursive: true, force: true }));
    // The cache's tar was packed from a mktemp folder, so its `./` is 0700 (which the README's recipe avoids):
    // a copy with a 0755 `./` appended, which tar applies last.
    const archive = join(work, 'debian.tar');
    await copyFile(await debianMinbaseTar(), archive);
    const emptyRoot = join(work, 'root');
    await mkdir(emptyRoot, { mode: 0o755 });
    await chmod(emptyRoot, 0o755);
    await run('tar', ['-C', emptyRoot, '--owner=0', '--group=0', '--no-recursion', '-rf', archive, '.']);
    await rm(emptyRoot, { recursive: true });
    const bin = join(work, 'bin');
    await run('bash', [join(checkout, 'scripts', 'link-bins.sh'), bin]);

    const prelude = [
      'set -Eeuo pipefail',
      // Each example's curl must get a success, not just an answer.
      'curl() { command curl --fail-with-body --silent --show-error "$@"; }',
      `trap 'echo "README example failed (exit $?): $BASH_COMMAND" >&2' ERR`,
    ];
    const numbered = blocks.map((block, index) => `echo "--- README example ${index + 1}" >&2\n${block}\necho >&2`);
    const body = [...prelude, ...numbered, 'echo "--- all README examples ran" >&2'].join('\n');

    const child = spawn('bash', ['-c', body], {
      cwd: work,
      env: {
        PATH: [bin, dirname(process.execPath), process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(':'),
        HOME: work,
        USER: 'root',
        TMPDIR: work,
        LXSSD_SOCKET: server.socketPath,
        LXSSD_URL: server.url,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, `the examples failed:\n${stderr.slice(-4000)}\n--- stdout (end):\n${stdout.slice(-2000)}`);
    assert.match(stderr, /--- all README examples ran/);

    // What the examples claim they did.
    assert.match(stdout, /"exitCode":3,"signal":null,"stdout":"out\\n","stderr":"err\\n"/, 'the run example');
    assert.ok((await stat(join(work, 'debian.tar.gz'))).size > 1_000_000, 'the export example wrote debian.tar.gz');
    const left = await localRequest(server.socketPath, 'GET', '/v1/distributions');
    assert.deepEqual(left.body.distributions, [], 'the last example unregistered Debian');
  });
});
