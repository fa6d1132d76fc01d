// `--import` and `--export`: a distribution's archive streamed from a file or stdin, and to a file or stdout,
// with progress on stderr when it is a terminal.

import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { components } from '../client/openapi.js';
import type { Connection } from './connect.js';
import { CliFailure, failureFromAnswer, failureFromResponse } from './failure.js';
import { progressMeter } from './progress.js';

export type ExportFormat = 'tar' | 'tar.gz' | 'tar.xz';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['tar', 'tar.gz', 'tar.xz'];

type Imported = components['schemas']['ImportedDistribution'];

async function openSource(file: string): Promise<{ stream: Readable; size?: number }> {
  if (file === '-') return { stream: process.stdin };
  try {
    const { size, isFile } = await stat(file).then((s) => ({ size: s.size, isFile: s.isFile() }));
    if (!isFile) throw new CliFailure('E_INVALIDARG', `${file} is not a file`);
    return { stream: createReadStream(file), size };
  } catch (error) {
    if (error instanceof CliFailure) throw error;
    throw new CliFailure('ERROR_FILE_NOT_FOUND', `cannot read ${file}: ${(error as Error).message}`);
  }
}

export async function importDistribution(connection: Connection, name: string, location: string, file: string): Promise<Imported> {
  const source = await openSource(file);
  const meter = progressMeter(`Importing ${name}`, source.size);
  const body = Readable.toWeb(source.stream.pipe(meter)) as unknown as ReadableStream<Uint8Array>;
  source.stream.on('error', (error) => meter.destroy(error));
  try {
    const answer = await connection.client.api.POST('/v1/distributions', {
      params: { query: { name, location: resolve(location) } },
      body: body as never,
      headers: { 'content-type': 'application/octet-stream' },
    });
    if (!answer.data) throw failureFromAnswer(answer.response.status, answer.error);
    return answer.data;
  } finally {
    meter.finish();
  }
}

/** The format a file's name asks for, when --format does not say. */
export function formatFromName(file: string): ExportFormat {
  if (/\.(tar\.gz|tgz)$/i.test(file)) return 'tar.gz';
  if (/\.(tar\.xz|txz)$/i.test(file)) return 'tar.xz';
  return 'tar';
}

export async function exportDistribution(connection: Connection, distro: string, file: string, format: ExportFormat): Promise<void> {
  const answer = await connection.client.api.GET('/v1/distributions/{distro}/export', {
    params: { path: { distro }, query: { format } },
    parseAs: 'stream',
  });
  if (!answer.response.ok) throw await failureFromResponse(answer.response);
  const total = Number(answer.response.headers.get('content-length')) || undefined;
  const meter = progressMeter(`Exporting ${distro}`, total);
  const body = Readable.fromWeb(answer.response.body as never);
  try {
    if (file === '-') {
      // A reader that stops early (`| tar t | head`) has what it wanted: no error for that.
      await pipeline(body, meter, process.stdout, { end: false }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE') throw error;
      });
    }
    else {
      try {
        await pipeline(body, meter, createWriteStream(file));
      } catch (error) {
        await rm(file, { force: true });
        throw error;
      }
    }
  } catch (error) {
    if (error instanceof CliFailure) throw error;
    throw new CliFailure('LXSSD_E_EXPORT', `the export of ${distro} failed: ${(error as Error).message}`);
  } finally {
    meter.finish();
  }
}
