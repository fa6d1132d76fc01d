// A service killed with SIGKILL in the middle of a large import leaves nothing behind once it is started
// again: no half distribution in the registry, no files on disk, no extractor process, and the name is free.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { readFile, readdir, readlink, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { killHard } from '../helpers/binary.js';
import { eventually } from '../helpers/eventually.js';
import { localRequest } from '../helpers/local-client.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { sharedTempDir } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot, type TestUser } from '../helpers/users.js';
import { ustarFileHeader } from '../helpers/ustar.js';

const lxssd = new URL('../../../bin/lxssd.js', import.meta.url).pathname;

const MiB = 1024 * 1024;
/** The size of the one file in the archive: the whole upload is this plus a header and the end blocks. */
const BIG_FILE_BYTES = 200 * MiB;
/** The writer stops here, well inside the archive, so the service is killed with the import under way. */
const PAUSE_AFTER_BYTES = 64 * MiB;
/** What must already be on disk when the service is killed. */
const MIN_ON_DISK_BYTES = 20 * 1000 * 1000;

// ---------------------------------------------------------------------------------------------------
// the service as a real process

interface Service {
  child: ChildProcess;
  /** every JSON log line so far (for failure messages) */
  log: string[];
}

/** Starts `lxssd serve` on `dir` and resolves once its log says it is ready; stdout keeps being drained. */
async function serve(dir: string, children: ChildProcess[]): Promise<Service> {
  const args = [
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--socket',
    join(dir, 'run', 'lxssd.sock'),
    '--state-dir',
    join(dir, 'state'),
  ];
  const child = spawn(process.execPath, [lxssd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const log: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      log.push(line);
      try {
        if ((JSON.parse(line) as { msg?: string }).msg === 'lxssd ready') resolve();
      } catch {
        // not a JSON line; kept in the log
      }
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`lxssd exited (${signal ?? code}) before it was ready:\n${stderr}\n${log.join('\n')}`)),
    );
  });
  await ready;
  return { child, log };
}


// ---------------------------------------------------------------------------------------------------
// a 200 MiB archive, generated as it is sent


/** Resolves when `sink` can take more, or has closed; rejects when it fails. */
function drained(sink: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      sink.off('drain', done);
      sink.off('close', done);
      sink.off('error', failed);
      resolve();
    };
    const failed = (error: Error) => {
      sink.off('drain', done);
      sink.off('close', done);
      reject(error);
    };
    sink.on('drain', done);
    sink.on('close', done);
    sink.once('error', failed);
  });
}

/**
 * Writes the header of a tar holding `./big.bin` of BIG_FILE_BYTES random bytes, then the bytes, honouring
 * backpressure, and stops (without ending the stream) after PAUSE_AFTER_BYTES or when `stop.now` is set.
 * Resolves with the number of bytes written.
 */
async function feedBigTar(sink: Writable, stop: { now: boolean }): Promise<number> {
  let written = 0;
  const write = async (chunk: Buffer) => {
    written += chunk.length;
    if (!sink.write(chunk)) await drained(sink);
  };
  await write(ustarFileHeader('./big.bin', BIG_FILE_BYTES));
  let data = 0;
  while (data < Math.min(PAUSE_AFTER_BYTES, BIG_FILE_BYTES) && !stop.now && !sink.destroyed) {
    const chunk = randomBytes(Math.min(MiB, BIG_FILE_BYTES - data));
    data += chunk.length;
    await write(chunk);
  }
  return written;
}

// ---------------------------------------------------------------------------------------------------
// callers: root in-process, alice through curl

interface Caller {
  name: string;
  /** the host uid that owns what this caller's import writes (inner root) */
  hostUid: number;
  /** GET /v1/distributions as this caller */
  list(socketPath: string): Promise<{ status: number; body: any }>;
  /** starts the streamed upload of the big archive as this caller; never resolves a response */
  startBigUpload(socketPath: string, stop: { now: boolean }): { fed: Promise<number>; outcome: () => string };
  /** imports a small file-backed tar under `name` */
  importFile(socketPath: string, name: string, file: string): Promise<{ status: number; body: any }>;
}

