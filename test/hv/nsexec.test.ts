// lxssd-nsexec against real namespaces (no mocks). Needs host root and a built helper (npm run build).

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { HelperProcess } from '../../src/hv/linux/helper-spawn.js';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, open, readFile, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, type ChildResult } from '../helpers/child-output.js';
import { assertStaticElf } from '../helpers/elf.js';
import {
  formatIdMap,
  identityMapping,
  nsexecArgs,
  nsexecPath,
  readReportedPid,
  spawnInNamespace,
  type IdMapping,
  type NsExecOptions,
} from '../../src/hv/linux/nsexec.js';

const BUSYBOX = '/bin/busybox';
const OUTER_ROOT = 100000;
const SHIFTED: IdMapping = {
  uids: [
    { inner: 0, outer: OUTER_ROOT, count: 1 },
    { inner: 1, outer: 200001, count: 65536 },
  ],
  gids: [
    { inner: 0, outer: OUTER_ROOT, count: 1 },
    { inner: 1, outer: 200001, count: 65536 },
  ],
};
const SHIFTED_ARGS = ['--uid-map', formatIdMap(SHIFTED.uids), '--gid-map', formatIdMap(SHIFTED.gids)];

const isRoot = process.getuid?.() === 0;

/** Skips loudly when the test cannot run here; returns true when it was skipped. */
function needsRoot(t: TestContext): boolean {
  if (isRoot) return false;
  t.skip('needs root');
  return true;
}


function run(options: Partial<NsExecOptions> & Pick<NsExecOptions, 'argv'>): Promise<ChildResult> {
  const child = spawnInNamespace({ mapping: SHIFTED, stdio: ['ignore', 'pipe', 'pipe'], ...options });
  return collect(child);
}

/** Runs the helper binary with raw arguments, bypassing the wrapper's own validation. */
function runHelper(args: string[], extra: { uid?: number; gid?: number } = {}): Promise<ChildResult> {
  return collect(spawn(nsexecPath(), args, { stdio: ['ignore', 'pipe', 'pipe'], ...extra }));
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lxssd-nsexec-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Polls every 20 ms until `check` holds, or fails after `timeoutMs`. */
async function waitFor(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Gone, or a zombie (dead; whether it is reaped is up to this container's PID 1). */
function processDead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Whatever a test left running is killed afterwards, even when an assertion failed (else the pipes keep the test
 * process alive). `pid` is the program's host pid: without a PID namespace, $$ inside is the host pid. */
function cleanup(t: TestContext, helper: HelperProcess, pid: () => number | undefined): void {
  t.after(() => {
    helper.kill('SIGKILL');
    const program = pid();
    if (program !== undefined && Number.isSafeInteger(program) && program > 1 && !processDead(program)) {
      process.kill(program, 'SIGKILL');
    }
    helper.stdout?.destroy();
  });
}

/** Starts `sh -c 'echo $$; exec sleep 1000'` in a namespace and returns the helper and the program's host pid. */
async function startSleeper(t: TestContext): Promise<{ helper: HelperProcess; pid: number }> {
  const helper = spawnInNamespace({
    mapping: SHIFTED,
    argv: [BUSYBOX, 'sh', '-c', `echo $$; exec ${BUSYBOX} sleep 1000`],
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let pid: number | undefined;
  cleanup(t, helper, () => pid);
  const line = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    helper.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl >= 0) resolve(buffered.slice(0, nl));
    });
    helper.on('error', reject);
    helper.on('exit', (code) => reject(new Error(`helper exited early with ${code}`)));
  });
  pid = Number(line);
  assert.ok(Number.isSafeInteger(pid) && pid > 1, `expected a pid, got ${JSON.stringify(line)}`);
  return { helper, pid };
}

function hostUidOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const uids = /^Uid:\s+(\d+)/m.exec(status);
  assert.ok(uids?.[1] !== undefined, 'no Uid line in /proc/PID/status');
  return Number(uids[1]);
}

