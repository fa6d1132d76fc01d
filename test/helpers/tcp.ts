// Raw loopback TCP for the security tests: connections from any 127/8 source address, idle ones that send
// nothing, and one-shot requests on a connection of their own.

import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serve } from './binary.js';
import { sharedTempDir } from './server.js';

export interface TcpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** One request on a new connection (no agent, no keep-alive) from `localAddress`. */
export function tcpRequest(
  port: number,
  method: string,
  path: string,
  options: { token?: string; localAddress?: string; body?: unknown } = {},
): Promise<TcpResponse> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        localAddress: options.localAddress,
        headers: {
          host: `127.0.0.1:${port}`,
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A connection that sends nothing; `data` is what the server wrote, `closed` settles when it is closed. */
export interface IdleConnection {
  socket: Socket;
  data: () => string;
  closed: Promise<void>;
}

export async function idleConnection(port: number, localAddress = '127.0.0.1'): Promise<IdleConnection> {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  await Promise.race([once(socket, 'connect'), closed]);
  return { socket, data: () => text, closed };
}

export interface ServiceProcess {
  child: ChildProcess;
  url: string;
  port: number;
  socketPath: string;
  dir: string;
  /** true while the process has not exited */
  alive(): boolean;
}

/**
 * The real `lxssd serve` as a separate process, with `settings` in its config file's [lxssd] section: where a
 * crash is what a test looks for, the service must not share the test's process. Stopped after the test.
 */
export async function serveProcess(t: TestContext, settings: Record<string, string | number> = {}): Promise<ServiceProcess> {
  const dir = await sharedTempDir('lxssd-security-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'run'));
  const configFile = join(dir, 'lxssd.conf');
  await writeFile(configFile, `[lxssd]\n${Object.entries(settings).map(([key, value]) => `${key} = ${value}`).join('\n')}\n`);
  const socketPath = join(dir, 'run', 'lxssd.sock');
  const { child, url } = await serve([
    '--listen',
    '127.0.0.1:0',
    '--socket',
    socketPath,
    '--state-dir',
    join(dir, 'state'),
    '--config',
    configFile,
    '--log-level',
    'info',
  ]);
  child.stdout?.resume();
  child.stderr?.resume();
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  });
  return {
    child,
    url,
    port: Number(new URL(url).port),
    socketPath,
    dir,
    alive: () => child.exitCode === null && child.signalCode === null,
  };
}
