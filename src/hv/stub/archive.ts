// Archives for the stub: a tar (plain or gzip) read into a Tree under the import limits, and a Tree written out
// as one. Held whole in memory (the stub's files are anyway), so a limit is checked before anything is parsed.
// The safety rules are the contract's, not any extractor's: no absolute names, no `..`, nothing through an
// earlier symlink, hard links only to earlier files; device nodes are left out and counted.

import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { HvError } from '../errors.js';
import type { ArchiveFormat, ImportLimits, ImportResult } from '../types.js';
import { Tree, type TreeNode } from './tree.js';

const GZIP_MAGIC = [0x1f, 0x8b];
const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
/** What gzip may add to incompressible data, so a compressed archive near the limit is still read whole. */
const GZIP_SLACK = (maxBytes: number): number => Math.ceil(maxBytes / 100) + 1024;

const startsWith = (data: Buffer, magic: number[]): boolean => magic.every((byte, i) => data[i] === byte);

const tooLarge = (maxBytes: number): HvError =>
  new HvError('too-large', `the unpacked archive is larger than the limit of ${maxBytes} bytes`);

/** The archive's tar bytes; the archive is left paused, not destroyed, when a limit stops the reading. */
async function tarBytes(archive: Readable, limits: ImportLimits): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let read = 0;
  for await (const chunk of archive.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    read += chunk.length;
    chunks.push(chunk);
    const raw = chunks.length === 1 ? chunk : Buffer.concat(chunks.slice(0, 2));
    const gzip = startsWith(raw, GZIP_MAGIC);
    limits.onProgress?.({ read, written: gzip ? 0 : read });
    if (read > limits.maxBytes + (gzip ? GZIP_SLACK(limits.maxBytes) : 0)) {
      archive.pause();
      throw tooLarge(limits.maxBytes);
    }
  }
  const raw = Buffer.concat(chunks);
  if (startsWith(raw, XZ_MAGIC)) throw new HvError('not-supported', 'the stub backend does not decompress xz archives');
  if (!startsWith(raw, GZIP_MAGIC)) return raw;
  try {
    const plain = gunzipSync(raw, { maxOutputLength: limits.maxBytes + 1 });
    if (plain.length > limits.maxBytes) throw tooLarge(limits.maxBytes);
    limits.onProgress?.({ read, written: plain.length });
    return plain;
  } catch (error) {
    if (error instanceof HvError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limits.maxBytes);
    throw new HvError('invalid-archive', `the gzip stream could not be read: ${(error as Error).message}`);
  }
}

interface TarEntry {
  header: tar.Header;
  data: Buffer;
}

function parseTar(bytes: Buffer): Promise<TarEntry[]> {
  const extract = tar.extract();
  const entries: TarEntry[] = [];
  return new Promise((resolve, reject) => {
    const fail = (error: Error) =>
      reject(error instanceof HvError ? error : new HvError('invalid-archive', `not a readable tar archive: ${error.message}`));
    extract.on('entry', (header, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (part: unknown) => parts.push(part as Buffer));
      stream.on('error', fail);
      stream.on('end', () => {
        entries.push({ header, data: Buffer.concat(parts) });
        next();
      });
    });
    extract.on('finish', () => resolve(entries));
    extract.on('error', fail);
    extract.end(bytes);
  });
}

function safeName(raw: string, what: string): string {
  if (raw.startsWith('/')) throw new HvError('invalid-archive', `${what} "${raw}" is an absolute path`);
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw new HvError('invalid-archive', `${what} "${raw}" climbs out with ".."`);
  return parts.join('/');
}

function throughSymlink(key: string, tree: Tree): string | undefined {
  const parts = key.split('/');
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    if (tree.get(prefix)?.kind === 'symlink') return prefix;
  }
  return undefined;
}

/**
 * Reads `archive` into `tree`: checked whole first, so a refused archive changes nothing. Owners are kept as
 * the archive says (the stub has no id mapping to fit them into).
 */
export async function importInto(tree: Tree, archive: Readable, limits: ImportLimits): Promise<ImportResult> {
  const bytes = await tarBytes(archive, limits);
  const entries = await parseTar(bytes);
  const staged = new Tree({ mode: 0o755, uid: 0, gid: 0, mtime: new Date() });
  for (const [key, node] of tree.entries()) staged.put(key, node);
  let extracted = 0;
  let skippedDevices = 0;
  for (const { header, data } of entries) {
    if (extracted + skippedDevices >= limits.maxEntries) {
      throw new HvError('invalid-archive', `the archive holds more than ${limits.maxEntries} entries, the most allowed (maxImportEntries)`);
    }
    const key = safeName(header.name, 'entry');
    const via = throughSymlink(key, staged);
    if (via !== undefined) throw new HvError('invalid-archive', `entry "${header.name}" goes through the symlink "${via}"`);
    if (header.type === 'character-device' || header.type === 'block-device') {
      skippedDevices++;
      continue;
    }
    const base = { mode: header.mode ?? 0o644, uid: header.uid ?? 0, gid: header.gid ?? 0, mtime: header.mtime ?? new Date() };
    let node: TreeNode;
    if (header.type === 'directory') node = { ...base, kind: 'directory' };
    else if (header.type === 'file' || header.type === 'contiguous-file') node = { ...base, kind: 'file', data };
    else if (header.type === 'symlink') node = { ...base, kind: 'symlink', target: header.linkname ?? '' };
    else if (header.type === 'link') {
      const target = staged.get(safeName(header.linkname ?? '', `hard link "${header.name}" target`));
      if (target?.kind !== 'file') {
        throw new HvError('invalid-archive', `hard link "${header.name}" points at "${header.linkname}", not an earlier file of the archive`);
      }
      node = target;
    } else {
      throw new HvError('invalid-archive', `entry "${header.name}" is a ${String(header.type)}, which the stub backend does not hold`);
    }
    if (key === '' && node.kind === 'directory') staged.put('', node);
    else staged.put(key, node);
    extracted++;
  }
  if (extracted === 0 && skippedDevices === 0) throw new HvError('invalid-archive', 'the archive holds no files');
  for (const [key, node] of staged.entries()) tree.put(key, node);
  return { entries: extracted, skippedDevices, bytes: bytes.length, warnings: [] };
}

/** The tree as a tar (members `./`, `./bin/`, ...), compressed as `format` asks. */
export async function exportOf(tree: Tree, format: ArchiveFormat): Promise<Readable> {
  if (format === 'tar.xz') throw new HvError('not-supported', 'the stub backend does not compress with xz');
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const [key, node] of tree.entries()) {
    const common = { mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime };
    const name = key === '' ? './' : `./${key}`;
    if (node.kind === 'directory') pack.entry({ ...common, name: key === '' ? name : `${name}/`, type: 'directory' });
    else if (node.kind === 'symlink') pack.entry({ ...common, name, type: 'symlink', linkname: node.target });
    else pack.entry({ ...common, name, type: 'file', size: node.data.length }, node.data);
  }
  pack.finalize();
  await ended;
  const bytes = Buffer.concat(chunks);
  return Readable.from([format === 'tar.gz' ? gzipSync(bytes) : bytes]);
}
