// DESIGN.md §7's security invariants S1–S8, each tried the way an attacker would: one describe per
// invariant, tagged with its id. Other suites test the features; these test the walls.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, lstat, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import request from 'supertest';
import WebSocket from 'ws';
import { lxssd } from '../helpers/binary.js';
import { importAs, readableArchive } from '../helpers/distros.js';
import { localRequest } from '../helpers/local-client.js';
import { refusedUpgrade, tokenOf } from '../helpers/process-client.js';
import { busyboxRootfsTar, craftedTar, type CraftedEntry } from '../helpers/rootfs.js';
import { sharedTempDir, startServer, type TestServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot, type TestUser } from '../helpers/users.js';

const sidOf = (user: TestUser) => `S-1-22-1-${user.uid}`;

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** Runs `lxssd serve` with `args` and `env` and resolves with how it ended; a service that starts is a failure. */
async function serveRefused(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; started: boolean }> {
  const child: ChildProcess = spawn(process.execPath, [lxssd, 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
  });
  let stderr = '';
  let started = false;
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('lxssd ready')) {
      started = true;
      child.kill('SIGKILL');
    }
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stderr, started };
}

/** A raw HTTP/1.1 request over TCP with exactly the headers given (supertest would add its own Host). */
function rawRequest(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers, setHost: false }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON; kept as text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** POST run as `user` over TCP with their token. */
async function runAsToken(server: TestServer, token: string, distro: string, body: unknown) {
  return request(server.url).post(`/v1/distributions/${distro}/run`).set('authorization', `Bearer ${token}`).send(body as object);
}

// ---------------------------------------------------------------------------------------------------

