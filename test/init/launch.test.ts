// Launches through the real lxssd-init running as a plain child (a subreaper, not PID 1): argv/env/cwd, exit codes,
// exec failures, signals, orphans, terminate and the service going away.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { InitError, LaunchError, type ExitStatus } from '../../src/hv/linux/init-channel.js';
import { eventually } from '../helpers/eventually.js';
import { childrenOf, fdCount, isDead, launchDetached, PATH_ENV, run, SELF, spawnInit, startInit } from './harness.js';

const SH = '/bin/sh';

describe('LAUNCH in pipes mode', () => {
  it('runs exactly the given argv, env and cwd, with stdio on the passed descriptors [S7]', async (t) => {
    const { channel } = await startInit(t);
    const result = await run(
      channel,
      {
        argv: [SH, '-c', 'printf "%s|" "$0" "$1" "$2"; echo; env | sort; pwd; cat; echo oops >&2', 'zero', 'a b', '*'],
        env: { A: '1', B: 'two words' },
        cwd: '/tmp',
        ...SELF,
      },
      'from stdin\n',
    );
    assert.deepEqual(result.status, { id: result.status.id, pid: result.pid, exitCode: 0, signal: null });
    const lines = result.stdout.split('\n');
    assert.equal(lines[0], 'zero|a b|*|');
    // Exactly our variables (dash adds PWD itself; nothing else may appear).
    const env = lines.slice(1, lines.indexOf('/tmp')).filter((line) => !line.startsWith('PWD='));
    assert.deepEqual(env, ['A=1', 'B=two words']);
    assert.ok(lines.includes('/tmp'), result.stdout);
    assert.ok(result.stdout.endsWith('from stdin\n'), result.stdout);
    assert.equal(result.stderr, 'oops\n');
  });

  it('searches the PATH of the given environment when argv[0] has no slash', async (t) => {
    const { channel } = await startInit(t);
    const found = await run(channel, { argv: ['echo', 'via', 'PATH'], env: PATH_ENV, ...SELF });
    assert.deepEqual([found.status.exitCode, found.stdout], [0, 'via PATH\n']);
    await assert.rejects(launchDetached(channel, { argv: ['echo', 'x'], env: { PATH: '/nonexistent' }, ...SELF }), (error: LaunchError) => {
      assert.equal(error.exitCode, 127);
      return true;
    });
  });

  it('starts in the home directory when no cwd is given, and accepts ~', async (t) => {
    const { channel } = await startInit(t);
    // HOME is not set for it (the environment is exactly what we pass): the home comes from /etc/passwd.
    const home = `${existsSync(userInfo().homedir) ? userInfo().homedir : '/'}\n`;
    assert.equal((await run(channel, { argv: ['/bin/pwd'], ...SELF })).stdout, home);
    if (existsSync(userInfo().homedir)) {
      assert.equal((await run(channel, { argv: ['/bin/pwd'], cwd: '~', ...SELF })).stdout, home);
    } else {
      // Asked for explicitly, a home that is not there is an error, not a fallback.
      await assert.rejects(launchDetached(channel, { argv: ['/bin/pwd'], cwd: '~', ...SELF }), (e: LaunchError) => e.exitCode === 125);
    }
  });

  it('passes every exit code 0..255 through', async (t) => {
    const { channel } = await startInit(t);
    for (let code = 0; code <= 255; code++) {
      const { status } = await run(channel, { argv: [SH, '-c', `exit ${code}`], ...SELF });
      assert.deepEqual([status.exitCode, status.signal], [code, null], `exit ${code}`);
    }
  });

  it('reports death by signal N as exit code 128+N with the signal', async (t) => {
    const { channel } = await startInit(t);
    for (const [name, number] of [['TERM', 15], ['KILL', 9], ['INT', 2], ['SEGV', 11]] as const) {
      const { status } = await run(channel, { argv: [SH, '-c', `kill -${name} $$`], ...SELF });
      assert.deepEqual([status.exitCode, status.signal], [128 + number, number], `kill -${name}`);
    }
  });

  it('answers LAUNCH_FAILED 127 for a missing program and 126 for one that cannot be executed', async (t) => {
    const { channel } = await startInit(t);
    const dir = await mkdtemp(join(tmpdir(), 'lxssd-init-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const data = join(dir, 'data');
    await writeFile(data, 'not a program\n');
    await chmod(data, 0o644);
    const script = join(dir, 'noexec.sh');
    await writeFile(script, '#!/bin/sh\necho hi\n');
    await chmod(script, 0o644);
    const cases: Array<[string, string, number, string]> = [
      ['missing program', '/nonexistent/program', 127, 'ENOENT'],
      ['missing directory component', `${data}/x`, 127, 'ENOTDIR'],
      ['file without x bits', data, 126, 'EACCES'],
      ['script without x bits', script, 126, 'EACCES'],
      ['a directory', dir, 126, 'EACCES'],
    ];
    for (const [what, program, exitCode, code] of cases) {
      await assert.rejects(launchDetached(channel, { argv: [program], ...SELF }), (error: LaunchError) => {
        assert.ok(error instanceof LaunchError, `${what}: ${String(error)}`);
        assert.deepEqual([error.exitCode, error.code], [exitCode, code], `${what}: ${error.message}`);
        assert.match(error.message, new RegExp(`^exec ${program.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `), what);
        return true;
      });
    }
    // An executable file the kernel cannot run (ENOEXEC): no /bin/sh fallback, 126.
    await chmod(data, 0o755);
    await assert.rejects(launchDetached(channel, { argv: [data], ...SELF }), (error: LaunchError) => {
      assert.deepEqual([error.exitCode, error.code], [126, 'ENOEXEC'], error.message);
      return true;
    });
  });

  it('answers LAUNCH_FAILED 125 for a cwd that does not exist', async (t) => {
    const { channel } = await startInit(t);
    await assert.rejects(launchDetached(channel, { argv: ['/bin/true'], cwd: '/nonexistent/dir', ...SELF }), (error: LaunchError) => {
      assert.deepEqual([error.exitCode, error.code], [125, 'ENOENT']);
      assert.match(error.message, /^chdir \/nonexistent\/dir: /);
      return true;
    });
  });

  it('refuses a launch id that belongs to a running process', async (t) => {
    const { channel } = await startInit(t);
    const sleeper = await launchDetached(channel, { argv: ['/bin/sleep', '1000'], ...SELF });
    // The Node client never reuses ids; drive the raw frame to prove init checks anyway.
    const { encodeLaunch, LaunchMode, MessageType, NO_UID } = await import('../../src/hv/linux/init-protocol.js');
    const { socketPair, closeAll } = await import('../../src/hv/linux/fd-passing.js');
    const pairs = [socketPair(), socketPair(), socketPair()];
    const answer = channel.awaitAnswer(sleeper.id, MessageType.Launch);
    channel.sendRaw(
      encodeLaunch(sleeper.id, { mode: LaunchMode.Pipes, user: '', uid: NO_UID, argv: ['/bin/true'], env: [], cwd: '', cols: 0, rows: 0 }),
      pairs.map(([a]) => a),
    );
    closeAll(pairs.flat());
    await assert.rejects(answer, (error: InitError) => error.code === 'EEXIST');
    await channel.signal(sleeper.id, 'SIGKILL');
    assert.equal((await sleeper.exit).signal, 9);
  });

  it('leaks no descriptors, in the service or in init, across many launches', async (t) => {
    const { channel, pid } = await startInit(t);
    await run(channel, { argv: ['/bin/true'], ...SELF }); // warm up lazily opened handles
    const before = { self: fdCount('self'), init: fdCount(pid) };
    for (let i = 0; i < 50; i++) await run(channel, { argv: [SH, '-c', 'echo x; echo y >&2'], ...SELF });
    for (let i = 0; i < 10; i++) await assert.rejects(launchDetached(channel, { argv: ['/nonexistent'], ...SELF }));
    // At most as many as before: the test process may close a descriptor of its own meanwhile, never gain one.
    await eventually(
      () => {
        const after = { self: fdCount('self'), init: fdCount(pid) };
        assert.ok(after.self <= before.self && after.init <= before.init, `before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
      },
      { what: 'descriptor counts back to where they were' },
    );
  });
});

describe('SIGNAL', () => {
  it('ends sleep 1000 and EXITED reports the signal', async (t) => {
    const { channel } = await startInit(t);
    const sleeper = await launchDetached(channel, { argv: ['/bin/sleep', '1000'], ...SELF });
    assert.equal(isDead(sleeper.pid), false);
    await channel.signal(sleeper.id, 'SIGTERM');
    assert.deepEqual(await sleeper.exit, { id: sleeper.id, pid: sleeper.pid, exitCode: 143, signal: 15 });
    await assert.rejects(channel.signal(sleeper.id, 'SIGTERM'), (error: InitError) => error.code === 'ESRCH');
  });

  it('refuses to resize a process that has no pty', async (t) => {
    const { channel } = await startInit(t);
    const sleeper = await launchDetached(channel, { argv: ['/bin/sleep', '1000'], ...SELF });
    await assert.rejects(channel.resize(sleeper.id, 80, 24), (error: InitError) => error.code === 'ENOTTY');
    await assert.rejects(channel.resize(0x7fff_fff0, 80, 24), (error: InitError) => error.code === 'ESRCH');
    await channel.signal(sleeper.id, 'SIGKILL');
    await sleeper.exit;
  });
});

describe('reaping', () => {
  it('reaps 100 orphans: no zombie child of init remains', async (t) => {
    const { channel, pid } = await startInit(t);
    const { status } = await run(channel, {
      argv: [SH, '-c', 'for i in $(seq 100); do sleep 0.5 </dev/null >/dev/null 2>&1 & done; exit 0'],
      env: PATH_ENV,
      ...SELF,
    });
    assert.equal(status.exitCode, 0);
    // Their stdio is /dev/null, so run() returned when sh exited. The 100 sleeps reparented to init (the subreaper) when sh exited...
    await eventually(() => assert.ok(childrenOf(pid).length >= 100, `${childrenOf(pid).length} children`), {
      what: 'orphans reparented to init',
      timeoutMs: 5000,
    });
    // ...and once they exit, init reaps every one: no child left, zombie or not.
    await eventually(() => assert.deepEqual(childrenOf(pid), []), { what: 'every orphan reaped', timeoutMs: 10_000 });
  });

  it('sends no EXITED for orphans, exactly one for each launched process', async (t) => {
    const { channel, pid } = await startInit(t);
    // An EXITED that answers no running launch (an orphan's, a second one for the same launch) is a protocol error.
    const strays: InitError[] = [];
    channel.on('protocol-error', (error) => strays.push(error));
    const { status } = await run(channel, { argv: [SH, '-c', 'sleep 0.2 >/dev/null & sleep 0.2 >/dev/null & exit 5'], ...SELF });
    await eventually(() => assert.deepEqual(childrenOf(pid), []), { what: 'orphans reaped' });
    // A frame after the reaping would still be on its way: a round trip through init lets it arrive first.
    await run(channel, { argv: ['/bin/true'], ...SELF });
    assert.equal(status.exitCode, 5);
    assert.deepEqual(strays, []);
  });
});

describe('TERMINATE', () => {
  it('ends every launched process (SIGTERM, then SIGKILL for those ignoring it), reports them, exits 0 [R3]', async (t) => {
    const { channel, pid } = await startInit(t);
    const sleepers = await Promise.all([1, 2, 3].map(() => launchDetached(channel, { argv: ['/bin/sleep', '1000'], ...SELF })));
    const stubborn = await launchDetached(channel, { argv: [SH, '-c', 'trap "" TERM; sleep 1000 & wait'], ...SELF });
    const orphanMaker = await run(channel, { argv: [SH, '-c', 'sleep 1000 </dev/null >/dev/null 2>&1 & echo $!'], ...SELF });
    const orphan = Number(orphanMaker.stdout.trim());
    assert.equal(isDead(orphan), false);

    const order: string[] = [];
    // A launch's exit settles as its EXITED frame is read, so the order they settle in is the frames' order.
    for (const launch of [...sleepers, stubborn]) void launch.exit.then(() => order.push('exit'));
    await channel.terminate();
    order.push('terminated');
    for (const sleeper of sleepers) assert.deepEqual([(await sleeper.exit).signal], [15]);
    assert.equal((await stubborn.exit).signal, 9, 'the TERM-ignoring shell needed SIGKILL');
    assert.deepEqual(order, ['exit', 'exit', 'exit', 'exit', 'terminated'], 'EXITED frames come before TERMINATED');
    assert.deepEqual(await channel.exited, { code: 0, signal: null });
    for (const p of [...sleepers.map((s) => s.pid), stubborn.pid, orphan]) assert.ok(isDead(p), `pid ${p} survived`);
    assert.deepEqual(childrenOf(pid), []);
  });

  it('with force, SIGKILLs at once', async (t) => {
    const { channel } = await startInit(t);
    const stubborn = await launchDetached(channel, { argv: [SH, '-c', 'trap "" TERM; sleep 1000'], ...SELF });
    const started = Date.now();
    await channel.terminate(true);
    assert.equal((await stubborn.exit).signal, 9);
    assert.ok(Date.now() - started < 450, `took ${Date.now() - started} ms: the grace period was not skipped`);
    assert.deepEqual(await channel.exited, { code: 0, signal: null });
  });

  it('SIGTERM to init terminates the same way and says TERMINATED with id 0', async (t) => {
    const { child, channel } = await startInit(t);
    const sleeper = await launchDetached(channel, { argv: ['/bin/sleep', '1000'], ...SELF });
    const terminated = new Promise<void>((resolve) => channel.once('terminated', resolve));
    child.kill('SIGTERM');
    assert.equal((await sleeper.exit).signal, 15);
    await terminated;
    assert.deepEqual(await channel.exited, { code: 0, signal: null });
  });
});

describe('the service going away', () => {
  it('closing the control channel makes init end its processes and exit 3 [R3]', async (t) => {
    const { channel, pid } = await startInit(t);
    const sleeper = await launchDetached(channel, { argv: ['/bin/sleep', '1000'], ...SELF });
    const orphanMaker = await run(channel, { argv: [SH, '-c', 'sleep 1000 </dev/null >/dev/null 2>&1 & echo $!'], ...SELF });
    const orphan = Number(orphanMaker.stdout.trim());
    channel.close();
    assert.deepEqual(await channel.exited, { code: 3, signal: null });
    assert.ok(isDead(sleeper.pid), 'the launched sleep survived');
    assert.ok(isDead(orphan), 'the orphaned sleep survived');
    assert.equal(childrenOf(pid).length, 0);
  });

  it('SIGKILL of init (not PID 1) takes its launched processes along (parent-death signal)', async (t) => {
    const { child, channel } = await startInit(t);
    const sleeper = await launchDetached(channel, { argv: ['/bin/sleep', '1000'], ...SELF });
    child.kill('SIGKILL');
    await channel.exited;
    await eventually(() => assert.ok(isDead(sleeper.pid)), { what: `pid ${sleeper.pid} to die` });
  });
});

describe('LAUNCH executable (protocol version 2)', () => {
  it('executes the executable with argv[0] as given: a login shell’s "-sh"', async (t) => {
    const { channel } = await startInit(t);
    const login = await run(channel, { argv: ['-sh', '-c', 'cat /proc/$$/cmdline'], executable: SH, ...SELF });
    assert.equal(login.status.exitCode, 0, login.stderr);
    assert.equal(login.stdout, '-sh\0-c\0cat /proc/$$/cmdline\0', 'argv[0] is "-sh", the program /bin/sh');
    // Without a '/', the executable is searched in the launch's PATH, as argv[0] would be.
    const searched = await run(channel, { argv: ['-dash', '-c', 'echo $0'], executable: 'sh', env: PATH_ENV, ...SELF });
    assert.equal(searched.stdout, '-dash\n');
  });

  it('names the executable, not argv[0], when it cannot be executed', async (t) => {
    const { channel } = await startInit(t);
    await assert.rejects(launchDetached(channel, { argv: ['-sh'], executable: '/nonexistent/sh', ...SELF }), (error: LaunchError) => {
      assert.deepEqual([error.exitCode, error.code], [127, 'ENOENT'], error.message);
      assert.match(error.message, /^exec \/nonexistent\/sh: /);
      return true;
    });
  });

  it('is not sent on a version 1 channel, whose LAUNCH still runs argv[0]', async (t) => {
    const { channel } = spawnInit(t);
    assert.equal((await channel.hello(1)).version, 1);
    await assert.rejects(launchDetached(channel, { argv: ['-sh'], executable: SH, ...SELF }), TypeError);
    const plain = await run(channel, { argv: [SH, '-c', 'echo $0'], ...SELF });
    assert.deepEqual([plain.status.exitCode, plain.stdout], [0, `${SH}\n`], 'a version 1 LAUNCH runs as before');
  });
});
