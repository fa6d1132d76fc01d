// The rootfs tarball helpers other tests build on: checked against GNU tar's own reading of the archives.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, open, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildBusyboxRootfs,
  busyboxRootfsTar,
  craftedTar,
  debianMinbaseTar,
  packTar,
  testCacheDir,
} from '../helpers/rootfs.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const rootOnly = isRoot ? false : 'needs root: the rootfs is built with chown to 0:0 and 1000:1000';
if (!isRoot) process.stderr.write(`[rootfs-helper.test] SKIPPING root-only tests: ${rootOnly}\n`);

async function list(tarPath: string, extra: string[] = []): Promise<string[]> {
  const { stdout } = await run('tar', ['-tv', '--numeric-owner', ...extra, '-f', tarPath], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout.split('\n').filter(Boolean);
}

/** `tar -tv` line → [mode, owner "uid/gid", name (with " -> target" / " link to target")]. */
function fields(line: string): { mode: string; owner: string; name: string } {
  const match = /^(\S+) (\S+)\s+\d+ \d{4}-\d\d-\d\d \d\d:\d\d (.*)$/.exec(line);
  assert.ok(match, `unexpected tar -tv line: ${line}`);
  return { mode: match[1]!, owner: match[2]!, name: match[3]! };
}

function entry(lines: string[], name: string): { mode: string; owner: string; name: string } {
  const found = lines
    .map(fields)
    .find((f) => f.name === name || f.name === `${name}/` || f.name.startsWith(`${name} -> `));
  assert.ok(found, `${name} not in the listing:\n${lines.slice(0, 50).join('\n')}`);
  return found;
}

async function magic(path: string, length: number): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, 0);
    return buffer.toString('hex');
  } finally {
    await handle.close();
  }
}

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'lxssd-rootfs-test-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('testCacheDir', () => {
  it('honours $LXSSD_TEST_CACHE, else a root or per-user default', () => {
    const saved = process.env.LXSSD_TEST_CACHE;
    try {
      process.env.LXSSD_TEST_CACHE = '/some/where';
      assert.equal(testCacheDir(), '/some/where');
      delete process.env.LXSSD_TEST_CACHE;
      if (isRoot) assert.equal(testCacheDir(), '/var/cache/lxssd-test');
      else assert.match(testCacheDir(), /\/\.cache\/lxssd-test$/);
    } finally {
      if (saved === undefined) delete process.env.LXSSD_TEST_CACHE;
      else process.env.LXSSD_TEST_CACHE = saved;
    }
  });
});

