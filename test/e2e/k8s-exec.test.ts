// Kubernetes exec clients on the stdio WebSocket: @kubernetes/client-node's own Exec (its WebSocketHandler
// pointed at /v1/processes/{id}/stdio) gets stdout, stderr, stdin EOF with nothing lost, resize and the exit
// code; and the raw frames of v5.channel.k8s.io and v4.channel.k8s.io, byte for byte.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { Exec, KubeConfig, type V1Status } from '@kubernetes/client-node';
// Exec's own transport; the package index does not re-export it (the package has no exports map to forbid this).
import { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';
import WebSocket from 'ws';
import { eventually } from '../helpers/eventually.js';
import { usersWithBusybox } from '../helpers/distros.js';
import { localRequest } from '../helpers/local-client.js';
import { tokenOf } from '../helpers/process-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

const V5 = 'v5.channel.k8s.io';
const V4 = 'v4.channel.k8s.io';

interface Ready {
  server: TestServer;
  token: string;
}

async function ready(t: TestContext): Promise<Ready> {
  const server = await startServer(t);
  await usersWithBusybox(t, server.socketPath, 'root');
  return { server, token: await tokenOf(server) };
}

async function createProcess(server: TestServer, body: object): Promise<string> {
  const created = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', body);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

async function ttyOf(server: TestServer, id: string): Promise<unknown> {
  return (await localRequest(server.socketPath, 'GET', `/v1/processes/${id}`)).body.tty;
}

/** A kubeconfig as kubectl would have one: our server as the cluster, the token as a bearer user. */
function kubeConfig({ server, token }: Ready): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node refuses a plain http:// server unless TLS checks are off (there is no TLS on loopback).
    clusters: [{ name: 'lxssd', server: server.url, skipTLSVerify: true }],
    users: [{ name: 'me', token }],
    contexts: [{ name: 'lxssd', cluster: 'lxssd', user: 'me' }],
    currentContext: 'lxssd',
  });
  return kc;
}

/**
 * client-node's Exec, unchanged, whose WebSocketHandler connects to the process's stdio instead of the pod exec
 * path Exec builds (that path names a pod; the process was created through our API).
 */
function execFor(ready: Ready, id: string): { exec: Exec; asked: string[] } {
  const handler = new WebSocketHandler(kubeConfig(ready));
  const asked: string[] = [];
  const exec = new Exec(kubeConfig(ready), {
    connect: (path, text, binary) => {
      asked.push(path);
      return handler.connect(`/v1/processes/${id}/stdio`, text, binary);
    },
  });
  return { exec, asked };
}

