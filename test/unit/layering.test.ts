// Dependencies run one way: routes → core → hv. core knows no HTTP; hv knows no HTTP and no core.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

const srcRoot = new URL('../../../src/', import.meta.url).pathname;
const contractRoot = new URL('../../../test/contract/', import.meta.url).pathname;

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

/** What the stub backend may import beside its own files: the contract and its platform-free modules, Node, and tar-stream. */
const STUB_ALLOWED = /^(\.\/[^/]+\.js|\.\.\/(types|errors|signals|guest-config|guest-users|registration-set)\.js|node:(?!http)[a-z/_]+|tar-stream)$/;

/** What the contract suite may take from src: the hv interface (types, errors, createHypervisor) and the stub. */
const CONTRACT_ALLOWED = /^\.\.\/\.\.\/src\/hv\/(index|types|errors)\.js$|^\.\.\/\.\.\/src\/hv\/stub\//;

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

  it('src/hv/stub runs anywhere: it imports no other backend and nothing bound to an OS', async () => {
    for (const file of await sourceFiles(join(srcRoot, 'hv', 'stub'))) {
      for (const specifier of importsOf(await readFile(file, 'utf8'))) {
        assert.ok(STUB_ALLOWED.test(specifier), `${relative(srcRoot, file)} imports ${specifier}`);
      }
    }
  });

  it('test/contract reaches src only through the hv interface and the stub (the helpers it uses too)', async () => {
    const files = await sourceFiles(contractRoot);
    for (let i = 0; i < files.length; i++) {
      const file = files[i]!;
      for (const specifier of importsOf(await readFile(file, 'utf8'))) {
        const helper = /^\.\.\/helpers\/[^/]+\.js$/.test(specifier) ? join(file, '..', specifier).replace(/\.js$/, '.ts') : undefined;
        if (helper && !files.includes(helper)) files.push(helper);
        if (!specifier.includes('/src/')) continue;
        assert.ok(CONTRACT_ALLOWED.test(specifier), `${relative(join(contractRoot, '..'), file)} imports ${specifier}`);
      }
    }
  });

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
