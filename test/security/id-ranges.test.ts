// Subordinate id ranges as an attacker (or a careless admin) would meet them: the service never hands a user
// ids that another account owns, never edits /etc/subuid unless asked, and when asked allocates under
// shadow's lock files, clear of every range and every account NSS knows, never for system accounts or nobody.
// Services here read copies of subuid/subgid/login.defs (idFilesDir); the host's real files are only ever
// changed by useradd making test accounts, as in every other test.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, link, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { importAs, readableArchive } from '../helpers/distros.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer } from '../helpers/server.js';
import { curlLocalAs, ensureAccount, ensureUser, isRoot, lookupUser, type TestUser } from '../helpers/users.js';

const run = promisify(execFile);
const lxssd = new URL('../../../bin/lxssd.js', import.meta.url).pathname;
const RANGE = 65536;

/** Far above the ranges useradd hands out on the host, so the copies' ranges and victims touch no real one. */
const WINDOW_MIN = 500_000_000;
const WINDOW_MAX = 500_200_000;
/** A victim account inside the window's first candidate range, with a group inside it too. */
const VICTIM_UID = WINDOW_MIN + 100;
const VICTIM_GID = WINDOW_MIN + 200;

const skip = isRoot ? false : 'needs root: real users, namespaces and useradd';

interface Entry {
  owner: string;
  base: number;
  count: number;
}

function entries(text: string): Entry[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [owner, base, count] = line.split(':');
      return { owner: owner!, base: Number(base), count: Number(count) };
    });
}

/** A folder with subuid, subgid and login.defs for a service to read instead of /etc. */
async function idFilesDir(
  t: TestContext,
  files: { subuid?: string; subgid?: string; loginDefs?: string },
): Promise<string> {
  const dir = await sharedTempDir('lxssd-ids-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'subuid'), files.subuid ?? '');
  await writeFile(join(dir, 'subgid'), files.subgid ?? files.subuid ?? '');
  await writeFile(
    join(dir, 'login.defs'),
    files.loginDefs ??
      `UID_MIN 1000\nSUB_UID_MIN ${WINDOW_MIN}\nSUB_UID_MAX ${WINDOW_MAX}\nSUB_GID_MIN ${WINDOW_MIN}\nSUB_GID_MAX ${WINDOW_MAX}\n`,
  );
  return dir;
}

async function runIn(user: TestUser, socketPath: string, distro: string, argv: string[]) {
  const response = await curlLocalAs(user, socketPath, 'POST', `/v1/distributions/${distro}/run`, { argv, user: 'root' });
  assert.equal(response.status, 200, JSON.stringify(response.json));
  return response.json as { exitCode: number; stdout: string; stderr: string };
}

/** `inner outer count` lines of a uid_map or gid_map. */
function mapLines(text: string): Array<[number, number, number]> {
  return text
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number, number]);
}

/** Independent of the service: every account (group) NSS knows with an id in start..end, asked for by id. */
async function nssIdsIn(database: 'passwd' | 'group', start: number, end: number): Promise<string[]> {
  const found: string[] = [];
  for (let first = start; first <= end; first += 16384) {
    const keys: string[] = [];
    for (let id = first; id <= Math.min(end, first + 16383); id++) keys.push(String(id));
    const { stdout } = await run('getent', [database, ...keys], { maxBuffer: 64 << 20 }).catch(
      (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }),
    );
    found.push(...stdout.split('\n').filter((line) => line !== ''));
  }
  return found;
}

/** `lxssd serve` as its own process, with a config file; resolves when it is ready, and keeps draining its log. */
async function serveProcess(t: TestContext, config: string): Promise<{ child: ChildProcess; socketPath: string }> {
  const dir = await sharedTempDir('lxssd-svc-');
  const socketPath = join(dir, 'run', 'lxssd.sock');
  const configPath = join(dir, 'lxssd.conf');
  await writeFile(
    configPath,
    `[lxssd]\nlisten = 127.0.0.1:0\nsocket = ${socketPath}\nstateDir = ${join(dir, 'state')}\nlogLevel = info\n${config}`,
  );
  const child = spawn(process.execPath, [lxssd, 'serve', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"lxssd ready"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`lxssd exited (${code}) before it was ready: ${stderr}`)));
  });
  return { child, socketPath };
}