describe('busyboxRootfsTar', { skip: rootOnly }, () => {
  it('lists busybox as 0/0 and alice’s files as 1000/1000, names starting with ./', async () => {
    const tarPath = await busyboxRootfsTar();
    const lines = await list(tarPath);
    const busybox = entry(lines, './bin/busybox');
    assert.equal(busybox.owner, '0/0');
    assert.equal(busybox.mode, '-rwxr-xr-x');
    const hello = entry(lines, './home/alice/hello.txt');
    assert.equal(hello.owner, '1000/1000');
    assert.equal(entry(lines, './home/alice').owner, '1000/1000');
    assert.equal(entry(lines, './home/alice').mode, 'drwxr-xr-x');
    assert.equal(entry(lines, './tmp').mode, 'drwxrwxrwt');
    assert.equal(entry(lines, './root').mode, 'drwx------');
    for (const applet of ['sh', 'ls', 'cat', 'id', 'echo', 'sleep', 'stty', 'true', 'false', 'env', 'ps', 'mount',
      'hostname', 'whoami', 'kill', 'tar', 'head', 'dd', 'wc']) {
      assert.equal(entry(lines, `./bin/${applet}`).name, `./bin/${applet} -> busybox`);
    }
    for (const dir of ['./etc', './proc', './sys', './dev', './run', './mnt', './usr/bin', './sbin']) {
      assert.equal(entry(lines, dir).mode[0], 'd', dir);
    }
    for (const line of lines) {
      const f = fields(line);
      assert.ok(f.name === './' || f.name.startsWith('./'), f.name);
      if (!f.name.startsWith('./home/alice')) assert.equal(f.owner, '0/0', f.name);
    }
    const { stdout: hi } = await run('tar', ['-xOf', tarPath, './home/alice/hello.txt']);
    assert.equal(hi, 'hello from alice\n');
    const { stdout: passwd } = await run('tar', ['-xOf', tarPath, './etc/passwd']);
    assert.match(passwd, /^root:x:0:0:root:\/root:\/bin\/sh$/m);
    assert.match(passwd, /^alice:x:1000:1000:alice:\/home\/alice:\/bin\/sh$/m);
    const { stdout: group } = await run('tar', ['-xOf', tarPath, './etc/group']);
    assert.match(group, /^root:x:0:$/m);
    assert.match(group, /^alice:x:1000:$/m);
    const { stdout: osRelease } = await run('tar', ['-xOf', tarPath, './etc/os-release']);
    assert.match(osRelease, /^ID=busybox$/m);
    assert.match(osRelease, /^NAME="lxssd test busybox"$/m);
  });

  it('returns the same path quickly the second time', async () => {
    const first = await busyboxRootfsTar();
    const started = performance.now();
    const second = await busyboxRootfsTar();
    assert.equal(second, first);
    assert.ok(performance.now() - started < 50, 'second call should be memoised');
    assert.ok(first.startsWith(testCacheDir()), first);
    assert.ok((await stat(first)).size > 1_000_000);
  });

  it('builds a folder whose busybox runs inside a chroot', async () => {
    const dir = join(scratch, 'chroot');
    await buildBusyboxRootfs(dir);
    const { stdout } = await run('chroot', [dir, '/bin/sh', '-c', 'cat /home/alice/hello.txt; id -un; echo $((6*7))'], {
      env: { PATH: '/bin:/usr/bin:/usr/sbin:/sbin' },
    });
    assert.equal(stdout, 'hello from alice\nroot\n42\n');
    const alice = await stat(join(dir, 'home/alice/hello.txt'));
    assert.equal(alice.uid, 1000);
    assert.equal(alice.gid, 1000);
  });

  it('packs the same rootfs to the same bytes twice', async () => {
    const a = join(scratch, 'a');
    const b = join(scratch, 'b');
    await buildBusyboxRootfs(a);
    await buildBusyboxRootfs(b);
    await packTar(a, join(scratch, 'a.tar'));
    await packTar(b, join(scratch, 'b.tar'));
    const { stdout } = await run('cmp', [join(scratch, 'a.tar'), join(scratch, 'b.tar')]).catch(
      (error: { stdout: string }) => ({ stdout: error.stdout || 'differ' }),
    );
    assert.equal(stdout, '');
  });
});

describe('packTar', () => {
  let dir: string;
  before(async () => {
    dir = join(scratch, 'pack');
    await mkdir(join(dir, 'etc'), { recursive: true });
    await writeFile(join(dir, 'etc', 'hostname'), 'packed\n');
  });

  it('writes a plain tar with ./ names', async () => {
    const out = join(scratch, 'plain.tar');
    await packTar(dir, out);
    const names = (await list(out)).map((line) => fields(line).name);
    assert.deepEqual(names, ['./', './etc/', './etc/hostname']);
    assert.equal(await magic(out, 2), Buffer.from('./').toString('hex'));
  });

  it("gzips with 'gz' (1f 8b)", async () => {
    const out = join(scratch, 'packed.tar.gz');
    await packTar(dir, out, 'gz');
    assert.equal(await magic(out, 2), '1f8b');
    const { stdout } = await run('tar', ['-xzOf', out, './etc/hostname']);
    assert.equal(stdout, 'packed\n');
  });

  it("xz-compresses with 'xz' (fd 37 7a 58 5a 00)", async () => {
    const out = join(scratch, 'packed.tar.xz');
    await packTar(dir, out, 'xz');
    assert.equal(await magic(out, 6), 'fd377a585a00');
    const { stdout } = await run('tar', ['-xJOf', out, './etc/hostname']);
    assert.equal(stdout, 'packed\n');
  });
});