describe('S1: loopback only', () => {
  const foreign = ['0.0.0.0:7071', '[::]:7071', '192.168.1.10:7071', '10.0.0.1', '[::ffff:0.0.0.0]:7071', 'evil.example:7071', '127.0.0.1.nip.io:7071'];

  it('refuses to start on any non-loopback address, whether from a flag, LXSSD_LISTEN or the config file [S1]', async (t) => {
    const dir = await sharedTempDir('lxssd-s1-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const common = ['--state-dir', join(dir, 'state'), '--socket', join(dir, 'lxssd.sock')];
    const tries: Array<[string, Promise<{ code: number | null; stderr: string; started: boolean }>]> = [];
    for (const address of foreign.slice(0, 3)) tries.push([`--listen ${address}`, serveRefused(['--listen', address, ...common])]);
    tries.push(['LXSSD_LISTEN=0.0.0.0:0', serveRefused(common, { LXSSD_LISTEN: '0.0.0.0:0' })]);
    const configFile = join(dir, 'lxssd.conf');
    await writeFile(configFile, '[lxssd]\nlisten = [::]:0\n');
    tries.push(['config file listen = [::]:0', serveRefused(['--config', configFile, ...common])]);
    tries.push(['LXSSD_CONFIG naming that file', serveRefused(common, { LXSSD_CONFIG: configFile })]);
    for (const [how, attempt] of tries) {
      const result = await attempt;
      assert.equal(result.started, false, `${how}: the service started`);
      assert.notEqual(result.code, 0, `${how}: exit code`);
      assert.match(result.stderr, /loopback only/, `${how}: says why`);
    }
  });

  it('refuses every non-loopback spelling a config could hold [S1]', async () => {
    const { parseListen } = await import('../../src/config.js');
    for (const address of foreign) assert.throws(() => parseListen(address), /loopback only|not HOST:PORT/, address);
  });
});

describe('S2: tokens over TCP', () => {
  it('answers 401 to no token, a bad token and every near miss of a good one, and accepts only the exact token [S2]', async (t) => {
    const server = await startServer(t, { authFailureLimit: 10_000 });
    const token = await tokenOf(server);
    const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
    const attempts: Array<[string, Record<string, string>]> = [
      ['no Authorization', {}],
      ['empty bearer', { authorization: 'Bearer ' }],
      ['random bearer', { authorization: 'Bearer ' + 'x'.repeat(43) }],
      ['first character changed', { authorization: `Bearer ${flip(token, 0)}` }],
      ['last character changed', { authorization: `Bearer ${flip(token, token.length - 1)}` }],
      ['a prefix', { authorization: `Bearer ${token.slice(0, -1)}` }],
      ['one character more', { authorization: `Bearer ${token}A` }],
      ['upper-cased', { authorization: `Bearer ${token.toUpperCase()}` }],
      ['Basic scheme', { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` }],
      ['token as a cookie', { cookie: `token=${token}` }],
      ['its SHA-256 (as stored)', { authorization: `Bearer ${(await import('node:crypto')).createHash('sha256').update(token).digest('hex')}` }],
    ];
    for (const [what, headers] of attempts) {
      for (const path of ['/v1/session', '/v1/distributions', '/v1/tokens']) {
        const response = await request(server.url).get(path).set(headers);
        assert.equal(response.status, 401, `${what} on ${path}`);
        assert.equal(response.headers['content-type']?.split(';')[0], 'application/problem+json', `${what} on ${path}`);
      }
    }
    const inQuery = await request(server.url).get(`/v1/session?token=${token}`);
    assert.equal(inQuery.status, 401, 'a token in the query string is not a credential');
    const good = await request(server.url).get('/v1/session').set('authorization', `Bearer ${token}`);
    assert.equal(good.status, 200, 'the exact token works');

    const minted = await localRequest(server.socketPath, 'POST', '/v1/tokens', {});
    const revoked = await localRequest(server.socketPath, 'DELETE', `/v1/tokens/${minted.body.info.id}`);
    assert.equal(revoked.status, 204);
    const afterRevoke = await request(server.url).get('/v1/session').set('authorization', `Bearer ${minted.body.token}`);
    assert.equal(afterRevoke.status, 401, 'a revoked token');
  });

  it('compares the presented secret in constant time: by hash, never by string equality on the secret [S2]', async () => {
    // Behaviour above; here only that the store never compares a presented secret with a stored one.
    const { readFile } = await import('node:fs/promises');
    const source = await readFile(new URL('../../../src/core/token-store.ts', import.meta.url), 'utf8');
    assert.match(source, /\b(createHash|hash)\('sha256'/, 'presented tokens are hashed before any lookup');
    assert.match(source, /timingSafeEqual\(/, 'and the hashes compared in constant time');
    assert.doesNotMatch(source, /\.token\s*===|===\s*token\b/, 'no string comparison of secrets');
  });
});

describe('S3: DNS rebinding and cross-site requests', () => {
  it('refuses a foreign or DNS-answerable Host with 403, even with a valid token [S3]', async (t) => {
    const server = await startServer(t);
    const token = await tokenOf(server);
    const port = server.port;
    const hosts = [
      'evil.example',
      `evil.example:${port}`,
      `localhost6:${port}`,
      `localhost6.localdomain6:${port}`,
      `localhost.localdomain:${port}`,
      `127.0.0.1.nip.io:${port}`,
      `localtest.me:${port}`,
      `localhost.:${port}`,
      `127.0.0.1:${port + 1}`,
      `[::1]:${port + 1}`,
      `0x7f000001:${port}`,
      `2130706433:${port}`,
      `0.0.0.0:${port}`,
      `127.0.0.1:${port}@evil.example`,
    ];
    for (const host of hosts) {
      const response = await rawRequest(port, '/v1/session', { host, authorization: `Bearer ${token}` });
      assert.equal(response.status, 403, `Host ${host}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.code, 'LXSSD_E_HOST_NOT_ALLOWED', `Host ${host}`);
    }
    const ours = await rawRequest(port, '/v1/session', { host: `localhost:${port}`, authorization: `Bearer ${token}` });
    assert.equal(ours.status, 200, 'our own authority still works');
  });

  it('refuses a WebSocket upgrade from a foreign Origin, or with a rebinding Host, with 403 [S3]', async (t) => {
    const server = await startServer(t);
    const token = await tokenOf(server);
    const base = `ws://127.0.0.1:${server.port}`;
    for (const origin of ['http://evil.example', 'null', `http://localhost6:${server.port}`, `http://127.0.0.1.nip.io:${server.port}`, `https://127.0.0.1:${server.port}`]) {
      for (const [path, protocol] of [
        ['/v1/events', 'lxss.events.v1'],
        ['/v1/processes/00000000-0000-4000-8000-000000000000/stdio', 'lxss.stdio.v1'],
      ] as const) {
        const status = await new Promise<number>((resolve, reject) => {
          const socket = new WebSocket(`${base}${path}`, [protocol, `lxss.token.${token}`], { origin });
          socket.once('unexpected-response', (_req, res) => {
            resolve(res.statusCode ?? 0);
            socket.terminate();
          });
          socket.once('open', () => {
            socket.terminate();
            reject(new Error(`Origin ${origin} on ${path} was upgraded`));
          });
          socket.once('error', () => undefined);
        });
        assert.equal(status, 403, `Origin ${origin} on ${path}`);
      }
    }
    const rebound = await new Promise<number>((resolve) => {
      const socket = new WebSocket(`${base}/v1/events`, ['lxss.events.v1', `lxss.token.${token}`], { headers: { host: `localhost6:${server.port}` } });
      socket.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        socket.terminate();
      });
      socket.once('open', () => resolve(101));
      socket.once('error', () => undefined);
    });
    assert.equal(rebound, 403, 'an upgrade with Host localhost6');
  });
});

