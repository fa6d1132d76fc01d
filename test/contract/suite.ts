// The hv contract as behaviour: what core may rely on from any backend, asked through src/hv's interface only
// (never a backend's internals), so every backend passes the same tests — the Linux one for real, the stub in
// memory, and later the Windows one. The programs used are those the stub's guest implements and busybox has,
// invoked the same way for both.

import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import {
  HvError,
  type HvErrorKind,
  type HvInstance,
  type HvProcess,
  type HvVm,
  type ImportLimits,
  type InstanceSpec,
  type RegistrationRecord,
  SIGKILL,
  SIGTERM,
  type VmLimits,
} from '../../src/hv/index.js';
import { craftedTar } from '../helpers/rootfs.js';
import type { ContractTarget, ContractTargetFactory } from './target.js';

const ENV = ['PATH=/bin:/usr/bin', 'HOME=/root'];
const LIMITS: VmLimits = { memoryBytes: null, swapBytes: null, processors: null, maxProcesses: 256 };
const GENEROUS: ImportLimits = { maxBytes: 1 << 30, maxEntries: 100_000 };
/** A SID no host gives a user of its own (the world's "nobody"). */
const NOBODY = 'S-1-0-0';

interface RunResult {
  exitCode: number;
  signal: number | null;
  stdout: string;
  stderr: string;
}

/** Reads a stream to its end as text. */
function text(stream: Readable | null): Promise<string> {
  if (!stream) return Promise.resolve('');
  let collected = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => (collected += chunk));
  return new Promise((resolve, reject) => {
    stream.on('end', () => resolve(collected));
    stream.on('error', reject);
  });
}

/** Listens to a process's output in the turn it was spawned in (as the contract asks) and awaits its end. */
async function completion(process: HvProcess, input?: string): Promise<RunResult> {
  const outputs = Promise.all([text(process.stdout), text(process.stderr)]);
  process.stdin?.on('error', () => undefined);
  process.stdin?.end(input);
  const [status, [stdout, stderr]] = await Promise.all([process.exited, outputs]);
  return { ...status, stdout, stderr };
}

async function run(instance: HvInstance, argv: string[], options: { input?: string; cwd?: string; env?: string[] } = {}): Promise<RunResult> {
  const process = await instance.spawn({ argv, env: options.env ?? ENV, cwd: options.cwd });
  return completion(process, options.input);
}

/** The member names of a tar, as paths from its root (`./bin/` → `bin`), sorted; the root itself left out. */
async function tarNames(archive: Readable): Promise<string[]> {
  const extract = tar.extract();
  const names: string[] = [];
  extract.on('entry', (header, stream, next) => {
    names.push(header.name.replace(/^\.\//, '').replace(/\/$/, ''));
    stream.on('end', next);
    stream.resume();
  });
  const finished = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
    archive.on('error', reject);
  });
  archive.pipe(extract as unknown as NodeJS.WritableStream);
  await finished;
  return names.filter((name) => name !== '' && name !== '.').sort();
}

/** Bytes of regular files in a tar. */
async function fileBytes(path: string): Promise<number> {
  const extract = tar.extract();
  let bytes = 0;
  extract.on('entry', (header, stream, next) => {
    if (header.type === 'file') bytes += header.size ?? 0;
    stream.on('end', next);
    stream.resume();
  });
  const finished = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  createReadStream(path).pipe(extract as unknown as NodeJS.WritableStream);
  await finished;
  return bytes;
}

/** Writes to `dest` the tar `source` with `files` (path from the root → content) added or put in place of its own. */
async function tarWith(source: string, dest: string, files: Record<string, string>): Promise<void> {
  const extract = tar.extract();
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(dest));
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    stream.on('end', () => {
      if (header.name.replace(/^\.\//, '') in files) next();
      else pack.entry(header, Buffer.concat(chunks), next);
    });
  });
  await pipeline(createReadStream(source), extract as unknown as NodeJS.WritableStream);
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644, uid: 0, gid: 0 }, content);
  pack.finalize();
  await written;
}

