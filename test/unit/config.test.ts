import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseListen, resolveConfig } from '../../src/config.js';

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
    const fromEnv = resolveConfig({ ...base, fileText, env: { LXSSD_LISTEN: '127.0.0.1:2000' } });
    assert.equal(fromEnv.listen.port, 2000);
    const fromFlags = resolveConfig({ ...base, fileText, env: { LXSSD_LISTEN: '127.0.0.1:2000' }, flags: { listen: '127.0.0.1:3000' } });
    assert.equal(fromFlags.listen.port, 3000);
    assert.ok(Object.isFrozen(fromFlags), 'config is frozen');
  });

  it('refuses a non-loopback listen address from the file, unknown keys and bad values', () => {
    assert.throws(() => resolveConfig({ ...base, fileText: '[lxssd]\nlisten=0.0.0.0:7071\n' }), /loopback only/);
    assert.throws(() => resolveConfig({ ...base, fileText: '[lxssd]\nlistne=1\n' }), /unknown setting \[lxssd\] listne/);
    assert.throws(() => resolveConfig({ ...base, fileText: '[wsl2]\nvmIdleTimeout=soon\n' }), /vmIdleTimeout must be an integer/);
    assert.throws(() => resolveConfig({ ...base, flags: { logLevel: 'loud' } }), /logLevel/);
    assert.throws(() => resolveConfig({ ...base, fileText: '[lxssd]\nmaxProcesses=0\n' }), /maxProcesses/);
  });
});
