// The service's side of lxssd-nsexec's --setup-fd exchange (nsexec/guest_setup.h has the wire format): the
// instance's PID 1, still in the helper, sends the distribution's /etc/wsl.conf as read inside its root with the
// owner's rights; the service answers with what it made of it (hostname, binds, files to write inside the root).
// One helper process does what three busybox runs did.

import type { Readable, Writable } from 'node:stream';
import { checkBind, type BindMount } from './nsexec.js';

const NO_FILE = 0xffff_ffff;
/** nsexec's SETUP_MAX */
const SETUP_MAX = 8 << 20;

/** What the helper sets the instance up with, once it has sent /etc/wsl.conf. */
export interface GuestSetupAnswer {
  hostname: string;
  binds: readonly BindMount[];
  /** written inside the distribution's root as its root would, before anything is mounted in it */
  files: ReadonlyArray<{ path: string; content: string }>;
}

/**
 * The /etc/wsl.conf the helper sends on `channel` (undefined: there is none, or the owner may not read it).
 * Rejects when the channel ends first: the helper failed before (its exit code and stderr say why).
 */
export function receiveWslConf(channel: Readable): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size < 4) return;
      const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const length = head.readUInt32LE(0);
      if (length === NO_FILE) return done(undefined);
      if (size < 4 + length) return;
      done(head.toString('utf8', 4, 4 + length));
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error('the helper ended the setup channel before sending /etc/wsl.conf'));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const cleanup = (): void => {
      channel.off('data', onData);
      channel.off('end', onEnd);
      channel.off('close', onEnd);
      channel.off('error', onError);
    };
    const done = (content: string | undefined): void => {
      cleanup();
      // It sends nothing more; flowing, the stream reads on to the helper's EOF and closes.
      resolve(content);
    };
    channel.on('data', onData);
    channel.on('end', onEnd);
    channel.on('close', onEnd);
    channel.on('error', onError);
  });
}

function str(value: string, mayHoldNul = false): Buffer[] {
  const bytes = Buffer.from(value, 'utf8');
  if (!mayHoldNul && bytes.includes(0)) throw new Error(`the guest setup cannot carry a NUL byte: ${JSON.stringify(value.slice(0, 80))}`);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(bytes.length);
  return [length, bytes];
}

/** The answer as the helper reads it. */
export function encodeGuestSetup(setup: GuestSetupAnswer): Buffer {
  const parts: Buffer[] = [Buffer.from('h'), ...str(setup.hostname)];
  for (const bind of setup.binds) checkBind(bind);
  for (const bind of setup.binds) parts.push(Buffer.from('b'), ...str(`${bind.source}:${bind.target}${bind.readOnly ? ':ro' : ''}`));
  for (const file of setup.files) parts.push(Buffer.from('f'), ...str(file.path), ...str(file.content, true));
  const body = Buffer.concat(parts);
  if (body.length > SETUP_MAX) throw new Error(`the guest setup is ${body.length} bytes, more than the helper takes (${SETUP_MAX})`);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(body.length);
  return Buffer.concat([head, body]);
}

/** Sends the answer and ends the service's side of the channel. */
export function sendGuestSetup(channel: Writable, setup: GuestSetupAnswer): void {
  channel.end(encodeGuestSetup(setup));
}