/** A stdout/stderr for Exec that keeps what is written the moment it is written. */
class Sink extends Writable {
  private readonly chunks: Buffer[] = [];
  readonly finished = once(this, 'finish');

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk);
    callback();
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** A raw client of one k8s protocol: every frame as it came, and how the socket closed. */
async function rawAttach({ server, token }: Ready, id: string, protocol: string) {
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}/v1/processes/${id}/stdio`, [protocol], {
    headers: { authorization: `Bearer ${token}` },
  });
  const frames: Buffer[] = [];
  socket.on('message', (data: Buffer) => frames.push(data));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await once(socket, 'open');
  const text = (channel: number) =>
    Buffer.concat(frames.filter((frame) => frame[0] === channel).map((frame) => frame.subarray(1))).toString();
  return { socket, frames, closed, text };
}

const send = (socket: WebSocket, channel: number, payload: string | Buffer = Buffer.alloc(0)) =>
  socket.send(Buffer.concat([Buffer.of(channel), Buffer.from(payload)]));

describe('GET /v1/processes/{id}/stdio with Kubernetes exec clients', () => {
  it('@kubernetes/client-node Exec over v5: stdout, stderr, stdin EOF with no output lost, exit code 3 [R1]', { timeout: 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const env = await ready(t);
    const id = await createProcess(env.server, { argv: ['sh', '-c', 'cat; echo to-stderr >&2; exit 3'], stdin: true });

    // 2 MiB of random bytes, all written (and stdin ended) before Exec attaches: Exec sends them, then [255, 0].
    const input = randomBytes(2 << 20);
    const stdin = new PassThrough({ highWaterMark: 64 * 1024 });
    for (let offset = 0; offset < input.length; offset += 64 * 1024) stdin.write(input.subarray(offset, offset + 64 * 1024));
    stdin.end();
    const out = new Sink();
    const err = new Sink();

    const { exec, asked } = execFor(env, id);
    let statusAt = -1;
    let reportStatus!: (status: V1Status) => void;
    const status = new Promise<V1Status>((resolve) => (reportStatus = resolve));
    const socket = await exec.exec('default', 'bb', 'main', ['sh'], out, err, stdin, false, (s) => {
      statusAt = out.bytes().length;
      reportStatus(s);
    });
    assert.equal(socket.protocol, V5, 'client-node offers v5 first and gets it');
    const got = await status;
    await Promise.all([out.finished, err.finished]);

    assert.match(asked[0]!, /^\/api\/v1\/namespaces\/default\/pods\/bb\/exec\?/, 'Exec built its pod exec path');
    assert.equal(out.bytes().length, input.length, 'every byte through cat came back');
    assert.ok(out.bytes().equals(input), 'stdout is stdin, byte for byte');
    assert.equal(statusAt, input.length, 'the status came after the last output byte');
    assert.equal(err.bytes().toString(), 'to-stderr\n');
    assert.equal(got.status, 'Failure');
    assert.equal(got.reason, 'NonZeroExitCode');
    assert.deepEqual(got.details?.causes, [{ reason: 'ExitCode', message: '3' }], 'the exit code as client-go reads it');
    const view = await localRequest(env.server.socketPath, 'GET', `/v1/processes/${id}`);
    assert.equal(view.body.exitCode, 3);
  });

  it('@kubernetes/client-node Exec with a terminal: its resizes reach the pty (stty size), and exit 0 is Success', { timeout: 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const env = await ready(t);
    const id = await createProcess(env.server, {
      argv: ['sh', '-c', 'read a; stty size; read b; stty size'],
      tty: { cols: 80, rows: 24 },
    });
    // A stdout with rows, columns and 'resize' is what Exec treats as a terminal (as process.stdout is).
    const out = Object.assign(new Sink(), { rows: 30, columns: 100 });
    const stdin = new PassThrough();
    const { exec } = execFor(env, id);
    let reportStatus!: (status: V1Status) => void;
    const status = new Promise<V1Status>((resolve) => (reportStatus = resolve));
    await exec.exec('default', 'bb', 'main', ['sh'], out, null, stdin, true, (s) => reportStatus(s));

    await eventually(async () => assert.deepEqual(await ttyOf(env.server, id), { cols: 100, rows: 30 }), {
      what: 'Exec’s first size on the process',
    });
    stdin.write('\r');
    await eventually(() => assert.match(out.bytes().toString(), /30 100/), { what: 'stty size after the first resize' });
    Object.assign(out, { rows: 40, columns: 120 }).emit('resize');
    await eventually(async () => assert.deepEqual(await ttyOf(env.server, id), { cols: 120, rows: 40 }), {
      what: 'the size after a resize event',
    });
    stdin.write('\r');
    const got = await status;
    await out.finished;

    assert.match(out.bytes().toString(), /30 100[\s\S]*40 120/);
    assert.deepEqual(got, { metadata: {}, status: 'Success' }, 'exit 0 is kubelet’s Success status');
  });

  it('v5.channel.k8s.io raw frames: ready frame, 0/1/2, [255,0] EOF, then one metav1.Status and close 1000 [R1]', { timeout: 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const env = await ready(t);
    const id = await createProcess(env.server, { argv: ['sh', '-c', 'cat; echo bye >&2; exit 7'], stdin: true });
    const client = await rawAttach(env, id, V5);
    assert.equal(client.socket.protocol, V5);
    send(client.socket, 0, 'hello ');
    send(client.socket, 0, 'world\n');
    send(client.socket, 255, Buffer.of(0));
    const closed = await client.closed;

    assert.deepEqual([...client.frames[0]!], [1], 'first an empty stdout frame, as kubelet sends');
    assert.equal(client.text(1), 'hello world\n');
    assert.equal(client.text(2), 'bye\n');
    const last = client.frames.at(-1)!;
    assert.equal(last[0], 3, 'the status is the last frame');
    assert.equal(client.frames.filter((frame) => frame[0] === 3).length, 1, 'one status frame');
    assert.deepEqual(JSON.parse(last.subarray(1).toString()), {
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c cat; echo bye >&2; exit 7], exit code 7',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '7' }] },
    });
    assert.equal(closed.code, 1000);

    // A signal's death is 128+N, as container runtimes report it; a malformed CLOSE breaks only that socket.
    const sleeper = await createProcess(env.server, { argv: ['sleep', '1000'] });
    const rude = await rawAttach(env, sleeper, V5);
    send(rude.socket, 255, Buffer.of(9));
    const refused = await rude.closed;
    assert.equal(refused.code, 1007, 'CLOSE of a channel that does not exist');
    assert.equal(JSON.parse(refused.reason).code, 'E_INVALIDARG');
    const watcher = await rawAttach(env, sleeper, V5);
    const killed = await localRequest(env.server.socketPath, 'POST', `/v1/processes/${sleeper}/signal`, { signal: 'KILL' });
    assert.equal(killed.status, 204, JSON.stringify(killed.body));
    assert.equal((await watcher.closed).code, 1000);
    const status = JSON.parse(watcher.frames.at(-1)!.subarray(1).toString());
    assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '137' }], 'SIGKILL is 137');
  });

  it('v4.channel.k8s.io raw frames: {"Width","Height"} resizes, 255 is no CLOSE signal, the status carries the code', { timeout: 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const env = await ready(t);
    const id = await createProcess(env.server, {
      argv: ['sh', '-c', 'read line; stty size; echo "got $line"; exit 4'],
      tty: { cols: 80, rows: 24 },
    });
    const client = await rawAttach(env, id, V4);
    assert.equal(client.socket.protocol, V4);
    // v4 has no CLOSE signal: kubelet drops a 255 frame, so stdin (here a terminal, where EOF would be ^D) stays open.
    send(client.socket, 255, Buffer.of(0));
    send(client.socket, 4, JSON.stringify({ Width: 132, Height: 43 }));
    await eventually(async () => assert.deepEqual(await ttyOf(env.server, id), { cols: 132, rows: 43 }), { what: 'the v4 resize' });
    send(client.socket, 0, 'hi\r');
    const closed = await client.closed;

    assert.deepEqual([...client.frames[0]!], [1], 'first an empty stdout frame');
    assert.match(client.text(1), /43 132/, 'stty size saw the resize');
    assert.match(client.text(1), /got hi/, 'stdin was still open after [255, 0]');
    const last = client.frames.at(-1)!;
    assert.equal(last[0], 3, 'the status is the last frame');
    const status = JSON.parse(last.subarray(1).toString());
    assert.deepEqual([status.status, status.reason, status.details.causes], ['Failure', 'NonZeroExitCode', [{ reason: 'ExitCode', message: '4' }]]);
    assert.equal(closed.code, 1000);
  });
});
