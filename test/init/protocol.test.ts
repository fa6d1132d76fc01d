// lxssd-init's framing, handshake and robustness against malformed frames, driven over its real channels.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeAll, socketPair } from '../../src/hv/linux/fd-passing.js';
import { InitClosedError, InitError, initPath, type InitChannel } from '../../src/hv/linux/init-channel.js';
import {
  encodeFrame,
  encodeHello,
  FrameWriter,
  HEADER_SIZE,
  INIT_PROTOCOL_VERSION,
  MAX_FRAME,
  MessageType,
} from '../../src/hv/linux/init-protocol.js';
import { launchDetached, run, SELF, spawnInit, startInit } from './harness.js';
import { assertStaticElf } from '../helpers/elf.js';

/** A cheap request that proves init still answers in step: SIGNAL of a launch id nobody has. */
async function assertAnswering(channel: InitChannel, context: string): Promise<void> {
  await assert.rejects(channel.signal(0x7fff_fff0, 'SIGTERM'), (error: InitError) => {
    assert.equal(error.code, 'ESRCH', `${context}: ${error.message}`);
    return true;
  });
}

describe('lxssd-init binary', () => {
  it('is a static binary (the ELF has no PT_INTERP program header)', () => {
    assertStaticElf(initPath());
  });
});

