// Pty mode through the real lxssd-init. init runs unchrooted here and opens the HOST's /dev/ptmx: the busybox test
// root has no /dev (in an instance, /dev/ptmx is the instance's own devpts). The master comes back on the fd
// channel; we read it with tty.ReadStream (libuv does not reopen a pty master) and write it with fs.writeSync.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import tty from 'node:tty';
import type { InitChannel } from '../../src/hv/linux/init-channel.js';
import { eventually } from '../helpers/eventually.js';
import { childrenOf, PATH_ENV, SELF, startInit } from './harness.js';

/** Everything the master yields; `until(re)` waits for output matching re. Ends at EIO (no slave left). */
function readMaster(fd: number) {
  const stream = new tty.ReadStream(fd);
  let text = '';
  const waiters: Array<() => void> = [];
  const ended = new Promise<string>((resolve) => {
    const finish = (): void => resolve(text);
    stream.on('error', finish); // EIO: every slave end closed
    stream.on('end', finish);
    stream.on('close', finish);
  });
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
    for (const wake of waiters.splice(0)) wake();
  });
  return {
    ended,
    close: () => stream.destroy(),
    async until(re: RegExp): Promise<string> {
      while (!re.test(text)) {
        const more = new Promise<void>((resolve) => waiters.push(resolve));
        const done = await Promise.race([more.then(() => false), ended.then(() => true)]);
        if (done && !re.test(text)) assert.fail(`output ended without ${re}: ${JSON.stringify(text)}`);
      }
      return text;
    },
  };
}

async function launchPty(channel: InitChannel, script: string, cols: number, rows: number) {
  const launched = await channel.launch({ argv: ['/bin/sh', '-c', script], env: PATH_ENV, pty: { cols, rows }, ...SELF });
  assert.equal(typeof launched.ptyMaster, 'number', 'pty mode hands back the master');
  return { launched, master: launched.ptyMaster!, output: readMaster(launched.ptyMaster!) };
}

describe('LAUNCH in pty mode', () => {
  it('opens a pty of the requested size: stty size prints "30 100"', async (t) => {
    const { channel } = await startInit(t);
    const { launched, output } = await launchPty(channel, 'stty size; tty', 100, 30);
    t.after(() => output.close());
    const text = await output.ended;
    assert.match(text, /^30 100\r\n\/dev\/pts\/\d+\r\n$/, JSON.stringify(text));
    assert.deepEqual(await launched.exit, { id: launched.id, pid: launched.pid, exitCode: 0, signal: null });
  });

  it('RESIZE changes the size the same session sees', async (t) => {
    const { channel } = await startInit(t);
    const { launched, master, output } = await launchPty(channel, 'stty size; read x; stty size', 100, 30);
    t.after(() => output.close());
    await output.until(/30 100\r\n/);
    await channel.resize(launched.id, 120, 40);
    writeSync(master, '\n');
    await output.until(/40 120\r\n/);
    assert.equal((await launched.exit).exitCode, 0);
  });

  it('gives the process a controlling terminal and its own session', async (t) => {
    const { channel } = await startInit(t);
    // ps is not needed: /proc/self/stat's session (field 6) equals the shell's pid, and tty_nr (7) is set.
    const { launched, output } = await launchPty(channel, 'echo "$$ $(cut -d" " -f6,7 /proc/$$/stat)"', 80, 24);
    t.after(() => output.close());
    const text = await output.ended;
    const [pid, session, ttyNr] = text.trim().split(' ').map(Number);
    assert.equal(pid, launched.pid);
    assert.equal(session, launched.pid, 'setsid: the shell leads its session');
    assert.notEqual(ttyNr, 0, 'the pty is its controlling terminal');
  });

  it('SIGNAL reaches the whole process group of a pty session', async (t) => {
    const { channel, pid } = await startInit(t);
    const { launched, output } = await launchPty(channel, 'sleep 1000 & echo started; wait', 80, 24);
    t.after(() => output.close());
    await output.until(/started/);
    await channel.signal(launched.id, 'SIGHUP');
    assert.equal((await launched.exit).signal, 1);
    // The background sleep got it too: nothing is left under init.
    await eventually(() => assert.deepEqual(childrenOf(pid), []), { what: 'the sleep in the same group to die' });
  });
});
