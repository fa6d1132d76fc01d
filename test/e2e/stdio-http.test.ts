// A process's stdio for plain HTTP clients [R1]: the real curl binary alone pipes 10 MB through `cat` with
// POST /v1/processes/{id}/stdin and GET /v1/processes/{id}/output, reads the exit status from NDJSON, filters a
// stream, reads what is there now, reads late, and meets the one-stdin-writer rule.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { usersWithBusybox } from '../helpers/distros.js';
import { eventually } from '../helpers/eventually.js';
import { localRequest } from '../helpers/local-client.js';
import { tokenOf } from '../helpers/process-client.js';
import { sharedTempDir, startServer, type TestServer } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

const run = promisify(execFile);

interface Curl {
  status: number;
  body: Buffer;
  /** response headers and trailers, as curl's -D writes them */
  headers: string;
}

/** The real curl with `args` (argv, no shell) against `path` over TCP with the token, or the Unix socket. */
async function curl(server: TestServer, token: string | null, path: string, args: string[] = [], dir: string): Promise<Curl> {
  const headers = join(dir, `headers-${randomBytes(4).toString('hex')}`);
  const target = token === null ? ['--unix-socket', server.socketPath, `http://localhost${path}`] : [`${server.url}${path}`];
  const auth = token === null ? [] : ['-H', `Authorization: Bearer ${token}`];
  const { stdout } = await run('curl', ['-sS', '-N', '--max-time', '30', '-D', headers, '-w', '\n%{http_code}', ...auth, ...args, ...target], {
    encoding: 'buffer',
    maxBuffer: 64 << 20,
  });
  const cut = stdout.lastIndexOf(0x0a);
  const text = await readFile(headers, 'utf8');
  await rm(headers, { force: true });
  return { status: Number(stdout.subarray(cut + 1).toString()), body: stdout.subarray(0, cut), headers: text };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const lines = (body: Buffer) => body.toString('utf8').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line));

