// Decrypted files never run as pages of MedSeal's origin (issue 13 item 5), in headless
// Chromium against the real server: an HTML file named lab.pdf and an SVG with scripts are
// shared and opened; their Blobs are application/octet-stream, nothing is shown inline, and no
// script in them runs, even when their URLs are opened in a tab.
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage, startRecordingProxy, startServer } from './lib.mjs';

let server, proxy, browser;
before(async () => {
  server = await startServer();
  proxy = await startRecordingProxy(server.url);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.stop();
});

const dir = mkdtempSync(path.join(os.tmpdir(), 'medseal-inline-'));

// Each hostile file, if it ever ran as a page, would leave a marker in localStorage, on its
// opener and on the server (a request the proxy records).
const payload = (tag) =>
  `try{localStorage.setItem('pwned','${tag}')}catch(e){};try{window.opener&&(window.opener.pwned='${tag}')}catch(e){};` +
  `try{fetch('/api/pwned-${tag}')}catch(e){};try{parent.pwned='${tag}'}catch(e){}`;

test('an HTML file named lab.pdf and an SVG with scripts never render in the app\'s origin', async () => {
  const html = path.join(dir, 'lab.pdf');
  writeFileSync(html, `<!doctype html><html><body><h1>Lab</h1><script>${payload('html')}</script></body></html>`);
  const svg = path.join(dir, 'scan.svg');
  writeFileSync(svg, `<svg xmlns="http://www.w3.org/2000/svg" onload="${payload('svgload').replace(/"/g, '&quot;')}"><script>${payload('svg')}</script><rect width="10" height="10"/></svg>`);

  const patient = await newPage(browser);
  await patient.goto(`${proxy.url}/`);
  await patient.getByTestId('file-input').setInputFiles([html, svg]);
  await patient.getByTestId('mode-full').check();
  await patient.getByTestId('share-button').click();
  await patient.getByTestId('share-link').waitFor({ timeout: 60_000 });
  const link = await patient.getByTestId('share-link').inputValue();

  // The doctor's context ignores the Content-Security-Policy, so that this test holds the Blob
  // typing alone to account (with the CSP, a rendered page's scripts might be blocked anyway),
  // and so that the test itself may fetch blob: URLs to read their types.
  const context = await browser.newContext({ acceptDownloads: true, bypassCSP: true });
  const doctor = await context.newPage();
  await doctor.goto(link);
  await doctor.getByTestId('record-view').nth(1).waitFor({ timeout: 60_000 });
  // Nothing is embedded: no PDF viewer for the HTML "lab.pdf", no image for the SVG.
  assert.equal(await doctor.locator('object').count(), 0, 'no <object> for a file that is not a PDF');
  assert.equal(await doctor.locator('img.inline-image').count(), 0, 'no inline SVG');
  assert.equal(await doctor.locator('iframe').count(), 0);
  // Every Blob behind the page's links is application/octet-stream, with a download attribute.
  const links = doctor.getByTestId('download-original');
  assert.equal(await links.count(), 2);
  for (let i = 0; i < 2; i++) {
    const a = links.nth(i);
    assert.ok(await a.getAttribute('download'), 'Download original downloads');
    const href = await a.getAttribute('href');
    assert.match(href, /^blob:/);
    const type = await doctor.evaluate(async (u) => (await (await fetch(u)).blob()).type, href);
    assert.equal(type, 'application/octet-stream', `the Blob of ${await a.getAttribute('download')}`);
  }
  // Markup is shown as text (the SVG's source), never rendered (no heading from the HTML).
  const texts = await doctor.getByTestId('text-view').allInnerTexts();
  assert.ok(texts.some((t) => t.includes('<script>')), 'the SVG source is shown as text');
  assert.equal(await doctor.locator('h1', { hasText: 'Lab' }).count(), 0, 'the HTML was not rendered');
  assert.equal(await doctor.locator('svg rect').count(), 0, 'the SVG was not rendered');

  // Opening a file's URL in a new tab of the app downloads it instead of rendering it.
  for (let i = 0; i < 2; i++) {
    const u = await links.nth(i).getAttribute('href');
    const popup = doctor.waitForEvent('popup', { timeout: 10_000 }).catch(() => null);
    await doctor.evaluate((x) => { window.open(x, '_blank'); }, u);
    const opened = await popup;
    await opened?.waitForLoadState().catch(() => {});
  }
  await doctor.waitForTimeout(1000); // a script, if any, would have run by now
  assert.equal(await doctor.evaluate(() => window.pwned ?? null), null, 'no script reached the opener');
  assert.equal(await doctor.evaluate(() => localStorage.getItem('pwned')), null, 'no script wrote to storage');
  assert.deepEqual(proxy.records.filter((r) => r.url.includes('pwned')).map((r) => r.url), [], 'no script called the server');
  await patient.context().close();
  await context.close();
});
