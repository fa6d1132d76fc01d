// Bundles the dashboard (web/) into dist/web with esbuild: one app.js, one app.css (xterm's included), and
// index.html — everything from npm packages at build time, nothing fetched when the page runs.
import { build } from 'esbuild';
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/web`;
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: { app: `${root}web/src/main.tsx` },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  logLevel: 'warning',
  tsconfig: `${root}web/tsconfig.json`,
});
await copyFile(`${root}web/index.html`, `${out}/index.html`);
const sizes = await Promise.all(['app.js', 'app.css'].map(async (file) => `${file} ${Math.round((await stat(`${out}/${file}`)).size / 1024)} KiB`));
console.log(`dashboard: ${sizes.join(', ')}`);