function rootCaller(t: TestContext): Caller {
  return {
    name: 'root',
    hostUid: 0,
    list: (socketPath) => localRequest(socketPath, 'GET', '/v1/distributions'),
    startBigUpload(socketPath, stop) {
      let outcome = 'no response (as expected while the upload is unfinished)';
      const req = request({
        socketPath,
        method: 'POST',
        path: '/v1/distributions?name=big',
        headers: { host: 'localhost', 'content-type': 'application/x-tar' },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => (outcome = `HTTP ${res.statusCode}: ${text}`));
        res.on('error', () => undefined);
      });
      // The service is killed mid-upload: the socket error that follows is the expected outcome.
      req.on('error', (error) => {
        outcome = `upload socket error: ${error.message}`;
      });
      t.after(() => {
        req.destroy();
      });
      const fed = feedBigTar(req, stop).catch(() => -1);
      return { fed, outcome: () => outcome };
    },
    async importFile(socketPath, name, file) {
      return new Promise((resolve, reject) => {
        const req = request(
          {
            socketPath,
            method: 'POST',
            path: `/v1/distributions?name=${encodeURIComponent(name)}`,
            headers: { host: 'localhost', 'content-type': 'application/x-tar' },
          },
          (res) => {
            let text = '';
            res.on('data', (chunk: Buffer) => (text += chunk.toString()));
            res.on('end', () => {
              let body: unknown = text;
              try {
                body = JSON.parse(text);
              } catch {
                // keep the text
              }
              resolve({ status: res.statusCode ?? 0, body });
            });
          },
        );
        req.on('error', reject);
        pipeline(createReadStream(file), req).catch(reject);
      });
    },
  };
}

