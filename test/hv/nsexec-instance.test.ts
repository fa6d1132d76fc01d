// lxssd-nsexec's instance mode against real namespaces (no mocks): a holder owning a user namespace with alice's
// mapping (the per-user "VM"), and distribution instances joined to it — new mount, PID, UTS and IPC namespaces, a
// busybox rootfs pivoted to /, the program as PID 1. Needs host root and a built helper (npm run build).

import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { HelperProcess } from '../../src/hv/linux/helper-spawn.js';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  nsexecArgs,
  nsexecPath,
  readReportedPid,
  spawnInNamespace,
  type IdMapping,
  type NsExecOptions,
} from '../../src/hv/linux/nsexec.js';
import { buildBusyboxRootfs } from '../helpers/rootfs.js';
import { ensureUser, type TestUser } from '../helpers/users.js';
import { eventually } from '../helpers/eventually.js';
import { collect, type ChildResult } from '../helpers/child-output.js';

const BUSYBOX = '/bin/busybox';
const HOSTNAME = 'test-distro';
/** Used when /etc/subuid (or subgid) has no range for alice: inner k (k >= 1) is outer FALLBACK_BASE + k. */
const FALLBACK_BASE = 300000;
const RANGE = 65536;

const isRoot = process.getuid?.() === 0;
const execFileAsync = promisify(execFile);

/** Skips loudly when the test cannot run here; returns true when it was skipped. */
function needsRoot(t: TestContext): boolean {
  if (isRoot) return false;
  t.skip('needs root: creates user, mount and PID namespaces');
  return true;
}


/** Runs the helper binary with raw arguments, bypassing the wrapper's own validation. */
function runHelper(args: string[]): Promise<ChildResult> {
  return collect(spawn(nsexecPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** The namespace link of a process (`user:[4026531837]`), or undefined once it is gone (or a zombie). */
function nsOf(pid: number | 'self', ns: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return undefined;
  }
}

/** Host pids of the live processes in namespace `id` of kind `ns`. */
function pidsIn(ns: string, id: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => nsOf(pid, ns) === id);
}

function statusField(pid: number, field: string): string | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/** Host pids whose parent is `parent`. */
function childrenOf(parent: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => statusField(pid, 'PPid') === String(parent));
}

/** The first subordinate range of `user` in /etc/subuid or /etc/subgid with at least RANGE ids, else the fallback. */
async function subordinateBase(path: string, user: TestUser): Promise<number> {
  const text = await readFile(path, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [owner, base, count] = line.trim().split(':');
    if ((owner === user.name || owner === String(user.uid)) && Number(count) >= RANGE) return Number(base);
  }
  return FALLBACK_BASE;
}

interface Fixture {
  base: string;
  rootfs: string;
  share: string;
  aliceDir: string;
  agent: string;
  alice: TestUser;
  mapping: IdMapping;
  holder: HelperProcess;
  holderPid: number;
  holderUserns: string;
}

let fx: Fixture | undefined;

/** The fixture, built by `before` (root only). */
function fixture(): Fixture {
  assert.ok(fx, 'fixture not set up');
  return fx;
}

/**
 * A busybox rootfs owned by alice's mapped ids (inner 0 = alice, inner 1000 = base+1000), host files to share, and
 * a holder: the helper in maps mode running `sleep`, whose user namespace every instance joins.
 */