/** Asserts that `promise` rejects with an HvError of `kind` (and, for launches, its exit code). */
async function rejectsWith(promise: Promise<unknown>, kind: HvErrorKind, what: string, exitCode?: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof HvError, `${what}: an HvError, not ${String(error)}`);
    assert.equal(error.kind, kind, `${what}: ${error.message}`);
    if (exitCode !== undefined) assert.equal(error.exitCode, exitCode, `${what}: exit code`);
    return true;
  });
}

/** Reads the terminal until what it printed matches `pattern`; returns all it printed so far. */
function terminalShows(terminal: NodeJS.ReadableStream, pattern: RegExp, seen: { text: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!pattern.test(seen.text)) return;
      terminal.off('data', onData);
      terminal.off('end', onEnd);
      resolve(seen.text);
    };
    const onData = (chunk: Buffer): void => {
      seen.text += chunk.toString('utf8');
      check();
    };
    const onEnd = (): void => reject(new Error(`the terminal ended before showing ${pattern}: ${JSON.stringify(seen.text)}`));
    terminal.on('data', onData);
    terminal.on('end', onEnd);
    check();
  });
}

export function hypervisorContract(name: string, contractTarget: ContractTargetFactory): void {
  describe(`hv contract (${name})`, { timeout: 300_000 }, () => {
    let target: ContractTarget | undefined;
    let skipReason: string | undefined;
    let scratch = '';
    let distros = '';
    let made = 0;

    before(async () => {
      const built = await contractTarget();
      if ('skip' in built) {
        skipReason = built.skip;
        return;
      }
      target = built;
      // The owner must reach what the suite makes for it (mkdtemp makes 0700 folders).
      scratch = await mkdtemp(join(tmpdir(), 'lxssd-contract-'));
      await chmod(scratch, 0o755);
      distros = join(scratch, 'distros');
      await target.hv.files.ensureOwnedFolder(target.owner, distros);
    });

    after(async () => {
      if (scratch) await rm(scratch, { recursive: true, force: true });
      await target?.close?.();
    });

    /** The target, or undefined after skipping the test with the reason. */
    const targetFor = (t: TestContext): ContractTarget | undefined => {
      if (target) return target;
      t.skip(skipReason ?? 'the target did not start');
      return undefined;
    };

    /** A fresh base path, its root filesystem removed after the test. */
    async function createdBase(t: TestContext, { hv, owner }: ContractTarget): Promise<string> {
      const basePath = join(distros, `d${++made}`);
      await hv.files.create(owner, basePath);
      t.after(() => hv.files.remove(owner, basePath));
      return basePath;
    }

    async function importFile(c: ContractTarget, basePath: string, file: string, limits = GENEROUS) {
      const archive = createReadStream(file);
      try {
        return await c.hv.files.importArchive(c.owner, basePath, archive, limits);
      } finally {
        archive.destroy();
      }
    }

    async function importedBase(t: TestContext, c: ContractTarget): Promise<string> {
      const basePath = await createdBase(t, c);
      await importFile(c, basePath, c.rootfsTar);
      return basePath;
    }

    const instanceSpec = (basePath: string, name = 'contract', automount: InstanceSpec['automount'] = []): InstanceSpec => ({
      basePath,
      name,
      automount,
    });

    /** A fresh distribution whose root filesystem is the target's with `files` added. */
    async function importedWith(t: TestContext, c: ContractTarget, files: Record<string, string>): Promise<string> {
      const tarPath = join(scratch, `rootfs-${++made}.tar`);
      await tarWith(c.rootfsTar, tarPath, files);
      const basePath = await createdBase(t, c);
      await importFile(c, basePath, tarPath);
      return basePath;
    }

    /** A host folder holding hello.txt, that the owner may read. */
    async function hostFolder(): Promise<string> {
      const hostPath = join(scratch, `host-${++made}`);
      await mkdir(hostPath, { mode: 0o755 });
      await chmod(hostPath, 0o755);
      await writeFile(join(hostPath, 'hello.txt'), 'from the host\n', { mode: 0o644 });
      return hostPath;
    }

    /** A VM and an instance of a fresh distribution, stopped after the test (or suite) unless stopped before. */
    async function startedInstance(t: TestContext, c: ContractTarget): Promise<{ vm: HvVm; instance: HvInstance; basePath: string }> {
      const basePath = await importedBase(t, c);
      const vm = await c.hv.startVm(c.owner, LIMITS);
      t.after(() => vm.stop());
      return { vm, instance: await vm.startInstance(instanceSpec(basePath)), basePath };
    }

    describe('distribution files', () => {
      it('create makes an empty root filesystem that is present, and refuses a second one with exists', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const basePath = await createdBase(t, c);
        assert.equal(await c.hv.files.present(c.owner, basePath), true);
        assert.equal(await c.hv.files.present(c.owner, join(distros, 'never-made')), false);
        await rejectsWith(c.hv.files.create(c.owner, basePath), 'exists', 'a second create');
      });

      it('importArchive extracts a tar that readFile reads and sizeOnDisk counts', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const basePath = await createdBase(t, c);
        const empty = await c.hv.files.sizeOnDisk(c.owner, basePath);
        let progress = 0;
        const result = await importFile(c, basePath, c.rootfsTar, { ...GENEROUS, onProgress: () => progress++ });
        assert.ok(result.entries > 0, `entries: ${result.entries}`);
        assert.ok(result.bytes > 0, `bytes: ${result.bytes}`);
        assert.ok(progress > 0, 'onProgress was told');
        assert.match((await c.hv.files.readFile(c.owner, basePath, '/etc/os-release')) ?? '', /^ID=/m);
        assert.equal(await c.hv.files.readFile(c.owner, basePath, '/etc/no-such-file'), undefined);
        const size = await c.hv.files.sizeOnDisk(c.owner, basePath);
        assert.ok(size >= (await fileBytes(c.rootfsTar)), `sizeOnDisk ${size} holds the files`);
        assert.ok(size > empty, `sizeOnDisk ${size} grew from ${empty}`);
      });

      it('exportArchive gives back the entries imported, as tar and as tar.gz', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const basePath = await importedBase(t, c);
        const imported = await tarNames(createReadStream(c.rootfsTar));
        assert.deepEqual(await tarNames(await c.hv.files.exportArchive(c.owner, basePath, 'tar')), imported, 'tar');
        const gz = await c.hv.files.exportArchive(c.owner, basePath, 'tar.gz');
        assert.deepEqual(await tarNames(gz.pipe(createGunzip())), imported, 'tar.gz');
      });

      it('move takes the root filesystem to a new base path, and refuses one that is taken with exists', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const from = await importedBase(t, c);
        const to = join(distros, `moved-${++made}`);
        t.after(() => c.hv.files.remove(c.owner, to));
        await c.hv.files.move(c.owner, from, to);
        assert.equal(await c.hv.files.present(c.owner, from), false, 'gone from the old base');
        assert.equal(await c.hv.files.present(c.owner, to), true, 'at the new base');
        assert.match((await c.hv.files.readFile(c.owner, to, '/etc/os-release')) ?? '', /^ID=/m);
        const taken = await createdBase(t, c);
        await rejectsWith(c.hv.files.move(c.owner, to, taken), 'exists', 'a move onto another root filesystem');
        assert.equal(await c.hv.files.present(c.owner, to), true, 'a refused move leaves it where it was');
      });

      it('remove takes the root filesystem away: then it is not present and exporting it is files-missing', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const basePath = await importedBase(t, c);
        await c.hv.files.remove(c.owner, basePath);
        assert.equal(await c.hv.files.present(c.owner, basePath), false);
        assert.equal(await c.hv.files.readFile(c.owner, basePath, '/etc/os-release'), undefined);
        await rejectsWith(c.hv.files.exportArchive(c.owner, basePath, 'tar'), 'files-missing', 'exporting a removed one');
      });

      it('refuses an archive that is no tar, holds nothing, or reaches outside, with invalid-archive', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const dir = join(scratch, `archives-${++made}`);
        await mkdir(dir);
        const cases: Array<[string, (file: string) => Promise<void>]> = [
          ['not a tar', (file) => writeFile(file, 'this is not a tar archive\n'.repeat(100))],
          ['no entries', (file) => writeFile(file, Buffer.alloc(1024))],
          ['a ".." entry', (file) => craftedTar(file, [{ type: 'file', name: '../escaped', content: 'x' }])],
          ['an absolute entry', (file) => craftedTar(file, [{ type: 'file', name: '/etc/escaped', content: 'x' }])],
          [
            'an entry through a symlink',
            (file) =>
              craftedTar(file, [
                { type: 'symlink', name: 'out', target: '/' },
                { type: 'file', name: 'out/escaped', content: 'x' },
              ]),
          ],
        ];
        for (const [what, make] of cases) {
          const file = join(dir, `${made++}.tar`);
          await make(file);
          await rejectsWith(importFile(c, await createdBase(t, c), file), 'invalid-archive', what);
        }
      });

      it('findUser finds a user of the distribution by name or uid, any uid, and no unknown name', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const basePath = await importedBase(t, c);
        const root = { uid: 0, name: 'root', home: '/root', shell: '/bin/sh' };
        const alice = { uid: 1000, name: 'alice', home: '/home/alice', shell: '/bin/sh' };
        assert.deepEqual(await c.hv.files.findUser(c.owner, basePath, 'root'), root, 'root by name');
        assert.deepEqual(await c.hv.files.findUser(c.owner, basePath, 0), root, 'root by uid');
        assert.deepEqual(await c.hv.files.findUser(c.owner, basePath, 'alice'), alice, 'alice by name');
        assert.deepEqual(await c.hv.files.findUser(c.owner, basePath, 1000), alice, 'alice by uid');
        assert.deepEqual(
          await c.hv.files.findUser(c.owner, basePath, 4242),
          { uid: 4242, name: '4242', home: '/', shell: '/bin/sh' },
          'a uid /etc/passwd does not list is still a user',
        );
        assert.equal(await c.hv.files.findUser(c.owner, basePath, 'no-such-user'), undefined, 'an unknown name');
      });

      it('holds an import to its limits: too-large over maxBytes, invalid-archive over maxEntries', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        await rejectsWith(importFile(c, await createdBase(t, c), c.rootfsTar, { maxBytes: 4096, maxEntries: 100_000 }), 'too-large', 'maxBytes 4096');
        await rejectsWith(importFile(c, await createdBase(t, c), c.rootfsTar, { maxBytes: 1 << 30, maxEntries: 3 }), 'invalid-archive', 'maxEntries 3');
      });
    });

    describe('VMs and instances', () => {
      it('a VM starts, and stop settles its ended', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const vm = await c.hv.startVm(c.owner, LIMITS);
        assert.ok(vm.pid === undefined || Number.isInteger(vm.pid), `a pid, where the backend tells one: ${vm.pid}`);
        assert.ok(vm.startedAt instanceof Date);
        const resources = await vm.resources();
        assert.equal(typeof resources.limited, 'boolean');
        await vm.stop();
        await vm.ended;
      });

      it('an instance starts, counts its PID 1, and terminate settles ended', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const { instance } = await startedInstance(t, c);
        assert.ok(instance.pid === undefined || Number.isInteger(instance.pid), `a pid, where the backend tells one: ${instance.pid}`);
        assert.ok((await instance.processCount()) >= 1, 'PID 1 is counted');
        await instance.terminate();
        await instance.ended;
      });

      it('starting a distribution whose root filesystem was removed is files-missing', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const basePath = await importedBase(t, c);
        await c.hv.files.remove(c.owner, basePath);
        const vm = await c.hv.startVm(c.owner, LIMITS);
        t.after(() => vm.stop());
        await rejectsWith(vm.startInstance(instanceSpec(basePath)), 'files-missing', 'a start after remove');
      });
    });

    describe('guest setup', () => {
      it('names the host after the distribution, and writes /etc/hosts and /etc/resolv.conf', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const vm = await c.hv.startVm(c.owner, LIMITS);
        t.after(() => vm.stop());
        const instance = await vm.startInstance(instanceSpec(await importedBase(t, c), 'Contract_Guest.1'));
        assert.deepEqual(instance.guest, { hostname: 'Contract-Guest-1', shared: [] }, 'no default user, boot command or folders');
        const hostname = await run(instance, ['hostname']);
        assert.equal(hostname.stdout, 'Contract-Guest-1\n', hostname.stderr);
        const hosts = await run(instance, ['cat', '/etc/hosts']);
        assert.match(hosts.stdout, /^127\.0\.1\.1\tContract-Guest-1$/m, hosts.stderr);
        const resolv = await run(instance, ['cat', '/etc/resolv.conf']);
        assert.equal(resolv.exitCode, 0, resolv.stderr);
      });

      it('takes the hostname, /etc/hosts, the default user and the boot command from /etc/wsl.conf', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const basePath = await importedWith(t, c, {
          'etc/wsl.conf': '[network]\nhostname = fromconf\ngenerateHosts = false\n[user]\ndefault = alice\n[boot]\ncommand = echo booted\n',
          'etc/hosts': '127.0.0.1\tthe distribution\'s own\n',
        });
        const vm = await c.hv.startVm(c.owner, LIMITS);
        t.after(() => vm.stop());
        const instance = await vm.startInstance(instanceSpec(basePath));
        assert.deepEqual(instance.guest, { hostname: 'fromconf', shared: [], defaultUser: 'alice', bootCommand: 'echo booted' });
        const hostname = await run(instance, ['hostname']);
        assert.equal(hostname.stdout, 'fromconf\n', hostname.stderr);
        const hosts = await run(instance, ['cat', '/etc/hosts']);
        assert.equal(hosts.stdout, "127.0.0.1\tthe distribution's own\n", `generateHosts = false keeps it: ${hosts.stderr}`);
      });

      it('automounts host folders under /mnt/, where a process sees them', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const hostPath = await hostFolder();
        const vm = await c.hv.startVm(c.owner, LIMITS);
        t.after(() => vm.stop());
        const instance = await vm.startInstance(instanceSpec(await importedBase(t, c), 'contract', [{ name: 'contract', hostPath }]));
        assert.deepEqual(instance.guest.shared, [{ hostPath, target: '/mnt/contract', readOnly: false }]);
        const read = await run(instance, ['cat', '/mnt/contract/hello.txt']);
        assert.deepEqual([read.exitCode, read.stdout], [0, 'from the host\n'], read.stderr);
      });

      it('automounts nothing when /etc/wsl.conf says [automount] enabled = false', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const hostPath = await hostFolder();
        const basePath = await importedWith(t, c, { 'etc/wsl.conf': '[automount]\nenabled = false\n' });
        const vm = await c.hv.startVm(c.owner, LIMITS);
        t.after(() => vm.stop());
        const instance = await vm.startInstance(instanceSpec(basePath, 'contract', [{ name: 'contract', hostPath }]));
        assert.deepEqual(instance.guest.shared, []);
        const read = await run(instance, ['cat', '/mnt/contract/hello.txt']);
        assert.notEqual(read.exitCode, 0, `not mounted: ${read.stdout}`);
      });
    });

    describe('processes', () => {
      let shared: HvInstance | undefined;
      let sharedVm: HvVm | undefined;

      before(async () => {
        if (!target) return;
        const basePath = join(distros, 'processes');
        await target.hv.files.create(target.owner, basePath);
        await importFile(target, basePath, target.rootfsTar);
        sharedVm = await target.hv.startVm(target.owner, LIMITS);
        shared = await sharedVm.startInstance(instanceSpec(basePath));
      });

      after(async () => {
        await sharedVm?.stop();
        if (target) await target.hv.files.remove(target.owner, join(distros, 'processes'));
      });

      const instanceFor = (t: TestContext): HvInstance | undefined => (targetFor(t) ? shared : undefined);

      it('reports exit codes 0, 1 and N with no signal', async (t) => {
        const instance = instanceFor(t);
        if (!instance) return;
        for (const [argv, code] of [[['true'], 0], [['false'], 1], [['sh', '-c', 'exit 7'], 7]] as const) {
          const result = await run(instance, [...argv]);
          assert.deepEqual([result.exitCode, result.signal], [code, null], `${argv.join(' ')}: ${result.stderr}`);
        }
      });

      it('keeps stdout and stderr apart', async (t) => {
        const instance = instanceFor(t);
        if (!instance) return;
        const result = await run(instance, ['sh', '-c', 'echo out; echo err >&2']);
        assert.deepEqual([result.stdout, result.stderr, result.exitCode], ['out\n', 'err\n', 0]);
      });

      it('ends cat at stdin EOF, with what it was given', async (t) => {
        const instance = instanceFor(t);
        if (!instance) return;
        const result = await run(instance, ['cat'], { input: 'line one\nline two\n' });
        assert.deepEqual([result.stdout, result.exitCode], ['line one\nline two\n', 0], result.stderr);
      });

      it('runs with the environment and working folder it was given', async (t) => {
        const instance = instanceFor(t);
        if (!instance) return;
        const env = await run(instance, ['env'], { env: [...ENV, 'CONTRACT=yes'] });
        assert.ok(env.stdout.split('\n').includes('CONTRACT=yes'), env.stdout);
        const pwd = await run(instance, ['pwd'], { cwd: '/tmp' });
        assert.equal(pwd.stdout, '/tmp\n', pwd.stderr);
      });

      it('ends a process killed with SIGTERM or SIGKILL with 128+N and signal N, and counts it while it runs', async (t) => {
        const instance = instanceFor(t);
        if (!instance) return;
        const before = await instance.processCount();
        for (const signal of [SIGTERM, SIGKILL]) {
          const sleeper = await instance.spawn({ argv: ['sleep', '30'], env: ENV });
          const done = completion(sleeper);
          assert.equal(await instance.processCount(), before + 1, `signal ${signal}: the sleeper is counted`);
          await sleeper.kill(signal);
          const result = await done;
          assert.deepEqual([result.exitCode, result.signal], [128 + signal, signal], `signal ${signal}`);
        }
        assert.equal(await instance.processCount(), before, 'none is left counted');
      });

      it('refuses to signal a process that has exited, with exited', async (t) => {
        const instance = instanceFor(t);
        if (!instance) return;
        const process = await instance.spawn({ argv: ['true'], env: ENV });
        await completion(process);
        await rejectsWith(process.kill(SIGTERM), 'exited', 'a signal after the exit');
      });

      it('fails to launch a missing program with launch-failed 127', async (t) => {
        const instance = instanceFor(t);
        if (!instance) return;
        for (const argv of [['/bin/no-such-program'], ['no-such-program']]) {
          await rejectsWith(instance.spawn({ argv, env: ENV }), 'launch-failed', argv[0]!, 127);
        }
      });

      it('gives a terminal process its size, and a resize', async (t) => {
        const instance = instanceFor(t);
        if (!instance) return;
        const process = await instance.spawn({
          argv: ['sh', '-c', 'stty size; read line; stty size'],
          env: ENV,
          tty: { cols: 80, rows: 24 },
        });
        assert.deepEqual([process.stdin, process.stdout, process.stderr], [null, null, null], 'a terminal, not pipes');
        const terminal = process.terminal!;
        // A pty's master may fail with EIO once the process is gone: that is its end, not the test's.
        terminal.on('error', () => undefined);
        const seen = { text: '' };
        await terminalShows(terminal, /24 80/, seen);
        await process.resize(100, 30);
        terminal.write('\r');
        await terminalShows(terminal, /30 100/, seen);
        assert.deepEqual(await process.exited, { exitCode: 0, signal: null }, seen.text);
        await rejectsWith(process.resize(90, 20), 'exited', 'a resize after the exit');
      });

      it('shows a shared host folder at its target until it is unshared', async (t) => {
        const c = targetFor(t);
        const instance = instanceFor(t);
        if (!c || !instance) return;
        const hostPath = await hostFolder();
        await instance.share({ hostPath, target: '/mnt/contract', readOnly: true });
        const read = await run(instance, ['cat', '/mnt/contract/hello.txt']);
        assert.deepEqual([read.exitCode, read.stdout], [0, 'from the host\n'], read.stderr);
        const listed = await run(instance, ['ls', '/mnt/contract']);
        assert.equal(listed.stdout, 'hello.txt\n', listed.stderr);
        await instance.unshare('/mnt/contract');
        const after = await run(instance, ['cat', '/mnt/contract/hello.txt']);
        assert.notEqual(after.exitCode, 0, `unshared, the file is not there: ${after.stdout}`);
        assert.equal(await readFile(join(hostPath, 'hello.txt'), 'utf8'), 'from the host\n', 'the host folder is untouched');
      });
    });

    describe('host accounts', () => {
      it("tells the owner's account and whether it administers the service, and nothing of a SID that is no user", (t) => {
        const c = targetFor(t);
        if (!c) return;
        const account = c.hv.account(c.owner);
        assert.ok(account, 'the owner has an account');
        assert.equal(account.name, c.ownerAccount.name, JSON.stringify(account));
        assert.equal(typeof account.home, 'string');
        assert.ok(account.uid === null || Number.isInteger(account.uid), `uid: ${account.uid}`);
        assert.equal(c.hv.isAdministrator(c.owner), c.ownerAccount.administrator);
        assert.equal(c.hv.account(NOBODY), undefined);
        assert.equal(c.hv.isAdministrator(NOBODY), false);
      });
    });

    describe('registrations', () => {
      const record = (id: string, name: string, createdAt: string): RegistrationRecord => ({
        id,
        name,
        basePath: join(distros, name),
        version: 2,
        state: 'Installed',
        defaultUid: 0,
        flags: 0,
        defaultEnvironment: ENV,
        createdAt,
        sizeBytes: 0,
      });

      it("keeps the owner's records and default, for a backend whose platform registers distributions", async (t) => {
        const c = targetFor(t);
        if (!c) return;
        if (!c.hv.registrations) {
          t.skip('this backend registers nothing: the service keeps its own registry');
          return;
        }
        const first = record('00000000-0000-4000-8000-000000000001', 'Contract-One', '2024-01-01T00:00:00.000Z');
        const second = record('00000000-0000-4000-8000-000000000002', 'Contract-Two', '2024-01-02T00:00:00.000Z');
        const store = await c.hv.registrations(c.owner);
        t.after(() => Promise.all([store.remove(first.id), store.remove(second.id)]));
        await store.put(second);
        await store.put(first);
        assert.deepEqual(store.get(first.id), first);
        assert.deepEqual(store.byName('contract-two'), second, 'names are case-insensitive');
        assert.equal(store.byName('no-such-distribution'), undefined);
        const ours = (all: RegistrationRecord[]) => all.filter((entry) => entry.id === first.id || entry.id === second.id);
        assert.deepEqual(ours(store.all()), [first, second], 'oldest first');
        await store.setDefault(second.id);
        assert.equal(store.defaultDistribution, second.id);
        const again = await c.hv.registrations(c.owner);
        assert.deepEqual([ours(again.all()), again.defaultDistribution], [[first, second], second.id], "the owner's, not one call's");
        const renamed = { ...first, name: 'Contract-Renamed' };
        await store.put(renamed);
        assert.deepEqual([store.get(first.id), store.byName('Contract-One')], [renamed, undefined], 'put replaces by id');
        await store.remove(second.id);
        assert.equal(store.get(second.id), undefined);
        assert.equal(store.defaultDistribution, null, 'the default went with its record');
      });
    });

    describe('shutdown', () => {
      it('stopping a VM ends its instances and their running processes', async (t) => {
        const c = targetFor(t);
        if (!c) return;
        const { vm, instance, basePath } = await startedInstance(t, c);
        const sleeper = await instance.spawn({ argv: ['sleep', '30'], env: ENV });
        const reader = await instance.spawn({ argv: ['cat'], env: ENV });
        const ends = [completion(sleeper), Promise.all([reader.exited, text(reader.stdout), text(reader.stderr)]).then(([status]) => status)];
        await vm.stop();
        await instance.ended;
        await vm.ended;
        for (const [i, status] of (await Promise.all(ends)).entries()) {
          assert.notEqual(status.signal, null, `process ${i} was ended by a signal: ${JSON.stringify(status)}`);
          assert.equal(status.exitCode, 128 + status.signal!, `process ${i}: 128+N`);
        }
        await assert.rejects(instance.spawn({ argv: ['true'], env: ENV }), 'no launch in an ended instance');
        await assert.rejects(vm.startInstance(instanceSpec(basePath)), 'no instance in a stopped VM');
      });
    });
  });
}
