// A setting is declared once, in ConfigSchema: the README's configuration block is that schema written out, and
// a setting added to a schema (a fixture here) is parsed, defaulted, documented and delivered with no other line.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { type Static, Type } from '@sinclair/typebox';
import { ConfigError, configReference, ConfigSchema, resolveConfig } from '../../src/config.js';

const base = { isRoot: true, home: '/root', env: {}, flags: {} };

describe('the configuration reference', () => {
  it('is what the README shows, setting for setting', async () => {
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
    const block = /```ini\n(\[lxssd\]\nlisten[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'the README has the configuration block');
    assert.equal(block, configReference(), 'README.md’s block is configReference() (regenerate it from the schema)');
  });

  it('takes a new setting from one schema entry: parsed, defaulted, documented, delivered', () => {
    const WithKnob = Type.Object({
      ...ConfigSchema.properties,
      fixtureKnob: Type.Integer({ minimum: 1, ini: 'lxssd.fixtureKnob', default: 7, description: 'a knob only this test has' }),
    });
    // Its consumer takes just what it needs of the resolved configuration.
    const consumer = (config: Pick<Static<typeof WithKnob>, 'fixtureKnob'>) => config.fixtureKnob * 2;

    assert.equal(consumer(resolveConfig(base, WithKnob)), 14, 'defaulted');
    assert.equal(consumer(resolveConfig({ ...base, fileText: '[lxssd]\nfixtureKnob = 21\n' }, WithKnob)), 42, 'parsed from the file');
    assert.throws(() => resolveConfig({ ...base, fileText: '[lxssd]\nfixtureKnob = 0\n' }, WithKnob), (error: Error) => error instanceof ConfigError && /\[lxssd\] fixtureKnob/.test(error.message), 'validated');
    assert.throws(() => resolveConfig({ ...base, fileText: '[lxssd]\nfixtureKnob = 2\n' }), /unknown setting \[lxssd\] fixtureKnob/, 'unknown to the real schema');
    assert.match(configReference(WithKnob), /^fixtureKnob = 7 +; a knob only this test has$/m, 'documented');
  });
});
