// The key manager (issue #7): a key pair made in the browser without freezing the page, kept
// under a passphrase, shown as digits and a QR code, published, exported to the PEM file the
// `medseal` tool reads and imported again in another browser. The private key never reaches
// the server.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage, startRecordingProxy, startServer } from './lib.mjs';
import { fingerprintOf } from './study-lib.mjs';

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

const PASSPHRASE = 'a long enough passphrase';

test('a key is made without freezing the page, published, exported and imported elsewhere', async () => {
  const page = await newPage(browser);
  await page.goto(`${proxy.url}/keys`);
  await page.getByTestId('key-label').fill('Dr. Example');
  await page.getByTestId('key-passphrase').fill(PASSPHRASE);
  await page.getByTestId('key-passphrase-confirm').fill(PASSPHRASE);
  await page.getByTestId('key-create').click();
  // While the worker generates the key, the page's own timers keep firing on time.
  let worst = 0;
  while (await page.getByTestId('key-card').count() === 0) {
    const delay = await page.evaluate(() => new Promise((r) => { const t = performance.now(); setTimeout(() => r(performance.now() - t), 20); }));
    worst = Math.max(worst, delay);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(worst < 500, `the page froze for ${worst} ms during key generation`);

  const card = page.getByTestId('key-card').first();
  const fingerprint = await card.getAttribute('data-fingerprint');
  assert.match(await card.getByTestId('key-digits').innerText(), /^\d{5}( \d{5}){5}$/);
  assert.match(await card.getByTestId('key-fingerprint').innerText(), /^SHA256:[0-9a-f]{4}( [0-9a-f]{4}){15}$/);
  assert.equal(await card.getByTestId('qr-code').count(), 1);

  await card.getByTestId('publish-key').click();
  await card.getByTestId('key-published').waitFor();
  const der = Buffer.from(await (await fetch(`${server.url}/api/keys/${fingerprint}`)).arrayBuffer());
  assert.equal(fingerprintOf(der), fingerprint, 'the published key has the fingerprint shown');

  // A wrong passphrase does not unlock it.
  await card.getByTestId('export-key-open').click();
  await card.getByTestId('unlock-passphrase').fill('not the passphrase');
  await card.getByTestId('unlock-button').click();
  await card.getByTestId('error').waitFor({ timeout: 30_000 });
  assert.match(await card.getByTestId('error').innerText(), /passphrase/i);
  // The right one does, and the key file is the PKCS#8 PEM the medseal tool reads.
  await card.getByTestId('unlock-passphrase').fill(PASSPHRASE);
  await card.getByTestId('unlock-button').click();
  const link = card.getByTestId('key-file-download');
  await link.waitFor({ timeout: 30_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const pem = readFileSync(await download.path(), 'utf8');
  assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
  const spki = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
  assert.equal(fingerprintOf(spki), fingerprint);
  assert.equal(createPrivateKey(pem).asymmetricKeyDetails.modulusLength, 3072);

  // Imported in another browser, under a new passphrase, it is the same key.
  const other = await newPage(browser);
  await other.goto(`${proxy.url}/keys`);
  await other.getByTestId('import-key-file').setInputFiles({ name: 'key.pem', mimeType: 'application/x-pem-file', buffer: Buffer.from(pem) });
  await other.getByTestId('import-passphrase').fill('another passphrase here');
  await other.getByTestId('import-key').click();
  await other.getByTestId('key-card').first().waitFor({ timeout: 60_000 });
  assert.equal(await other.getByTestId('key-card').first().getAttribute('data-fingerprint'), fingerprint);
  // It survives a reload (kept in IndexedDB).
  await other.reload();
  await other.getByTestId('key-card').first().waitFor({ timeout: 30_000 });
  assert.deepEqual([...page.problems, ...other.problems], []);

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

test('a patient shares to a doctor\'s published key and the doctor opens it with no secret in the link', async () => {
  const doctor = await newPage(browser);
  await doctor.goto(`${proxy.url}/keys`);
  await doctor.getByTestId('key-label').fill('Dr. Key');
  await doctor.getByTestId('key-passphrase').fill(PASSPHRASE);
  await doctor.getByTestId('key-passphrase-confirm').fill(PASSPHRASE);
  await doctor.getByTestId('key-create').click();
  const card = doctor.getByTestId('key-card').first();
  await card.waitFor({ timeout: 180_000 });
  await card.getByTestId('publish-key').click();
  const toKey = await card.getByTestId('share-to-key-link').getAttribute('href');
  const digits = await card.getByTestId('key-digits').innerText();

  const marker = 'Allergy: penicillin. Note for Dr. Key only.';
  const patient = await newPage(browser);
  await patient.goto(toKey);
  await patient.getByTestId('doctor-key-digits').waitFor({ timeout: 30_000 });
  assert.equal(await patient.getByTestId('doctor-key-digits').innerText(), digits, 'both see the same digits');
  await patient.getByTestId('file-input').setInputFiles({ name: 'note.txt', mimeType: 'text/plain', buffer: Buffer.from(marker) });
  await patient.getByTestId('share-button').click();
  const box = patient.getByTestId('share-link');
  await box.waitFor({ timeout: 60_000 });
  const link = await box.inputValue();
  assert.match(link, /\/k\/[A-Za-z0-9_-]{22}$/, 'the link holds no fragment and no secret');

  await doctor.goto(link);
  await doctor.getByTestId('unlock-passphrase').fill(PASSPHRASE);
  await doctor.getByTestId('unlock-button').click();
  await doctor.getByTestId('record-view-list').waitFor({ timeout: 60_000 });
  assert.ok((await doctor.getByTestId('record-view-list').innerText()).includes(marker));
  assert.deepEqual([...doctor.problems, ...patient.problems], []);
  for (const record of proxy.records) {
    assert.equal(record.body.indexOf(Buffer.from(marker)), -1, `the note reached the server in ${record.method} ${record.url}`);
  }
});
