import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseListen, parseMemorySize, resolveConfig } from '../../src/config.js';
import { effectiveLimits, MIN_MEMORY_BYTES } from '../../src/hv/linux/cgroup.js';

const base = { isRoot: true, home: '/root', env: {}, flags: {} };

describe('parseListen', () => {
  it('accepts loopback addresses only [S1]', () => {
    const accepted: Array<[string, { host: string; port: number }]> = [
      ['127.0.0.1:7071', { host: '127.0.0.1', port: 7071 }],
      ['127.0.0.2:80', { host: '127.0.0.2', port: 80 }],
      ['localhost:9000', { host: '127.0.0.1', port: 9000 }],
      ['[::1]:7071', { host: '::1', port: 7071 }],
      ['127.0.0.1', { host: '127.0.0.1', port: 7071 }],
      [':0', { host: '127.0.0.1', port: 0 }],
    ];
    for (const [value, expected] of accepted) assert.deepEqual(parseListen(value), expected, value);
    for (const value of ['0.0.0.0:7071', '0.0.0.0', '[::]:7071', '10.0.0.1:7071', 'example.com:7071', '127.0.0.1:99999', 'nonsense:port']) {
      assert.throws(() => parseListen(value), ConfigError, value);
    }
  });
});

describe('resolveConfig', () => {
  it('uses root and user defaults', () => {
    assert.equal(resolveConfig(base).stateDir, '/var/lib/lxssd');
    assert.equal(resolveConfig(base).socketPath, '/run/lxssd/lxssd.sock');
    const user = resolveConfig({ ...base, isRoot: false, home: '/home/alice' });
    assert.equal(user.stateDir, '/home/alice/.local/state/lxssd');
    assert.equal(user.socketPath, '/home/alice/.local/state/lxssd/lxssd.sock');
    assert.deepEqual(resolveConfig(base).listen, { host: '127.0.0.1', port: 7071 });
    assert.equal(resolveConfig(base).instanceIdleTimeout, 15000);
    assert.equal(resolveConfig(base).vmIdleTimeout, 60000);
    assert.equal(resolveConfig(base).maxProcesses, 512);
    assert.equal(resolveConfig(base).maxStreams, 256);
    assert.equal(resolveConfig(base).maxRunOutputBytes, 256 * 1024 * 1024);
    assert.equal(resolveConfig(base).allocateSubordinateIds, false, 'lxssd edits no /etc/subuid unless asked');
    assert.equal(resolveConfig(base).idFilesDir, '/etc');
  });

  it('reads allocateSubordinateIds and idFilesDir from [lxssd], refusing what is not a boolean or an absolute path', () => {
    const on = resolveConfig({ ...base, fileText: '[lxssd]\nallocateSubordinateIds = true\nidFilesDir = /srv/ids\n' });
    assert.equal(on.allocateSubordinateIds, true);
    assert.equal(on.idFilesDir, '/srv/ids');
    assert.equal(resolveConfig({ ...base, fileText: '[lxssd]\nallocateSubordinateIds = False\n' }).allocateSubordinateIds, false);
    assert.throws(() => resolveConfig({ ...base, fileText: '[lxssd]\nallocateSubordinateIds = yes\n' }), /allocateSubordinateIds must be true or false/);
    assert.throws(() => resolveConfig({ ...base, fileText: '[lxssd]\nidFilesDir = etc\n' }), /idFilesDir/);
  });

  it('reads WSL-style keys from the INI file; variables override the file, flags override both', () => {
    const fileText = '[lxssd]\nlisten = 127.0.0.1:1000\nstateDir = /srv/lxssd\n[general]\ninstanceIdleTimeout = -1\n[wsl2]\nvmIdleTimeout = 5\n';
    const fromFile = resolveConfig({ ...base, fileText });
    assert.equal(fromFile.listen.port, 1000);
    assert.equal(fromFile.stateDir, '/srv/lxssd');
    assert.equal(fromFile.instanceIdleTimeout, -1);
    assert.equal(fromFile.vmIdleTimeout, 5);
    assert.equal(resolveConfig({ ...base, fileText: '[lxssd]\nmaxProcesses = 8\n' }).maxProcesses, 8);
    assert.equal(resolveConfig({ ...base, fileText: '[lxssd]\nmaxRunOutputBytes = 4096\n' }).maxRunOutputBytes, 4096);
    const fromEnv = resolveConfig({ ...base, fileText, env: { LXSSD_LISTEN: '127.0.0.1:2000' } });
    assert.equal(fromEnv.listen.port, 2000);
    const fromFlags = resolveConfig({ ...base, fileText, env: { LXSSD_LISTEN: '127.0.0.1:2000' }, flags: { listen: '127.0.0.1:3000' } });
    assert.equal(fromFlags.listen.port, 3000);
    assert.ok(Object.isFrozen(fromFlags), 'config is frozen');
  });

  it('bounds connections, authentication failures and slow requests, with keys in [lxssd] [S8] [S10]', () => {
    const defaults = resolveConfig(base);
    assert.deepEqual(
      [defaults.maxConnections, defaults.maxConnectionsPerPeer, defaults.authFailureLimit, defaults.authFailureGlobalLimit],
      [4096, 512, 10, 100],
    );
    assert.ok(defaults.maxConnectionsPerPeer > defaults.maxStreams, 'a user may hold all its streams and still make requests');
    assert.deepEqual(
      [defaults.headersTimeout, defaults.keepAliveTimeout, defaults.bodyTimeout, defaults.bodyIdleTimeout],
      [30000, 72000, 60000, 60000],
    );
    const keys = {
      maxConnections: 9,
      maxConnectionsPerPeer: 3,
      authFailureGlobalLimit: 7,
      headersTimeout: 1500,
      keepAliveTimeout: 2500,
      bodyTimeout: 3500,
      bodyIdleTimeout: 4500,
    };
    const fileText = `[lxssd]\n${Object.entries(keys).map(([key, value]) => `${key} = ${value}`).join('\n')}\n`;
    const fromFile = resolveConfig({ ...base, fileText });
    for (const [key, value] of Object.entries(keys)) assert.equal(fromFile[key as keyof typeof keys], value, key);
    for (const key of Object.keys(keys)) {
      assert.throws(() => resolveConfig({ ...base, fileText: `[lxssd]\n${key} = 0\n` }), new RegExp(key), `${key} = 0 is refused`);
    }
  });

  it('refuses a non-loopback listen address from the file, unknown keys and bad values', () => {
    assert.throws(() => resolveConfig({ ...base, fileText: '[lxssd]\nlisten=0.0.0.0:7071\n' }), /loopback only/);
    assert.throws(() => resolveConfig({ ...base, fileText: '[lxssd]\nlistne=1\n' }), /unknown setting \[lxssd\] listne/);
    assert.throws(() => resolveConfig({ ...base, fileText: '[wsl2]\nvmIdleTimeout=soon\n' }), /vmIdleTimeout must be an integer/);
    assert.throws(() => resolveConfig({ ...base, flags: { logLevel: 'loud' } }), /logLevel/);
    assert.throws(() => resolveConfig({ ...base, fileText: '[lxssd]\nmaxProcesses=0\n' }), /maxProcesses/);
  });
});

