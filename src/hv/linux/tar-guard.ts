// Checks a tar stream entry by entry before anything extracts it, and passes on a re-packed copy holding
// only safe entries: no absolute names, no `..`, nothing through an earlier symlink, hard links only to
// earlier entries, no more than a bounded number of entries. Device nodes, which a user namespace cannot
// create, are dropped and counted. Owners the user's mapping cannot hold are given the overflow id with their
// set-id bits dropped (never left to the extractor, which would make them root with the bits kept), and
// entry kinds the extractor would get wrong (sparse files, unknown types) are refused: never a silent change.

import { PassThrough, type Readable } from 'node:stream';
import tar from 'tar-stream';
import { HvError } from '../errors.js';

export interface GuardReport {
  entries: number;
  /** device nodes left out */
  skippedDevices: number;
  /** entries whose owner or group the mapping cannot hold, given the overflow id (set-id bits dropped) */
  remappedOwners: number;
  /** the first few names of those, for the warning */
  remappedExamples: string[];
}

export interface GuardOptions {
  /** most entries (of any kind) an archive may hold */
  maxEntries: number;
  /** whether an inner uid / gid exists in the namespace the archive is extracted in */
  mapsUid(id: number): boolean;
  mapsGid(id: number): boolean;
}

/** The kernel's overflow id (nobody / nogroup), given to owners the mapping cannot hold. */
export const OVERFLOW_ID = 65534;
const SET_ID_BITS = 0o6000;
/** Linux's longest path: a longer name could not be extracted anyway. */
const PATH_MAX = 4096;
const REMAPPED_EXAMPLES = 5;

/** Names the PAX GNU.sparse.* keys of GNU tar's sparse formats 0.0, 0.1 and 1.0. */
function sparseFormat(pax: Record<string, string> | null | undefined): string | undefined {
  if (!pax) return undefined;
  if ('GNU.sparse.major' in pax) return `PAX ${pax['GNU.sparse.major']}.${pax['GNU.sparse.minor'] ?? '0'}`;
  if ('GNU.sparse.map' in pax) return 'PAX 0.1';
  if ('GNU.sparse.offset' in pax || 'GNU.sparse.numblocks' in pax || 'GNU.sparse.size' in pax) return 'PAX 0.0';
  return Object.keys(pax).some((key) => key.startsWith('GNU.sparse.')) ? 'PAX' : undefined;
}

/** A PAX id (ids past the ustar field's 2097151 travel there) or the header's own. */
function idOf(pax: Record<string, string> | null | undefined, key: 'uid' | 'gid', fallback: number): number {
  const text = pax?.[key];
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : fallback;
}

/** Normalises a member name (`./a//b/` → `a/b`) or throws for one that could land outside the root. */
function safeName(raw: string, what: string): string {
  if (raw.startsWith('/')) throw new HvError('invalid-archive', `${what} "${raw}" is an absolute path`);
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw new HvError('invalid-archive', `${what} "${raw}" climbs out with ".."`);
  return parts.join('/');
}

function throughSymlink(name: string, symlinks: Set<string>): string | undefined {
  const parts = name.split('/');
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    if (symlinks.has(prefix)) return prefix;
  }
  return undefined;
}

/**
 * Returns the guarded tar stream; `report` is filled in as entries pass. Any failure — of the input, of
 * parsing, or an unsafe entry — destroys the returned stream with an HvError.
 */
