// Swagger UI at /docs runs under its Content-Security-Policy (no violation, the operations render), and no
// page may frame it: a real headless Chromium loads it, then tries to put it in an iframe.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';

describe('/docs in a browser', () => {
  it('renders Swagger UI without a CSP violation and refuses to be framed', async (t) => {
    if (!existsSync(CHROMIUM)) return t.skip(`needs Debian's chromium at ${CHROMIUM} (scripts/setup.sh installs it)`);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    // Registered first, so it runs first: the server's close waits for the browser's keep-alive connections.
    t.after(() => browser.close());
    const server = await startServer(t);

    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    page.on('pageerror', (error) => violations.push(`page error: ${error.message}`));
    await page.goto(`${server.url}/docs/`);
    await page.locator('.opblock').first().waitFor();
    await page.locator('.opblock-summary').first().click();
    await page.getByText('Try it out').first().waitFor();
    assert.ok((await page.locator('.opblock').count()) > 10, 'the operations are rendered');
    assert.deepEqual(violations, [], 'Swagger UI needs nothing its policy forbids');

    const framer = await browser.newPage();
    const blocked = new Promise<string>((resolve) =>
      framer.on('console', (message) => {
        if (/frame-ancestors/.test(message.text())) resolve(message.text());
      }),
    );
    // `load` waits for the iframe too; a refused frame is left showing the browser's error page.
    await framer.setContent(`<iframe src="${server.url}/docs/"></iframe>`, { waitUntil: 'load' });
    const framed = framer.frames().find((frame) => frame !== framer.mainFrame());
    assert.ok(framed, 'the iframe exists');
    assert.equal(await framed.locator('.opblock').count(), 0, 'no Swagger UI inside the frame');
    assert.match(await blocked, /frame-ancestors 'none'/, 'the browser says why it refused to frame /docs');
  });
});