describe('S4: one user cannot reach another', () => {
  it("bob gets 404 for alice's distributions, processes and tokens, by id and by name, and sees none of her events [S4]", async (t) => {
    if (!isRoot) return t.skip('needs root to create users and user namespaces');
    const server = await startServer(t);
    const [alice, bob] = await Promise.all([ensureUser('alice'), ensureUser('bob')]);
    const tar = await readableArchive(t, await busyboxRootfsTar());
    const hers = await importAs(alice, server.socketPath, 'alice-only', tar);
    await importAs(bob, server.socketPath, 'bobs', tar);
    const aliceToken = await tokenOf(server, sidOf(alice));
    const bobMint = await localRequest(server.socketPath, 'POST', '/v1/tokens', { sid: sidOf(bob) });
    const bobToken = bobMint.body.token as string;
    const aliceMint = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/tokens', { label: 'alice' });
    const aliceTokenId = (aliceMint.json as any).info.id as string;

    // Bob listens to his events for the whole test; nothing of alice's may arrive.
    const bobEvents: string[] = [];
    const bobSocket = new WebSocket(`ws://127.0.0.1:${server.port}/v1/events`, ['lxss.events.v1', `lxss.token.${bobToken}`]);
    bobSocket.on('message', (data: Buffer) => bobEvents.push(data.toString()));
    await once(bobSocket, 'open');
    t.after(() => bobSocket.terminate());

    const as = (token: string) => (method: 'get' | 'post' | 'patch' | 'delete', path: string, body?: object) => {
      const r = request(server.url)[method](path).set('authorization', `Bearer ${token}`);
      return body === undefined ? r : r.send(body);
    };
    const aliceApi = as(aliceToken);
    const bobApi = as(bobToken);
    const started = await aliceApi('post', `/v1/distributions/${hers.id}/processes`, { argv: ['sleep', '300'] });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const processId = started.body.id as string;

    for (const ref of [hers.id, 'alice-only', 'ALICE-ONLY', hers.id.toUpperCase()]) {
      const d = `/v1/distributions/${encodeURIComponent(ref)}`;
      const tries: Array<[string, () => Promise<request.Response>]> = [
        ['GET', () => bobApi('get', d)],
        ['PATCH', () => bobApi('patch', d, { defaultUid: 0 })],
        ['DELETE', () => bobApi('delete', d)],
        ['GET export', () => bobApi('get', `${d}/export`)],
        ['POST move', () => bobApi('post', `${d}/move`, { location: '/tmp/stolen' })],
        ['POST instance', () => bobApi('post', `${d}/instance`)],
        ['GET instance', () => bobApi('get', `${d}/instance`)],
        ['DELETE instance', () => bobApi('delete', `${d}/instance`)],
        ['POST processes', () => bobApi('post', `${d}/processes`, { argv: ['id'] })],
        ['GET processes', () => bobApi('get', `${d}/processes`)],
        ['POST run', () => bobApi('post', `${d}/run`, { argv: ['id'] })],
        ['GET mounts', () => bobApi('get', `${d}/mounts`)],
        ['POST mounts', () => bobApi('post', `${d}/mounts`, { hostPath: '/tmp', target: '/mnt/x' })],
        ['PUT default', () => request(server.url).put('/v1/default-distribution').set('authorization', `Bearer ${bobToken}`).send({ distro: ref })],
      ];
      for (const [what, attempt] of tries) {
        const response = await attempt();
        assert.equal(response.status, 404, `bob ${what} on ${ref}: ${response.status} ${JSON.stringify(response.body)}`);
      }
    }
    const p = `/v1/processes/${processId}`;
    for (const [what, attempt] of [
      ['GET', () => bobApi('get', p)],
      ['DELETE', () => bobApi('delete', p)],
      ['signal', () => bobApi('post', `${p}/signal`, { signal: 'SIGKILL' })],
      ['resize', () => bobApi('post', `${p}/resize`, { cols: 10, rows: 10 })],
      ['DELETE token', () => bobApi('delete', `/v1/tokens/${aliceTokenId}`)],
    ] as Array<[string, () => Promise<request.Response>]>) {
      const response = await attempt();
      assert.equal(response.status, 404, `bob ${what}: ${response.status} ${JSON.stringify(response.body)}`);
    }
    assert.equal(
      await refusedUpgrade(`ws://127.0.0.1:${server.port}${p}/stdio`, ['lxss.stdio.v1', `lxss.token.${bobToken}`]),
      404,
      "bob attaching to alice's process",
    );
    const eventsOfHers = await bobApi('get', `/v1/events?process=${processId}`);
    assert.ok([404, 400].includes(eventsOfHers.status) || (eventsOfHers.status === 200 && JSON.stringify(eventsOfHers.body).indexOf(processId) < 0), `bob's events filtered by her process: ${eventsOfHers.status} ${JSON.stringify(eventsOfHers.body)}`);

    const lists = await Promise.all([bobApi('get', '/v1/distributions'), bobApi('get', '/v1/processes'), bobApi('get', '/v1/tokens'), bobApi('get', '/v1/events?since=0')]);
    for (const [index, list] of lists.entries()) {
      const text = JSON.stringify(list.body);
      for (const secret of [hers.id, 'alice-only', processId, aliceTokenId]) assert.equal(text.includes(secret), false, `list ${index} shows bob ${secret}`);
    }
    // Bob's own session is fine; alice's things are untouched.
    assert.equal((await aliceApi('get', `/v1/distributions/${hers.id}`)).status, 200);
    const still = await aliceApi('get', p);
    assert.equal(still.body.state, 'running', "alice's process survived bob's attempts");
    assert.equal((await aliceApi('delete', p)).status, 204);
    await aliceApi('post', `/v1/distributions/${hers.id}/run`, { argv: ['true'] });
    for (const event of bobEvents) {
      for (const secret of [hers.id, processId]) assert.equal(event.includes(secret), false, `bob received ${event}`);
    }
  });
});