function userCaller(t: TestContext, user: TestUser, children: ChildProcess[]): Caller {
  const curlArgs = (socketPath: string) => ['-sS', '--unix-socket', socketPath, '-w', '\n%{http_code}'];
  const asUser = (args: string[]) =>
    spawn(
      'setpriv',
      ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', 'curl', ...args],
      { env: { PATH: '/usr/bin:/bin', HOME: user.home }, stdio: ['pipe', 'pipe', 'pipe'] },
    );
  return {
    name: user.name,
    hostUid: user.uid,
    async list(socketPath) {
      const { status, json } = await curlLocalAs(user, socketPath, 'GET', '/v1/distributions');
      return { status, body: json };
    },
    startBigUpload(socketPath, stop) {
      // -T - streams stdin as it comes (chunked); --data-binary @- would read all of it first.
      const curl = asUser([
        ...curlArgs(socketPath),
        '-X',
        'POST',
        '-H',
        'content-type: application/x-tar',
        '-H',
        'Expect:',
        '-T',
        '-',
        'http://localhost/v1/distributions?name=big',
      ]);
      children.push(curl);
      let output = '';
      curl.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      curl.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      // The service is killed mid-upload: curl's write error and our EPIPE are the expected outcome.
      curl.stdin!.on('error', () => undefined);
      t.after(() => killHard(curl));
      const fed = feedBigTar(curl.stdin!, stop).catch(() => -1);
      const outcome = () =>
        curl.exitCode === null ? `curl still running; printed: ${output}` : `curl exited ${curl.exitCode}: ${output}`;
      return { fed, outcome };
    },
    async importFile(socketPath, name, file) {
      const curl = asUser([
        ...curlArgs(socketPath),
        '-X',
        'POST',
        '-H',
        'content-type: application/x-tar',
        // On stdin: the file need not be readable by the user.
        '--data-binary',
        '@-',
        `http://localhost/v1/distributions?name=${encodeURIComponent(name)}`,
      ]);
      children.push(curl);
      const fed = pipeline(createReadStream(file), curl.stdin!);
      let stdout = '';
      let stderr = '';
      curl.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      curl.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [code] = (await once(curl, 'close')) as [number | null];
      await fed;
      if (code !== 0) throw new Error(`curl as ${user.name} failed (${code}): ${stderr}`);
      const cut = stdout.lastIndexOf('\n');
      const text = stdout.slice(0, cut);
      return { status: Number(stdout.slice(cut + 1)), body: text ? JSON.parse(text) : null };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// the processes of an import

interface ImportProcess {
  pid: number;
  what: 'lxssd-nsexec' | 'busybox tar -x';
  cmdline: string;
}

/**
 * Live processes working on `basePath`: lxssd-nsexec with the path in its arguments (the supervisor, and its
 * child before exec), and busybox `tar -x` chrooted into the path (after exec, its argv no longer names it).
 * Zombies have an empty cmdline and are not counted: they hold no files and run nothing.
 */
async function importProcesses(basePath: string): Promise<ImportProcess[]> {
  const found: ImportProcess[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await readFile(`/proc/${entry}/cmdline`)
      .then((raw) => raw.toString('utf8').split('\0').filter((arg) => arg !== ''))
      .catch(() => [] as string[]);
    if (argv.length === 0) continue;
    const cmdline = argv.join(' ');
    const pid = Number(entry);
    if (argv[0]!.endsWith('lxssd-nsexec') && argv.some((arg) => arg.includes(basePath))) {
      found.push({ pid, what: 'lxssd-nsexec', cmdline });
      continue;
    }
    const isBusyboxTarX = argv[0]!.endsWith('busybox') && argv[1] === 'tar' && argv.includes('-x');
    if (!isBusyboxTarX) continue;
    const root = await readlink(`/proc/${entry}/root`).catch(() => '');
    if (argv.some((arg) => arg.includes(basePath)) || root.startsWith(basePath)) {
      found.push({ pid, what: 'busybox tar -x', cmdline: `${cmdline} (root ${root})` });
    }
  }
  return found;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

// ---------------------------------------------------------------------------------------------------

async function crashMidImportThenRestart(t: TestContext, makeCaller: (children: ChildProcess[]) => Caller) {
  const dir = await sharedTempDir('lxssd-crash-');
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const child of children) await killHard(child);
    await rm(dir, { recursive: true, force: true });
  });
  const socketPath = join(dir, 'run', 'lxssd.sock');
  const caller = makeCaller(children);

  const first = await serve(dir, children);
  const stop = { now: false };
  const upload = caller.startBigUpload(socketPath, stop);

  // The import is really under way: listed as Installing, and tens of MB of the file already on disk.
  const { basePath, size } = await eventually(
    async () => {
      const listed = await caller.list(socketPath);
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      const big = (listed.body.distributions as Array<{ name: string; state: string; basePath: string }>).find(
        (d) => d.name === 'big',
      );
      assert.ok(big, `big is not listed yet; upload: ${upload.outcome()}`);
      assert.equal(big.state, 'Installing');
      const file = join(big.basePath, 'rootfs', 'big.bin');
      const info = await stat(file);
      assert.ok(info.size > MIN_ON_DISK_BYTES, `${file} has ${info.size} bytes so far`);
      assert.equal(info.uid, caller.hostUid, `${file} is owned by the caller's inner root`);
      return { basePath: big.basePath, size: info.size };
    },
    { timeoutMs: 60_000, intervalMs: 100, what: `"big" Installing with > ${MIN_ON_DISK_BYTES} bytes on disk` },
  );
  assert.ok(size < BIG_FILE_BYTES, 'the import is not finished when the service is killed');
  const workers = await eventually(
    async () => {
      const found = await importProcesses(basePath);
      const seen = JSON.stringify(found);
      assert.ok(found.some((p) => p.what === 'lxssd-nsexec'), `no lxssd-nsexec for ${basePath}: ${seen}`);
      assert.ok(found.some((p) => p.what === 'busybox tar -x'), `no busybox tar -x in ${basePath}: ${seen}`);
      return found;
    },
    { what: 'the import processes are visible before the kill' },
  );

  const killedAt = Date.now();
  const exited = once(first.child, 'exit');
  process.kill(first.child.pid!, 'SIGKILL');
  stop.now = true;
  const [, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  assert.equal(signal, 'SIGKILL');
  await upload.fed;

  // Nothing of the import outlives the service (PR_SET_PDEATHSIG on the helper and its child).
  await eventually(
    async () => {
      const left = await importProcesses(basePath);
      assert.deepEqual(left, [], `still alive after the service died: ${JSON.stringify(left)}`);
    },
    { timeoutMs: 2000, what: 'no lxssd-nsexec or busybox tar -x process of the import left' },
  );
  t.diagnostic(
    `${caller.name}: killed with ${(size / MiB).toFixed(1)} MiB of big.bin on disk; ` +
      `${workers.length} import processes gone ${Date.now() - killedAt} ms after the kill`,
  );

  // The half import is still on disk before the restart (so the restart is what cleans it).
  assert.ok(await exists(basePath), `${basePath} is there before the restart`);

  await serve(dir, children);
  const after = await caller.list(socketPath);
  assert.equal(after.status, 200, JSON.stringify(after.body));
  assert.deepEqual(after.body.distributions, [], 'no half distribution is listed after the restart');
  assert.equal(after.body.defaultDistribution, null);
  assert.equal(await exists(basePath), false, `${basePath} is removed by the restart`);

  // The name is free again.
  const small = await caller.importFile(socketPath, 'big', await busyboxRootfsTar());
  assert.equal(small.status, 201, JSON.stringify(small.body));
  assert.equal(small.body.name, 'big');
  assert.equal(small.body.state, 'Installed');
  assert.notEqual(small.body.basePath, basePath);
}

describe('a service killed in the middle of an import', () => {
  it('lists no half distribution and has removed its files after a restart, and the name is free [R2]', async (t) => {
    if (!isRoot) return t.skip('needs root: the service runs lxssd-nsexec as host root');
    await crashMidImportThenRestart(t, () => rootCaller(t));
  });

  it("removes alice's half import (files owned by her mapped ids) after a restart [R2]", async (t) => {
    if (!isRoot) return t.skip('needs root: creates the user alice and runs curl as her');
    const alice = await ensureUser('alice');
    await crashMidImportThenRestart(t, (children) => userCaller(t, alice, children));
  });
});