async function setUp(): Promise<Fixture> {
  const alice = await ensureUser('alice');
  const uidBase = await subordinateBase('/etc/subuid', alice);
  const gidBase = await subordinateBase('/etc/subgid', alice);
  const mapping: IdMapping = {
    uids: [
      { inner: 0, outer: alice.uid, count: 1 },
      { inner: 1, outer: uidBase + 1, count: RANGE - 1 },
    ],
    gids: [
      { inner: 0, outer: alice.gid, count: 1 },
      { inner: 1, outer: gidBase + 1, count: RANGE - 1 },
    ],
  };

  const base = await mkdtemp(join(tmpdir(), 'lxssd-instance-'));
  await chmod(base, 0o755); // alice must reach what lies below (the helper resolves paths with her rights)
  const rootfs = join(base, 'rootfs');
  await buildBusyboxRootfs(rootfs);
  await execFileAsync('chown', ['-hR', `${alice.uid}:${alice.gid}`, rootfs]);
  await execFileAsync('chown', ['-hR', `${uidBase + 1000}:${gidBase + 1000}`, join(rootfs, 'home', 'alice')]);

  // Host folder to share: readable by everyone, root-only, and alice-only files.
  const share = join(base, 'share');
  await mkdir(share, { mode: 0o755 });
  await writeFile(join(share, 'public.txt'), 'public\n', { mode: 0o644 });
  await writeFile(join(share, 'secret.txt'), 'secret\n', { mode: 0o600 });
  await writeFile(join(share, 'mine.txt'), 'mine\n', { mode: 0o600 });
  await chown(join(share, 'mine.txt'), alice.uid, alice.gid);
  // A folder alice may write to.
  const aliceDir = join(base, 'alice-dir');
  await mkdir(aliceDir, { mode: 0o755 });
  await chown(aliceDir, alice.uid, alice.gid);
  // The "agent": a script here (the real /init is a static binary); world-writable, so only the read-only mount
  // stops a write from inside.
  const agent = join(base, 'agent');
  await writeFile(agent, '#!/bin/sh\necho "agent $$ $*"\n');
  await chmod(agent, 0o777);

  const holder = spawnInNamespace({
    mapping,
    argv: [BUSYBOX, 'sleep', '2147483647'],
    pidFd: 3,
    stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
  });
  const holderPid = await readReportedPid(holder, 3);
  const holderUserns = nsOf(holderPid, 'user');
  assert.ok(holderUserns, 'holder has no user namespace link');
  return { base, rootfs, share, aliceDir, agent, alice, mapping, holder, holderPid, holderUserns };
}

async function tearDown(f: Fixture): Promise<void> {
  const exited = new Promise((resolve) => f.holder.on('close', resolve));
  if (f.holder.exitCode === null && f.holder.signalCode === null) f.holder.kill('SIGKILL');
  await exited;
  // The holder's program dies with it (parent-death signal): nothing is left in its user namespace.
  await eventually(
    () => assert.deepEqual(pidsIn('user', f.holderUserns), []),
    { timeoutMs: 2000, what: 'the holder user namespace to empty' },
  );
  // Every mount was made in private mount namespaces: the host never saw one.
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  assert.ok(!mounts.includes(f.base), `a mount under ${f.base} leaked to the host:\n${mounts}`);
  await rm(f.base, { recursive: true, force: true });
}

interface Instance {
  helper: HelperProcess;
  /** Host pid of the instance's PID 1, as reported on --pid-fd. */
  pid: number;
  result: Promise<ChildResult>;
  /** Everything printed on stdout so far. */
  stdout: () => string;
}

/**
 * Starts an instance joined to the holder (new PID/UTS/IPC namespaces, the rootfs pivoted) running `argv`, with
 * stdin a pipe and the pid reported on fd 3. It is SIGKILLed after the test, whatever happened.
 */
async function startInstance(t: TestContext, argv: string[], extra: Partial<NsExecOptions> = {}): Promise<Instance> {
  const f = fixture();
  const helper = spawnInNamespace({
    joinUserns: f.holderPid,
    newPid: true,
    newUts: true,
    newIpc: true,
    hostname: HOSTNAME,
    instanceRoot: f.rootfs,
    argv,
    pidFd: 3,
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    ...extra,
  });
  const pidReport = readReportedPid(helper, extra.pidFd ?? 3);
  const result = collect(helper);
  let stdout = '';
  helper.stdout?.on('data', (chunk: string) => (stdout += chunk));
  t.after(async () => {
    helper.kill('SIGKILL');
    await result.catch(() => undefined);
  });
  let pid: number;
  try {
    pid = await pidReport;
  } catch (error) {
    const failed = await result;
    assert.fail(`instance did not start (exit ${failed.code}): ${failed.stderr} (${(error as Error).message})`);
  }
  return { helper, pid, result, stdout: () => stdout };
}