describe('S5: root inside is no more than the user outside', () => {
  it("root in alice's distro cannot read, change or chown a host file alice cannot read [S5]", async (t) => {
    if (!isRoot) return t.skip('needs root to create users and user namespaces');
    const server = await startServer(t);
    const [alice, bob] = await Promise.all([ensureUser('alice'), ensureUser('bob')]);
    const tar = await readableArchive(t, await busyboxRootfsTar());
    await importAs(alice, server.socketPath, 's5', tar);
    // Inside alice's home (shared as /mnt/home): a folder of hers holding files she may not read.
    const folder = join(alice.home, `lxssd-s5-${process.pid}`);
    await mkdir(folder, { recursive: true });
    t.after(() => rm(folder, { recursive: true, force: true }));
    await chown(folder, alice.uid, alice.gid);
    await chmod(folder, 0o755);
    const secrets = [
      ['root', join(folder, 'root-secret'), 0, 0],
      ['bob', join(folder, 'bob-secret'), bob.uid, bob.gid],
    ] as const;
    for (const [, path, uid, gid] of secrets) {
      await writeFile(path, 'TOP SECRET');
      await chown(path, uid, gid);
      await chmod(path, 0o600);
    }
    const token = await tokenOf(server, sidOf(alice));
    const inner = `/mnt/home/lxssd-s5-${process.pid}`;
    for (const [owner, path] of secrets) {
      const name = path.split('/').pop()!;
      const attack = [
        `cat ${inner}/${name}`,
        `chmod 644 ${inner}/${name}`,
        `chown 0:0 ${inner}/${name}`,
        `echo pwned >> ${inner}/${name}`,
        `dd if=${inner}/${name} of=/dev/stdout`,
      ];
      for (const command of attack) {
        const response = await runAsToken(server, token, 's5', { argv: ['/bin/sh', '-c', command], user: 'root' });
        assert.equal(response.status, 200, `${command}: ${JSON.stringify(response.body)}`);
        assert.notEqual(response.body.exitCode, 0, `root inside ran "${command}" on ${owner}'s file: ${JSON.stringify(response.body)}`);
        assert.equal(response.body.stdout.includes('TOP SECRET'), false, `${command} leaked the secret`);
      }
      const after = await stat(path);
      assert.equal(after.mode & 0o777, 0o600, `${owner}'s file mode unchanged`);
      assert.equal(after.uid, owner === 'root' ? 0 : bob.uid, `${owner}'s file owner unchanged`);
      assert.equal(after.size, 'TOP SECRET'.length, `${owner}'s file content unchanged`);
    }
    // Nor reach the host's root through /proc or the mount table.
    // (bob has an account on the host, none in the busybox distro: his name in a shadow file means the host's.)
    for (const command of ['cat /proc/1/root/etc/shadow', 'ls /proc/1/root/home', 'mkdir -p /mnt/x && mount --bind / /mnt/x && cat /mnt/x/etc/shadow']) {
      const response = await runAsToken(server, token, 's5', { argv: ['/bin/sh', '-c', command], user: 'root' });
      assert.equal(response.body.stdout.includes('bob'), false, `${command} reached the host: ${JSON.stringify(response.body)}`);
    }
  });
});

