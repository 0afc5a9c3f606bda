// The key manager (issue #7), in the engine MEDSEAL_ENGINE names (over WebDriver; `cargo xtask
// test` runs it in Chromium, Firefox and WebKit): a key pair made in the browser without freezing the page, kept
// under a passphrase, shown as digits and a QR code, published, exported to the PEM file the
// `medseal` tool reads and imported again in another browser. The private key never reaches
// the server.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { after, afterEach, before, test } from 'node:test';
import { fingerprintOf } from '../study-lib.mjs';
import { engine, startApp, startEngine } from '../wd/app.mjs';

const T = `[${engine}]`;
let app, server, proxy, browser;
before(async () => {
  app = await startApp();
  server = { url: app.serverUrl };
  proxy = { url: app.url, records: app.records };
  browser = await startEngine();
});
afterEach(async () => { await browser.closeAll(); });
after(async () => {
  await browser?.stop();
  await app?.stop();
});

const PASSPHRASE = 'a long enough passphrase';

test(`${T} a key is made without freezing the page, published, exported and imported elsewhere`, async () => {
  const page = await browser.newPage();
  await page.goto(`${proxy.url}/keys`);
  await page.byTestId('key-label').fill('Dr. Example');
  await page.byTestId('key-passphrase').fill(PASSPHRASE);
  await page.byTestId('key-passphrase-confirm').fill(PASSPHRASE);
  await page.byTestId('key-create').click();
  // While the worker generates the key, the page's own timers keep firing on time.
  let worst = 0;
  const deadline = Date.now() + 180_000;
  while (await page.byTestId('key-card').count() === 0) {
    assert.ok(Date.now() < deadline, `no key after 180 s; page problems: ${JSON.stringify(await page.allProblems())}`);
    const delay = await page.evaluateAsync(() => new Promise((r) => { const t = performance.now(); setTimeout(() => r(performance.now() - t), 20); }));
    worst = Math.max(worst, delay);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(worst < 500, `the page froze for ${worst} ms during key generation`);

  const card = page.byTestId('key-card').first();
  const fingerprint = await card.attr('data-fingerprint');
  assert.match(await card.byTestId('key-digits').text(), /^\d{5}( \d{5}){5}$/);
  assert.match(await card.byTestId('key-fingerprint').text(), /^SHA256:[0-9a-f]{4}( [0-9a-f]{4}){15}$/);
  assert.equal(await card.byTestId('qr-code').count(), 1);

  await card.byTestId('publish-key').click();
  await card.byTestId('key-published').waitFor();
  const der = Buffer.from(await (await fetch(`${server.url}/api/keys/${fingerprint}`)).arrayBuffer());
  assert.equal(fingerprintOf(der), fingerprint, 'the published key has the fingerprint shown');

  // A wrong passphrase does not unlock it.
  await card.byTestId('export-key-open').click();
  await card.byTestId('unlock-passphrase').fill('not the passphrase');
  await card.byTestId('unlock-button').click();
  await card.byTestId('error').waitFor({ timeout: 30_000 });
  assert.match(await card.byTestId('error').text(), /passphrase/i);
  // The right one does, and the key file is the PKCS#8 PEM the medseal tool reads.
  await card.byTestId('unlock-passphrase').fill(PASSPHRASE);
  await card.byTestId('unlock-button').click();
  const link = card.byTestId('key-file-download');
  await link.waitFor({ timeout: 30_000 });
  const pem = (await page.download(link)).bytes.toString('utf8');
  assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
  const spki = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
  assert.equal(fingerprintOf(spki), fingerprint);
  assert.equal(createPrivateKey(pem).asymmetricKeyDetails.modulusLength, 3072);

  // Imported in another browser, under a new passphrase, it is the same key.
  const other = await browser.newPage();
  await other.goto(`${proxy.url}/keys`);
  await other.byTestId('import-key-file').setFiles({ name: 'key.pem', buffer: Buffer.from(pem) });
  await other.byTestId('import-passphrase').fill('another passphrase here');
  await other.byTestId('import-key').click();
  await other.byTestId('key-card').first().waitFor({ timeout: 60_000 });
  assert.equal(await other.byTestId('key-card').first().attr('data-fingerprint'), fingerprint);
  // It survives a reload (kept in IndexedDB).
  await other.reload();
  await other.byTestId('key-card').first().waitFor({ timeout: 30_000 });
  assert.deepEqual([...await page.allProblems(), ...await other.allProblems()], []);

  // The private key never reached the server, in any form.
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const raw = Buffer.from(body, 'base64');
  // The PKCS#8 key repeats the public modulus first; its private half is at the end.
  const priv = raw.subarray(raw.length - 264, raw.length - 200);
  for (const record of proxy.records) {
    const all = Buffer.concat([Buffer.from(record.url), record.body]);
    for (const secret of [Buffer.from(body.slice(body.length - 300, body.length - 220)), priv, Buffer.from(priv.toString('base64url')), Buffer.from(priv.toString('hex')), Buffer.from(PASSPHRASE)]) {
      assert.equal(all.indexOf(secret), -1, `private material reached the server in ${record.method} ${record.url}`);
    }
  }
});

test(`${T} a patient shares to a doctor's published key and the doctor opens it with no secret in the link`, async () => {
  const doctor = await browser.newPage();
  await doctor.goto(`${proxy.url}/keys`);
  await doctor.byTestId('key-label').fill('Dr. Key');
  await doctor.byTestId('key-passphrase').fill(PASSPHRASE);
  await doctor.byTestId('key-passphrase-confirm').fill(PASSPHRASE);
  await doctor.byTestId('key-create').click();
  const card = doctor.byTestId('key-card').first();
  await card.waitFor({ timeout: 180_000 });
  await card.byTestId('publish-key').click();
  const toKey = await card.byTestId('share-to-key-link').attr('href');
  const digits = await card.byTestId('key-digits').text();

  const marker = 'Allergy: penicillin. Note for Dr. Key only.';
  const patient = await browser.newPage();
  await patient.goto(toKey);
  await patient.byTestId('doctor-key-digits').waitFor({ timeout: 30_000 });
  assert.equal(await patient.byTestId('doctor-key-digits').text(), digits, 'both see the same digits');
  await patient.byTestId('file-input').setFiles({ name: 'note.txt', buffer: Buffer.from(marker) });
  await patient.byTestId('share-button').click();
  const box = patient.byTestId('share-link');
  await box.waitFor({ timeout: 60_000 });
  const link = await box.value();
  assert.match(link, /\/k\/[A-Za-z0-9_-]{22}$/, 'the link holds no fragment and no secret');

  await doctor.goto(link);
  await doctor.byTestId('unlock-passphrase').fill(PASSPHRASE);
  await doctor.byTestId('unlock-button').click();
  await doctor.byTestId('record-view-list').waitFor({ timeout: 60_000 });
  assert.ok((await doctor.byTestId('record-view-list').text()).includes(marker));
  assert.deepEqual([...await doctor.allProblems(), ...await patient.allProblems()], []);
  for (const record of proxy.records) {
    assert.equal(record.body.indexOf(Buffer.from(marker)), -1, `the note reached the server in ${record.method} ${record.url}`);
  }
});

test(`${T} in a private window the key page keeps a key or says plainly why it cannot`, async () => {
  const page = await browser.newPage({ privateMode: true });
  await page.goto(`${proxy.url}/keys`);
  await page.byTestId('key-label').fill('Private key');
  await page.byTestId('key-passphrase').fill(PASSPHRASE);
  await page.byTestId('key-passphrase-confirm').fill(PASSPHRASE);
  await page.byTestId('key-create').click();
  const until = Date.now() + 180_000;
  let outcome = null;
  while (!outcome) {
    assert.ok(Date.now() < until, 'neither a key nor a message after 180 s');
    if (await page.byTestId('key-card').count()) outcome = 'kept';
    else if (await page.byTestId('error').count()) outcome = await page.byTestId('error').text();
    else await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(outcome === 'kept' || /storage|private/i.test(outcome), `a plain outcome: ${outcome}`);
  assert.deepEqual(await page.allProblems(), []);
});
