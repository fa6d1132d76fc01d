// The dashboard in a real browser (Debian's chromium through playwright-core), against a real server: sign-in
// (a pasted token, `lxssd open`'s one-time link), the live distribution table, terminals, imports with progress,
// exports through one-time tickets, revocation, another origin's page, and the keyboard alone. Screenshots go to
// test-artifacts/dashboard/ (wide, narrow, a running terminal).

import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { lxssd } from '../helpers/binary.js';
import { localRequest } from '../helpers/local-client.js';
import { lxss } from '../helpers/lxss-cli.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { ensureUser, isRoot } from '../helpers/users.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = new URL('../../../test-artifacts/dashboard/', import.meta.url).pathname;
const run = promisify(execFile);

let browser: Browser;

/** A new browser context (its own sessionStorage) with every console complaint and page error collected. */
async function newPage(t: TestContext, viewport = { width: 1280, height: 800 }): Promise<{ page: Page; context: BrowserContext; complaints: string[] }> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  t.after(() => context.close());
  const page = await context.newPage();
  const complaints: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') complaints.push(`${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => complaints.push(`page error: ${error.message}`));
  return { page, context, complaints };
}

async function withDistribution(t: TestContext, name = 'deb'): Promise<{ server: TestServer; token: string; tokenId: string }> {
  const server = await startServer(t);
  const imported = await lxss(['--import', name, join(server.stateDir, '..', name), await busyboxRootfsTar()], { LXSS_SOCKET: server.socketPath });
  assert.equal(imported.code, 0, imported.stderr);
  const minted = await localRequest(server.socketPath, 'POST', '/v1/tokens', { label: 'browser test' });
  return { server, token: minted.body.token as string, tokenId: minted.body.info.id as string };
}

