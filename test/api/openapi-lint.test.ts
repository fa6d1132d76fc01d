// The committed OpenAPI document is lint clean: redocly's recommended ruleset (redocly.yaml) finds no error
// and no warning. Its one ignored occurrence (.redocly.lint-ignore.yaml) is pinned here, so a new one fails.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const redocly = fileURLToPath(new URL('../../../node_modules/@redocly/cli/bin/cli.js', import.meta.url));

type LintReport = {
  totals: { errors: number; warnings: number; ignored: number };
  problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
};

describe('openapi/openapi.json lint (redocly recommended)', () => {
  it('has no errors and no warnings', async () => {
    // redocly exits non-zero on errors; the JSON report on stdout says what they are either way.
    const { stdout } = await run(process.execPath, [redocly, 'lint', 'openapi/openapi.json', '--format=json'], {
      cwd: root,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      maxBuffer: 64 * 1024 * 1024,
    }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
    const report = JSON.parse(stdout) as LintReport;
    const problems = report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
    assert.deepEqual(problems, []);
    assert.deepEqual({ errors: report.totals.errors, warnings: report.totals.warnings }, { errors: 0, warnings: 0 });
    assert.equal(report.totals.ignored, 1, 'only the WebSocket route’s operation-2xx-response is ignored');
  });

  it('ignores only what redocly.yaml explains', async () => {
    const ignore = await readFile(new URL('../../../.redocly.lint-ignore.yaml', import.meta.url), 'utf8');
    const config = await readFile(new URL('../../../redocly.yaml', import.meta.url), 'utf8');
    const pointers = [...ignore.matchAll(/^\s*- '([^']+)'/gm)].map((match) => match[1]);
    assert.deepEqual(pointers, ['#/paths/~1v1~1processes~1{id}~1stdio/get/responses']);
    assert.match(config, /operation-2xx-response on GET \/v1\/processes\/\{id\}\/stdio/);
  });
});
