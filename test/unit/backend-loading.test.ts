// The backend is chosen by platform and loaded only there: src/hv/index.ts imports on any platform (faked here
// as win32) without loading a single Linux module, and says plainly that there is no backend for it yet.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const hvIndex = new URL('../../src/hv/index.js', import.meta.url).href;

// Runs before anything else in the child: fakes the platform, and records every module that gets resolved.
const PRELOAD = `
import { register } from 'node:module';
Object.defineProperty(process, 'platform', { value: 'win32' });
const { port1, port2 } = new MessageChannel();
globalThis.__resolved = [];
port1.on('message', (url) => globalThis.__resolved.push(url));
port1.unref();
register('data:text/javascript,' + encodeURIComponent(
  'let port; export function initialize(data) { port = data.port; }' +
  'export async function resolve(specifier, context, next) { const result = await next(specifier, context); port.postMessage(result.url); return result; }'
), { data: { port: port2 }, transferList: [port2] });
`;

describe('backend loading', () => {
  it('imports the hv module on win32 without loading any Linux code', async () => {
    const script = `
      const hv = await import(${JSON.stringify(hvIndex)});
      let refusal = '';
      try { await hv.createHypervisor(); } catch (error) { refusal = error.message; }
      await new Promise((resolve) => setTimeout(resolve, 100));
      console.log(JSON.stringify({ platform: process.platform, refusal, resolved: globalThis.__resolved }));
    `;
    const { stdout } = await run(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(PRELOAD)}`, '--input-type=module', '-e', script]);
    const outcome = JSON.parse(stdout) as { platform: string; refusal: string; resolved: string[] };
    assert.equal(outcome.platform, 'win32');
    assert.match(outcome.refusal, /no hypervisor backend for win32/);
    assert.ok(outcome.resolved.some((url) => url.endsWith('/hv/index.js')), `the loader saw the import: ${outcome.resolved.join(', ')}`);
    assert.ok(outcome.resolved.some((url) => url.endsWith('/hv/errors.js')), 'and its own imports');
    const linux = outcome.resolved.filter((url) => url.includes('/hv/linux/'));
    assert.deepEqual(linux, [], 'no Linux module was loaded');
    assert.ok(!outcome.resolved.some((url) => url.includes('koffi')), 'nor koffi');
  });
});
