// Reads a tar (plain or gzip) and tells, per entry, its type, owners and a digest of its content.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';

export interface EntryDigest {
  type: string;
  uid: number;
  gid: number;
  sha256?: string;
}

/** Entry name (without a leading `./`) → what it holds. */
export async function digestTar(path: string, gzip = false): Promise<Map<string, EntryDigest>> {
  const entries = new Map<string, EntryDigest>();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '').replace(/\/$/, '');
    const hash = createHash('sha256');
    stream.on('data', (chunk: unknown) => hash.update(chunk as Buffer));
    stream.on('end', () => {
      entries.set(name, {
        type: header.type ?? 'file',
        uid: header.uid ?? -1,
        gid: header.gid ?? -1,
        sha256: header.type === 'file' ? hash.digest('hex') : undefined,
      });
      next();
    });
  });
  const source = createReadStream(path);
  if (gzip) await pipeline(source, createGunzip(), extract);
  else await pipeline(source, extract);
  return entries;
}
