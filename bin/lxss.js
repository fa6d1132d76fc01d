#!/usr/bin/env node
// Entry of the `lxss` command (wsl.exe for lxssd): runs the compiled client (npm install builds it into dist/).
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('lxss: not built yet; run `npm install` (or `npm run build`) in the checkout first\n');
  process.exit(255);
}
// A reader of stdout that goes away (`lxss -- yes | head`) ends lxss as SIGPIPE ends a shell command.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(141);
  throw error;
});
const { main: run } = await import(main.href);
const code = await run(process.argv.slice(2));
// Exit once what was written has gone out (stdout may be a slow pipe).
process.stdout.write('', () => process.exit(code));
