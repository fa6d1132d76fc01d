// The whole service on the stub backend: core and routes run on any hypervisor that keeps the contract, with
// no Linux underneath — owners are SIDs the backend knows, registrations are the backend's own when it keeps
// them, pids are absent when it has none, and what it cannot do is a 501.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import request from 'supertest';
import { createStubHypervisor, STUB_OWNER } from '../../src/hv/stub/index.js';
import { startServer, sharedTempDir } from '../helpers/server.js';
import { stubRootfsTar } from '../contract/stub-rootfs.js';

describe('the service on the stub backend', () => {
  it('imports, starts, runs and shuts down with the backend keeping the registrations', async (t) => {
    const hv = createStubHypervisor();
    const server = await startServer(t, {}, undefined, { hv });
    const dir = await sharedTempDir('lxssd-stub-api-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    // The stub cannot tell a local socket's caller: a token is minted as the service would for a proven caller.
    const { token } = await server.app.lxss.mintToken({ sid: STUB_OWNER, transport: 'local' }, { label: 'stub test' });
    const api = (method: 'get' | 'post' | 'delete', path: string) =>
      request(server.url)[method](path).set('authorization', `Bearer ${token}`);

    const session = await api('get', '/v1/session');
    assert.equal(session.status, 200);
    assert.deepEqual([session.body.sid, session.body.user, session.body.uid, session.body.administrator], [STUB_OWNER, 'stub', null, false]);

    const imported = await api('post', '/v1/distributions?name=stubby')
      .set('content-type', 'application/x-tar')
      .send(await readFile(await stubRootfsTar(dir)));
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    const store = await hv.registrations!(STUB_OWNER);
    assert.equal(store.byName('stubby')?.id, imported.body.id, 'the backend keeps the registration');
    await assert.rejects(access(join(server.stateDir, 'users', STUB_OWNER, 'registry.json')), 'and the service keeps no registry file of its own');

    const ran = await api('post', '/v1/distributions/stubby/run').send({ argv: ['echo', 'hello', 'stub'] });
    assert.equal(ran.status, 200, JSON.stringify(ran.body));
    assert.deepEqual([ran.body.stdout, ran.body.exitCode, ran.body.signal], ['hello stub\n', 0, null]);
    const asAlice = await api('post', '/v1/distributions/stubby/run').send({ commandLine: 'exit 3', user: 'alice' });
    assert.deepEqual([asAlice.body.exitCode, asAlice.body.stderr], [3, '']);
    const process = await api('get', `/v1/processes/${asAlice.body.id}`);
    assert.deepEqual([process.body.user, process.body.uid, process.body.home, process.body.pid], ['alice', 1000, '/home/alice', null]);

    const instance = await api('get', '/v1/distributions/stubby/instance');
    assert.equal(instance.status, 200);
    assert.deepEqual([instance.body.pid, instance.body.hostname], [null, 'stubby'], 'no pid where the backend has none');

    const xz = await api('get', '/v1/distributions/stubby/export?format=tar.xz');
    assert.equal(xz.status, 501, 'what the backend cannot do');
    assert.equal(xz.body.code, 'LXSSD_E_NOT_SUPPORTED');

    assert.equal((await api('post', '/v1/shutdown')).status, 204);
    assert.equal((await api('get', '/v1/vm')).body.state, 'Stopped');
  });
});