describe('nsexec wrapper (no root needed)', () => {
  it('formats id maps the way the helper and kernel take them', () => {
    assert.equal(
      formatIdMap([
        { inner: 0, outer: 1000, count: 1 },
        { inner: 1, outer: 100000, count: 65536 },
      ]),
      '0 1000 1,1 100000 65536',
    );
    assert.equal(formatIdMap(identityMapping().uids), '0 0 4294967295');
    assert.deepEqual(identityMapping().gids, [{ inner: 0, outer: 0, count: 4294967295 }]);
  });

  it('rejects id maps the kernel would reject', () => {
    assert.throws(() => formatIdMap([]), RangeError);
    assert.throws(() => formatIdMap([{ inner: 0, outer: 1000, count: 0 }]), RangeError);
    assert.throws(() => formatIdMap([{ inner: -1, outer: 1000, count: 1 }]), RangeError);
    assert.throws(() => formatIdMap([{ inner: 0, outer: 1.5, count: 1 }]), RangeError);
    assert.throws(() => formatIdMap([{ inner: 0, outer: 4294967295, count: 2 }]), RangeError);
  });

  it('finds the built helper at an absolute path', () => {
    const path = nsexecPath();
    assert.ok(path.startsWith('/') && path.endsWith('/dist/native/lxssd-nsexec'), path);
  });

  it('passes each cgroup to join as --cgroup, absolute paths only', () => {
    const args = nsexecArgs({ mapping: SHIFTED, argv: [BUSYBOX, 'true'], cgroups: ['/sys/fs/cgroup/pids/a', '/sys/fs/cgroup/memory/a'] });
    assert.deepEqual(args.slice(-7), ['--cgroup', '/sys/fs/cgroup/pids/a', '--cgroup', '/sys/fs/cgroup/memory/a', '--', BUSYBOX, 'true']);
    assert.throws(() => nsexecArgs({ mapping: SHIFTED, argv: [BUSYBOX, 'true'], cgroups: ['pids/a'] }), /absolute/);
  });

  it('refuses a program that is not an absolute host path', () => {
    assert.throws(() => spawnInNamespace({ mapping: SHIFTED, argv: ['busybox'] }), /absolute/);
    assert.throws(() => spawnInNamespace({ mapping: SHIFTED, argv: [] }), /program/);
  });

  it('builds instance arguments and refuses bad combinations before spawning', () => {
    assert.deepEqual(
      nsexecArgs({
        joinUserns: 42,
        newPid: true,
        newUts: true,
        newIpc: true,
        hostname: 'distro',
        instanceRoot: '/var/lib/lxssd/d/rootfs',
        binds: [
          { source: '/home/alice', target: '/mnt/home' },
          { source: '/srv/x', target: '/mnt/x', readOnly: true },
        ],
        initFile: '/usr/lib/lxssd/init',
        pidFd: 5,
        stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
        argv: ['/init'],
      }),
      [
        '--join-userns', '42', '--new-pid', '--new-uts', '--new-ipc', '--hostname', 'distro',
        '--instance-root', '/var/lib/lxssd/d/rootfs', '--bind', '/home/alice:/mnt/home', '--bind', '/srv/x:/mnt/x:ro',
        '--init-file', '/usr/lib/lxssd/init', '--pid-fd', '5', '--', '/init',
      ],
    );
    const instance = { joinUserns: 42, newPid: true, instanceRoot: '/d', argv: ['/init'] };
    const bad: Array<[Partial<NsExecOptions>, RegExp]> = [
      [{ mapping: SHIFTED }, /mutually exclusive/],
      [{ joinUserns: undefined }, /needs mapping or joinUserns/],
      [{ joinUserns: 0 }, /pid/],
      [{ root: '/r' }, /mutually exclusive/],
      [{ newPid: false }, /needs newPid/],
      [{ hostname: 'x' }, /needs newUts/],
      [{ instanceRoot: 'relative' }, /absolute/],
      [{ binds: [{ source: '/a', target: '/mnt/../etc' }] }, /'\.\.'/],
      [{ binds: [{ source: '/a', target: '/' }] }, /below/],
      [{ binds: [{ source: 'a', target: '/mnt/a' }] }, /absolute/],
      [{ binds: [{ source: '/a:b', target: '/mnt/a' }] }, /':'/],
      [{ initFile: 'init' }, /absolute/],
      [{ argv: ['init'] }, /absolute instance path/],
      [{ pidFd: 2, stdio: ['pipe', 'pipe', 'pipe'] }, /fd >= 3/],
      [{ pidFd: 3 }, /needs an entry in stdio/],
    ];
    for (const [change, message] of bad) {
      assert.throws(() => nsexecArgs({ ...instance, ...change }), message, JSON.stringify(change));
    }
    const binds = [{ source: '/a', target: '/b' }];
    assert.throws(() => nsexecArgs({ mapping: SHIFTED, argv: ['/p'], binds }), /need instanceRoot/);
  });

  it('is a static binary (the ELF has no PT_INTERP program header)', () => {
    assertStaticElf(nsexecPath());
  });
});