describe('parseMemorySize', () => {
  it("reads sizes as WSL's .wslconfig does: digits and an optional B, K(B), M(B), G(B), T(B) suffix in powers of 1024", () => {
    const cases: Array<[string, number | undefined]> = [
      ['0', 0],
      ['1', 1],
      [' 1', 1],
      ['1B', 1],
      ['1K', 1024],
      ['1KB', 1024],
      ['2M', 2 * 1024 ** 2],
      ['100MB', 100 * 1024 ** 2],
      ['512mb', 512 * 1024 ** 2],
      ['9G', 9 * 1024 ** 3],
      ['44GB', 44 * 1024 ** 3],
      ['1TB', 1024 ** 4],
      ['2T', 2 * 1024 ** 4],
      ['1 B', undefined],
      ['', undefined],
      ['foo', undefined],
      ['-1G', undefined],
      ['1.5GB', undefined],
      ['4GiB', undefined],
      ['99999999999T', undefined],
    ];
    for (const [value, expected] of cases) assert.equal(parseMemorySize(value), expected, JSON.stringify(value));
  });
});

describe('[wsl2] memory, swap, processors and maxPids', () => {
  const file = (text: string) => resolveConfig({ ...base, fileText: text, filePath: '/etc/lxssd/lxssd.conf' });

  it("takes WSL's own keys from a pasted .wslconfig", () => {
    const config = file('[wsl2]\nmemory=4GB\nswap = 512MB\nprocessors=2\nmaxPids=128\n');
    assert.deepEqual(
      [config.memoryBytes, config.swapBytes, config.processors, config.maxPids],
      [4 * 1024 ** 3, 512 * 1024 ** 2, 2, 128],
    );
    assert.equal(file('[wsl2]\nswap=0\n').swapBytes, 0, 'swap=0 is no swap, as in WSL');
  });

  it("defaults to WSL's (null: decided from the host at VM start) and 4096 processes", () => {
    const config = resolveConfig(base);
    assert.deepEqual([config.memoryBytes, config.swapBytes, config.processors, config.maxPids], [null, null, null, 4096]);
  });

  it('refuses values that are not sizes or counts, naming the key', () => {
    for (const [text, key] of [
      ['[wsl2]\nmemory=lots\n', 'memory'],
      ['[wsl2]\nmemory=4 GB\n', 'memory'],
      ['[wsl2]\nswap=-1\n', 'swap'],
      ['[wsl2]\nprocessors=0\n', 'processors'],
      ['[wsl2]\nprocessors=two\n', 'processors'],
      ['[wsl2]\nmaxPids=3\n', 'maxPids'],
    ] as const) {
      assert.throws(() => file(text), (error: Error) => error instanceof ConfigError && error.message.includes(key), text);
    }
  });
});

describe('effectiveLimits', () => {
  const host = { memoryBytes: 16 * 1024 ** 3, cpus: 8 };
  const unset = { memoryBytes: null, swapBytes: null, processors: null, maxProcesses: 4096 };

  it("fills in WSL's defaults: half the memory, a quarter of it as swap rounded up to a GiB, every processor", () => {
    assert.deepEqual(effectiveLimits(unset, host), {
      memoryBytes: 8 * 1024 ** 3,
      swapBytes: 2 * 1024 ** 3,
      processors: 8,
      maxProcesses: 4096,
    });
    const small = effectiveLimits({ ...unset, memoryBytes: 1024 ** 3 }, host);
    assert.equal(small.swapBytes, 1024 ** 3, 'a quarter of 1 GiB rounds up to 1 GiB');
  });

  it('clamps as WSL does: memory between 256 MiB and the host, processors between 1 and the host', () => {
    assert.equal(effectiveLimits({ ...unset, memoryBytes: 1024 }, host).memoryBytes, MIN_MEMORY_BYTES);
    assert.equal(effectiveLimits({ ...unset, memoryBytes: 64 * 1024 ** 3 }, host).memoryBytes, host.memoryBytes);
    assert.equal(effectiveLimits({ ...unset, processors: 64 }, host).processors, 8);
    assert.equal(effectiveLimits({ ...unset, swapBytes: 0 }, host).swapBytes, 0);
  });
});