describe('HELLO', () => {
  it('answers HELLO_ACK with protocol version 2 and its pid', async (t) => {
    const { child, channel } = spawnInit(t);
    const ack = await channel.hello();
    assert.deepEqual(ack, { version: 2, pid: child.pid });
    assert.equal(INIT_PROTOCOL_VERSION, 2);
  });

  it('still speaks version 1 to a service that asks for it, and answers with 1', async (t) => {
    const { child, channel } = spawnInit(t);
    assert.deepEqual(await channel.hello(1), { version: 1, pid: child.pid });
    assert.equal(channel.version, 1);
  });

  for (const version of [0, 3]) {
    it(`refuses a protocol version it does not speak (${version}) with ERROR and exits 2`, async (t) => {
      const { channel } = spawnInit(t);
      await assert.rejects(channel.hello(version), (error: InitError) => {
        assert.equal(error.code, 'EPROTONOSUPPORT');
        assert.match(error.message, new RegExp(`version ${version} refused: this init speaks versions 1 to 2`));
        return true;
      });
      assert.deepEqual(await channel.exited, { code: 2, signal: null });
    });
  }

  it('refuses any other frame before HELLO, then still accepts HELLO', async (t) => {
    const { channel } = spawnInit(t);
    await assert.rejects(launchDetached(channel, { argv: ['/bin/true'], ...SELF }), (error: InitError) => {
      assert.equal(error.code, 'EPROTO');
      return true;
    });
    assert.equal((await channel.hello()).version, 2);
  });

  it('refuses a second HELLO', async (t) => {
    const { channel } = await startInit(t);
    await assert.rejects(channel.hello(), (error: InitError) => error.code === 'EPROTO');
    await assertAnswering(channel, 'after a second HELLO');
  });

  it('reassembles a frame that arrives one byte at a time', async (t) => {
    const { child, channel } = spawnInit(t);
    const id = channel.allocateId();
    const answer = channel.awaitAnswer(id, MessageType.Hello);
    for (const byte of encodeHello(id)) {
      channel.sendRaw(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(await answer, { type: 'hello-ack', id, version: 2, pid: child.pid });
  });
});

describe('malformed frames', () => {
  interface Case {
    name: string;
    /** The bytes to send, for request id `id`. */
    frame: (id: number) => Buffer;
    /** Descriptors to pass first (the frame announces them). */
    fds?: number;
    /** The errno name of the expected ERROR. */
    code: string;
    /** The ERROR's id: the frame's own, or 0 when init could not attribute it. */
    attributed?: boolean;
  }
  const u32 = (v: number): Buffer => new FrameWriter().u32(v).payload();
  const cases: Case[] = [
    { name: 'length below the header size', frame: (id) => encodeFrame({ type: MessageType.Signal, id, length: 4 }), code: 'EMSGSIZE' },
    { name: 'unknown message type', frame: (id) => encodeFrame({ type: 0x7f, id }), code: 'ENOSYS' },
    { name: 'an init->service type sent to init', frame: (id) => encodeFrame({ type: MessageType.HelloAck, id }, u32(1)), code: 'ENOSYS' },
    { name: 'truncated u32 field', frame: (id) => encodeFrame({ type: MessageType.Signal, id }, Buffer.from([1, 0])), code: 'EBADMSG' },
    {
      name: 'truncated string (claims 100 bytes, has 3)',
      frame: (id) => encodeFrame({ type: MessageType.Unmount, id }, Buffer.concat([u32(100), Buffer.from('/ab')])),
      code: 'EBADMSG',
    },
    {
      name: 'string with a NUL byte',
      frame: (id) => new FrameWriter().str(Buffer.from('/a\0b'), { raw: true }).finish(MessageType.Unmount, id),
      code: 'EBADMSG',
    },
    {
      name: 'trailing bytes after the last field (a TERMINATE that must not terminate)',
      frame: (id) => new FrameWriter().u32(0).u32(0).finish(MessageType.Terminate, id),
      code: 'EBADMSG',
    },
    { name: 'reserved header flags set', frame: (id) => encodeFrame({ type: MessageType.Terminate, id, flags: 1 }, u32(0)), code: 'EBADMSG' },
    { name: 'request id 0', frame: () => new FrameWriter().u32(1).u32(15).finish(MessageType.Signal, 0), code: 'EINVAL', attributed: false },
    { name: 'signal number out of range', frame: (id) => new FrameWriter().u32(1).u32(65).finish(MessageType.Signal, id), code: 'EINVAL' },
    { name: 'unknown TERMINATE flags', frame: (id) => new FrameWriter().u32(2).finish(MessageType.Terminate, id), code: 'EINVAL' },
    { name: 'relative UNMOUNT target', frame: (id) => new FrameWriter().str('mnt/x').finish(MessageType.Unmount, id), code: 'EINVAL' },
    {
      name: 'LAUNCH with argv count 0xffffffff (its 3 descriptors are still taken off the fd channel)',
      frame: (id) =>
        new FrameWriter().u32(0).str('').u32(0xffff_ffff).u32(0xffff_ffff).finish(MessageType.Launch, id, 3),
      fds: 3,
      code: 'EBADMSG',
    },
    {
      name: 'LAUNCH with an empty argv',
      frame: (id) =>
        new FrameWriter().u32(0).str('').u32(0xffff_ffff).strv([]).strv([]).str('').u32(0).u32(0).str('').finish(MessageType.Launch, id, 3),
      fds: 3,
      code: 'EINVAL',
    },
    {
      name: 'LAUNCH with an env entry lacking "="',
      frame: (id) =>
        new FrameWriter().u32(0).str('').u32(0xffff_ffff).strv(['/bin/true']).strv(['NOEQUALS']).str('').u32(0).u32(0).str('').finish(MessageType.Launch, id, 3),
      fds: 3,
      code: 'EINVAL',
    },
    {
      name: 'LAUNCH naming both a user and a uid',
      frame: (id) =>
        new FrameWriter().u32(0).str('root').u32(0).strv(['/bin/true']).strv([]).str('').u32(0).u32(0).str('').finish(MessageType.Launch, id, 3),
      fds: 3,
      code: 'EINVAL',
    },
    {
      name: 'a version 2 LAUNCH without its executable field (the version 1 layout)',
      frame: (id) =>
        new FrameWriter().u32(0).str('').u32(0xffff_ffff).strv(['/bin/true']).strv([]).str('').u32(0).u32(0).finish(MessageType.Launch, id, 3),
      fds: 3,
      code: 'EBADMSG',
    },
    {
      name: 'SIGNAL announcing a descriptor it should not carry',
      frame: (id) => new FrameWriter().u32(1).u32(15).finish(MessageType.Signal, id, 1),
      fds: 1,
      code: 'EBADMSG',
    },
    {
      name: 'a header announcing 200 descriptors while 1 is passed',
      frame: (id) => new FrameWriter().u32(1).u32(15).finish(MessageType.Signal, id, 200),
      fds: 1,
      code: 'EBADMSG',
    },
  ];

  for (const c of cases) {
    it(`answers ERROR ${c.code} for ${c.name}, and keeps answering`, async (t) => {
      const { channel } = await startInit(t);
      const id = channel.allocateId();
      const attributed = c.attributed ?? true;
      const protocolError = new Promise<InitError>((resolve) => channel.once('protocol-error', resolve));
      const answer = attributed ? channel.awaitAnswer(id, MessageType.Signal) : protocolError;
      const passed = Array.from({ length: c.fds ?? 0 }, () => socketPair()).flat();
      const toPass = passed.filter((_, i) => i % 2 === 0);
      try {
        channel.sendRaw(c.frame(id), toPass);
      } finally {
        closeAll(passed);
      }
      // An ERROR rejects the awaited answer; anything else resolves it, and fails the check below.
      const seen: unknown = attributed ? await answer.then((value) => value, (e: unknown) => e) : await protocolError;
      assert.ok(seen instanceof InitError, `${c.name}: ${String(seen)}`);
      assert.equal(seen.code, c.code, `${c.name}: ${seen.message}`);
      await assertAnswering(channel, c.name);
      assert.equal(channel.closed, false, c.name);
    });
  }

  it('answers ERROR EMSGSIZE for a frame longer than 1 MiB, skips it, and keeps answering', async (t) => {
    const { channel } = await startInit(t);
    const id = channel.allocateId();
    const answer = channel.awaitAnswer(id, MessageType.Signal);
    const length = MAX_FRAME + 1;
    channel.sendRaw(encodeFrame({ type: MessageType.Signal, id, length }));
    // Its body, honest about the length it claimed: init discards it without buffering.
    channel.sendRaw(Buffer.alloc(length - HEADER_SIZE, 0xee));
    await assert.rejects(answer, (error: InitError) => error.code === 'EMSGSIZE');
    await assertAnswering(channel, 'after an oversized frame');
  });

  it('answers ERROR when a frame announces descriptors that were never passed (ordering rule broken)', async (t) => {
    const { channel } = await startInit(t);
    const id = channel.allocateId();
    const answer = channel.awaitAnswer(id, MessageType.Mount);
    channel.sendRaw(new FrameWriter().str('/mnt/x').u32(0).finish(MessageType.Mount, id, 1));
    await assert.rejects(answer, (error: InitError) => {
      assert.equal(error.code, 'EBADMSG');
      assert.match(error.message, /must be sent before the frame/);
      return true;
    });
    await assertAnswering(channel, 'after a missing passing');
  });

  it('survives a burst of random garbage framed with honest lengths', async (t) => {
    const { channel } = await startInit(t);
    let seed = 42;
    const random = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    let expected = 0;
    let errors = 0;
    channel.on('protocol-error', () => errors++);
    for (let i = 0; i < 200; i++) {
      const payload = Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
      // Only types whose every decoding is harmless here (no launch exists, nothing to unmount), plus unknown
      // ones; ids nobody waits for, so each ERROR comes out as 'protocol-error'.
      const type = [MessageType.Signal, MessageType.Resize, MessageType.Hello, 0x55, 0x200][i % 5]!;
      channel.sendRaw(encodeFrame({ type, id: 1_000_000 + i }, payload));
      expected++;
    }
    await assertAnswering(channel, 'after 200 garbage frames');
    assert.equal(errors, expected);
    const ok = await run(channel, { argv: ['/bin/sh', '-c', 'echo still here'], ...SELF });
    assert.equal(ok.stdout, 'still here\n');
  });

  it('rejects pending requests with InitClosedError when init dies', async (t) => {
    const { child, channel } = await startInit(t);
    const closed = new Promise<string>((resolve) => channel.once('closed', resolve));
    const launched = await launchDetached(channel, { argv: ['/bin/sleep', '1000'], ...SELF });
    child.kill('SIGKILL');
    await assert.rejects(launched.exit, InitClosedError);
    await closed;
    await assert.rejects(channel.signal(launched.id, 'SIGTERM'), InitClosedError);
  });
});
