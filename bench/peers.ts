// docker and podman on the bench's busybox rootfs (--peers): installed from Debian when missing, each engine's
// state in folders of the bench's own (so a machine's other docker is not touched), the rootfs imported (no
// registry is reachable), one container left running for `exec`. Everything started here is stopped here:
// the containers by name, dockerd by the pid we spawned it with.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, open } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

const STATE = '/var/lib/lxssd-bench';
const RUNTIME = '/run/lxssd-bench';
const IMAGE = 'lxssd-bench-busybox';
const CONTAINER = 'lxssd-bench-exec';

export interface PeerEngine {
  name: 'docker' | 'podman';
  /** argv of `ENGINE exec CTR true` */
  exec: string[];
  /** argv of `ENGINE run --rm IMG true` */
  coldRun: string[];
}

export interface Peers {
  engines: PeerEngine[];
  /** what was installed or started, for the results */
  notes: string[];
  stop(): Promise<void>;
}

async function onPath(program: string): Promise<boolean> {
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (await access(`${dir}/${program}`).then(() => true, () => false)) return true;
  }
  return false;
}

/** `apt-get install -y` the packages whose program is missing, after one `apt-get update`. */
async function installMissing(notes: string[]): Promise<void> {
  const wanted = [
    { program: 'dockerd', pkg: 'docker.io' },
    { program: 'podman', pkg: 'podman' },
  ];
  const missing: string[] = [];
  for (const { program, pkg } of wanted) if (!(await onPath(program))) missing.push(pkg);
  if (missing.length === 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  process.stderr.write(`[bench] apt-get install -y ${missing.join(' ')}\n`);
  await run('apt-get', ['update'], { env, maxBuffer: 64 << 20 });
  await run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env, maxBuffer: 64 << 20 });
  notes.push(`installed ${missing.join(', ')}`);
}

/** Waits (polling: a daemon's readiness has no event to await from outside) until `probe` succeeds. */
async function until(what: string, probe: () => Promise<unknown>, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it was ready`);
    if (await probe().then(() => true, () => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} was not ready in 60 s`);
    await delay(200);
  }
}

async function startDocker(rootfsTar: string, stops: Array<() => Promise<void>>): Promise<PeerEngine> {
  const socket = `${RUNTIME}/docker.sock`;
  await mkdir(`${STATE}/docker`, { recursive: true });
  await mkdir(`${RUNTIME}/docker-exec`, { recursive: true });
  const log = await open(`${STATE}/dockerd.log`, 'a');
  const dockerd = spawn(
    'dockerd',
    [
      '--host', `unix://${socket}`, '--data-root', `${STATE}/docker`, '--exec-root', `${RUNTIME}/docker-exec`,
      '--pidfile', `${RUNTIME}/dockerd.pid`, '--iptables=false', '--ip6tables=false', '--bridge=none',
    ],
    { stdio: ['ignore', log.fd, log.fd] },
  );
  await log.close();
  stops.push(async () => {
    if (dockerd.exitCode !== null || dockerd.signalCode !== null) return;
    const exited = once(dockerd, 'exit');
    process.kill(dockerd.pid!, 'SIGTERM');
    await exited;
  });
  const docker = (args: string[]) => run('docker', ['-H', `unix://${socket}`, ...args], { maxBuffer: 16 << 20 });
  await until('dockerd', () => docker(['info']), dockerd);
  await docker(['rm', '-f', CONTAINER]).catch(() => undefined);
  await docker(['import', rootfsTar, IMAGE]);
  await docker(['run', '-d', '--network', 'none', '--name', CONTAINER, IMAGE, 'sleep', '3600']);
  stops.push(async () => void (await docker(['rm', '-f', CONTAINER])));
  const cli = ['docker', '-H', `unix://${socket}`];
  return { name: 'docker', exec: [...cli, 'exec', CONTAINER, 'true'], coldRun: [...cli, 'run', '--rm', '--network', 'none', IMAGE, 'true'] };
}

async function startPodman(rootfsTar: string, stops: Array<() => Promise<void>>): Promise<PeerEngine> {
  const cli = [
    'podman', '--root', `${STATE}/podman`, '--runroot', `${RUNTIME}/podman`, '--runtime', 'runc',
    '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
  ];
  const podman = (args: string[]) => run(cli[0]!, [...cli.slice(1), ...args], { maxBuffer: 16 << 20 });
  const limits = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', 'none'];
  await podman(['rm', '-f', CONTAINER]).catch(() => undefined);
  await podman(['import', rootfsTar, IMAGE]);
  await podman(['run', '-d', ...limits, '--name', CONTAINER, IMAGE, 'sleep', '3600']);
  stops.push(async () => void (await podman(['rm', '-f', '-t', '0', CONTAINER])));
  return { name: 'podman', exec: [...cli, 'exec', CONTAINER, 'true'], coldRun: [...cli, 'run', '--rm', ...limits, IMAGE, 'true'] };
}

export async function startPeers(rootfsTar: string): Promise<Peers> {
  const notes: string[] = [];
  const stops: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const step of stops.reverse()) await step().catch((error: Error) => process.stderr.write(`[bench] stopping a peer: ${error.message}\n`));
  };
  try {
    await installMissing(notes);
    const engines = [await startDocker(rootfsTar, stops), await startPodman(rootfsTar, stops)];
    return { engines, notes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Runs argv to its end; throws unless it exits 0. */
export async function runCommand(argv: string[]): Promise<void> {
  await run(argv[0]!, argv.slice(1), { maxBuffer: 16 << 20 });
}
