// Starts a floor server (floor-server.ts) in its own process and stops it by its pid.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface FloorProcess {
  child: ChildProcess;
  port: number;
  info: Record<string, unknown>;
  stop(): Promise<void>;
}

export async function startFloor(mode: 'ws-echo' | 'fastify' | 'sse'): Promise<FloorProcess> {
  const script = new URL('./floor-server.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [script, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => [undefined])])) as [string | undefined];
  if (line === undefined) throw new Error(`the ${mode} floor exited before it was ready`);
  const info = JSON.parse(line) as Record<string, unknown>;
  return {
    child,
    port: Number(info.port),
    info,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      process.kill(child.pid!, 'SIGTERM');
      await exited;
    },
  };
}