describe('subordinate id ranges', { skip }, () => {
  it('allocates only when asked: two services racing for two users give disjoint ranges clear of a victim account, and none to nobody or a system account [S9]', async (t) => {
    const [alice, bob] = await Promise.all([ensureUser('alice'), ensureUser('bob')]);
    const victim = await ensureAccount('lxssd-victim', { uid: VICTIM_UID, gid: VICTIM_GID });
    assert.equal(victim.uid, VICTIM_UID, 'the victim has the uid inside the first candidate range');
    assert.equal(victim.gid, VICTIM_GID, 'and its group a gid inside it');
    const service = await ensureAccount('lxssd-svc', { system: true });
    assert.ok(service.uid < 1000, `lxssd-svc is a system account (uid ${service.uid})`);
    const nobody = (await lookupUser('nobody'))!;
    const dir = await idFilesDir(t, {});
    const settings = `allocateSubordinateIds = true\nidFilesDir = ${dir}\n`;
    const [one, two] = await Promise.all([serveProcess(t, settings), serveProcess(t, settings)]);
    const tar = await readableArchive(t, await busyboxRootfsTar());

    // The first request of each user, to two services at once: both allocate, each under the lock files.
    await Promise.all([importAs(alice, one.socketPath, 'bb', tar), importAs(bob, two.socketPath, 'bb', tar)]);

    for (const file of ['subuid', 'subgid']) {
      const ranges = entries(await readFile(join(dir, file), 'utf8'));
      assert.deepEqual(ranges.map((range) => range.owner).sort(), ['alice', 'bob'], `${file}: one range each, only for them`);
      const [a, b] = [ranges.find((range) => range.owner === 'alice')!, ranges.find((range) => range.owner === 'bob')!];
      assert.ok(a.base + a.count <= b.base || b.base + b.count <= a.base, `${file}: disjoint: ${JSON.stringify(ranges)}`);
      for (const range of ranges) {
        assert.equal(range.count, RANGE, `${file}: ${range.owner} got ${RANGE} ids`);
        assert.ok(range.base >= WINDOW_MIN && range.base + range.count - 1 <= WINDOW_MAX, `${file}: ${range.owner} inside login.defs' bounds`);
        for (const [what, id] of [['uid', VICTIM_UID], ['gid', VICTIM_GID]] as const) {
          assert.ok(id < range.base || id >= range.base + range.count, `${file}: ${range.owner}'s range holds no victim ${what} ${id}`);
        }
      }
    }
    assert.deepEqual(
      (await readdir(dir)).filter((name) => /^sub[ug]id(\.lock|\.\d+|\+)$/.test(name)),
      [],
      'no lock, pid or temporary file is left behind',
    );

    // The range is what the distribution runs in.
    const aliceBase = entries(await readFile(join(dir, 'subuid'), 'utf8')).find((range) => range.owner === 'alice')!.base;
    const map = await runIn(alice, one.socketPath, 'bb', ['cat', '/proc/self/uid_map']);
    assert.deepEqual(mapLines(map.stdout), [[0, alice.uid, 1], [1, aliceBase + 1, RANGE - 1]], map.stdout);

    // nobody and a system account get no range even with allocation on: a one-id map and a warning.
    for (const user of [nobody, service]) {
      const session = await curlLocalAs(user, one.socketPath, 'GET', '/v1/session');
      assert.equal(session.status, 200);
      const warnings = (session.json as { warnings: string[] }).warnings;
      assert.equal(warnings.length, 1, `${user.name}: ${JSON.stringify(warnings)}`);
      assert.match(warnings[0]!, /never gives one to a system account or nobody/, user.name);
      await importAs(user, one.socketPath, 'bb', tar);
      const own = await runIn(user, one.socketPath, 'bb', ['cat', '/proc/self/uid_map']);
      assert.deepEqual(mapLines(own.stdout), [[0, user.uid, 1]], `${user.name} runs with its own uid only`);
    }
    for (const file of ['subuid', 'subgid']) {
      const owners = entries(await readFile(join(dir, file), 'utf8')).map((range) => range.owner);
      assert.deepEqual(owners.sort(), ['alice', 'bob'], `${file}: still only alice's and bob's ranges`);
    }
  });

  it("allocates under shadow's lock files: waits for a live holder's /etc/subuid.lock and takes over a dead one's", async (t) => {
    const alice = await ensureUser('alice');
    const dir = await idFilesDir(t, {});
    const server = await startServer(t, { idFilesDir: dir, allocateSubordinateIds: true });
    // A lock as useradd leaves it: a pid file linked to subuid.lock, here of a process that is alive.
    const holder = spawn('sleep', ['600'], { stdio: 'ignore' });
    t.after(() => holder.kill('SIGKILL'));
    await writeFile(join(dir, `subuid.${holder.pid}`), `${holder.pid}\0`);
    await link(join(dir, `subuid.${holder.pid}`), join(dir, 'subuid.lock'));
    await rm(join(dir, `subuid.${holder.pid}`));
    const tar = await readableArchive(t, await busyboxRootfsTar());
    const imported = importAs(alice, server.socketPath, 'bb', tar);
    const session = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/session');
    assert.equal(session.status, 200, 'the service answers others while it waits for the lock');
    assert.equal(await readFile(join(dir, 'subuid'), 'utf8'), '', 'nothing is written while another program holds the lock');
    // The holder dies without removing its lock (a crashed usermod): the lock is stale and is taken over.
    const gone = once(holder, 'exit');
    holder.kill('SIGKILL');
    await gone;
    await imported;
    const ranges = entries(await readFile(join(dir, 'subuid'), 'utf8'));
    assert.deepEqual(ranges.map((range) => range.owner), ['alice'], JSON.stringify(ranges));
    assert.deepEqual((await readdir(dir)).filter((name) => /^sub[ug]id\.lock$/.test(name)), [], 'the locks are released');
  });

  it('never edits the files by default: a user without a range runs with a one-id map and is told how to get one', async (t) => {
    const alice = await ensureUser('alice');
    const dir = await idFilesDir(t, { subuid: 'someone:100000:65536\n' });
    const server = await startServer(t, { idFilesDir: dir });
    const session = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/session');
    const [warning] = (session.json as { warnings: string[] }).warnings;
    assert.ok(warning, `a warning on the session: ${JSON.stringify(session.json)}`);
    assert.match(warning, /no range of 65536 subordinate ids/);
    // It names a range that is actually free in the files: not someone's.
    const suggested = /--add-subuids (\d+)-(\d+) --add-subgids \1-\2 alice/.exec(warning);
    assert.ok(suggested, `the admin command is named: ${warning}`);
    assert.ok(Number(suggested[1]) >= 165536, `the suggested range ${suggested[1]} is clear of someone's 100000-165535`);

    await importAs(alice, server.socketPath, 'bb', await readableArchive(t, await busyboxRootfsTar()));
    const uidMap = await runIn(alice, server.socketPath, 'bb', ['cat', '/proc/self/uid_map']);
    const gidMap = await runIn(alice, server.socketPath, 'bb', ['cat', '/proc/self/gid_map']);
    assert.deepEqual(mapLines(uidMap.stdout), [[0, alice.uid, 1]], `only alice's uid is mapped: ${uidMap.stdout}`);
    assert.deepEqual(mapLines(gidMap.stdout), [[0, alice.gid, 1]], `only alice's gid is mapped: ${gidMap.stdout}`);

    const instance = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/distributions/bb/instance');
    assert.equal(instance.status, 200);
    assert.match((instance.json as { warnings: string[] }).warnings.join('\n'), /usermod --add-subuids/, 'the instance says so too');
    const vm = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/vm');
    assert.match((vm.json as { warnings: string[] }).warnings.join('\n'), /usermod --add-subuids/, 'and the VM');
    assert.equal(await readFile(join(dir, 'subuid'), 'utf8'), 'someone:100000:65536\n', 'subuid is untouched');
    assert.equal(await readFile(join(dir, 'subgid'), 'utf8'), 'someone:100000:65536\n', 'subgid is untouched');
  });

  it('refuses at VM start a range overlapping another user\'s range or holding another account\'s uid, naming both [S9] [S5]', async (t) => {
    const [alice, bob] = await Promise.all([ensureUser('alice'), ensureUser('bob')]);
    await ensureAccount('lxssd-victim', { uid: VICTIM_UID, gid: VICTIM_GID });
    const clean = 'alice:300000:65536\nbob:365536:65536\n';
    const dir = await idFilesDir(t, { subuid: clean });
    const server = await startServer(t, { idFilesDir: dir });
    const tar = await readableArchive(t, await busyboxRootfsTar());
    await importAs(alice, server.socketPath, 'bb', tar);
    await importAs(bob, server.socketPath, 'bb', tar);

    const cases: Array<{ what: string; subuid: string; user: TestUser; other: RegExp }> = [
      { what: "bob's range over alice's", subuid: 'alice:300000:65536\nbob:350000:65536\n', user: bob, other: /alice's range 300000-365535/ },
      // Its first mapped id (a range's base itself is not mapped) is bob's, so bob is the first account it holds
      // and is named, whatever uids this host gave the test users.
      { what: "alice's range holding bob's uid", subuid: `alice:${bob.uid - 1}:65536\nbob:365536:65536\n`, user: alice, other: new RegExp(`the account bob \\(uid ${bob.uid}\\)`) },
      { what: "alice's range holding the victim's uid", subuid: `alice:${WINDOW_MIN}:65536\nbob:365536:65536\n`, user: alice, other: /the account lxssd-victim \(uid 500000100\)/ },
    ];
    for (const { what, subuid, user, other } of cases) {
      await writeFile(join(dir, 'subuid'), subuid);
      await writeFile(join(dir, 'subgid'), subuid);
      const session = await curlLocalAs(user, server.socketPath, 'GET', '/v1/session');
      assert.match((session.json as { warnings: string[] }).warnings.join('\n'), /will not start/, `${what}: the session warns first`);
      const start = await curlLocalAs(user, server.socketPath, 'POST', '/v1/distributions/bb/instance');
      assert.equal(start.status, 409, `${what}: ${JSON.stringify(start.json)}`);
      const problem = start.json as { code: string; detail: string };
      assert.equal(problem.code, 'LXSSD_E_ID_RANGE_CONFLICT', what);
      assert.match(problem.detail, new RegExp(`${user.name}'s uid range`), `${what}: names the user`);
      assert.match(problem.detail, other, `${what}: names the other party`);
      const running = await curlLocalAs(user, server.socketPath, 'GET', '/v1/distributions/bb/instance');
      assert.equal(running.status, 404, `${what}: nothing runs`);
    }
    await writeFile(join(dir, 'subuid'), clean);
    await writeFile(join(dir, 'subgid'), clean);
    const started = await curlLocalAs(bob, server.socketPath, 'POST', '/v1/distributions/bb/instance');
    assert.equal(started.status, 201, `with the overlap gone bob's starts: ${JSON.stringify(started.json)}`);
  });

  it("maps no other account's uid or gid and no other user's range into a real user's distribution [S9]", async (t) => {
    const users = await Promise.all([ensureUser('alice'), ensureUser('bob')]);
    const server = await startServer(t);
    const tar = await readableArchive(t, await busyboxRootfsTar());
    const subuid = entries(await readFile('/etc/subuid', 'utf8'));
    const subgid = entries(await readFile('/etc/subgid', 'utf8'));
    for (const user of users) {
      await importAs(user, server.socketPath, 'bb', tar);
      const started = await curlLocalAs(user, server.socketPath, 'POST', '/v1/distributions/bb/instance');
      if (started.status === 409) {
        // The host's own files conflict: refusing is the invariant holding.
        assert.equal((started.json as { code: string }).code, 'LXSSD_E_ID_RANGE_CONFLICT', user.name);
        continue;
      }
      const pid = (started.json as { pid: number }).pid;
      for (const [kind, database, ranges, own] of [
        ['uid', 'passwd', subuid, user.uid],
        ['gid', 'group', subgid, user.gid],
      ] as const) {
        // Read on the host, from the kernel: what the instance's PID 1 is really mapped to.
        const lines = mapLines(await readFile(`/proc/${pid}/${kind}_map`, 'utf8'));
        for (const [inner, outer, count] of lines) {
          if (inner === 0) {
            assert.deepEqual([outer, count], [own, 1], `${user.name}: inner root is the user's own ${kind} only`);
            continue;
          }
          const end = outer + count - 1;
          const known = await nssIdsIn(database, outer, end);
          assert.deepEqual(known, [], `${user.name}: no ${database} entry NSS knows has a ${kind} in ${outer}-${end}`);
          const others = ranges.filter(
            (range) => range.owner !== user.name && range.owner !== String(user.uid) && range.base <= end && range.base + range.count - 1 >= outer,
          );
          assert.deepEqual(others, [], `${user.name}: no other user's range overlaps ${kind}s ${outer}-${end}`);
        }
      }
    }
  });

  it("keeps another user's 0600 file unreadable to root in a distribution, through a shared folder [S5]", async (t) => {
    const [alice, bob] = await Promise.all([ensureUser('alice'), ensureUser('bob')]);
    const shared = await sharedTempDir('lxssd-shared-');
    t.after(() => rm(shared, { recursive: true, force: true }));
    const secret = join(shared, 'secret');
    await writeFile(secret, 'bob only\n');
    await run('chown', [`${bob.uid}:${bob.gid}`, secret]);
    await chmod(secret, 0o600);
    const server = await startServer(t);
    await importAs(alice, server.socketPath, 'bb', await readableArchive(t, await busyboxRootfsTar()));
    const started = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/distributions/bb/instance');
    assert.equal(started.status, 201, JSON.stringify(started.json));
    const share = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/distributions/bb/mounts', {
      hostPath: shared,
      target: '/mnt/shared',
      readOnly: false,
    });
    assert.equal(share.status, 201, JSON.stringify(share.json));
    const attempts: Array<[string, string[]]> = [
      ['cat', ['cat', '/mnt/shared/secret']],
      ['chmod', ['chmod', '0644', '/mnt/shared/secret']],
      ['chown', ['chown', '0:0', '/mnt/shared/secret']],
      ['overwrite', ['sh', '-c', 'echo mine > /mnt/shared/secret']],
    ];
    for (const [what, argv] of attempts) {
      const result = await runIn(alice, server.socketPath, 'bb', argv);
      assert.notEqual(result.exitCode, 0, `${what} as root inside alice's distribution fails: ${result.stdout}${result.stderr}`);
      assert.doesNotMatch(result.stdout, /bob only/, what);
    }
    assert.equal(await readFile(secret, 'utf8'), 'bob only\n', "bob's file is unchanged");
  });
});