export function guardTar(input: Readable, report: GuardReport, options: GuardOptions): Readable {
  // tar-stream's streams are streamx streams; the Node stream around them is what callers pipe.
  const output = new PassThrough();
  const extract = tar.extract();
  const pack = tar.pack();
  const symlinks = new Set<string>();
  const seen = new Set<string>();
  // Folders that exist once the entries so far are extracted: named ones and the parents the extractor makes.
  const folders = new Set<string>();
  let inodes = 0;
  const tooMany = (): HvError =>
    new HvError('invalid-archive', `the archive holds more than ${options.maxEntries} entries, the most allowed (maxImportEntries)`);
  /** Counts what extracting `name` creates (it, and the missing folders above it) against maxEntries. */
  const count = (name: string, isFolder: boolean): void => {
    for (let slash = name.lastIndexOf('/'); slash > 0; slash = name.lastIndexOf('/', slash - 1)) {
      const parent = name.slice(0, slash);
      // Every folder above a known one is known too.
      if (folders.has(parent)) break;
      folders.add(parent);
      inodes++;
    }
    if (isFolder) {
      if (!folders.has(name)) inodes++;
      folders.add(name);
    } else {
      inodes++;
    }
    if (inodes > options.maxEntries) throw tooMany();
  };
  let failed = false;

  // Stops everything and stops reading the input, which stays paused: the caller decides whether to drain
  // or drop what is left of it.
  const fail = (error: unknown): void => {
    if (failed) return;
    failed = true;
    const reason =
      error instanceof HvError ? error : new HvError('invalid-archive', `not a readable tar archive: ${(error as Error).message}`);
    input.unpipe(extract as unknown as NodeJS.WritableStream);
    input.pause();
    output.destroy(reason);
    extract.destroy();
    pack.destroy();
  };

  extract.on('entry', (header, stream, next) => {
    // An entry's body fails when the archive ends inside it (a truncated file or a dropped upload).
    stream.on('error', fail);
    try {
      if (report.entries + report.skippedDevices >= options.maxEntries) throw tooMany();
      if (Buffer.byteLength(header.name) >= PATH_MAX) {
        throw new HvError('invalid-archive', `entry "${header.name.slice(0, 100)}..." has a name longer than ${PATH_MAX - 1} bytes`);
      }
      const pax = (header.pax ?? null) as Record<string, string> | null;
      const sparse = sparseFormat(pax);
      if (sparse !== undefined) {
        throw new HvError(
          'invalid-archive',
          `entry "${pax?.['GNU.sparse.name'] ?? header.name}" is a sparse file (GNU tar's ${sparse} sparse format), which cannot be imported faithfully; repack the archive without --sparse`,
        );
      }
      // tar-stream knows no GNU 'S' (old sparse), 'V', 'M', 'D', ...: the extractor would write them as something else.
      if ((header.type as string | null) === null) {
        throw new HvError(
          'invalid-archive',
          `entry "${header.name}" is of a tar entry type that cannot be imported faithfully (a sparse file in GNU tar's old format, a volume label, ...); repack the archive without --sparse`,
        );
      }
      const name = safeName(header.name, 'entry');
      const via = throughSymlink(name, symlinks);
      if (via !== undefined) {
        throw new HvError('invalid-archive', `entry "${header.name}" goes through the symlink "${via}"`);
      }
      if (name !== '') count(name, header.type === 'directory');
      if (header.type === 'character-device' || header.type === 'block-device') {
        report.skippedDevices++;
        stream.on('end', () => next());
        stream.resume();
        return;
      }
      let linkname = header.linkname ?? undefined;
      if (header.type === 'link') {
        const target = safeName(header.linkname ?? '', `hard link "${header.name}" target`);
        if (!seen.has(target) || throughSymlink(target, symlinks) !== undefined || symlinks.has(target)) {
          throw new HvError(
            'invalid-archive',
            `hard link "${header.name}" points at "${header.linkname}", not an earlier file of the archive`,
          );
        }
        linkname = target;
      }
      if (header.type === 'symlink') symlinks.add(name);
      else symlinks.delete(name);
      seen.add(name);
      report.entries++;
      let uid = idOf(pax, 'uid', header.uid);
      let gid = idOf(pax, 'gid', header.gid);
      let mode = header.mode;
      if (!options.mapsUid(uid) || !options.mapsGid(gid)) {
        // The overflow id where the namespace has it; else (a one-id mapping) root inside, which is the user.
        if (!options.mapsUid(uid)) uid = options.mapsUid(OVERFLOW_ID) ? OVERFLOW_ID : 0;
        if (!options.mapsGid(gid)) gid = options.mapsGid(OVERFLOW_ID) ? OVERFLOW_ID : 0;
        mode &= ~SET_ID_BITS;
        report.remappedOwners++;
        if (report.remappedExamples.length < REMAPPED_EXAMPLES) report.remappedExamples.push(name || '.');
      }
      // Owners go by number only: the extractor would otherwise look names up in the archive's own /etc/passwd.
      const repacked = { ...header, name: name === '' ? './' : name, linkname, uid, gid, mode, uname: '', gname: '', pax: undefined };
      const entry = pack.entry(repacked, (error) =>
        error ? fail(error) : next(),
      );
      stream.pipe(entry);
    } catch (error) {
      stream.resume();
      fail(error);
    }
  });
  extract.on('finish', () => {
    // An empty body (or just the end-of-archive blocks) would register a distribution with nothing in it.
    if (report.entries === 0 && report.skippedDevices === 0) fail(new HvError('invalid-archive', 'the archive holds no files'));
    else pack.finalize();
  });
  extract.on('error', fail);
  pack.on('error', fail);
  input.on('error', fail);
  pack.on('data', (chunk: unknown) => {
    if (!output.write(chunk)) pack.pause();
  });
  output.on('drain', () => pack.resume());
  pack.on('end', () => output.end());
  // Destroyed by its reader (e.g. the extractor quit): stop the whole chain.
  output.on('close', () => {
    if (!output.readableEnded) fail(new HvError('failed', 'the extractor stopped reading the archive'));
  });
  input.pipe(extract as unknown as NodeJS.WritableStream);
  return output;
}
