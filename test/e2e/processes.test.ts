// Processes as resources (WSL's CreateLxProcess): run to completion, stdio and terminals over WebSockets,
// signals, resize, missing programs and users, and who may see what.

import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LxssEvent } from '../../src/core/events.js';
import { eventually } from '../helpers/eventually.js';
import { importAs, readableArchive as archive, usersWithBusybox } from '../helpers/distros.js';
import { localRequest } from '../helpers/local-client.js';
import { busyboxRootfsTar, debianMinbaseTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer, type TestServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot } from '../helpers/users.js';
import { attach, refusedUpgrade, tokenOf } from '../helpers/process-client.js';

const json = (channel: number, value: unknown) => Buffer.concat([Buffer.of(channel), Buffer.from(JSON.stringify(value))]);

describe('POST /v1/distributions/{distro}/run', () => {
  it('returns exactly out, err and 3, as root and as alice, in busybox and in Debian', { timeout: 10 * 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const [root, alice] = await Promise.all([ensureUser('root'), ensureUser('alice')]);
    const distros: Array<[string, string]> = [['bb', await archive(t, await busyboxRootfsTar())]];
    if (process.env.LXSSD_TEST_DEBIAN !== '0') distros.push(['Debian', await archive(t, await debianMinbaseTar())]);
    for (const user of [root, alice]) {
      for (const [name, file] of distros) {
        await importAs(user, server.socketPath, name, file);
        const run = await curlLocalAs(user, server.socketPath, 'POST', `/v1/distributions/${name}/run`, {
          argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'],
        });
        const what = `${user.name} in ${name}`;
        assert.equal(run.status, 200, `${what}: ${JSON.stringify(run.json)}`);
        const body = run.json as { stdout: string; stderr: string; exitCode: number; signal: number | null };
        assert.deepEqual([body.stdout, body.stderr, body.exitCode, body.signal], ['out\n', 'err\n', 3, null], what);
      }
    }
  });

  it('passes argv with no shell, sets the user’s environment, kills at the timeout and caps output', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    await importAs(alice, server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
    const run = async (body: object, query = '') =>
      (await curlLocalAs(alice, server.socketPath, 'POST', `/v1/distributions/bb/run${query}`, body)).json as any;

    assert.equal((await run({ argv: ['echo', '$(id -u); `id`', '*'] })).stdout, '$(id -u); `id` *\n', 'no shell expands anything [S7]');
    const env = await run({ argv: ['env'], user: 'alice', env: { GREETING: 'hi' } });
    for (const line of ['HOME=/home/alice', 'USER=alice', 'GREETING=hi', 'LANG=en_US.UTF-8']) {
      assert.ok(env.stdout.split('\n').includes(line), `env has ${line}: ${env.stdout}`);
    }
    const asAlice = await run({ argv: ['id', '-u'], user: 'alice' });
    assert.equal(asAlice.stdout, '1000\n');
    // The process reports the user as the distribution resolved it (the hypervisor layer reads its /etc/passwd).
    const resolved = (await curlLocalAs(alice, server.socketPath, 'GET', `/v1/processes/${asAlice.id}`)).json as any;
    assert.deepEqual([resolved.user, resolved.uid, resolved.home], ['alice', 1000, '/home/alice']);
    const byUid = await run({ argv: ['true'], uid: 4321 });
    const unlisted = (await curlLocalAs(alice, server.socketPath, 'GET', `/v1/processes/${byUid.id}`)).json as any;
    assert.deepEqual([unlisted.user, unlisted.uid, unlisted.home], ['4321', 4321, '/'], 'a uid the distribution does not list');
    assert.equal((await run({ argv: ['pwd'], user: 'alice' })).stdout, '/home/alice\n', 'cwd defaults to the home');
    assert.equal((await run({ argv: ['cat'], stdin: 'fed through stdin' })).stdout, 'fed through stdin');
    // More stdin than the 1 MiB a JSON body may otherwise hold; too big a body is a 413, not a cut.
    const bodies = await sharedTempDir('lxssd-run-body-');
    t.after(() => rm(bodies, { recursive: true, force: true }));
    const postFile = async (name: string, body: object) => {
      await writeFile(join(bodies, name), JSON.stringify(body));
      return curlLocalAs(alice, server.socketPath, 'POST', '/v1/distributions/bb/run', undefined, {
        upload: { file: join(bodies, name), contentType: 'application/json' },
      });
    };
    const big = await postFile('big.json', { argv: ['wc', '-c'], stdin: 'x'.repeat(3 << 20) });
    assert.equal(big.status, 200, JSON.stringify(big.json));
    assert.equal(Number((big.json as { stdout: string }).stdout.trim()), 3 << 20, '3 MiB of stdin arrive whole');
    const huge = await postFile('huge.json', { argv: ['wc', '-c'], stdin: '\u0001'.repeat(6 << 20) });
    assert.equal(huge.status, 413, 'a body over the limit');
    assert.equal((huge.json as { code: string }).code, 'LXSSD_E_PAYLOAD_TOO_LARGE');

    const slow = await run({ argv: ['sleep', '30'], timeoutMs: 300 });
    assert.deepEqual([slow.timedOut, slow.signal, slow.exitCode], [true, 9, 137], 'killed at the timeout');
    const loud = await run({ argv: ['sh', '-c', 'yes | head -c 100000'], maxOutputBytes: 1000 });
    assert.deepEqual([loud.stdout.length, loud.truncated, loud.exitCode], [1000, true, 0], 'output capped');
    const binary = await run({ argv: ['printf', '\\377\\000\\001'] }, '?encoding=base64');
    assert.equal(Buffer.from(binary.stdout, 'base64').toString('hex'), 'ff0001', 'base64 encoding');

    const missing = await run({ argv: ['/no/such/program'] });
    assert.equal(missing.exitCode, 127, 'a missing program is 127');
    assert.match(missing.error, /No such file/);
    const notExecutable = await run({ argv: ['/etc/passwd'] });
    assert.equal(notExecutable.exitCode, 126, 'a non-executable file is 126');
    for (const [what, body] of [
      ['an empty program', { argv: [''] }],
      ['a NUL in an argument', { argv: ['echo', 'a\0b'] }],
      ['a NUL in an env value', { argv: ['env'], env: { A: 'a\0b' } }],
      ['an empty env name', { argv: ['env'], env: { '': 'x' } }],
      ['an env name with =', { argv: ['env'], env: { 'A=B': 'x' } }],
      ['a NUL in cwd', { argv: ['pwd'], cwd: '/tm\0p' }],
    ] as const) {
      const refused = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/distributions/bb/run', body);
      assert.equal(refused.status, 400, `${what}: ${JSON.stringify(refused.json)}`);
      assert.equal((refused.json as any).code, 'E_INVALIDARG', what);
    }
    const unknown = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['id'], user: 'mallory' });
    assert.equal(unknown.status, 400);
    assert.equal((unknown.json as any).code, 'WSL_E_USER_NOT_FOUND');
  });

  // The test timeout turns a hang (waiting for the background child's output until the deadline) into a failure.
  it('answers when the program exits although a background child holds the output open, with what came so far', { timeout: 120_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const root = await ensureUser('root');
    await importAs(root, server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
    const run = await curlLocalAs(root, server.socketPath, 'POST', '/v1/distributions/bb/run', {
      argv: ['sh', '-c', 'echo before; sleep 1000 & exit 5'],
      timeoutMs: 600_000,
    });
    assert.equal(run.status, 200, JSON.stringify(run.json));
    const body = run.json as { stdout: string; exitCode: number; timedOut: boolean };
    assert.deepEqual([body.stdout, body.exitCode, body.timedOut], ['before\n', 5, false], 'the shell’s own exit code, and the output so far');
    const ps = await curlLocalAs(root, server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['sh', '-c', 'cat /proc/[0-9]*/comm'] });
    assert.match((ps.json as { stdout: string }).stdout, /^sleep$/m, `the background child was left running: ${JSON.stringify(ps.json)}`);
  });
});

