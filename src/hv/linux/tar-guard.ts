// Checks a tar stream entry by entry before anything extracts it, and passes on a re-packed copy holding
// only safe entries: no absolute names, no `..`, nothing through an earlier symlink, hard links only to
// earlier entries. Device nodes, which a user namespace cannot create, are dropped and counted.

import { PassThrough, type Readable } from 'node:stream';
import tar from 'tar-stream';
import { HvError } from '../errors.js';

export interface GuardReport {
  entries: number;
  /** device nodes left out */
  skippedDevices: number;
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
export function guardTar(input: Readable, report: GuardReport): Readable {
  // tar-stream's streams are streamx streams; the Node stream around them is what callers pipe.
  const output = new PassThrough();
  const extract = tar.extract();
  const pack = tar.pack();
  const symlinks = new Set<string>();
  const seen = new Set<string>();
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
      const name = safeName(header.name, 'entry');
      const via = throughSymlink(name, symlinks);
      if (via !== undefined) {
        throw new HvError('invalid-archive', `entry "${header.name}" goes through the symlink "${via}"`);
      }
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
      const entry = pack.entry({ ...header, name: name === '' ? './' : name, linkname, pax: undefined }, (error) =>
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
