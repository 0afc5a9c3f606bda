// The patient-to-doctor journey (issue #5), end to end in headless Chromium: patient and doctor
// in separate browser contexts, against the real server.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { downloadOriginal, launchBrowser, newPage, repo, shareFiles, startServer } from './lib.mjs';

const fixtures = path.join(repo, 'core/tests/fixtures/synthea-r4');
const screenshots = path.join(repo, 'target/screenshots');
mkdirSync(screenshots, { recursive: true });
const work = mkdtempSync(path.join(os.tmpdir(), 'medseal-share-'));

let server, browser;
before(async () => {
  // Short minimum expiry so the expired-link test need not wait an hour.
  server = await startServer(['--min-expiry', '1']);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** What a clinician must see for a Synthea bundle, computed here from the bundle itself. */
function expectations(bundlePath) {
  const bundle = JSON.parse(readFileSync(bundlePath, 'utf8'));
  const resources = bundle.entry.map((e) => e.resource);
  const patient = resources.find((r) => r.resourceType === 'Patient');
  const name = patient.name.find((n) => n.use === 'official') ?? patient.name[0];
  const fullName = [...(name.prefix ?? []), ...(name.given ?? []), name.family].join(' ');
  const condition = resources.find((r) => r.resourceType === 'Condition' && r.clinicalStatus?.coding?.[0]?.code === 'active');
  // A test measured more than once, with a numeric value and a unit: its latest value.
  const byCode = new Map();
  for (const r of resources) {
    if (r.resourceType !== 'Observation' || !r.valueQuantity) continue;
    const code = r.code.coding[0].code;
    byCode.set(code, [...(byCode.get(code) ?? []), r]);
  }
  const [, series] = [...byCode].find(([, list]) => list.length > 1);
  series.sort((a, b) => a.effectiveDateTime.localeCompare(b.effectiveDateTime));
  const latest = series.at(-1);
  return {
    name: fullName,
    condition: condition.code.text ?? condition.code.coding[0].display,
    test: latest.code.text ?? latest.code.coding[0].display,
    value: `${latest.valueQuantity.value} ${latest.valueQuantity.unit}`,
  };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
}

test('a Synthea bundle shared with a password reads as a clinician expects', async () => {
  const bundle = path.join(fixtures, 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json');
  const expected = expectations(bundle);
  const patient = await newPage(browser);
  const { link } = await shareFiles(patient, server.url, bundle, { password: 'correct horse battery' });
  await patient.getByTestId('qr-code').waitFor();
  await shot(patient, 'share-page-desktop');

  const doctor = await newPage(browser);
  await doctor.goto(link);
  await doctor.getByTestId('password-input').waitFor({ timeout: 60_000 });
  assert.ok(!doctor.url().includes('#'), 'the key is gone from the address bar');

  // A wrong password first: a clear message, and the doctor can try again.
  await doctor.getByTestId('password-input').fill('wrong horse');
  await doctor.getByTestId('password-submit').click();
  await doctor.getByTestId('error').waitFor({ timeout: 60_000 });
  assert.match(await doctor.getByTestId('error').innerText(), /password is wrong/i);

  await doctor.getByTestId('password-input').fill('correct horse battery');
  await doctor.getByTestId('password-submit').click();
  const view = doctor.getByTestId('record-view');
  await view.waitFor({ timeout: 60_000 });
  const summary = await doctor.getByTestId('patient-summary').innerText();
  assert.ok(summary.includes(expected.name), `patient name ${expected.name} in ${summary}`);
  assert.ok((await doctor.getByTestId('problems').innerText()).includes(expected.condition), `condition ${expected.condition}`);
  const results = await doctor.getByTestId('results').innerText();
  assert.ok(results.includes(expected.test), `test ${expected.test}`);
  assert.ok(results.includes(expected.value), `latest value with unit ${expected.value}`);
  assert.ok((await doctor.getByTestId('trend-chart').count()) > 0, 'a trend chart for a repeated test');
  assert.ok((await doctor.getByTestId('notes').innerText()).includes('Clinical notes'));
  await shot(doctor, 'record-viewer-desktop');

  const { bytes } = await downloadOriginal(doctor);
  assert.ok(bytes.equals(readFileSync(bundle)), 'the original bundle downloads byte for byte');
  assert.deepEqual([...patient.problems, ...doctor.problems], []);
});

test('several files travel as one share and each comes back intact', async () => {
  const csv = path.join(work, 'labs.csv');
  writeFileSync(csv, 'test,value,unit\nGlucose,5.4,mmol/L\nHbA1c,6.1,%\n');
  const text = path.join(work, 'letter.txt');
  writeFileSync(text, 'Dear colleague, <script>alert(1)</script> please see the attached results.\n');
  const blob = path.join(work, 'scan.dcm');
  writeFileSync(blob, randomBytes(100_000));
  const patient = await newPage(browser);
  const { link } = await shareFiles(patient, server.url, [csv, text, blob]);

  const doctor = await newPage(browser);
  await doctor.goto(link);
  await doctor.getByTestId('record-view').first().waitFor({ timeout: 60_000 });
  assert.equal(await doctor.getByTestId('record-view').count(), 3);
  const names = await doctor.getByTestId('file-name').allInnerTexts();
  assert.deepEqual(names, ['labs.csv', 'letter.txt', 'scan.dcm']);
  // The CSV is a table; the text is shown as text, its markup inert.
  assert.equal(await doctor.locator('[data-testid=csv-table] tbody tr').count(), 2);
  assert.ok((await doctor.getByTestId('text-view').innerText()).includes('<script>alert(1)</script>'));
  assert.equal(await doctor.locator('script:not([type=module]):not([src])').count(), 0, 'no script element came from the record');
  for (const [i, file] of [csv, text, blob].entries()) {
    const { bytes, name } = await downloadOriginal(doctor, doctor.getByTestId('download-original').nth(i));
    assert.equal(name, path.basename(file));
    assert.ok(bytes.equals(readFileSync(file)), `${name} byte for byte`);
  }
  assert.deepEqual([...patient.problems, ...doctor.problems], []);
});

test('a link limited to one download is used up after the first open', async () => {
  const file = path.join(work, 'once.txt');
  writeFileSync(file, 'for your eyes once\n');
  const patient = await newPage(browser);
  const { link } = await shareFiles(patient, server.url, file, { maxDownloads: 1 });
  const first = await newPage(browser);
  await first.goto(link);
  await first.getByTestId('record-view').waitFor({ timeout: 60_000 });
  const second = await newPage(browser);
  await second.goto(link);
  await second.getByTestId('error').waitFor({ timeout: 60_000 });
  assert.match(await second.getByTestId('error').innerText(), /used up/i);
});

test('a revoked share can no longer be opened', async () => {
  const file = path.join(work, 'revoke-me.txt');
  writeFileSync(file, 'changed my mind\n');
  const patient = await newPage(browser);
  const { link, revokeLink } = await shareFiles(patient, server.url, file);
  await patient.goto(revokeLink);
  await patient.getByTestId('revoke-button').waitFor();
  assert.ok(!patient.url().includes('#'), 'the revoke token is gone from the address bar');
  await patient.getByTestId('revoke-button').click();
  await patient.getByTestId('revoked').waitFor({ timeout: 30_000 });
  const doctor = await newPage(browser);
  await doctor.goto(link);
  await doctor.getByTestId('error').waitFor({ timeout: 60_000 });
  assert.match(await doctor.getByTestId('error').innerText(), /revoked/i);
});

test('an expired link says so', async () => {
  const file = path.join(work, 'short-lived.txt');
  writeFileSync(file, 'gone soon\n');
  const patient = await newPage(browser);
  // The patient's browser asks for a two-second expiry (the page offers an hour at least; the
  // server's minimum is lowered for this test).
  await patient.route('**/api/shares', async (route) => {
    const body = JSON.parse(route.request().postData());
    await route.continue({ postData: JSON.stringify({ ...body, expires_in: 2 }) });
  });
  const { link } = await shareFiles(patient, server.url, file);
  await new Promise((r) => setTimeout(r, 3_000));
  const doctor = await newPage(browser);
  await doctor.goto(link);
  await doctor.getByTestId('error').waitFor({ timeout: 60_000 });
  assert.match(await doctor.getByTestId('error').innerText(), /expired/i);
});

test('a tampered ciphertext is refused with a clear message and nothing shown', async () => {
  const file = path.join(work, 'tamper.txt');
  writeFileSync(file, 'the dose is 5 mg\n'.repeat(1000));
  const patient = await newPage(browser);
  const { link } = await shareFiles(patient, server.url, file);
  const doctor = await newPage(browser);
  // A malicious server flips one byte in the middle of the ciphertext.
  await doctor.route('**/api/shares/*', async (route) => {
    const response = await route.fetch();
    const body = Buffer.from(await response.body());
    body[Math.floor(body.length / 2)] ^= 0x01;
    await route.fulfill({ response, body });
  });
  await doctor.goto(link);
  await doctor.getByTestId('error').waitFor({ timeout: 60_000 });
  assert.match(await doctor.getByTestId('error').innerText(), /altered|could not be decrypted/i);
  assert.equal(await doctor.getByTestId('record-view').count(), 0, 'no plaintext shown');
  assert.ok(!(await doctor.content()).includes('the dose is 5 mg'));
});

test('the pages work on a phone-sized screen and with the keyboard alone', async () => {
  const bundle = path.join(fixtures, 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json');
  const patient = await newPage(browser, { viewport: { width: 390, height: 844 } });
  await patient.goto(`${server.url}/`);
  await patient.getByTestId('file-input').setInputFiles(bundle);
  await shot(patient, 'share-page-phone');
  // Keyboard only: focus the share button by tabbing and press Enter.
  let reached = false;
  for (let i = 0; i < 25 && !reached; i++) {
    await patient.keyboard.press('Tab');
    reached = await patient.evaluate(() => document.activeElement?.dataset?.testid === 'share-button');
  }
  assert.ok(reached, 'the share button is reachable with Tab');
  await patient.keyboard.press('Enter');
  const link = await (await patient.getByTestId('share-link').elementHandle({ timeout: 60_000 })).inputValue();
  const width = await patient.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no horizontal scrolling on a phone (${width}px)`);

  const doctor = await newPage(browser, { viewport: { width: 390, height: 844 } });
  await doctor.goto(link);
  await doctor.getByTestId('record-view').waitFor({ timeout: 60_000 });
  await shot(doctor, 'record-viewer-phone');
  // Every form control has a label a screen reader can announce.
  const unlabelled = await patient.evaluate(() => [...document.querySelectorAll('input, select')]
    .filter((el) => el.type !== 'hidden' && !(el.labels?.length) && !el.getAttribute('aria-label')).map((el) => el.outerHTML));
  assert.deepEqual(unlabelled, []);
  assert.ok(await doctor.locator('h1').count() >= 1, 'the page has a heading');
});

test('a masked share shows its preview first and reaches the doctor without identifiers', async () => {
  const name = 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6';
  const bundle = path.join(fixtures, `${name}.json`);
  const identifiers = JSON.parse(readFileSync(path.join(fixtures, `${name}.identifiers.json`), 'utf8'));
  const patient = await newPage(browser);
  await patient.goto(`${server.url}/`);
  await patient.getByTestId('file-input').setInputFiles(bundle);
  await patient.getByTestId('mode-masked').check();
  await patient.getByTestId('mask-preview').waitFor({ timeout: 60_000 });
  const report = await patient.getByTestId('mask-report').innerText();
  assert.match(report, /change/, `the preview reports what was changed: ${report}`);
  // Side by side: the original value with what is removed highlighted, and what leaves instead.
  const original = JSON.parse(readFileSync(bundle, 'utf8')).entry.map((e) => e.resource).find((r) => r.resourceType === 'Patient');
  const family = original.name[0].family;
  const diff = patient.getByTestId('mask-diff');
  await diff.waitFor({ timeout: 60_000 });
  const marked = await diff.locator('[data-testid="mask-diff-before"] mark').allInnerTexts();
  assert.ok(marked.some((m) => m.includes(family)), `the family name ${family} is highlighted as removed`);
  const before = await diff.getByTestId('mask-diff-before').allInnerTexts();
  assert.ok(before.some((b) => b.includes(original.birthDate)), 'the birth date is shown as it is on the device');
  const after = (await diff.getByTestId('mask-diff-after').allInnerTexts()).join('\n');
  for (const value of identifiers.must_not_appear_substring) {
    assert.ok(!after.includes(value), `the masked column shows ${value}`);
  }
  assert.ok(after.includes(original.birthDate.slice(0, 4)), 'the birth date is generalized to its year');
  await patient.setViewportSize({ width: 1100, height: 900 });
  await diff.scrollIntoViewIfNeeded();
  await patient.screenshot({ path: path.join(screenshots, 'masking-preview-desktop.png') });
  await patient.getByTestId('share-button').click();
  const link = await (await patient.getByTestId('share-link').elementHandle({ timeout: 60_000 })).inputValue();

  const doctor = await newPage(browser);
  await doctor.goto(link);
  await doctor.getByTestId('record-view').waitFor({ timeout: 60_000 });
  assert.match(await doctor.getByRole('status').first().innerText(), /Masked by the patient/);
  const { bytes } = await downloadOriginal(doctor);
  const masked = bytes.toString('utf8');
  for (const value of identifiers.must_not_appear_substring) {
    assert.ok(!masked.includes(value), `identifier ${value} left the device`);
    // Also proves the preview's change list, which holds the originals, was not sealed with it.
    assert.ok(!(await doctor.content()).includes(value), `identifier ${value} is shown to the doctor`);
  }
  // The medicine survives: the active condition is still there.
  assert.ok((await doctor.getByTestId('problems').innerText()).includes('obesity'));
});

test('sharing can be cancelled while it runs, and the page stays responsive', async () => {
  const file = path.join(work, 'large.bin');
  writeFileSync(file, randomBytes(40 * 1024 * 1024));
  const patient = await newPage(browser);
  await patient.goto(`${server.url}/`);
  await patient.getByTestId('file-input').setInputFiles(file);
  await patient.getByTestId('share-button').click();
  await patient.getByTestId('progress').waitFor({ timeout: 30_000 });
  // The page answers while the work goes on: the main thread is free.
  const started = Date.now();
  await patient.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0)));
  assert.ok(Date.now() - started < 1_000, 'the page thread is not blocked');
  await patient.getByTestId('cancel-button').click();
  await patient.getByTestId('error').waitFor({ timeout: 30_000 });
  assert.match(await patient.getByTestId('error').innerText(), /cancelled/i);
  assert.equal(await patient.getByTestId('share-link').count(), 0, 'no link was made');
});

test('a PDF is shown inline under the page\'s content security policy', async () => {
  // A minimal one-page PDF.
  const pdf = path.join(work, 'discharge-letter.pdf');
  writeFileSync(pdf, [
    '%PDF-1.4',
    '1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj',
    '2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj',
    '3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >> endobj',
    'trailer << /Root 1 0 R >>',
    '%%EOF',
  ].join('\n'));
  const patient = await newPage(browser);
  const { link } = await shareFiles(patient, server.url, pdf);
  const doctor = await newPage(browser);
  const violations = [];
  doctor.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
  await doctor.goto(link);
  await doctor.getByTestId('record-view').waitFor({ timeout: 60_000 });
  const data = await doctor.locator('object.pdf').getAttribute('data');
  assert.match(data ?? '', /^blob:/, 'the PDF is embedded from an object URL');
  await doctor.waitForTimeout(500);
  assert.deepEqual(violations, [], 'the policy lets the PDF load');
  const { bytes } = await downloadOriginal(doctor);
  assert.ok(bytes.equals(readFileSync(pdf)));
});
