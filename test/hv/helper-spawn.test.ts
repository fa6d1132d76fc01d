// spawnHelper: the posix_spawn path the service starts its helpers with, checked against what Node's own
// ChildProcess gives (exit codes, signals, 'close' after the output, a clean start for the program).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const constants = { O_CLOEXEC_FLAG: 0o2000000 };
import { collect } from '../helpers/child-output.js';
import { eventually } from '../helpers/eventually.js';
import { spawnHelper } from '../../src/hv/linux/helper-spawn.js';

const BUSYBOX = '/bin/busybox';
const ENV = { PATH: '/usr/bin:/bin' };

function sh(script: string, stdio: Array<'pipe' | 'ignore' | 'inherit'> = ['ignore', 'pipe', 'pipe']) {
  return spawnHelper(BUSYBOX, ['sh', '-c', script], { env: ENV, stdio });
}

describe('spawnHelper', () => {
  it('reports exit codes and output, with close after exit and the streams', async () => {
    const helper = sh('echo out; echo err >&2; exit 3');
    assert.ok(helper.pid > 0);
    const events: string[] = [];
    helper.on('exit', () => events.push('exit'));
    helper.on('close', () => events.push('close'));
    const result = await collect(helper);
    assert.deepEqual(result, { code: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
    assert.deepEqual(events, ['exit', 'close']);
    assert.equal(helper.exitCode, 3);
  });

  it('reports a death by signal by name, and kill() of a reaped helper signals nobody', async () => {
    const helper = sh('kill -KILL $$');
    const [code, signal] = await once(helper, 'exit');
    assert.equal(code, null);
    assert.equal(signal, 'SIGKILL');
    assert.equal(helper.kill('SIGTERM'), false);
  });

  it('starts the program with no signal blocked or ignored (the service ignores SIGPIPE), and only its own fds', async () => {
    // What this process holds without close-on-exec (its own stdio, an fd its parent handed down) may reach the
    // program, as with Node's spawn; nothing else may.
    const inheritable = new Set(
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          const flags = /^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
          return flags !== undefined && (parseInt(flags, 8) & constants.O_CLOEXEC_FLAG) === 0;
        } catch {
          return false;
        }
      }).map(Number),
    );
    // Read from here, so the listing opens no descriptor in the program itself.
    const helper = spawnHelper(BUSYBOX, ['sleep', '30'], { env: ENV, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const closed = once(helper, 'close');
    try {
      // posix_spawn returns once the exec has begun; the kernel closes the close-on-exec copies a moment later.
      await eventually(() => assert.match(readFileSync(`/proc/${helper.pid}/stat`, 'utf8'), /^\d+ \(busybox\) S /), {
        what: 'sleep is sleeping',
      });
      const status = readFileSync(`/proc/${helper.pid}/status`, 'utf8');
      assert.match(status, /^SigBlk:\s+0+$/m);
      assert.match(status, /^SigIgn:\s+0+$/m);
      const fds = readdirSync(`/proc/${helper.pid}/fd`).map(Number);
      const foreign = fds.filter((fd) => fd > 3 && !inheritable.has(fd));
      const what = (fd: number) => `${fd} ${readlinkSync(`/proc/${helper.pid}/fd/${fd}`)}`;
      assert.deepEqual(foreign.map(what), [], `the program's fds: ${fds.join(' ')}`);
    } finally {
      helper.kill('SIGKILL');
      await closed;
    }
  });

  it("places a 'pipe' at every fd asked for, two-way, and /dev/null for 'ignore'", async () => {
    const helper = sh('read line <&3; echo "got $line" >&3; readlink /proc/self/fd/4', ['ignore', 'pipe', 'pipe', 'pipe', 'ignore']);
    const channel = helper.stdio[3]!;
    let answer = '';
    channel.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    channel.write('hello\n');
    const result = await collect(helper);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(answer, 'got hello\n');
    assert.equal(result.stdout, '/dev/null\n');
    assert.equal(helper.stdio[4], null);
  });

  it('keeps the service alive while a helper runs, and leaves none of its descriptors behind', async () => {
    const sockets = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
        } catch {
          return false;
        }
      }).length;
    const before = sockets();
    const helper = sh('sleep 0.2', ['pipe', 'pipe', 'pipe']);
    assert.equal(sockets(), before + 3, 'one socket to each of its three fds');
    // Nothing else holds this test's event loop: the exit must still arrive.
    const [code] = await once(helper, 'close');
    assert.equal(code, 0);
    assert.equal(sockets(), before, 'its stdin too is closed once it has exited');
  });
});
