// Stream plumbing for archives: detecting and undoing gzip/xz compression, applying it for export, and
// a byte limit. Nothing here touches the filesystem.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough, type Readable, Transform } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { HvError } from '../errors.js';
import type { ArchiveFormat } from '../types.js';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const OUT_OF_RESOURCES = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN']);

/** Reads up to `size` bytes from the start of `input` and puts them back, so nothing is consumed. */
async function peek(input: Readable, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < size) {
    const chunk = input.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      length += chunk.length;
      continue;
    }
    if (input.readableEnded || input.destroyed) break;
    const ended = new Promise<void>((resolve, reject) => {
      const done = () => {
        input.off('readable', done);
        input.off('end', done);
        input.off('error', failed);
        resolve();
      };
      const failed = (error: Error) => {
        input.off('readable', done);
        input.off('end', done);
        reject(error);
      };
      input.on('readable', done);
      input.on('end', done);
      input.once('error', failed);
    });
    await ended;
    if (input.readableEnded) break;
  }
  const head = Buffer.concat(chunks);
  if (head.length > 0) input.unshift(head);
  return head;
}

/** Runs a filter program (xz) over a stream; its failure surfaces as an error of the returned stream. */
function filterThrough(argv: [string, ...string[]], input: Readable, failure: string): Readable {
  const [program, ...args] = argv;
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const output = new PassThrough();
  // First, before anything can throw: an unheard 'error' (the spawn failed) would end the service.
  child.on('error', (error: NodeJS.ErrnoException) => {
    const kind = OUT_OF_RESOURCES.has(error.code ?? '') ? 'out-of-resources' : 'missing-tool';
    output.destroy(new HvError(kind, `${program}: ${error.message}`));
  });
  if (child.pid === undefined) {
    // Not started (no descriptors for its pipes, no such program, ...): the 'error' above says which.
    return output;
  }
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 2000) stderr += chunk.toString();
  });
  input.on('error', (error) => {
    child.kill('SIGKILL');
    output.destroy(error);
  });
  child.stdin.on('error', () => {
    // The filter quit early; its exit status says why.
  });
  input.pipe(child.stdin);
  child.stdout.pipe(output, { end: false });
  Promise.all([once(child.stdout, 'end'), once(child, 'exit')]).then(
    ([, [code]]) => {
      if (code === 0) output.end();
      else output.destroy(new HvError('invalid-archive', `${failure}: ${stderr.trim() || `exit ${code}`}`));
    },
    (error: Error) => output.destroy(error),
  );
  output.on('close', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return output;
}

/** The plain tar inside `input`, whether it came as tar, tar.gz or tar.xz (told by magic bytes). */
export async function decompressed(input: Readable): Promise<Readable> {
  const head = await peek(input, XZ_MAGIC.length);
  if (head.subarray(0, GZIP_MAGIC.length).equals(GZIP_MAGIC)) {
    const gunzip = createGunzip();
    input.on('error', (error) => gunzip.destroy(error));
    return input.pipe(gunzip);
  }
  if (head.subarray(0, XZ_MAGIC.length).equals(XZ_MAGIC)) {
    return filterThrough(['xz', '--decompress', '--stdout'], input, 'xz could not decompress the archive');
  }
  return input;
}

/** `tar` compressed as `format` asks. */
export function compressed(tar: Readable, format: ArchiveFormat): Readable {
  if (format === 'tar') return tar;
  if (format === 'tar.gz') {
    const gzip = createGzip();
    tar.on('error', (error) => gzip.destroy(error));
    return tar.pipe(gzip);
  }
  return filterThrough(['xz', '--compress', '--stdout', '-T0'], tar, 'xz could not compress the archive');
}

/** Passes bytes through until more than `maxBytes` went by, then fails with `too-large`; `onChunk` hears of each. */
export function byteLimit(maxBytes: number, counted: { bytes: number }, onChunk?: () => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      counted.bytes += chunk.length;
      onChunk?.();
      if (counted.bytes > maxBytes) {
        callback(new HvError('too-large', `the unpacked archive is larger than the limit of ${maxBytes} bytes`));
      } else {
        callback(null, chunk);
      }
    },
  });
}