describe('stdio over plain HTTP', () => {
  it('lets curl alone pipe data through a process and read its exit status', { timeout: 5 * 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const server = await startServer(t, { maxStreams: 2 });
    const dir = await sharedTempDir('lxssd-stdio-http-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    await usersWithBusybox(t, server.socketPath, 'root');
    const token = await tokenOf(server);
    const start = async (body: object): Promise<string> => {
      const created = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', body);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body.id as string;
    };
    const state = async (id: string) => (await localRequest(server.socketPath, 'GET', `/v1/processes/${id}`)).body;

    await t.test('10 MB of random bytes go through cat byte for byte with curl -T and curl -N [R1]', async () => {
      const id = await start({ argv: ['cat'], stdin: true });
      const input = randomBytes(Number(process.env.STDIO_HTTP_BYTES ?? 10 * 1000 * 1000));
      const file = join(dir, 'big.bin');
      await writeFile(file, input);
      const [output, upload] = await Promise.all([
        curl(server, token, `/v1/processes/${id}/output?follow=true`, [], dir),
        curl(server, token, `/v1/processes/${id}/stdin?eof=true`, ['-T', file, '-X', 'POST'], dir),
      ]);
      assert.equal(upload.status, 204, upload.body.toString());
      assert.equal(output.status, 200);
      assert.match(output.headers, /content-type: application\/octet-stream/i);
      assert.equal(output.body.length, input.length, 'as many bytes out as in');
      assert.equal(sha256(output.body), sha256(input), 'the same bytes out as in');
      assert.match(output.headers, /^lxssd-exit-code: 0\r?$/im, 'the raw stream’s trailer carries the exit code');
      const after = await state(id);
      assert.deepEqual([after.state, after.exitCode], ['exited', 0], 'cat exited 0 after stdin EOF');
    });

    await t.test('NDJSON carries stdout and stderr as lines and the exit code last, over the Unix socket too', async () => {
      for (const via of [token, null]) {
        const id = await start({ argv: ['sh', '-c', 'echo a; echo b >&2; exit 7'] });
        const output = await curl(server, via, `/v1/processes/${id}/output?follow=true&format=ndjson`, [], dir);
        const what = via === null ? 'Unix socket' : 'TCP';
        assert.equal(output.status, 200, what);
        assert.match(output.headers, /content-type: application\/x-ndjson/i, what);
        const got = lines(output.body);
        assert.deepEqual(got.at(-1), { exit: { exitCode: 7, signal: null } }, `${what}: the last line is the exit`);
        const text = (stream: string) => got.filter((line) => line.stream === stream).map((line) => line.data).join('');
        assert.deepEqual([text('stdout'), text('stderr')], ['a\n', 'b\n'], what);
      }
    });

    await t.test('stream=stderr sends stderr only, raw and NDJSON', async () => {
      const raw = await start({ argv: ['sh', '-c', 'echo out; echo err >&2; echo out2; exit 3'] });
      const rawOut = await curl(server, token, `/v1/processes/${raw}/output?follow=true&stream=stderr`, [], dir);
      assert.equal(rawOut.body.toString(), 'err\n');
      assert.match(rawOut.headers, /^lxssd-exit-code: 3\r?$/im);
      const nd = await start({ argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
      const ndOut = lines((await curl(server, token, `/v1/processes/${nd}/output?follow=true&stream=stderr&format=ndjson`, [], dir)).body);
      assert.deepEqual(ndOut, [{ stream: 'stderr', data: 'err\n' }, { exit: { exitCode: 3, signal: null } }]);
    });

    await t.test('NDJSON sends bytes that are not UTF-8 as base64, every byte in order (the split character: test/unit/process-stdio)', async () => {
      // printf's octal escapes: an invalid byte 0xff, then é (0xc3 0xa9) written in two separate writes.
      const id = await start({ argv: ['sh', '-c', "printf '\\377\\n'; sleep 0.2; printf '\\303'; sleep 0.2; printf '\\251\\n'"] });
      const got = lines((await curl(server, token, `/v1/processes/${id}/output?follow=true&format=ndjson`, [], dir)).body);
      const bytes = Buffer.concat(
        got.filter((line) => line.stream === 'stdout').map((line) => Buffer.from(line.data, line.encoding === 'base64' ? 'base64' : 'utf8')),
      );
      assert.deepEqual([...bytes], [0xff, 0x0a, 0xc3, 0xa9, 0x0a], 'every byte, in order');
      assert.ok(got.some((line) => line.encoding === 'base64'), JSON.stringify(got));
    });

    await t.test('follow=false ends with what is there now; eof=true with no body closes stdin and cat exits 0', async () => {
      const id = await start({ argv: ['cat'], stdin: true });
      const hello = join(dir, 'hello.txt');
      await writeFile(hello, 'hello\n');
      const written = await curl(server, token, `/v1/processes/${id}/stdin`, ['-T', hello, '-X', 'POST'], dir);
      assert.equal(written.status, 204, written.body.toString());
      let seen = '';
      await eventually(
        async () => {
          const now = await curl(server, token, `/v1/processes/${id}/output?format=ndjson`, [], dir);
          assert.equal(now.status, 200);
          const got = lines(now.body);
          assert.ok(!got.some((line) => 'exit' in line), 'no exit line while it runs');
          seen += got.map((line) => line.data).join('');
          assert.equal(seen, 'hello\n');
        },
        { what: 'cat echoed hello' },
      );
      assert.equal((await state(id)).state, 'running', 'follow=false ended while cat still runs');
      const eof = await curl(server, token, `/v1/processes/${id}/stdin?eof=true`, ['-X', 'POST'], dir);
      assert.equal(eof.status, 204, eof.body.toString());
      const rest = lines((await curl(server, token, `/v1/processes/${id}/output?follow=true&format=ndjson`, [], dir)).body);
      assert.deepEqual(rest, [{ exit: { exitCode: 0, signal: null } }]);
    });

    await t.test('a late reader gets all of the output from the start', async () => {
      const id = await start({ argv: ['seq', '1', '20000'] });
      await eventually(async () => assert.equal((await state(id)).state, 'exited'), { what: 'seq exited' });
      const expected = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join('');
      const late = await curl(server, token, `/v1/processes/${id}/output`, [], dir);
      assert.equal(late.body.toString(), expected);
      assert.match(late.headers, /^lxssd-exit-code: 0\r?$/im, 'follow=false after the end carries the exit too');
    });

    await t.test('a second stdin writer gets 409 while the first one streams; the first one’s EOF ends cat', async () => {
      const id = await start({ argv: ['cat'], stdin: true });
      const first = spawn('curl', [
        '-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${token}`,
        '-T', '-', '-X', 'POST', `${server.url}/v1/processes/${id}/stdin?eof=true`,
      ]);
      let firstOut = '';
      first.stdout.on('data', (data: Buffer) => (firstOut += data.toString()));
      first.stdin.write('first\n');
      let seen = '';
      await eventually(
        async () => {
          seen += (await curl(server, token, `/v1/processes/${id}/output`, [], dir)).body.toString();
          assert.equal(seen, 'first\n');
        },
        { what: 'the first writer’s bytes came out', timeoutMs: 10_000 },
      );
      const hello = join(dir, 'second.txt');
      await writeFile(hello, 'second\n');
      const second = await curl(server, token, `/v1/processes/${id}/stdin`, ['-T', hello, '-X', 'POST'], dir);
      assert.equal(second.status, 409, second.body.toString());
      assert.equal(JSON.parse(second.body.toString()).code, 'E_ILLEGAL_STATE_CHANGE');
      first.stdin.end('last\n');
      await once(first, 'exit');
      assert.equal(firstOut, '204');
      const rest = lines((await curl(server, token, `/v1/processes/${id}/output?follow=true&format=ndjson`, [], dir)).body);
      assert.deepEqual(rest, [{ stream: 'stdout', data: 'last\n' }, { exit: { exitCode: 0, signal: null } }], 'the second writer wrote nothing');
    });

    await t.test('a slow reader slows the process instead of the service buffering its output [R1]', async () => {
      // More than the loopback socket's buffers on both sides (a few MB each) and the log's 1 MiB together.
      const size = 32 * 1000 * 1000;
      const id = await start({ argv: ['head', '-c', String(size), '/dev/zero'] });
      const file = join(dir, 'slow.out');
      const reader = spawn('curl', [
        '-sS', '-N', '--limit-rate', '8M', '-o', file, '-H', `Authorization: Bearer ${token}`,
        `${server.url}/v1/processes/${id}/output?follow=true`,
      ]);
      try {
        await eventually(async () => assert.ok((await readFile(file)).length > 0), { what: 'the slow reader got output' });
        // A pipe takes 32 MB in milliseconds: only a reader that holds the process back keeps it running now.
        assert.equal((await state(id)).state, 'running', 'head waits for the reader');
        const [code] = await once(reader, 'exit');
        assert.equal(code, 0);
        assert.equal((await readFile(file)).length, size, 'every byte arrived');
      } finally {
        if (reader.exitCode === null) {
          reader.kill();
          await once(reader, 'exit');
        }
      }
    });

    await t.test('a process without stdin refuses a writer; no token is a 401; followers count against maxStreams', async () => {
      const id = await start({ argv: ['sleep', '1000'] });
      const refused = await curl(server, token, `/v1/processes/${id}/stdin`, ['-X', 'POST', '--data-binary', 'x', '-H', 'content-type: application/octet-stream'], dir);
      assert.equal(refused.status, 409, refused.body.toString());
      const json = await curl(server, token, `/v1/processes/${id}/stdin`, ['-X', 'POST', '--data-binary', '{}', '-H', 'content-type: application/json'], dir);
      assert.equal(json.status, 415, json.body.toString());
      const anonymous = await curl(server, 'not-a-token', `/v1/processes/${id}/output`, [], dir);
      assert.equal(anonymous.status, 401);

      // maxStreams is 2: two followers (each of its own process, which says "ready" once it is followed) hold
      // both places, a third is refused.
      const ids = [await start({ argv: ['sh', '-c', 'echo ready; exec sleep 1000'] }), await start({ argv: ['sh', '-c', 'echo ready; exec sleep 1000'] })];
      const files = ids.map((_, index) => join(dir, `follower-${index}.out`));
      const followers = ids.map((follower, index) =>
        spawn('curl', ['-sS', '-N', '-o', files[index]!, '-H', `Authorization: Bearer ${token}`, `${server.url}/v1/processes/${follower}/output?follow=true`]),
      );
      try {
        for (const file of files) {
          await eventually(async () => assert.equal(await readFile(file, 'utf8'), 'ready\n'), { what: `${file} is followed`, timeoutMs: 10_000 });
        }
        const third = await curl(server, token, `/v1/processes/${id}/output?follow=true`, [], dir);
        assert.equal(third.status, 409, 'both places are taken');
        assert.equal(JSON.parse(third.body.toString()).code, 'LXSSD_E_TOO_MANY_STREAMS');
      } finally {
        for (const follower of followers) follower.kill();
        await Promise.all(followers.map((follower) => (follower.exitCode === null ? once(follower, 'exit') : undefined)));
        for (const each of [id, ...ids]) await localRequest(server.socketPath, 'DELETE', `/v1/processes/${each}`);
      }
      // The places come back as the service sees the connections close: wait for both before the next test.
      const done = await start({ argv: ['true'] });
      await eventually(async () => {
        const probes = await Promise.all([0, 1].map(() => curl(server, token, `/v1/processes/${done}/output?follow=true`, [], dir)));
        assert.deepEqual(probes.map((probe) => probe.status), [200, 200]);
      }, { what: 'both places are free again' });
    });

    await t.test('revoking the token cuts its follower and its stdin upload short [S2]', async () => {
      const minted = await localRequest(server.socketPath, 'POST', '/v1/tokens', { label: 'to revoke' });
      assert.equal(minted.status, 201, JSON.stringify(minted.body));
      const revocable = minted.body.token as string;
      const id = await start({ argv: ['cat'], stdin: true });
      const file = join(dir, 'revoked.out');
      const follower = spawn('curl', ['-sS', '-N', '-o', file, '-H', `Authorization: Bearer ${revocable}`, `${server.url}/v1/processes/${id}/output?follow=true`]);
      const writer = spawn('curl', ['-sS', '-H', `Authorization: Bearer ${revocable}`, '-T', '-', '-X', 'POST', `${server.url}/v1/processes/${id}/stdin?eof=true`]);
      const ends = [once(follower, 'exit'), once(writer, 'exit')];
      writer.stdin.write('through\n');
      await eventually(async () => assert.equal(await readFile(file, 'utf8'), 'through\n'), { what: 'the bytes went through' });
      assert.equal((await localRequest(server.socketPath, 'DELETE', `/v1/tokens/${minted.body.info.id}`)).status, 204);
      const [followerCode] = (await ends[0]) as [number | null];
      // curl blocks reading its stdin: it learns of the cut when it sends again.
      writer.stdin.end('after\n');
      const [writerCode] = (await ends[1]) as [number | null];
      assert.notEqual(followerCode, 0, 'the follower’s response was cut short');
      assert.notEqual(writerCode, 0, 'the upload was cut short');
      assert.equal((await state(id)).state, 'running', 'a cut upload does not close stdin');
      await localRequest(server.socketPath, 'DELETE', `/v1/processes/${id}`);
    });

    await t.test('the service’s shutdown cuts a follower short: curl sees an unfinished response, not a clean end [R4]', async () => {
      const id = await start({ argv: ['sh', '-c', 'echo started; sleep 1000'] });
      const file = join(dir, 'cut.out');
      const follower = spawn('curl', ['-sS', '-N', '-o', file, '-H', `Authorization: Bearer ${token}`, `${server.url}/v1/processes/${id}/output?follow=true`]);
      const exited = once(follower, 'exit');
      await eventually(async () => assert.equal(await readFile(file, 'utf8'), 'started\n'), { what: 'the follower got the first line' });
      await server.app.close();
      const [code] = await exited;
      assert.notEqual(code, 0, 'curl reports the response as cut short');
    });
  });
});