describe('process resources and /stdio', () => {
  it('ends cat on stdin EOF (channel 255), reports signals, and keeps the exit code for late readers', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const root = await ensureUser('root');
    const events: LxssEvent[] = [];
    server.app.lxss.sessions.forSid('S-1-22-1-0').events.subscribe((event) => events.push(event));
    await importAs(root, server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
    const token = await tokenOf(server);

    const cat = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['cat'], stdin: true });
    assert.equal(cat.status, 201);
    assert.equal(cat.body.state, 'running');
    const catStdio = await attach(server, token, cat.body.id);
    catStdio.socket.send(Buffer.concat([Buffer.of(0), Buffer.from('one\n')]));
    catStdio.socket.send(Buffer.concat([Buffer.of(0), Buffer.from('two\n')]));
    catStdio.socket.send(Buffer.of(255, 0));
    assert.deepEqual(await catStdio.closed, { code: 1000, reason: 'exited' });
    assert.equal(catStdio.text(1), 'one\ntwo\n');
    const last = catStdio.frames.at(-1)!;
    assert.equal(last.channel, 3, 'the exit status is the last frame');
    assert.deepEqual(JSON.parse(last.data.toString()), { exitCode: 0, signal: null });

    const sleeper = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '1000'] });
    const signalled = await localRequest(server.socketPath, 'POST', `/v1/processes/${sleeper.body.id}/signal`, { signal: 'SIGTERM' });
    assert.equal(signalled.status, 204);
    const ended = await eventually(async () => {
      const state = await localRequest(server.socketPath, 'GET', `/v1/processes/${sleeper.body.id}`);
      assert.equal(state.body.state, 'exited');
      return state.body;
    });
    assert.deepEqual([ended.exitCode, ended.signal], [143, 15], 'SIGTERM reported');

    const viaChannel = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '1000'] });
    const stdio = await attach(server, token, viaChannel.body.id);
    stdio.socket.send(json(5, { signal: 'SIGKILL' }));
    await stdio.closed;
    assert.deepEqual(JSON.parse(stdio.frames.at(-1)!.data.toString()), { exitCode: 137, signal: 9 }, 'signal over channel 5');

    const late = await attach(server, token, cat.body.id);
    await late.closed;
    assert.deepEqual(JSON.parse(late.frames.at(-1)!.data.toString()), { exitCode: 0, signal: null }, 'a late reader still gets the exit status');
    const listed = await localRequest(server.socketPath, 'GET', '/v1/distributions/bb/processes');
    assert.ok(listed.body.processes.some((p: { id: string }) => p.id === cat.body.id), 'exited processes stay listed');

    const types = events.map((event) => event.type);
    assert.ok(types.includes('process-started') && types.includes('process-exited'), types.join(','));
    const exit = events.find((event) => event.type === 'process-exited' && event.processId === sleeper.body.id);
    assert.equal(exit?.type === 'process-exited' ? exit.exitCode : undefined, 143);

    const removed = await localRequest(server.socketPath, 'DELETE', `/v1/processes/${cat.body.id}`);
    assert.equal(removed.status, 204);
    assert.equal((await localRequest(server.socketPath, 'GET', `/v1/processes/${cat.body.id}`)).status, 404);
    const plain = await localRequest(server.socketPath, 'GET', `/v1/processes/${sleeper.body.id}/stdio`);
    assert.equal(plain.status, 426, 'a plain GET of /stdio asks for a WebSocket');
  });

  it('closes a stdio socket that sends a bad control frame with 1007 and a reason, and the process and service carry on', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    await importAs(await ensureUser('root'), server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
    const token = await tokenOf(server);
    const sleeper = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '1000'] });
    const bad: Array<[string, Buffer, RegExp]> = [
      ['an unknown signal name', json(5, { signal: 'SIGBOGUS' }), /not a signal/],
      ['a signal number out of range', json(5, { signal: 99 }), /channel 5 takes/],
      ['a signal frame that is not JSON', Buffer.concat([Buffer.of(5), Buffer.from('TERM')]), /takes JSON/],
      ['a resize of 0 columns', json(4, { cols: 0, rows: 10 }), /channel 4 takes/],
      ['an unknown channel', Buffer.of(7, 1, 2), /no channel 7/],
      ['closing stdout', Buffer.of(255, 1), /closes channel 0/],
      ['an empty frame', Buffer.alloc(0), /no channel/],
    ];
    for (const [what, frame, detail] of bad) {
      const stdio = await attach(server, token, sleeper.body.id);
      stdio.socket.send(frame);
      const closed = await stdio.closed;
      assert.equal(closed.code, 1007, what);
      const reason = JSON.parse(closed.reason);
      assert.equal(reason.code, 'E_INVALIDARG', what);
      assert.match(reason.detail, detail, what);
    }
    const url = `ws://127.0.0.1:${server.port}/v1/processes/${sleeper.body.id}/stdio`;
    assert.equal(await refusedUpgrade(url, ['lxss.events.v1', `lxss.token.${token}`]), 400, 'a subprotocol /stdio does not speak');
    const still = await localRequest(server.socketPath, 'GET', `/v1/processes/${sleeper.body.id}`);
    assert.equal(still.body.state, 'running', 'no bad frame touched the process');
    const stdio = await attach(server, token, sleeper.body.id);
    stdio.socket.send(json(5, { signal: 'TERM' }));
    assert.deepEqual(await stdio.closed, { code: 1000, reason: 'exited' }, 'a good frame still works');
    assert.deepEqual(JSON.parse(stdio.frames.at(-1)!.data.toString()), { exitCode: 143, signal: 15 });
  });

  it('refuses stdin from a second writer, or to a process without stdin, with 4409, and loses nothing the writer sent', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    await importAs(await ensureUser('root'), server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
    const token = await tokenOf(server);
    const stdin = (text: string) => Buffer.concat([Buffer.of(0), Buffer.from(text)]);

    const cat = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['cat'], stdin: true });
    const writer = await attach(server, token, cat.body.id);
    writer.socket.send(stdin('one\n'));
    await eventually(() => assert.equal(writer.text(1), 'one\n'));
    for (const [what, frame] of [['stdin', stdin('two\n')], ['stdin EOF', Buffer.of(255, 0)]] as const) {
      const second = await attach(server, token, cat.body.id);
      second.socket.send(frame);
      const refused = await second.closed;
      assert.equal(refused.code, 4409, `${what} from a second client is refused, not ignored`);
      assert.equal(JSON.parse(refused.reason).code, 'E_ILLEGAL_STATE_CHANGE');
      assert.match(JSON.parse(refused.reason).detail, /another client writes/);
    }
    writer.socket.send(stdin('three\n'));
    writer.socket.send(Buffer.of(255, 0));
    assert.deepEqual(await writer.closed, { code: 1000, reason: 'exited' });
    assert.equal(writer.text(1), 'one\nthree\n', 'the writer’s stdin went through whole; the refused one not at all');

    const sleeper = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '1000'] });
    const reader = await attach(server, token, sleeper.body.id);
    reader.socket.send(stdin('lost?'));
    const noStdin = await reader.closed;
    assert.equal(noStdin.code, 4409, 'stdin to a process started without it');
    assert.match(JSON.parse(noStdin.reason).detail, /stdin is closed/);
    const still = await localRequest(server.socketPath, 'GET', `/v1/processes/${sleeper.body.id}`);
    assert.equal(still.body.state, 'running');
  });

  it('gives a tty process the requested size and resizes it by REST and by channel 4', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const root = await ensureUser('root');
    await importAs(root, server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
    const token = await tokenOf(server);

    const script = 'stty size; read a; stty size; read b; stty size';
    const created = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', {
      argv: ['sh', '-c', script],
      tty: { cols: 100, rows: 30 },
    });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.tty, { cols: 100, rows: 30 });
    const tty = await attach(server, token, created.body.id);
    await eventually(() => assert.match(tty.text(1), /30 100/), { what: 'the first size' });
    assert.equal((await localRequest(server.socketPath, 'POST', `/v1/processes/${created.body.id}/resize`, { cols: 120, rows: 40 })).status, 204);
    tty.socket.send(Buffer.concat([Buffer.of(0), Buffer.from('\r')]));
    await eventually(() => assert.match(tty.text(1), /40 120/), { what: 'the size after REST resize' });
    const resized = await localRequest(server.socketPath, 'GET', `/v1/processes/${created.body.id}`);
    assert.deepEqual(resized.body.tty, { cols: 120, rows: 40 }, 'the resource shows the size now');
    const renamed = await localRequest(server.socketPath, 'PATCH', '/v1/distributions/bb', { name: 'renamed' });
    assert.equal(renamed.status, 200);
    const after = await localRequest(server.socketPath, 'GET', `/v1/processes/${created.body.id}`);
    assert.equal(after.body.distribution, 'renamed', 'the process shows its distribution’s name now');
    const instance = await localRequest(server.socketPath, 'GET', '/v1/distributions/renamed/instance');
    assert.equal(instance.body.name, 'renamed', 'so does the instance');
    assert.equal((await localRequest(server.socketPath, 'PATCH', '/v1/distributions/renamed', { name: 'bb' })).status, 200);
    tty.socket.send(json(4, { cols: 90, rows: 20 }));
    tty.socket.send(Buffer.concat([Buffer.of(0), Buffer.from('\r')]));
    await tty.closed;
    assert.match(tty.text(1), /30 100[\s\S]*40 120[\s\S]*20 90/);

    const pipes = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '1'] });
    const refused = await localRequest(server.socketPath, 'POST', `/v1/processes/${pipes.body.id}/resize`, { cols: 1, rows: 1 });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, 'LXSSD_E_NOT_A_TERMINAL');

    const raw = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', {
      argv: ['sh', '-c', 'read line; echo "got $line"; exit 5'],
      tty: { cols: 80, rows: 24 },
    });
    const terminal = await attach(server, token, raw.body.id, 'lxss.tty.v1');
    terminal.socket.send('hello\r');
    const close = await terminal.closed;
    assert.deepEqual([close.code, JSON.parse(close.reason)], [1000, { exitCode: 5 }], 'lxss.tty.v1: exit code in the close reason');
    assert.match(terminal.text(1), /got hello/);
  });

  it('keeps each user to their own processes [S4]', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const [alice, bob] = await usersWithBusybox(t, server.socketPath, 'alice', 'bob');
    const bobs = await curlLocalAs(bob, server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '100'] });
    const id = (bobs.json as { id: string }).id;
    for (const [method, path, body] of [
      ['GET', `/v1/processes/${id}`, undefined],
      ['POST', `/v1/processes/${id}/signal`, { signal: 'KILL' }],
      ['DELETE', `/v1/processes/${id}`, undefined],
    ] as const) {
      const response = await curlLocalAs(alice, server.socketPath, method, path, body);
      assert.equal(response.status, 404, `alice ${method} ${path}`);
    }
    const alices = (await curlLocalAs(alice, server.socketPath, 'GET', '/v1/processes')).json as any;
    assert.deepEqual(alices.processes, [], 'alice lists none of bob’s');
    const still = (await curlLocalAs(bob, server.socketPath, 'GET', `/v1/processes/${id}`)).json as any;
    assert.equal(still.state, 'running', 'bob’s process was not touched');
  });
});