describe('craftedTar', () => {
  it('writes the entries literally, as GNU tar reads them', async () => {
    const out = join(scratch, 'evil.tar');
    await craftedTar(out, [
      { type: 'dir', name: 'ok/', mode: 0o750 },
      { type: 'file', name: 'ok/file', content: 'fine\n', mode: 0o600, uid: 1000, gid: 1001 },
      { type: 'file', name: '../../tmp/x', content: 'escape\n' },
      { type: 'file', name: '/etc/x', content: 'absolute\n' },
      { type: 'symlink', name: 'evil', target: '/etc' },
      { type: 'file', name: 'evil/x', content: 'through the symlink\n' },
      { type: 'hardlink', name: 'shadow', target: '/etc/shadow' },
      { type: 'file', name: `${'d'.repeat(90)}/${'f'.repeat(90)}`, content: 'long\n' },
    ]);
    assert.equal((await stat(out)).size % 512, 0);
    // -P: list names and link targets exactly as stored (no "Removing leading /" rewriting).
    const lines = await list(out, ['-P']);
    const listed = lines.map(fields);
    assert.deepEqual(
      listed.map((f) => f.name),
      [
        'ok/',
        'ok/file',
        '../../tmp/x',
        '/etc/x',
        'evil -> /etc',
        'evil/x',
        'shadow link to /etc/shadow',
        `${'d'.repeat(90)}/${'f'.repeat(90)}`,
      ],
    );
    assert.equal(listed[0]!.mode, 'drwxr-x---');
    assert.deepEqual([listed[1]!.mode, listed[1]!.owner], ['-rw-------', '1000/1001']);
    assert.equal(listed[4]!.mode[0], 'l');
    assert.equal(listed[6]!.mode[0], 'h');
    const { stdout } = await run('tar', ['-xOPf', out, '../../tmp/x']);
    assert.equal(stdout, 'escape\n');
  });

  it('rejects names that cannot fit a ustar header', async () => {
    await assert.rejects(craftedTar(join(scratch, 'long.tar'), [{ type: 'file', name: 'x'.repeat(101), content: '' }]), /does not fit/);
    await assert.rejects(
      craftedTar(join(scratch, 'long.tar'), [{ type: 'symlink', name: 'l', target: 't'.repeat(101) }]),
      /linkname/,
    );
  });
});

const debianSkip =
  process.env.LXSSD_TEST_DEBIAN === '0'
    ? 'LXSSD_TEST_DEBIAN=0'
    : isRoot
      ? false
      : 'needs root: debootstrap';
if (debianSkip) process.stderr.write(`[rootfs-helper.test] SKIPPING the Debian minbase test: ${debianSkip}\n`);

describe('debianMinbaseTar', { skip: debianSkip }, () => {
  it('builds (once per machine) a bookworm minbase with dpkg', { timeout: 20 * 60_000 }, async () => {
    const tarPath = await debianMinbaseTar();
    assert.equal(tarPath, join(testCacheDir(), 'debian-bookworm-minbase.tar'));
    const lines = await list(tarPath);
    const names = new Set(lines.map((line) => fields(line).name.replace(/ -> .*| link to .*/, '')));
    assert.ok(names.has('./usr/bin/dpkg'), 'no ./usr/bin/dpkg');
    assert.ok(names.has('./etc/debian_version'), 'no ./etc/debian_version');
    assert.equal(entry(lines, './usr/bin/dpkg').owner, '0/0');
    assert.ok(![...names].some((name) => /^\.\/(proc|sys|dev)\/./.test(name)), 'proc/sys/dev contents are excluded');
    const { stdout } = await run('tar', ['-xOf', tarPath, './etc/debian_version']);
    assert.match(stdout, /^12\./);
    assert.equal(await debianMinbaseTar(), tarPath);
  });
});