const sh = (script: string): string[] => ['/bin/busybox', 'sh', '-c', script];

async function untilOutput(instance: Instance, marker: string): Promise<void> {
  await eventually(() => assert.ok(instance.stdout().includes(marker), `no ${JSON.stringify(marker)} yet`), {
    timeoutMs: 5000,
    what: `instance output ${JSON.stringify(marker)}`,
  });
}

/** Runs an instance to completion. */
async function runInstance(t: TestContext, argv: string[], extra: Partial<NsExecOptions> = {}): Promise<ChildResult> {
  const instance = await startInstance(t, argv, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], ...extra });
  return instance.result;
}

describe('lxssd-nsexec instances (holder user namespace + pivoted distribution)', () => {
  before(async () => {
    if (isRoot) fx = await setUp();
  });
  after(async () => {
    if (fx) await tearDown(fx);
  });

  it('runs the program as PID 1 of new pid/mount/uts/ipc namespaces in the holder user namespace', async (t) => {
    if (needsRoot(t)) return;
    const f = fixture();
    const instance = await startInstance(
      t,
      sh('echo $$; hostname; cat /proc/self/status | grep NSpid; ls /dev; id -u; cat /proc/mounts; echo END; read x'),
    );
    await untilOutput(instance, 'END\n');

    // From the host: everything but the user namespace is the instance's own.
    for (const ns of ['pid', 'mnt', 'uts', 'ipc']) {
      const theirs = nsOf(instance.pid, ns);
      assert.ok(theirs, `no ns/${ns} for ${instance.pid}`);
      assert.notEqual(theirs, nsOf('self', ns), `ns/${ns} is the host's`);
      assert.notEqual(theirs, nsOf(f.holderPid, ns), `ns/${ns} is the holder's`);
    }
    assert.equal(nsOf(instance.pid, 'user'), f.holderUserns);
    assert.notEqual(f.holderUserns, nsOf('self', 'user'));
    const nspid = statusField(instance.pid, 'NSpid')?.split(/\s+/);
    assert.deepEqual(nspid, [String(instance.pid), '1']);
    assert.equal(statusField(instance.pid, 'Uid')?.split(/\s+/)[0], String(f.alice.uid), 'inner root is alice outside');
    assert.notEqual(hostname(), HOSTNAME, 'the host was renamed');

    instance.helper.stdin?.end('\n');
    const { code, stdout, stderr } = await instance.result;
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    const lines = stdout.split('\n');
    assert.equal(lines[0], '1', 'the program is PID 1');
    assert.equal(lines[1], HOSTNAME);
    assert.match(lines[2] ?? '', /^NSpid:\s+\d+$/, 'inside, /proc is the new PID namespace');
    const afterNspid = lines.slice(3);
    const idAt = afterNspid.indexOf('0');
    assert.ok(idAt > 0, `no "id -u" = 0 line in ${stdout}`);
    const dev = afterNspid.slice(0, idAt);
    for (const name of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm']) {
      assert.ok(dev.includes(name), `/dev lacks ${name}: ${dev.join(' ')}`);
    }
    const mounts = afterNspid
      .slice(idAt + 1, afterNspid.indexOf('END'))
      .map((line) => line.split(' '))
      .map(([source, target, type, options]) => ({ source, target, type, options: (options ?? '').split(',') }));
    const at = (target: string) => mounts.find((m) => m.target === target);
    assert.equal(at('/proc')?.type, 'proc');
    assert.equal(at('/dev')?.type, 'tmpfs');
    assert.equal(at('/dev/pts')?.type, 'devpts');
    assert.equal(at('/dev/shm')?.type, 'tmpfs');
    assert.equal(at('/run')?.type, 'tmpfs');
    assert.equal(at('/tmp')?.type, 'tmpfs');
    assert.equal(at('/sys')?.type, 'sysfs');
    for (const m of mounts.filter((m) => m.target === '/sys' || m.target?.startsWith('/sys/'))) {
      assert.ok(m.options.includes('ro'), `${m.target} is not read-only`);
    }
    assert.ok(!mounts.some((m) => m.target?.includes('lxssd-oldroot')), 'the old root is still mounted');
    assert.ok(!existsSync(join(f.rootfs, '.lxssd-oldroot')), 'the old-root folder was left behind');
    // PID 1 is gone, and the kernel took the rest of the namespace with it.
    await eventually(() => assert.equal(nsOf(instance.pid, 'pid'), undefined), { what: 'PID 1 to be gone' });
  });

  it('gives two instances of one holder the same user namespace but their own PID namespaces', async (t) => {
    if (needsRoot(t)) return;
    const f = fixture();
    const one = await startInstance(t, sh('echo $$ ready; read x'));
    const two = await startInstance(t, sh('echo $$ ready; read x'));
    await untilOutput(one, '1 ready\n');
    await untilOutput(two, '1 ready\n');
    assert.notEqual(one.pid, two.pid);
    assert.equal(nsOf(one.pid, 'user'), f.holderUserns);
    assert.equal(nsOf(two.pid, 'user'), f.holderUserns);
    for (const ns of ['pid', 'mnt', 'uts', 'ipc']) assert.notEqual(nsOf(one.pid, ns), nsOf(two.pid, ns), `ns/${ns}`);
    one.helper.stdin?.end('\n');
    two.helper.stdin?.end('\n');
    assert.equal((await one.result).code, 0);
    assert.equal((await two.result).code, 0);
  });

  it('shares host folders with the user\'s rights only: inner root cannot read a root-only file (S5)', async (t) => {
    if (needsRoot(t)) return;
    const f = fixture();
    const result = await runInstance(
      t,
      sh(
        [
          'id -u',
          'cat /mnt/home/public.txt',
          'cat /mnt/home/mine.txt',
          'cat /mnt/home/secret.txt || echo secret-refused',
          'cat /etc/host-public.txt',
          'echo hi > /mnt/rw/written && echo rw-ok',
          'echo hi > /mnt/ro/refused || echo ro-refused',
          'stat -c "%u %g" /mnt/rw/written',
        ].join('; '),
      ),
      {
        binds: [
          { source: f.share, target: '/mnt/home' },
          { source: join(f.share, 'public.txt'), target: '/etc/host-public.txt' },
          { source: f.aliceDir, target: '/mnt/rw' },
          { source: f.aliceDir, target: '/mnt/ro', readOnly: true },
        ],
      },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      ['0', 'public', 'mine', 'secret-refused', 'public', 'rw-ok', 'ro-refused', '0 0', ''].join('\n'),
    );
    assert.match(result.stderr, /secret\.txt'?: Permission denied/);
    assert.match(result.stderr, /refused: Read-only file system/);
    // On the host, the write belongs to alice; the read-only one never happened.
    const written = await stat(join(f.aliceDir, 'written'));
    assert.deepEqual([written.uid, written.gid], [f.alice.uid, f.alice.gid]);
    assert.ok(!existsSync(join(f.aliceDir, 'refused')));
    // The mount points were made inside the rootfs, as the mapped root (alice on the host).
    assert.equal((await stat(join(f.rootfs, 'mnt', 'home'))).uid, f.alice.uid);
    assert.equal((await stat(join(f.rootfs, 'etc', 'host-public.txt'))).size, 0);
  });

  it('refuses a bind target with ".." (125, before running anything)', async (t) => {
    if (needsRoot(t)) return;
    const f = fixture();
    const binds = [{ source: f.share, target: '/mnt/../etc' }];
    const options = { joinUserns: 1, newPid: true, instanceRoot: f.rootfs, argv: ['/init'], binds };
    assert.throws(() => nsexecArgs(options), /'\.\.'/);
    const common = ['--join-userns', String(f.holderPid), '--new-pid', '--instance-root', f.rootfs];
    const bad = [
      `${f.share}:/mnt/../../etc`,
      `${f.share}:..`,
      `${f.share}:/`,
      `${f.share}:mnt`,
      'share:/mnt/x',
      `${f.share}:/mnt/x:rw`,
    ];
    for (const bind of bad) {
      const result = await runHelper([...common, '--bind', bind, '--', '/bin/busybox', 'true']);
      assert.equal(result.code, 125, bind);
      assert.match(result.stderr, /^lxssd-nsexec: --bind/, bind);
    }
  });

  it('binds --init-file read-only at /init and execs programs from inside the instance', async (t) => {
    if (needsRoot(t)) return;
    const f = fixture();
    const before = await readFile(f.agent, 'utf8');
    // argv[0] is looked up inside the instance after the pivot: /init is the bound host file.
    const agent = await runInstance(t, ['/init', 'hello'], { initFile: f.agent });
    assert.deepEqual([agent.code, agent.stdout, agent.stderr], [0, 'agent 1 hello\n', '']);

    const write = await runInstance(t, sh('cat /init >/dev/null && echo readable; echo x > /init'), {
      initFile: f.agent,
    });
    assert.notEqual(write.code, 0);
    assert.equal(write.stdout, 'readable\n');
    assert.match(write.stderr, /Read-only file system/);
    assert.equal(await readFile(f.agent, 'utf8'), before);

    // Not found / not executable inside the instance: 127 / 126.
    const missing = await runInstance(t, ['/no/such/program']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /exec \/no\/such\/program: No such file or directory/);
    const notExecutable = await runInstance(t, ['/etc/passwd']);
    assert.equal(notExecutable.code, 126);
  });

  it('ends the whole instance when the helper is SIGKILLed', async (t) => {
    if (needsRoot(t)) return;
    const instance = await startInstance(t, sh('sleep 1000 & sleep 1000 & (sleep 1000 &); echo ready; wait'));
    await untilOutput(instance, 'ready\n');
    const pidns = nsOf(instance.pid, 'pid');
    assert.ok(pidns);
    await eventually(() => assert.ok(pidsIn('pid', pidns).length >= 4, 'PID 1 and three sleeps'), {
      what: 'the sleeps to start',
    });
    instance.helper.kill('SIGKILL');
    assert.equal((await instance.result).signal, 'SIGKILL');
    await eventually(() => assert.deepEqual(pidsIn('pid', pidns), []), {
      timeoutMs: 2000,
      what: 'every process of the instance to die',
    });
  });

  it('propagates PID 1\'s exit status', async (t) => {
    if (needsRoot(t)) return;
    assert.equal((await runInstance(t, sh('exit 7'))).code, 7);

    const instance = await startInstance(t, sh('echo ready; read x'));
    await untilOutput(instance, 'ready\n');
    process.kill(instance.pid, 'SIGKILL'); // from the host: SIGKILL is the one signal PID 1 cannot refuse
    assert.equal((await instance.result).code, 128 + 9);
  });

  it('forwards signals to PID 1, which only acts on those it handles', async (t) => {
    if (needsRoot(t)) return;
    const script = 'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.1; done';
    const instance = await startInstance(t, sh(script));
    await untilOutput(instance, 'ready\n');
    const caught = BigInt(`0x${statusField(instance.pid, 'SigCgt') ?? '0'}`);
    const bit = (signal: number): bigint => 1n << BigInt(signal - 1);
    assert.ok(caught & bit(15), 'PID 1 should handle SIGTERM (the trap)');
    assert.ok(!(caught & bit(1)), 'PID 1 should have no SIGHUP handler');
    // Both are forwarded, SIGHUP first (the helper takes pending signals lowest number first). PID 1 has no SIGHUP
    // handler, so the kernel drops it (any other process would have died of it: 129); the trapped SIGTERM ends it
    // with 3. (Not SIGINT: busybox sh catches that one itself.)
    instance.helper.kill('SIGHUP');
    instance.helper.kill('SIGTERM');
    const result = await instance.result;
    assert.deepEqual([result.code, result.stdout], [3, 'ready\ngot-term\n']);
  });

  it('reports PID 1\'s host pid on --pid-fd, once, and closes it', async (t) => {
    if (needsRoot(t)) return;
    const f = fixture();
    const instance = await startInstance(t, sh('echo ready; read x'));
    await untilOutput(instance, 'ready\n');
    // PID 1 is the helper's own child (the process that made the namespaces is gone).
    assert.deepEqual(childrenOf(instance.helper.pid!), [instance.pid]);
    assert.equal(statusField(instance.pid, 'NSpid')?.split(/\s+/).at(-1), '1');
    // The holder's report is its program, the helper's child in the holder's user namespace.
    assert.deepEqual(childrenOf(f.holder.pid!), [f.holderPid]);
    instance.helper.stdin?.end('\n');
    assert.equal((await instance.result).code, 0);

    // A helper that fails before exec reports nothing: EOF without a pid.
    const failed = spawnInNamespace({
      joinUserns: f.holderPid,
      newPid: true,
      instanceRoot: join(f.base, 'no-such-rootfs'),
      argv: ['/init'],
      pidFd: 3,
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    });
    const done = collect(failed);
    await assert.rejects(readReportedPid(failed, 3), /reported no pid/);
    const { code, stderr } = await done;
    assert.equal(code, 125);
    assert.match(stderr, /instance root .*no-such-rootfs: No such file or directory/);
  });

  it('keeps the caller\'s fds 3 and 4 open for the program, and holds no copy itself', async (t) => {
    if (needsRoot(t)) return;
    const script = 'echo three >&3; echo four >&4; exec 3>&- 4>&-; echo closed; read x; exit 0';
    const instance = await startInstance(t, sh(script), {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
      pidFd: 5,
    });
    const read = (fd: number): Promise<string> =>
      new Promise((resolve, reject) => {
        let text = '';
        const stream = instance.helper.stdio[fd];
        assert.ok(stream);
        stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
        stream.on('error', reject);
        stream.on('end', () => resolve(text));
      });
    // EOF arrives while the program still runs: only the program held those ends.
    assert.deepEqual(await Promise.all([read(3), read(4)]), ['three\n', 'four\n']);
    await untilOutput(instance, 'closed\n');
    assert.equal(instance.helper.exitCode, null, 'the instance should still be running');
    instance.helper.stdin?.end();
    assert.equal((await instance.result).code, 0);
  });

  it('exits 125 on bad combinations, before running anything', async (t) => {
    if (needsRoot(t)) return;
    const f = fixture();
    const joined = ['--join-userns', String(f.holderPid)];
    const program = ['--', '/bin/busybox', 'true'];
    const bad: string[][] = [
      [...joined, '--uid-map', '0 100000 1', ...program],
      [...joined, '--uid-map', '0 100000 1', '--gid-map', '0 100000 1', ...program],
      [...joined, '--new-pid', '--instance-root', f.rootfs, '--root', f.rootfs, ...program],
      [...joined, '--hostname', 'x', ...program],
      [...joined, '--new-uts', '--hostname', 'x'.repeat(65), ...program],
      [...joined, '--instance-root', f.rootfs, ...program],
      [...joined, '--new-pid', '--instance-root', 'relative/rootfs', ...program],
      [...joined, '--bind', `${f.share}:/mnt/home`, ...program],
      [...joined, '--init-file', f.agent, ...program],
      [...joined, '--new-pid', '--new-pid', ...program],
      [...joined, '--pid-fd', '1', ...program],
      [...joined, '--pid-fd', '97', ...program],
      ['--join-userns', 'abc', ...program],
      ['--join-userns', '0', ...program],
      ['--join-userns', String(process.pid), ...program], // our own (the host's) user namespace
      ['--join-userns', '2147483646', ...program], // no such process
      [...joined, '--new-pid', '--instance-root', f.rootfs, '--', 'bin/busybox', 'true'],
    ];
    for (const args of bad) {
      const result = await runHelper(args);
      assert.equal(result.code, 125, `args ${JSON.stringify(args)}: ${result.stderr}`);
      assert.match(result.stderr, /^lxssd-nsexec: /, `args ${JSON.stringify(args)}`);
      assert.equal(result.stdout, '', `args ${JSON.stringify(args)}`);
    }
  });
});