describe('S6: a crafted tar writes nothing outside its distribution', () => {
  it('refuses ../, absolute, symlink and hard link escapes, as a user and as root, leaving nothing [S6]', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and user namespaces');
    const server = await startServer(t);
    const dir = await sharedTempDir('lxssd-s6-');
    const victim = await sharedTempDir('lxssd-s6-victim-');
    t.after(() => Promise.all([rm(dir, { recursive: true, force: true }), rm(victim, { recursive: true, force: true })]));
    await writeFile(join(victim, 'keep.txt'), 'original');
    const [alice, root] = await Promise.all([ensureUser('alice'), ensureUser('root')]);
    const m = `s6-${process.pid}`;
    const ok: CraftedEntry = { type: 'file', name: './etc/ok', content: 'ok' };
    const cases: Array<[string, CraftedEntry[], string[]]> = [
      ['deep dot-dot', [ok, { type: 'file', name: `../../../../../../../../..${victim}/${m}-a`, content: 'x' }], [`${victim}/${m}-a`]],
      ['dot-dot in the middle', [ok, { type: 'dir', name: 'etc/x' }, { type: 'file', name: `etc/x/../../../../../../../../..${victim}/${m}-b`, content: 'x' }], [`${victim}/${m}-b`]],
      ['absolute file', [ok, { type: 'file', name: `${victim}/${m}-c`, content: 'x' }], [`${victim}/${m}-c`]],
      ['absolute overwrite', [ok, { type: 'file', name: `${victim}/keep.txt`, content: 'overwritten' }], []],
      ['symlink to an absolute folder, then a file through it', [{ type: 'symlink', name: 'out', target: victim }, { type: 'file', name: `out/${m}-d`, content: 'x' }], [`${victim}/${m}-d`]],
      ['relative symlink climbing out, then a file through it', [{ type: 'symlink', name: 'up', target: '../../../../../../../../..' }, { type: 'file', name: `up${victim}/${m}-e`, content: 'x' }], [`${victim}/${m}-e`]],
      ['symlink chain', [{ type: 'symlink', name: 'a', target: 'b' }, { type: 'symlink', name: 'b', target: victim }, { type: 'file', name: `a/${m}-f`, content: 'x' }], [`${victim}/${m}-f`]],
      ['symlink to a file, then overwrite through it', [{ type: 'symlink', name: 'k', target: `${victim}/keep.txt` }, { type: 'file', name: 'k', content: 'overwritten' }], []],
      ['hard link to an absolute host file', [ok, { type: 'hardlink', name: 'shadow', target: '/etc/shadow' }], []],
      ['hard link climbing out', [ok, { type: 'hardlink', name: 'keep', target: `../../../../../../../../..${victim}/keep.txt` }], []],
      ['hard link through a symlink', [{ type: 'symlink', name: 'v', target: victim }, { type: 'hardlink', name: 'keep', target: 'v/keep.txt' }], []],
    ];
    for (const user of [alice, root]) {
      for (const [name, entries, outside] of cases) {
        const what = `${user.name}, ${name}`;
        const file = join(dir, `${name.replace(/\W+/g, '-')}.tar`);
        await craftedTar(file, entries);
        const shadowBefore = await stat('/etc/shadow');
        const keepBefore = await stat(join(victim, 'keep.txt'));
        const response = await curlLocalAs(user, server.socketPath, 'POST', `/v1/distributions?name=evil`, undefined, {
          upload: { file, contentType: 'application/x-tar' },
        });
        for (const path of outside) assert.equal(await exists(path), false, `${what}: ${path} was written`);
        assert.deepEqual(await readdir(victim), ['keep.txt'], `${what}: nothing new in the victim folder`);
        const keepAfter = await stat(join(victim, 'keep.txt'));
        assert.equal(keepAfter.nlink, keepBefore.nlink, `${what}: keep.txt got no new link`);
        assert.equal(keepAfter.mtimeMs, keepBefore.mtimeMs, `${what}: keep.txt not rewritten`);
        assert.equal((await stat('/etc/shadow')).nlink, shadowBefore.nlink, `${what}: /etc/shadow got no new link`);
        if (response.status === 201) {
          // Contained extraction is also acceptable; then remove it before the next case.
          const removed = await curlLocalAs(user, server.socketPath, 'DELETE', '/v1/distributions/evil');
          assert.equal(removed.status, 204, what);
        } else {
          assert.ok(response.status >= 400 && response.status < 500, `${what}: ${response.status} ${JSON.stringify(response.json)}`);
          const listed = await curlLocalAs(user, server.socketPath, 'GET', '/v1/distributions');
          assert.deepEqual((listed.json as any).distributions, [], `${what}: nothing registered`);
        }
      }
    }
  });
});

