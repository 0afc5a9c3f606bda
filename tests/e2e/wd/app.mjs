// The MedSeal journeys' building blocks for every engine: the real server behind a rewriting
// proxy, and the patient's, doctor's and researcher's steps, written once for WebDriver.
import { createHash } from 'node:crypto';
import { startServer } from '../lib.mjs';
import { readZip } from '../study-lib.mjs';
import { downloadsToDisk, engine, startEngine } from './engine.mjs';
import { startRewritingProxy } from './proxy.mjs';

export { engine, startEngine };

// WebKitGTK's MiniBrowser saves downloads nowhere a test can read, and the app's policy
// (connect-src 'self') forbids reading a blob: URL back with fetch or XMLHttpRequest. So in
// WebKit alone the proxy adds one inline script to the app's HTML (and its hash to the policy)
// that remembers which Blob each object URL stands for, and which object URL the page last
// downloaded through a link it clicked itself (`browser::download_bytes`); `Page.download` then
// reads the very Blob behind the download. Chromium and Firefox download to disk and get no
// such script.
const BLOB_TAP = "(()=>{const o=URL.createObjectURL,m=new Map();window.__medsealBlobs=m;URL.createObjectURL=function(b){const u=o.call(URL,b);m.set(u,b);return u;};const c=HTMLAnchorElement.prototype.click;HTMLAnchorElement.prototype.click=function(){if(this.download&&this.href.startsWith('blob:'))window.__medsealLastDownload={href:this.href,name:this.download,n:(window.__medsealLastDownload?.n??0)+1};return c.call(this);};})();";
const BLOB_TAP_HASH = `'sha256-${createHash('sha256').update(BLOB_TAP).digest('base64')}'`;

/**
 * The real server (with `serverArgs`) behind a proxy the pages talk to. `app.url` is the
 * proxy's origin; `app.rewrite` takes request/response hooks (see proxy.mjs).
 */
export async function startApp(serverArgs = []) {
  const server = await startServer(serverArgs);
  const proxy = await startRewritingProxy(server.url);
  const hooks = { request: null, response: null, cut: null };
  proxy.rewrite.request = (info) => hooks.request?.(info);
  proxy.rewrite.cut = (info) => hooks.cut?.(info);
  proxy.rewrite.response = async (req, res) => {
    let out = (await hooks.response?.(req, res)) ?? res;
    if (!downloadsToDisk && /text\/html/.test(out.headers['content-type'] ?? '')) {
      const html = out.body.toString('utf8').replace('<head>', `<head><script>${BLOB_TAP}</script>`);
      const csp = String(out.headers['content-security-policy'] ?? '').replace("script-src 'self'", `script-src 'self' ${BLOB_TAP_HASH}`);
      out = { ...out, headers: { ...out.headers, 'content-security-policy': csp }, body: Buffer.from(html) };
    }
    return out;
  };
  return {
    server,
    url: proxy.url,
    serverUrl: server.url,
    records: proxy.records,
    rewrite: hooks,
    async stop() { await proxy.close(); await server.stop(); },
  };
}

/** Shares files through the patient's page; returns the link and the revoke link. */
export async function shareFiles(page, baseUrl, files, { expiry, maxDownloads, password } = {}) {
  await page.goto(`${baseUrl}/`);
  await page.byTestId('file-input').setFiles(files);
  if (expiry) await page.byTestId('expiry').selectOption(String(expiry));
  if (maxDownloads) await page.byTestId('max-downloads').selectOption(String(maxDownloads));
  if (password) await page.byTestId('password').fill(password);
  await page.byTestId('share-button').click();
  await page.byTestId('share-link').waitFor({ timeout: 60_000 });
  return { link: await page.byTestId('share-link').value(), revokeLink: await page.byTestId('revoke-link').attr('href') };
}