async function signIn(page: Page, server: TestServer, token: string): Promise<void> {
  await page.goto(`${server.url}/`);
  await page.getByLabel('SID token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

function row(page: Page, name: string) {
  return page.locator(`tr[data-name="${name}"]`);
}

/** The lines the shown terminal displays (xterm.js renders its rows into the DOM; spaces may come as NBSP). */
function screenLines(): string[] {
  return [...(document.querySelector('.terminal-panel:not([hidden]) .xterm-rows')?.children ?? [])].map((row) =>
    (row.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd(),
  );
}

async function screenText(page: Page): Promise<string> {
  return (await page.evaluate(screenLines)).join('\n');
}

/** Waits until a line of the shown terminal matches `pattern` (whole line, trailing spaces trimmed). */
async function waitForScreen(page: Page, pattern: RegExp, differentFrom?: string): Promise<void> {
  await page.waitForFunction(
    ({ source, was }) => {
      const lines = [...(document.querySelector('.terminal-panel:not([hidden]) .xterm-rows')?.children ?? [])].map((row) =>
        (row.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd(),
      );
      return lines.some((line) => new RegExp(source).test(line) && line !== was);
    },
    { source: pattern.source, was: differentFrom },
    { timeout: 20_000 },
  );
}

describe('the dashboard', { skip: (!isRoot && 'needs root for namespaces') || (!existsSync(CHROMIUM) && `needs ${CHROMIUM} (scripts/setup.sh installs it)`) }, () => {
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    await mkdir(ARTIFACTS, { recursive: true });
  });
  after(() => browser?.close());

  it('is served at / with its ETag and a policy that allows nothing from elsewhere', async (t) => {
    const server = await startServer(t);
    const first = await fetch(`${server.url}/`);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-frame-options'), 'DENY');
    const csp = first.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /https?:|\*/, 'no source outside our origin');
    const etag = first.headers.get('etag');
    assert.ok(etag);
    assert.equal((await fetch(`${server.url}/`, { headers: { 'if-none-match': etag } })).status, 304);
    const script = await fetch(`${server.url}/app.js`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal((await fetch(`${server.url}/v1/distributions`)).status, 401, 'the API is untouched');
  });

  it('signs in with a pasted token, opens a terminal that follows the window and shows the exit code', { timeout: 120_000 }, async (t) => {
    const { server, token } = await withDistribution(t);
    const { page, complaints } = await newPage(t);

    await page.goto(`${server.url}/`);
    await page.getByLabel('SID token').fill('lxss_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: /unknown, revoked or expired/ }).waitFor();
    // The browser logs that refused sign-in's 401 itself; from here on, nothing may complain.
    complaints.length = 0;

    await page.getByLabel('SID token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await row(page, 'deb').waitFor();
    assert.match(await row(page, 'deb').innerText(), /Stopped[\s\S]*Yes \(default\)/);
    await page.screenshot({ path: join(ARTIFACTS, 'wide.png') });

    await row(page, 'deb').getByRole('button', { name: 'Start' }).click();
    await row(page, 'deb').getByText('Running').waitFor();

    await row(page, 'deb').getByRole('button', { name: 'Terminal' }).click();
    await page.locator('.terminal-panel:not([hidden]) .xterm').waitFor();
    await waitForScreen(page, /^~ #$/);
    await page.keyboard.type('echo $((6*7))\n');
    await waitForScreen(page, /^42$/);
    await page.keyboard.type('stty size\n');
    await waitForScreen(page, /^\d+ \d+$/);
    const before = (await screenText(page)).match(/^(\d+) (\d+)$/m)!;
    await page.screenshot({ path: join(ARTIFACTS, 'terminal.png') });

    await page.setViewportSize({ width: 900, height: 600 });
    await page.keyboard.type('clear; stty size\n');
    await waitForScreen(page, /^\d+ \d+$/, before[0]);

    // A reload keeps the shell: the page attaches again to the process that still runs.
    await page.reload();
    await page.getByRole('button', { name: 'Terminals' }).click();
    await page.getByRole('tab', { name: 'root@deb' }).waitFor();
    await page.locator('.terminal-panel:not([hidden]) .xterm').click();
    await page.keyboard.type('echo back-$((2+3))\n');
    await waitForScreen(page, /^back-5$/);

    await page.keyboard.type('exit 3\n');
    await page.getByRole('status').filter({ hasText: 'The shell ended: exit code 3.' }).waitFor();
    await page.getByRole('tab', { name: /exit code 3/ }).waitFor();

    await page.setViewportSize({ width: 420, height: 800 });
    await page.getByRole('button', { name: 'Distributions' }).click();
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 420, 'nothing wider than the window at 420 px');
    await page.screenshot({ path: join(ARTIFACTS, 'narrow.png'), fullPage: true });
    assert.deepEqual(complaints, [], 'no console errors or warnings');
  });

  it('signs in once through `lxssd open`, and downloads an export once through a ticket', { timeout: 120_000 }, async (t) => {
    const { server } = await withDistribution(t);
    const { stdout } = await run(process.execPath, [lxssd, 'open', '--socket', server.socketPath, '--no-browser'], { env: { PATH: process.env.PATH } });
    const link = stdout.trim();
    const { page, complaints } = await newPage(t);
    await page.goto(link);
    await row(page, 'deb').waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the code is gone from the address bar');
    assert.ok(await page.evaluate(() => sessionStorage.getItem('lxssd.token')?.startsWith('lxss_')), 'the token is in sessionStorage');
    assert.deepEqual((await page.context().cookies()).length, 0, 'and there is no cookie');

    const again = await newPage(t);
    await again.page.goto(link);
    await again.page.getByRole('alert').filter({ hasText: /sign-in link is no good/ }).waitFor();
    await again.page.getByLabel('SID token').waitFor();

    await row(page, 'deb').getByText('More').click();
    await row(page, 'deb').getByLabel('Export format').selectOption('tar');
    const downloading = page.waitForEvent('download');
    await row(page, 'deb').getByRole('button', { name: 'Export' }).click();
    const download = await downloading;
    assert.equal(download.suggestedFilename(), 'deb.tar');
    const saved = join(ARTIFACTS, 'deb.tar');
    await download.saveAs(saved);
    const header = (await readFile(saved)).subarray(257, 262).toString();
    assert.equal(header, 'ustar', 'a tar archive');
    assert.match(download.url(), /\?format=tar&ticket=lxsst_/);
    const reused = await new Promise<number>((resolve, reject) => get(download.url(), (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject));
    assert.equal(reused, 401, 'the same ticket twice is refused');
    assert.deepEqual(complaints, []);
  });

  it('imports a tar from the page with a moving progress bar, unregisters it, and another user never sees it', { timeout: 180_000 }, async (t) => {
    const { server, token } = await withDistribution(t, 'base');
    const alice = await ensureUser('alice');
    const aliceToken = (await localRequest(server.socketPath, 'POST', '/v1/tokens', { sid: `S-1-22-1-${alice.uid}` })).body.token as string;
    const other = await newPage(t);
    await signIn(other.page, server, aliceToken);
    await other.page.getByText('No distributions yet').waitFor();

    const { page, complaints } = await newPage(t);
    await signIn(page, server, token);
    // A slow link, so the upload takes a while and the bar has time to move.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 512 * 1024 });
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { seen: number[] }).seen = seen;
      const look = () => {
        for (const bar of document.querySelectorAll('ul.imports progress')) seen.push((bar as HTMLProgressElement).value);
        requestAnimationFrame(look);
      };
      look();
    });
    await page.getByLabel(/Root filesystem/).setInputFiles(await busyboxRootfsTar());
    await page.getByLabel('Name', { exact: true }).fill('uploaded');
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await row(page, 'uploaded').waitFor({ timeout: 60_000 });
    await row(page, 'uploaded').getByText('Stopped').waitFor({ timeout: 60_000 });
    const seen = await page.evaluate(() => (window as unknown as { seen: number[] }).seen);
    const distinct = new Set(seen.filter((value) => value > 0 && value < 1));
    assert.ok(distinct.size >= 2, `the bar moved: ${[...distinct].slice(0, 10).join(', ')}`);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

    assert.equal(await other.page.locator('tr[data-name]').count(), 0, 'another user’s page never shows it');

    await row(page, 'uploaded').getByText('More').click();
    await row(page, 'uploaded').getByRole('button', { name: 'Unregister…' }).click();
    const dialog = page.getByRole('dialog');
    assert.match(await dialog.innerText(), /Unregister uploaded\?/, 'the confirmation names it');
    await dialog.getByRole('button', { name: 'Unregister uploaded' }).click();
    await row(page, 'uploaded').waitFor({ state: 'detached' });
    assert.deepEqual(complaints, []);
    assert.deepEqual(other.complaints, []);
  });

  it('returns to sign-in when its token is revoked, closing its streams', { timeout: 120_000 }, async (t) => {
    const { server, token, tokenId } = await withDistribution(t);
    const { page } = await newPage(t);
    await signIn(page, server, token);
    await row(page, 'deb').getByRole('button', { name: 'Terminal' }).click();
    await page.locator('.terminal-panel:not([hidden]) .xterm').waitFor();
    await waitForScreen(page, /^~ #$/);
    await page.getByText('events: live').waitFor();
    assert.equal((await localRequest(server.socketPath, 'DELETE', `/v1/tokens/${tokenId}`)).status, 204);
    await page.getByRole('alert').filter({ hasText: /revoked or has expired/ }).waitFor();
    await page.getByLabel('SID token').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('lxssd.token')), null, 'the dead token is forgotten');
  });

  it('gives a page of another origin nothing: no answers, no streams, no token, no change', { timeout: 120_000 }, async (t) => {
    const { server, token } = await withDistribution(t);
    const { page: dashboard } = await newPage(t);
    await signIn(dashboard, server, token);
    await row(dashboard, 'deb').getByRole('button', { name: 'Start' }).click();
    await row(dashboard, 'deb').getByText('Running').waitFor();

    const evil = createServer((request, response) => {
      response.setHeader('content-type', 'text/html');
      response.end('<!doctype html><title>elsewhere</title>');
    });
    evil.listen(0, '127.0.0.1');
    await once(evil, 'listening');
    t.after(() => evil.close());
    const { page } = await newPage(t);
    await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
    const outcome = await page.evaluate(async (target) => {
      const result: Record<string, string> = {};
      result.token = String(sessionStorage.getItem('lxssd.token'));
      try {
        const answer = await fetch(`${target}/v1/version`);
        result.fetch = `answered ${answer.status}`;
      } catch (error) {
        result.fetch = `refused: ${(error as Error).name}`;
      }
      await fetch(`${target}/v1/shutdown`, { method: 'POST', mode: 'no-cors' }).catch(() => undefined);
      result.eventSource = await new Promise<string>((resolve) => {
        const source = new EventSource(`${target}/v1/events`);
        source.onopen = () => resolve('opened');
        source.onerror = () => {
          source.close();
          resolve('failed');
        };
      });
      result.webSocket = await new Promise<string>((resolve) => {
        const socket = new WebSocket(`${target.replace('http', 'ws')}/v1/events`, ['lxss.events.v1']);
        socket.onopen = () => resolve('opened');
        socket.onclose = (event) => resolve(`closed ${event.code}`);
      });
      return result;
    }, server.url);
    assert.equal(outcome.token, 'null', 'the dashboard’s token is not readable from another origin');
    assert.match(outcome.fetch!, /^refused/);
    assert.equal(outcome.eventSource, 'failed');
    assert.equal(outcome.webSocket, 'closed 1006');
    const vm = await localRequest(server.socketPath, 'GET', '/v1/vm');
    assert.equal(vm.body.state, 'Running', 'its POST /v1/shutdown changed nothing');
    assert.equal(vm.body.instances.length, 1);
  });

  it('can be driven by the keyboard alone: import, start, terminal', { timeout: 120_000 }, async (t) => {
    const { server, token } = await withDistribution(t, 'base');
    const { page, complaints } = await newPage(t);
    await signIn(page, server, token);
    await row(page, 'base').waitFor();

    const tabTo = async (matches: () => boolean | Promise<boolean>, what: string) => {
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press('Tab');
        if (await matches()) return;
      }
      assert.fail(`Tab never reached ${what}`);
    };
    const focused = (selector: string) => () => page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector);
    const onButton = (name: string, label: string) => () =>
      page.evaluate(([n, l]) => {
        const active = document.activeElement;
        return active?.tagName === 'BUTTON' && active.textContent === l && active.closest('tr')?.getAttribute('data-name') === n;
      }, [name, label] as const);

    await tabTo(focused('#import-file'), 'the file chooser');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    assert.notEqual(outline, 'none', 'focus is visible');
    const choosing = page.waitForEvent('filechooser');
    await page.keyboard.press('Space');
    await (await choosing).setFiles(await busyboxRootfsTar());
    await tabTo(focused('#import-name'), 'the name');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('typed');
    await page.keyboard.press('Enter');
    await row(page, 'typed').getByText('Stopped').waitFor({ timeout: 60_000 });

    await tabTo(onButton('typed', 'Start'), 'Start');
    await page.keyboard.press('Enter');
    await row(page, 'typed').getByText('Running').waitFor();
    await tabTo(onButton('typed', 'Terminal'), 'Terminal');
    await page.keyboard.press('Enter');
    await page.locator('.terminal-panel:not([hidden]) .xterm').waitFor();
    await waitForScreen(page, /^~ #$/);
    await page.keyboard.type('echo keyboard-$((1+1))\n');
    await waitForScreen(page, /^keyboard-2$/);
    assert.deepEqual(complaints, []);
  });
});