describe('S7: no shell between the API and a process', () => {
  it('hands argv, env and cwd with shell metacharacters to the program verbatim [S7]', async (t) => {
    if (!isRoot) return t.skip('needs root for user namespaces');
    const server = await startServer(t);
    const root = await ensureUser('root');
    await importAs(root, server.socketPath, 's7', await readableArchive(t, await busyboxRootfsTar()));
    const token = await tokenOf(server);
    const marker = `/tmp/lxssd-s7-${process.pid}`;
    const hostile = [
      '$(touch /tmp/pwned-subst)',
      '`touch /tmp/pwned-backtick`',
      `; touch ${marker}`,
      `| touch ${marker}`,
      `&& touch ${marker}`,
      '$HOME',
      '${IFS}',
      '*',
      '~',
      '"double"',
      "'single'",
      'a\\nb',
      'new\nline',
      ' leading and trailing ',
      '',
      '>' + marker,
      '#not a comment',
      '!!',
    ];
    const echoed = await runAsToken(server, token, 's7', { argv: ['printf', '%s\\0', ...hostile] });
    assert.equal(echoed.status, 200, JSON.stringify(echoed.body));
    assert.deepEqual(echoed.body.stdout.split('\0').slice(0, -1), hostile, 'each argument arrives as one, unchanged');
    const envd = await runAsToken(server, token, 's7', { argv: ['env'], env: { EVIL: '$(touch /tmp/pwned-env); `id`' } });
    assert.ok(envd.body.stdout.split('\n').includes('EVIL=$(touch /tmp/pwned-env); `id`'), `env values are not expanded: ${envd.body.stdout}`);
    const programIsAShellLine = await runAsToken(server, token, 's7', { argv: ['echo hi; id'] });
    assert.equal(programIsAShellLine.body.exitCode, 127, 'a "program" with spaces is a name to look up, not a command line');
    const cwd = await runAsToken(server, token, 's7', { argv: ['pwd'], cwd: '/$(id)' });
    assert.equal(cwd.body.exitCode, 125, `a cwd is a path, not expanded: ${JSON.stringify(cwd.body)}`);
    const spawned = await request(server.url)
      .post('/v1/distributions/s7/processes')
      .set('authorization', `Bearer ${token}`)
      .send({ argv: ['sleep', '30', '; touch /tmp/pwned-process'] });
    assert.equal(spawned.status, 201);
    await request(server.url).delete(`/v1/processes/${spawned.body.id}`).set('authorization', `Bearer ${token}`);
    const left = await runAsToken(server, token, 's7', { argv: ['ls', '/tmp'] });
    assert.equal(left.body.stdout.trim(), '', `nothing was created inside: ${left.body.stdout}`);
    for (const path of [marker, '/tmp/pwned-subst', '/tmp/pwned-backtick', '/tmp/pwned-env', '/tmp/pwned-process']) {
      assert.equal(await exists(path), false, `${path} on the host`);
    }
  });
});

