// The page says plainly what does not work in this browser, by feature detection (issue 17).
// Every engine of the suite has what MedSeal needs, so a normal session shows no notice; to see
// the notice, the proxy adds a script that takes IndexedDB, WebCrypto and the private file
// system away from the page, as a browser without them (or a private window that refuses
// storage) would be.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { repo } from '../lib.mjs';
import { engine, startApp, startEngine } from '../wd/app.mjs';

const T = `[${engine}]`;
const carolee = path.join(repo, 'core/tests/fixtures/synthea-r4/Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json');

// Removes the page's IndexedDB, crypto.subtle and private file system (the workers keep theirs).
const TAKE_AWAY = "Object.defineProperty(window,'indexedDB',{value:undefined,configurable:true});Object.defineProperty(Crypto.prototype,'subtle',{get(){return undefined},configurable:true});Object.defineProperty(StorageManager.prototype,'getDirectory',{value:undefined,configurable:true});";
const TAKE_AWAY_HASH = `'sha256-${createHash('sha256').update(TAKE_AWAY).digest('base64')}'`;

let app, browser;
before(async () => {
  app = await startApp();
  browser = await startEngine();
});
afterEach(async () => {
  app.rewrite.response = null;
  await browser.closeAll();
});
after(async () => {
  await browser?.stop();
  await app?.stop();
});

/** Waits until the storage check (asynchronous) has surely answered, then lists the notice. */
async function notice(page) {
  await page.byTestId('file-input').waitFor({ visible: false });
  await page.evaluateAsync(() => new Promise((r) => setTimeout(r, 1000)));
  return page.evaluate(() => [...document.querySelectorAll('[data-testid="support-missing"]')].map((li) => [li.dataset.feature, li.innerText]));
}

test(`${T} a browser with everything MedSeal needs sees no notice of missing features`, async () => {
  const page = await browser.newPage();
  await page.goto(`${app.url}/`);
  // WebKitWebDriver's sessions are ephemeral and their private file system refuses to open, so
  // there the page says large records open in memory; nothing else is missing in any engine.
  const expected = engine === 'webkit' ? ['disk'] : [];
  assert.deepEqual((await notice(page)).map(([f]) => f), expected, 'nothing else is said to be missing');
  assert.equal(await page.byTestId('browser-support').count(), expected.length ? 1 : 0);
});

test(`${T} without storage, WebCrypto and a private file system the page says what does not work, and sharing still works`, async () => {
  app.rewrite.response = (req, res) => {
    if (!/text\/html/.test(res.headers['content-type'] ?? '')) return undefined;
    const html = res.body.toString('utf8').replace('<head>', `<head><script>${TAKE_AWAY}</script>`);
    const csp = String(res.headers['content-security-policy'] ?? '').replace("script-src 'self'", `script-src 'self' ${TAKE_AWAY_HASH}`);
    return { ...res, headers: { ...res.headers, 'content-security-policy': csp }, body: Buffer.from(html) };
  };
  const page = await browser.newPage();
  await page.goto(`${app.url}/`);
  const missing = await notice(page);
  assert.deepEqual(missing.map(([f]) => f).sort(), ['disk', 'storage', 'webcrypto']);
  const [, disk] = missing.find(([f]) => f === 'disk');
  assert.match(disk, /memory instead. Everything works/, 'the disk line says what still works');
  const [, storage] = missing.find(([f]) => f === 'storage');
  assert.match(storage, /private window/i, 'the storage line names the likely cause');
  assert.match(storage, /Sharing and opening records work/, 'and says what still works');
  assert.match(await page.byTestId('browser-support').text(), /Everything else works here/);
  await page.screenshot('browser-support');
  // The share page's work happens in the worker, which still has what it needs. (On this same
  // page: a second load could be answered 304 from the cache, whose body has the script and
  // whose fresh policy no longer allows it.)
  await page.byTestId('file-input').setFiles(carolee);
  await page.byTestId('share-button').click();
  await page.byTestId('share-link').waitFor({ timeout: 60_000 });
  const link = await page.byTestId('share-link').value();
  assert.match(link, /\/s\/[A-Za-z0-9_-]{22}#/);
  assert.deepEqual(await page.allProblems(), []);
});
