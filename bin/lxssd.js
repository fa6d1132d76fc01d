#!/usr/bin/env node
// Entry of the `lxssd` command: runs the compiled service (npm install builds it into dist/).
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('lxssd: not built yet; run `npm install` (or `npm run build`) in the checkout first\n');
  process.exit(1);
}
await import(main.href);