describe('lxssd-nsexec in real namespaces', () => {
  it('runs as inner root whose files belong to the outer uid on the host', async (t) => {
    if (needsRoot(t)) return;
    const dir = await tempDir(t);
    await chmod(dir, 0o777);

    const id = await run({ argv: [BUSYBOX, 'id', '-u'] });
    assert.deepEqual([id.code, id.stdout, id.stderr], [0, '0\n', '']);

    const made = await run({
      argv: [BUSYBOX, 'sh', '-c', 'touch "$0/by-root" "$0/by-user" && chown 1:1 "$0/by-user"', dir],
    });
    assert.equal(made.code, 0, made.stderr);
    const byRoot = await stat(join(dir, 'by-root'));
    assert.deepEqual([byRoot.uid, byRoot.gid], [OUTER_ROOT, OUTER_ROOT]);
    const byUser = await stat(join(dir, 'by-user'));
    assert.deepEqual([byUser.uid, byUser.gid], [200001, 200001]);
  });

  it('chroots into --root: writes land inside it, host files are invisible', async (t) => {
    if (needsRoot(t)) return;
    const root = await tempDir(t);
    await chown(root, OUTER_ROOT, OUTER_ROOT);
    assert.ok(!existsSync('/x'), 'precondition: /x must not exist on the host');

    const wrote = await run({ root, argv: [BUSYBOX, 'sh', '-c', 'echo hi > /x; ls /'] });
    assert.deepEqual([wrote.code, wrote.stdout, wrote.stderr], [0, 'x\n', '']);
    assert.equal(await readFile(join(root, 'x'), 'utf8'), 'hi\n');
    assert.deepEqual(await readdir(root), ['x']);
    assert.equal((await stat(join(root, 'x'))).uid, OUTER_ROOT);
    assert.ok(!existsSync('/x'), 'the write escaped the root');

    const cat = await run({ root, argv: [BUSYBOX, 'cat', '/etc/hostname'] });
    assert.notEqual(cat.code, 0);
    assert.match(cat.stderr, /No such file or directory/);
  });

  it('applies --cwd inside the root', async (t) => {
    if (needsRoot(t)) return;
    const root = await tempDir(t);
    await chown(root, OUTER_ROOT, OUTER_ROOT);
    const made = await run({ root, argv: [BUSYBOX, 'mkdir', '/work'] });
    assert.equal(made.code, 0, made.stderr);
    const pwd = await run({ root, cwd: '/work', argv: [BUSYBOX, 'pwd'] });
    assert.deepEqual([pwd.code, pwd.stdout], [0, '/work\n']);
    const missing = await run({ root, cwd: '/nope', argv: [BUSYBOX, 'pwd'] });
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /chdir \/nope/);
  });

  it('keeps host-root files unreachable with a shifted mapping', async (t) => {
    if (needsRoot(t)) return;
    const shadow = await run({ argv: [BUSYBOX, 'cat', '/etc/shadow'] });
    assert.notEqual(shadow.code, 0);
    assert.match(shadow.stderr, /Permission denied/);

    // Control: the identity mapping (root-owned sessions only) does reach it, so the check above means something.
    const identity = await run({ mapping: identityMapping(), argv: [BUSYBOX, 'cat', '/etc/shadow'] });
    assert.equal(identity.code, 0, identity.stderr);
  });

  it('runs the program under the outer uid on the host, not host root', async (t) => {
    if (needsRoot(t)) return;
    const { pid } = await startSleeper(t);
    assert.equal(hostUidOf(pid), OUTER_ROOT);
  });

  it('passes exit codes through', async (t) => {
    if (needsRoot(t)) return;
    assert.equal((await run({ argv: [BUSYBOX, 'sh', '-c', 'exit 7'] })).code, 7);
    assert.equal((await run({ argv: [BUSYBOX, 'sh', '-c', 'kill -TERM $$'] })).code, 143);

    const missing = await run({ argv: ['/nonexistent/program'] });
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /No such file or directory/);

    const dir = await tempDir(t);
    const notExecutable = join(dir, 'data');
    await (await open(notExecutable, 'w', 0o644)).close();
    assert.equal((await run({ argv: [notExecutable] })).code, 126);
  });

  it('joins each --cgroup before it forks: the program and its children are born in it; a missing one is 125', async (t) => {
    if (needsRoot(t)) return;
    const own = /^\d+:pids:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
    if (own === undefined || !existsSync('/sys/fs/cgroup/pids/cgroup.procs')) return t.skip('needs a cgroup v1 pids controller');
    const group = join('/sys/fs/cgroup/pids', own, `lxssd-nsexec-test-${randomBytes(4).toString('hex')}`);
    await mkdir(group);
    t.after(() => rmdir(group).catch(() => undefined));
    const path = group.slice('/sys/fs/cgroup/pids'.length);
    const result = await run({
      argv: [BUSYBOX, 'sh', '-c', 'grep :pids: /proc/self/cgroup; (grep :pids: /proc/self/cgroup) | cat'],
      cgroups: [group],
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n').map((line) => line.replace(/^\d+:pids:/, '')), [path, path]);
    assert.equal(readFileSync(join(group, 'cgroup.procs'), 'utf8'), '', 'the helper left with its program');

    const missing = await run({ argv: [BUSYBOX, 'true'], cgroups: [`${group}-missing`] });
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /--cgroup: open .*cgroup\.procs/);
  });

  it('exits 125 on bad arguments, before running anything', async (t) => {
    if (needsRoot(t)) return;
    const program = ['--', BUSYBOX, 'true'];
    const bad: string[][] = [
      [],
      ['--bogus', ...SHIFTED_ARGS, ...program],
      [...SHIFTED_ARGS],
      [...SHIFTED_ARGS, '--'],
      ['--uid-map', '0 100000 1', ...program],
      ['--uid-map', '0 100000', '--gid-map', '0 100000 1', ...program],
      ['--uid-map', '0 100000 1 ', '--gid-map', '0 100000 1', ...program],
      ['--uid-map', '1 100000 1', '--gid-map', '0 100000 1', ...program],
      ['--uid-map', '0 100000 2,1 5 1', '--gid-map', '0 100000 1', ...program],
      ['--uid-map', '0 100000 1', '--uid-map', '0 100000 1', '--gid-map', '0 100000 1', ...program],
      [...SHIFTED_ARGS, '--root', '', ...program],
      [...SHIFTED_ARGS, '--', 'busybox', 'true'],
    ];
    for (const args of bad) {
      const result = await runHelper(args);
      assert.equal(result.code, 125, `args ${JSON.stringify(args)}`);
      assert.match(result.stderr, /^lxssd-nsexec: /, `args ${JSON.stringify(args)}`);
      assert.equal(result.stdout, '');
    }
  });

  it('exits 125 when not run as root', async (t) => {
    if (needsRoot(t)) return;
    const result = await runHelper([...SHIFTED_ARGS, '--', BUSYBOX, 'true'], { uid: 65534, gid: 65534 });
    assert.equal(result.code, 125);
    assert.match(result.stderr, /must run as root/);
  });

  it('passes the given environment, and only a PATH by default', async (t) => {
    if (needsRoot(t)) return;
    process.env['LXSSD_NSEXEC_TEST_SECRET'] = 'leak';
    t.after(() => delete process.env['LXSSD_NSEXEC_TEST_SECRET']);
    const given = await run({ env: { FOO: 'bar' }, argv: [BUSYBOX, 'env'] });
    assert.deepEqual([given.code, given.stdout], [0, 'FOO=bar\n']);
    const dflt = await run({ argv: [BUSYBOX, 'env'] });
    assert.equal(dflt.code, 0);
    assert.deepEqual(dflt.stdout.trim().split('\n').map((line) => line.split('=')[0]), ['PATH']);
  });

  it('streams stdin to stdout through the program unchanged', async (t) => {
    if (needsRoot(t)) return;
    const input = randomBytes(8 << 20);
    const child = spawnInNamespace({ mapping: SHIFTED, argv: [BUSYBOX, 'cat'] });
    const chunks: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
    const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    child.stdin?.end(input);
    assert.equal(await done, 0);
    assert.ok(Buffer.concat(chunks).equals(input), 'output differs from input');
  });

  it('does not hold stdout open itself: EOF arrives while the program still runs', async (t) => {
    if (needsRoot(t)) return;
    const helper = spawnInNamespace({
      mapping: SHIFTED,
      argv: [BUSYBOX, 'sh', '-c', `echo $$; exec ${BUSYBOX} sleep 1000 >&-`],
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let ended = false;
    let out = '';
    cleanup(t, helper, () => (out.trim() === '' ? undefined : Number(out.trim())));
    helper.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    helper.stdout?.on('end', () => (ended = true));
    await waitFor('stdout EOF', () => ended);
    const pid = Number(out.trim());
    assert.ok(!processDead(pid), 'the program should still be running');
    assert.equal(helper.exitCode, null);
  });

  it('keeps the caller\'s extra fds open for the program and holds no copy of them itself', async (t) => {
    if (needsRoot(t)) return;
    const helper = spawnInNamespace({
      mapping: SHIFTED,
      argv: [BUSYBOX, 'sh', '-c', 'echo three >&3; echo four >&4; exec 3>&- 4>&-; read x; echo done'],
      stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    });
    const result = collect(helper);
    cleanup(t, helper, () => undefined);
    const read = (fd: number): Promise<string> =>
      new Promise((resolve, reject) => {
        let text = '';
        helper.stdio[fd]?.on('data', (chunk: Buffer) => (text += chunk.toString()));
        helper.stdio[fd]?.on('error', reject);
        helper.stdio[fd]?.on('end', () => resolve(text));
      });
    // EOF while the program still waits on stdin: the supervisor dropped its copies.
    assert.deepEqual(await Promise.all([read(3), read(4)]), ['three\n', 'four\n']);
    assert.equal(helper.exitCode, null);
    helper.stdin?.end('\n');
    const { code, stdout } = await result;
    assert.deepEqual([code, stdout], [0, 'done\n']);
  });

  it('reports the program\'s host pid on --pid-fd (how the service finds a holder)', async (t) => {
    if (needsRoot(t)) return;
    const helper = spawnInNamespace({
      mapping: SHIFTED,
      argv: [BUSYBOX, 'sh', '-c', 'echo $$; read x'],
      pidFd: 3,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    const result = collect(helper);
    const pid = await readReportedPid(helper, 3);
    cleanup(t, helper, () => pid);
    assert.equal(hostUidOf(pid), OUTER_ROOT);
    assert.notEqual(readlinkSync(`/proc/${pid}/ns/user`), readlinkSync('/proc/self/ns/user'));
    helper.stdin?.end('\n');
    const { code, stdout } = await result;
    assert.deepEqual([code, stdout], [0, `${pid}\n`]); // no PID namespace: $$ is the host pid
  });

  it('adds new PID, UTS and IPC namespaces with maps too: the program is PID 1 with its own hostname', async (t) => {
    if (needsRoot(t)) return;
    const result = await run({
      newPid: true,
      newUts: true,
      newIpc: true,
      hostname: 'maps-mode',
      argv: [BUSYBOX, 'sh', '-c', 'echo $$; hostname; exit 5'],
    });
    assert.deepEqual([result.code, result.stdout, result.stderr], [5, '1\nmaps-mode\n', '']);
    assert.notEqual(hostname(), 'maps-mode');
  });

  it('forwards SIGTERM to the program and reports 128+15', async (t) => {
    if (needsRoot(t)) return;
    const { helper, pid } = await startSleeper(t);
    const exited = new Promise<number | null>((resolve) => helper.on('exit', (code) => resolve(code)));
    helper.kill('SIGTERM');
    assert.equal(await exited, 143);
    await waitFor(`pid ${pid} to die`, () => processDead(pid));
  });

  it('kills the program when the helper is SIGKILLed (parent death signal)', async (t) => {
    if (needsRoot(t)) return;
    const { helper, pid } = await startSleeper(t);
    assert.ok(!processDead(pid));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => helper.on('exit', (_code, signal) => resolve(signal)));
    helper.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    await waitFor(`pid ${pid} to die`, () => processDead(pid));
  });
});
