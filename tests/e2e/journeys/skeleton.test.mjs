// The first journey end to end, in the engine MEDSEAL_ENGINE names (over WebDriver; `cargo
// xtask test` runs it in Chromium, Firefox and WebKit): a patient seals a file in one browser context, a doctor opens
// the link in another and gets the original back byte for byte. A recording proxy proves the
// server received neither the plaintext nor the key, and never the fragment.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { engine, shareFiles, startApp, startEngine } from '../wd/app.mjs';

let app, server, proxy, browser;
before(async () => {
  app = await startApp();
  server = { url: app.serverUrl, dataDir: app.server.dataDir };
  proxy = { url: app.url, records: app.records };
  browser = await startEngine();
});
after(async () => {
  await browser?.stop();
  await app?.stop();
});

const work = mkdtempSync(path.join(os.tmpdir(), 'medseal-files-'));

function sampleFile() {
  // Random bytes with a recognisable text in the middle, large enough to span several chunks.
  const marker = Buffer.from('Patient: Carolee951 Sanford861, MRN 999-12-3456, note: chest pain resolved.');
  const data = Buffer.concat([randomBytes(150_000), marker, randomBytes(150_000)]);
  const file = path.join(work, 'scan-results.bin');
  writeFileSync(file, data);
  return { file, data, marker };
}

test(`[${engine}] a patient shares a file and a doctor in another session gets it back byte for byte`, async () => {
  const { file, data, marker } = sampleFile();
  const patient = await browser.newPage();
  const { link, revokeLink } = await shareFiles(patient, proxy.url, file);
  assert.match(link, /\/s\/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43,}$/, 'the link carries the id in the path and the key in the fragment');

  const doctor = await browser.newPage();
  await doctor.goto(link);
  await doctor.byTestId('record-view').waitFor({ timeout: 60_000 });
  const shownUrl = await doctor.url();
  assert.ok(!shownUrl.includes('#'), `the fragment is removed from the address bar: ${shownUrl}`);
  const { bytes, name } = await doctor.download(doctor.byTestId('download-original'));
  assert.equal(name, 'scan-results.bin');
  assert.ok(bytes.equals(data), 'the downloaded file is identical to the original');
  assert.deepEqual([...await patient.allProblems(), ...await doctor.allProblems()], [], 'no page errors (including CSP violations)');

  // Everything the server received during the journey.
  const fragment = link.split('#')[1];
  const keyBytes = Buffer.from(fragment, 'base64url');
  const secrets = [
    ['plaintext marker', marker],
    ['plaintext start', data.subarray(0, 32)],
    ['plaintext middle', data.subarray(200_000, 200_032)],
    ['plaintext end', data.subarray(data.length - 32)],
    ['key (base64url)', Buffer.from(fragment)],
    ['key (raw)', keyBytes],
    ['key (base64)', Buffer.from(keyBytes.toString('base64'))],
    ['key (hex)', Buffer.from(keyBytes.toString('hex'))],
  ];
  assert.ok(proxy.records.length > 0);
  const uploaded = proxy.records.filter((r) => r.body.length > 1000);
  assert.ok(uploaded.reduce((n, r) => n + r.body.length, 0) >= data.length, 'the ciphertext did go through the proxy');
  for (const record of proxy.records) {
    const everything = Buffer.concat([Buffer.from(`${record.method} ${record.url}\n${JSON.stringify(record.headers)}\n`), record.body]);
    for (const [what, secret] of secrets) {
      assert.equal(everything.indexOf(secret), -1, `${what} reached the server in ${record.method} ${record.url}`);
    }
    assert.ok(!record.url.includes('#'), `a fragment reached the server: ${record.url}`);
    assert.ok(!('referer' in record.headers), `a Referer header reached the server: ${record.headers.referer}`);
    assert.ok(!('cookie' in record.headers), 'a cookie reached the server');
  }

  // At rest: nothing in the server's data folder holds the plaintext, the key or the revoke
  // token (the server keeps only the token's hash).
  const revokeToken = Buffer.from(revokeLink.split('#')[1]);
  const stored = listFiles(server.dataDir);
  assert.ok(stored.length > 0, 'the server stored something');
  for (const file of stored) {
    const bytes = readFileSync(file);
    for (const [what, secret] of [...secrets, ['revoke token', revokeToken]]) {
      assert.equal(bytes.indexOf(secret), -1, `${what} is stored in ${file}`);
    }
  }
});

function listFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? listFiles(full) : [full];
  });
}
