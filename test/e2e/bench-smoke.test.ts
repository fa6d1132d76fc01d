// The bench (bench/run.ts) at tiny sizes, so its scripts cannot rot: every row must come out with numbers.
// Only that: a benchmark's times are for reading, never asserted.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sharedTempDir } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

const run = promisify(execFile);
const bench = new URL('../../bench/run.js', import.meta.url).pathname;

interface ResultRow {
  what: string;
  lxssd: { median: number; p99: number };
  floor?: { median: number };
  ratio?: { min: number; median: number; max: number };
}

const isNumber = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value);

describe('npm run bench -- --smoke', { skip: !isRoot && 'the bench needs root' }, () => {
  it('prints one table and writes a results file whose every row has numbers', async (t) => {
    const dir = await sharedTempDir('lxssd-bench-smoke-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const out = join(dir, 'results.json');
    const { stdout } = await run(process.execPath, [bench, '--smoke', '--out', out], { maxBuffer: 16 << 20 });
    const results = JSON.parse(await readFile(out, 'utf8')) as { rows: ResultRow[] };
    const families = ['run ["true"]', 'through cat', 'stdin only', 'GET /v1/distributions', 'cold start', 'concurrent sleep', 'RSS', 'SSE'];
    for (const family of families) assert.ok(results.rows.some((row) => row.what.includes(family)), `no row for ${family}`);
    for (const row of results.rows) {
      assert.ok(isNumber(row.lxssd.median) && isNumber(row.lxssd.p99), `${row.what}: ${JSON.stringify(row.lxssd)}`);
      if (row.floor) assert.ok(isNumber(row.floor.median), `${row.what}: floor ${JSON.stringify(row.floor)}`);
      if (row.ratio) assert.ok([row.ratio.min, row.ratio.median, row.ratio.max].every(isNumber), `${row.what}: ratio ${JSON.stringify(row.ratio)}`);
    }
    const tableRows = stdout.split('\n').filter((line) => line.startsWith('| '));
    assert.equal(tableRows.length, results.rows.length + 2, stdout); // header and rule, then a line per row
  });
});
