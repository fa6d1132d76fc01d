// Dependencies run one way: routes → core → hv. core knows no HTTP; hv knows no HTTP and no core.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

const srcRoot = new URL('../../../src/', import.meta.url).pathname;

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = await Promise.all(
    entries.map((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return sourceFiles(path);
      return Promise.resolve(entry.name.endsWith('.ts') ? [path] : []);
    }),
  );
  return files.flat();
}

function importsOf(text: string): string[] {
  return [...text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((match) => match[1]!);
}

const FORBIDDEN: Record<string, RegExp> = {
  core: /^(fastify|@fastify\/|ws$|node:http|node:https|\.\.\/routes|\.\.\/server|.*\/hv\/linux)/,
  hv: /^(fastify|@fastify\/|ws$|node:http|node:https|\.\.\/.*(core|routes)\/|\.\.\/(core|routes|server))/,
};

describe('layering', () => {
  for (const [layer, forbidden] of Object.entries(FORBIDDEN)) {
    it(`src/${layer} imports nothing from the layers above it`, async () => {
      for (const file of await sourceFiles(join(srcRoot, layer))) {
        for (const specifier of importsOf(await readFile(file, 'utf8'))) {
          assert.ok(!forbidden.test(specifier), `${relative(srcRoot, file)} imports ${specifier}`);
        }
      }
    });
  }

  it('no file but src/main.ts reads process.env', async () => {
    for (const file of await sourceFiles(srcRoot)) {
      if (file.endsWith('/main.ts')) continue;
      assert.ok(!(await readFile(file, 'utf8')).includes('process.env'), `${relative(srcRoot, file)} reads process.env`);
    }
  });

  it('no file but src/hv/linux/libc.ts loads a native library (koffi.load)', async () => {
    for (const file of await sourceFiles(srcRoot)) {
      if (relative(srcRoot, file) === 'hv/linux/libc.ts') continue;
      assert.ok(!/\bkoffi\s*\.\s*load\s*\(/.test(await readFile(file, 'utf8')), `${relative(srcRoot, file)} calls koffi.load`);
    }
  });
});
