// WSL's three ways to start a process, as pure rules: which way a request asks for, and the argv it becomes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LxssError } from '../../src/core/errors.js';
import { launchOf, startModeOf, type CreateProcessRequest } from '../../src/core/processes.js';

describe('startModeOf', () => {
  it('picks the login shell, the shell with a command, or argv, with shell’s defaults', () => {
    const cases: Array<[Partial<CreateProcessRequest>, ReturnType<typeof startModeOf>]> = [
      [{}, { shell: 'login', commandLine: undefined }],
      [{ shell: 'login' }, { shell: 'login', commandLine: undefined }],
      [{ shell: 'standard' }, { shell: 'standard', commandLine: undefined }],
      [{ commandLine: 'make' }, { shell: 'standard', commandLine: 'make' }],
      [{ commandLine: 'make', shell: 'login' }, { shell: 'login', commandLine: 'make' }],
      [{ argv: ['ls', '-l'] }, { shell: 'none', argv: ['ls', '-l'] }],
      [{ argv: ['ls'], shell: 'none' }, { shell: 'none', argv: ['ls'] }],
    ];
    for (const [request, mode] of cases) assert.deepEqual(startModeOf(request), mode, JSON.stringify(request));
  });

  it('refuses two ways at once, or a way that cannot work, with E_INVALIDARG saying which', () => {
    const cases: Array<[Partial<CreateProcessRequest>, RegExp]> = [
      [{ argv: ['ls'], commandLine: 'ls' }, /not both/],
      [{ argv: ['ls'], shell: 'login' }, /shell "login" starts the user’s shell, but argv is exec'd without one/],
      [{ argv: ['ls'], shell: 'standard' }, /shell "standard"/],
      [{ shell: 'none' }, /shell "none" execs argv directly, with no shell: give argv/],
      [{ shell: 'none', commandLine: 'ls' }, /shell "none"/],
      [{ argv: [''] }, /argv\[0\] must name a program/],
    ];
    for (const [request, detail] of cases) {
      assert.throws(
        () => startModeOf(request),
        (error: unknown) => error instanceof LxssError && error.code === 'E_INVALIDARG' && detail.test(error.detail),
        JSON.stringify(request),
      );
    }
  });
});

describe('launchOf', () => {
  it('makes a login shell "-" + the shell’s name, a command line $SHELL -c, and leaves argv alone', () => {
    const bash = { shell: '/usr/bin/bash' };
    assert.deepEqual(launchOf({ shell: 'login', commandLine: undefined }, bash), { argv: ['-bash'], executable: '/usr/bin/bash' });
    assert.deepEqual(launchOf({ shell: 'login', commandLine: 'id' }, bash), { argv: ['-bash', '-c', 'id'], executable: '/usr/bin/bash' });
    assert.deepEqual(launchOf({ shell: 'standard', commandLine: undefined }, bash), { argv: ['/usr/bin/bash'], executable: '/usr/bin/bash' });
    assert.deepEqual(launchOf({ shell: 'standard', commandLine: 'a; b' }, bash), {
      argv: ['/usr/bin/bash', '-c', 'a; b'],
      executable: '/usr/bin/bash',
    });
    assert.deepEqual(launchOf({ shell: 'none', argv: ['ls', '*'] }, bash), { argv: ['ls', '*'], executable: 'ls' });
  });

  it('falls back to /bin/sh when the user names no shell', () => {
    assert.deepEqual(launchOf({ shell: 'login', commandLine: undefined }, { shell: '' }), { argv: ['-sh'], executable: '/bin/sh' });
  });
});
