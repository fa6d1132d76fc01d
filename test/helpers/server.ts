// A real lxssd for a test: built with buildServer, listening on an ephemeral loopback port and a local
// socket in a folder every user can reach; closed and removed after the test, and every event its buses carried
// checked against the document.

import type { TestContext } from 'node:test';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, resolveConfig } from '../../src/config.js';
import { startListening } from '../../src/listen.js';
import { buildServer, type LxssServer, type ServerDeps } from '../../src/server.js';
import { assertEventsMatchDocument } from './event-contract.js';

export interface TestServer {
  app: LxssServer;
  config: Config;
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  socketPath: string;
  stateDir: string;
}

export type ConfigOverrides = Partial<Omit<Config, 'listen' | 'stateDir' | 'socketPath'>>;

/** A folder under the system temp dir that other users may enter (mkdtemp makes 0700 ones). */
export async function sharedTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}

/**
 * Starts a server. With `dir`, its state and socket live there and survive the server (to test a restart);
 * the caller removes `dir`. Without, a fresh folder is used and removed after the test. `deps.hv`: another
 * hypervisor backend than the host's (the stub).
 */
export async function startServer(
  t: TestContext,
  overrides: ConfigOverrides = {},
  dir?: string,
  deps: ServerDeps = {},
): Promise<TestServer> {
  const root = dir ?? (await sharedTempDir('lxssd-test-'));
  const stateDir = join(root, 'state');
  const socketPath = join(root, 'run', 'lxssd.sock');
  const config = Object.freeze({
    ...resolveConfig({
      isRoot: process.getuid?.() === 0,
      home: tmpdir(),
      env: {},
      flags: { listen: '127.0.0.1:0', socket: socketPath, stateDir, logLevel: 'silent' },
    }),
    ...overrides,
  });
  const app = await buildServer(config, deps);
  t.after(async () => {
    await app.close();
    if (dir === undefined) await rm(root, { recursive: true, force: true });
    // After the close, so the events of shutting down are checked too.
    assertEventsMatchDocument(app);
  });
  const listening = await startListening(app, config);
  return { app, config, url: listening.url, port: listening.port, socketPath, stateDir };
}
