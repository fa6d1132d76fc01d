// The lxssd under test: the real `lxssd serve` in its own process (as an operator runs it, at its default log
// level), with limits raised so 1,000 processes and 100 streams fit, and root's busybox distribution `bench`.

import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serve } from '../test/helpers/binary.js';
import { importAs, readableArchive } from '../test/helpers/distros.js';
import { localRequest, type LocalResponse } from '../test/helpers/local-client.js';
import { tokenOf } from '../test/helpers/process-client.js';
import { busyboxRootfsTar } from '../test/helpers/rootfs.js';
import { sharedTempDir } from '../test/helpers/server.js';
import { ensureUser } from '../test/helpers/users.js';

export const DISTRO = 'bench';
/** The service's log of the latest run. */
export const SERVICE_LOG = join(tmpdir(), 'lxssd-bench-service.log');

export interface Service {
  child: ChildProcess;
  pid: number;
  port: number;
  url: string;
  socketPath: string;
  token: string;
  /** a request over the local socket, as root */
  request(method: string, path: string, body?: unknown): Promise<LocalResponse>;
  /** run argv to completion in the bench distribution; throws unless it exits 0 */
  run(argv: string[]): Promise<void>;
  /** the service process's resident set, KiB */
  rssKiB(): Promise<number>;
  stop(): Promise<void>;
}

function configFor(concurrent: number): string {
  const room = Math.max(4096, concurrent * 4);
  return [
    '[lxssd]',
    `maxProcesses=${room}`,
    `maxStreams=${room}`,
    `maxConnectionsPerPeer=${room}`,
    `maxConnections=${room * 2}`,
    '[general]',
    // The cold-start row stops the instance itself; nothing else should.
    'instanceIdleTimeout=-1',
    '[wsl2]',
    'vmIdleTimeout=-1',
    `maxPids=${room * 2}`,
    '',
  ].join('\n');
}

export async function startService(concurrent: number): Promise<Service> {
  if (process.getuid?.() !== 0) throw new Error('the bench needs root (namespaces, users, peers)');
  const dir = await sharedTempDir('lxssd-bench-');
  const cleanups: Array<() => Promise<unknown>> = [() => rm(dir, { recursive: true, force: true })];
  const context = { after: (fn: () => Promise<unknown>) => cleanups.push(fn) } as unknown as Parameters<typeof readableArchive>[0];
  const socketPath = join(dir, 'run', 'lxssd.sock');
  const configPath = join(dir, 'lxssd.conf');
  await writeFile(configPath, configFor(concurrent));
  const { child, url } = await serve(['--listen', '127.0.0.1:0', '--socket', socketPath, '--state-dir', join(dir, 'state'), '--config', configPath]);
  // Its log goes to a pipe: read it (or the service blocks on a full pipe) into a file kept after the run,
  // where a failed request's "see the service log" can be looked up.
  const log = createWriteStream(SERVICE_LOG);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      process.kill(child.pid!, 'SIGTERM');
      // A wedged service may never finish its graceful stop: the bench must still end, and clean up.
      const timer = setTimeout(() => process.kill(child.pid!, 'SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  try {
    await importAs(await ensureUser('root'), socketPath, DISTRO, await readableArchive(context, await busyboxRootfsTar()));
    const token = await tokenOf({ socketPath });
    const request = (method: string, path: string, body?: unknown) => localRequest(socketPath, method, path, body);
    return {
      child,
      pid: child.pid!,
      port: Number(new URL(url).port),
      url,
      socketPath,
      token,
      request,
      async run(argv) {
        const response = await request('POST', `/v1/distributions/${DISTRO}/run`, { argv });
        if (response.body?.exitCode !== 0) throw new Error(`run ${argv.join(' ')}: ${response.status} ${JSON.stringify(response.body)}`);
      },
      async rssKiB() {
        const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
        return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