/** Creates a key pair on the key page and returns its fingerprint (base64url). */
export async function createKey(page, baseUrl, { label = 'Research key', passphrase }) {
  await page.goto(`${baseUrl}/keys`);
  await page.byTestId('key-label').waitFor();
  const before = await page.byTestId('key-card').count();
  await page.byTestId('key-label').fill(label);
  await page.byTestId('key-passphrase').fill(passphrase);
  await page.byTestId('key-passphrase-confirm').fill(passphrase);
  await page.byTestId('key-create').click();
  await page.byTestId('key-card').nth(before).waitFor({ timeout: 180_000 });
  return page.byTestId('key-card').nth(before).attr('data-fingerprint');
}

/** Unlocks the (first offered) key with its passphrase in a KeyUnlock form. */
export async function unlockKey(page, passphrase, scope = page) {
  await scope.byTestId('unlock-passphrase').first().fill(passphrase);
  await scope.byTestId('unlock-button').first().click();
}

/** Creates and publishes a study; returns the contribution link and the admin link. */
export async function createStudy(page, baseUrl, { passphrase, title, purpose, institution, contact, k = 5 }) {
  await page.goto(`${baseUrl}/study/new`);
  await unlockKey(page, passphrase);
  await page.byTestId('key-unlocked').waitFor({ timeout: 60_000 });
  await page.byTestId('study-title').fill(title);
  await page.byTestId('study-purpose').fill(purpose);
  await page.byTestId('study-institution-input').fill(institution);
  await page.byTestId('study-contact-input').fill(contact);
  await page.byTestId('study-k-input').fill(String(k));
  await page.byTestId('study-create').click();
  await page.byTestId('contribution-link').waitFor({ timeout: 60_000 });
  return {
    contributionLink: await page.byTestId('contribution-link').value(),
    adminLink: await page.byTestId('admin-link').attr('href'),
  };
}

/** Contributes files through a contribution link; returns the withdraw link. */
export async function contribute(page, link, files) {
  // From the same link's page, only the fragment would change and nothing would reload.
  await page.goto('about:blank');
  await page.goto(link);
  await page.byTestId('study-verified').waitFor({ timeout: 60_000 });
  await page.byTestId('file-input').setFiles(files);
  await page.byTestId('masked-preview-section').waitFor({ timeout: 120_000 });
  await page.byTestId('mask-diff').first().waitFor({ timeout: 10_000 });
  await page.byTestId('consent').check();
  await page.byTestId('contribute-button').click();
  await page.byTestId('withdraw-link').waitFor({ timeout: 120_000 });
  return page.byTestId('withdraw-link').value();
}

/** Opens the admin page, unlocks the key, decrypts the bundle and returns the export's entries. */
export async function exportStudy(page, adminLink, passphrase) {
  await page.goto(adminLink);
  await page.byTestId('contribution-count').waitFor({ timeout: 30_000 });
  await page.byTestId('unlock-passphrase').fill(passphrase);
  await page.byTestId('unlock-button').click();
  await page.byTestId('download-bundle').click();
  await page.byTestId('export-ready').waitFor({ timeout: 180_000 });
  const { bytes } = await page.download(page.byTestId('bundle-export'));
  return readZip(bytes);
}

/**
 * The controls (buttons, button-like links, fields) smaller than `min` CSS pixels in either
 * direction: a finger needs about 44 px. Checkboxes and radio buttons are left out: their
 * labels are what a finger touches.
 */
export async function smallControls(page, min = 44) {
  return page.evaluate((m) => [...document.querySelectorAll('button, a.button, a.primary, input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && el.type !== 'checkbox' && el.type !== 'radio')
    .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
    .map((el) => ({ el, r: el.getBoundingClientRect() }))
    .filter(({ r }) => r.width < m || r.height < m)
    .map(({ el, r }) => `${el.tagName.toLowerCase()}[data-testid=${el.dataset.testid ?? ''}] ${Math.round(r.width)}x${Math.round(r.height)}`), min);
}

/** The page scrolls sideways when its content is wider than the viewport. */
export async function horizontalOverflow(page) {
  return page.evaluate(() => ({ scrollWidth: document.scrollingElement.scrollWidth, innerWidth }));
}