describe('S8: bounded bodies and rate-limited auth failures', () => {
  it('answers 413 to oversized JSON bodies, run bodies and imports, and stays up [S8]', async (t) => {
    const server = await startServer(t, { maxImportBytes: 64 * 1024 });
    const token = await tokenOf(server);
    const big = JSON.stringify({ label: 'x'.repeat(2 * 1024 * 1024) });
    const tokens = await request(server.url).post('/v1/tokens').set('authorization', `Bearer ${token}`).set('content-type', 'application/json').send(big);
    assert.equal(tokens.status, 413, 'a 2 MiB token request');
    assert.equal(tokens.body.code, 'LXSSD_E_PAYLOAD_TOO_LARGE');
    const run = await request(server.url)
      .post('/v1/distributions/x/run')
      .set('authorization', `Bearer ${token}`)
      .set('content-type', 'application/json')
      .send(JSON.stringify({ argv: ['cat'], stdin: 'y'.repeat(34 * 1024 * 1024) }));
    assert.equal(run.status, 413, 'a 34 MiB run body');
    const imported = await request(server.url)
      .post('/v1/distributions?name=huge')
      .set('authorization', `Bearer ${token}`)
      .set('content-type', 'application/x-tar')
      .send(Buffer.alloc(1024 * 1024));
    assert.equal(imported.status, 413, 'an import over maxImportBytes');
    assert.equal(imported.body.code, 'LXSSD_E_PAYLOAD_TOO_LARGE');
    const listed = await request(server.url).get('/v1/distributions').set('authorization', `Bearer ${token}`);
    assert.deepEqual(listed.body.distributions, [], 'the refused import left nothing');
  });

  it('slows a flood of bad tokens with 429 and a Retry-After [S8]', async (t) => {
    const server = await startServer(t, { authFailureLimit: 5, authFailureWindowMs: 60_000 });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      const response = await request(server.url).get('/v1/distributions').set('authorization', `Bearer guess-${attempt}`);
      statuses.push(response.status);
      if (response.status === 429) assert.ok(Number(response.headers['retry-after']) > 0, 'Retry-After');
    }
    assert.ok(statuses.every((status) => status === 401 || status === 429), statuses.join(','));
    assert.ok(statuses.includes(429), `20 bad tokens were never limited: ${statuses.join(',')}`);
    assert.equal(statuses.slice(0, 5).every((status) => status === 401), true, 'the first failures are plain 401s');
  });
});
