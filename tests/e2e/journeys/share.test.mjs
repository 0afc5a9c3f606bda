// The patient-to-doctor journey (issue #5), end to end in the engine MEDSEAL_ENGINE names
// (Chromium, Firefox or WebKit, over WebDriver; `cargo xtask test` runs it in each): patient and
// doctor in separate browser sessions (fresh profiles), against the real server.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { repo } from '../lib.mjs';
import { engine, horizontalOverflow, shareFiles, smallControls, startApp, startEngine } from '../wd/app.mjs';
import { FIREFOX_WIDEST_MIN, Key, reachableWidth } from '../wd/engine.mjs';

const fixtures = path.join(repo, 'core/tests/fixtures/synthea-r4');
const work = mkdtempSync(path.join(os.tmpdir(), 'medseal-share-'));
const T = `[${engine}]`;

let app, browser;
before(async () => {
  // Short minimum expiry so the expired-link test need not wait an hour.
  app = await startApp(['--min-expiry', '1']);
  browser = await startEngine();
});
afterEach(async () => {
  app.rewrite.request = null;
  app.rewrite.response = null;
  app.rewrite.cut = null;
  await browser.closeAll();
});
after(async () => {
  await browser?.stop();
  await app?.stop();
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

const carolee = path.join(fixtures, 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json');

test(`${T} a Synthea bundle shared with a password reads as a clinician expects`, async () => {
  const expected = expectations(carolee);
  const patient = await browser.newPage();
  const { link } = await shareFiles(patient, app.url, carolee, { password: 'correct horse battery' });
  await patient.byTestId('qr-code').waitFor();
  // Copying the link: where the engine lets the page write to the clipboard the button says so;
  // where it does not (no Clipboard API, or the write refused), the page says plainly what to do.
  await patient.byTestId('copy-link').click();
  const until = Date.now() + 10_000;
  let copyOutcome = null;
  while (!copyOutcome && Date.now() < until) {
    if ((await patient.byTestId('copy-link').text()) === 'Copied') copyOutcome = 'copied';
    else if (await patient.byTestId('copy-failed').count()) copyOutcome = await patient.byTestId('copy-failed').text();
    else await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(copyOutcome === 'copied' || /copy it yourself/.test(copyOutcome), `copying gives a plain outcome: ${copyOutcome}`);
  await patient.screenshot('share-page-desktop');

  const doctor = await browser.newPage();
  await doctor.goto(link);
  await doctor.byTestId('password-input').waitFor({ timeout: 60_000 });
  assert.ok(!(await doctor.url()).includes('#'), 'the key is gone from the address bar');

  // A wrong password first: a clear message, and the doctor can try again.
  await doctor.byTestId('password-input').fill('wrong horse');
  await doctor.byTestId('password-submit').click();
  await doctor.byTestId('error').waitFor({ timeout: 60_000 });
  assert.match(await doctor.byTestId('error').text(), /password is wrong/i);

  await doctor.byTestId('password-input').fill('correct horse battery');
  await doctor.byTestId('password-submit').click();
  await doctor.byTestId('record-view').waitFor({ timeout: 60_000 });
  const summary = await doctor.byTestId('patient-summary').text();
  assert.ok(summary.includes(expected.name), `patient name ${expected.name} in ${summary}`);
  assert.ok((await doctor.byTestId('problems').text()).includes(expected.condition), `condition ${expected.condition}`);
  const results = await doctor.byTestId('results').text();
  assert.ok(results.includes(expected.test), `test ${expected.test}`);
  assert.ok(results.includes(expected.value), `latest value with unit ${expected.value}`);
  assert.ok((await doctor.byTestId('trend-chart').count()) > 0, 'a trend chart for a repeated test');
  assert.ok((await doctor.byTestId('notes').text()).includes('Clinical notes'));
  await doctor.screenshot('record-viewer-desktop');

  const { bytes } = await doctor.download(doctor.byTestId('download-original'));
  assert.ok(bytes.equals(readFileSync(carolee)), 'the original bundle downloads byte for byte');
  assert.deepEqual([...await patient.allProblems(), ...await doctor.allProblems()], []);
});

test(`${T} several files travel as one share and each comes back intact`, async () => {
  const csv = path.join(work, 'labs.csv');
  writeFileSync(csv, 'test,value,unit\nGlucose,5.4,mmol/L\nHbA1c,6.1,%\n');
  const text = path.join(work, 'letter.txt');
  writeFileSync(text, 'Dear colleague, <script>alert(1)</script> please see the attached results.\n');
  const blob = path.join(work, 'scan.dcm');
  writeFileSync(blob, randomBytes(100_000));
  const patient = await browser.newPage();
  const { link } = await shareFiles(patient, app.url, [csv, text, blob]);

  const doctor = await browser.newPage();
  await doctor.goto(link);
  await doctor.byTestId('record-view').first().waitFor({ timeout: 60_000 });
  assert.equal(await doctor.byTestId('record-view').count(), 3);
  const names = await doctor.byTestId('file-name').allTexts();
  assert.deepEqual(names, ['labs.csv', 'letter.txt', 'scan.dcm']);
  // The CSV is a table; the text is shown as text, its markup inert.
  assert.equal(await doctor.locator('[data-testid=csv-table] tbody tr').count(), 2);
  assert.ok((await doctor.byTestId('text-view').text()).includes('<script>alert(1)</script>'));
  assert.equal(await doctor.locator('script:not([type=module]):not([src])').count(), engine === 'webkit' ? 1 : 0,
    'no script element came from the record (WebKit: only the test\'s own Blob tap, see wd/app.mjs)');
  for (const [i, file] of [csv, text, blob].entries()) {
    const { bytes, name } = await doctor.download(doctor.byTestId('download-original').nth(i));
    assert.equal(name, path.basename(file));
    assert.ok(bytes.equals(readFileSync(file)), `${name} byte for byte`);
  }
  assert.deepEqual([...await patient.allProblems(), ...await doctor.allProblems()], []);
});

test(`${T} a link limited to one download is used up after the first open`, async () => {
  const file = path.join(work, 'once.txt');
  writeFileSync(file, 'for your eyes once\n');
  const patient = await browser.newPage();
  const { link } = await shareFiles(patient, app.url, file, { maxDownloads: 1 });
  const first = await browser.newPage();
  await first.goto(link);
  await first.byTestId('record-view').waitFor({ timeout: 60_000 });
  const second = await browser.newPage();
  await second.goto(link);
  await second.byTestId('error').waitFor({ timeout: 60_000 });
  assert.match(await second.byTestId('error').text(), /used up/i);
});

test(`${T} a revoked share can no longer be opened`, async () => {
  const file = path.join(work, 'revoke-me.txt');
  writeFileSync(file, 'changed my mind\n');
  const patient = await browser.newPage();
  const { link, revokeLink } = await shareFiles(patient, app.url, file);
  await patient.goto(revokeLink);
  await patient.byTestId('revoke-button').waitFor();
  assert.ok(!(await patient.url()).includes('#'), 'the revoke token is gone from the address bar');
  await patient.byTestId('revoke-button').click();
  await patient.byTestId('revoked').waitFor({ timeout: 30_000 });
  const doctor = await browser.newPage();
  await doctor.goto(link);
  await doctor.byTestId('error').waitFor({ timeout: 60_000 });
  assert.match(await doctor.byTestId('error').text(), /revoked/i);
});

test(`${T} an expired link says so`, async () => {
  const file = path.join(work, 'short-lived.txt');
  writeFileSync(file, 'gone soon\n');
  const patient = await browser.newPage();
  // The patient's request asks for a two-second expiry (the page offers an hour at least; the
  // server's minimum is lowered for this test). The proxy rewrites it on the way.
  let asked = 0;
  app.rewrite.request = ({ method, url, body }) => {
    if (method !== 'POST' || url !== '/api/shares') return undefined;
    asked += 1;
    return JSON.stringify({ ...JSON.parse(body.toString('utf8')), expires_in: 2 });
  };
  const { link } = await shareFiles(patient, app.url, file);
  app.rewrite.request = null;
  assert.equal(asked, 1, 'the share was created through the proxy');
  // The server's clock must pass the expiry: the one wait on time, not on a condition.
  await new Promise((r) => setTimeout(r, 3_000));
  const doctor = await browser.newPage();
  await doctor.goto(link);
  await doctor.byTestId('error').waitFor({ timeout: 60_000 });
  assert.match(await doctor.byTestId('error').text(), /expired/i);
});

test(`${T} a tampered ciphertext is refused with a clear message and nothing shown`, async () => {
  const file = path.join(work, 'tamper.txt');
  writeFileSync(file, 'the dose is 5 mg\n'.repeat(1000));
  const patient = await browser.newPage();
  const { link } = await shareFiles(patient, app.url, file);
  // A malicious server flips one byte in the middle of the ciphertext.
  let flipped = 0;
  app.rewrite.response = ({ method, url }, res) => {
    if (method !== 'GET' || !/^\/api\/shares\/[^/?]+$/.test(url) || res.status !== 200) return undefined;
    const body = Buffer.from(res.body);
    body[Math.floor(body.length / 2)] ^= 0x01;
    flipped += 1;
    return { ...res, body };
  };
  const doctor = await browser.newPage();
  await doctor.goto(link);
  await doctor.byTestId('error').waitFor({ timeout: 60_000 });
  assert.ok(flipped >= 1, 'the ciphertext went through the tampering proxy');
  assert.match(await doctor.byTestId('error').text(), /altered|could not be decrypted/i);
  assert.equal(await doctor.byTestId('record-view').count(), 0, 'no plaintext shown');
  assert.ok(!(await doctor.content()).includes('the dose is 5 mg'));
});

test(`${T} the pages work on a phone-sized screen, with touch-sized controls and the keyboard alone`, async () => {
  const phone = { width: 390, height: 844 };
  // Chromium and WebKit give 390 CSS px; Firefox's window cannot be narrower than its toolbar's
  // minimum (450 to 500 px, by release), so there the same checks run at the narrowest it gives.
  const patient = await browser.newPage({ viewport: phone });
  const [width, height] = await patient.evaluate(() => [innerWidth, innerHeight]);
  assert.equal(height, 844, 'the viewport is phone-sized');
  if (engine === 'firefox') assert.ok(width >= reachableWidth(phone.width) && width <= FIREFOX_WIDEST_MIN, `as narrow as Firefox goes (${width})`);
  else assert.equal(width, phone.width, 'the viewport is phone-sized');
  await patient.goto(`${app.url}/`);
  await patient.byTestId('file-input').setFiles(carolee);
  await patient.byTestId('share-button').waitFor();
  await patient.screenshot('share-page-phone');
  assert.deepEqual(await smallControls(patient), [], 'every control is at least 44 px in both directions');
  // Keyboard only: focus the share button by tabbing and press Enter.
  let reached = false;
  for (let i = 0; i < 25 && !reached; i++) {
    await patient.press(Key.TAB);
    reached = await patient.evaluate(() => document.activeElement?.dataset?.testid === 'share-button');
  }
  assert.ok(reached, 'the share button is reachable with Tab');
  await patient.press(Key.ENTER);
  await patient.byTestId('share-link').waitFor({ timeout: 60_000 });
  const link = await patient.byTestId('share-link').value();
  const scrollWidth = await patient.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= width, `no horizontal scrolling on a phone (${scrollWidth}px)`);
  const shared = await horizontalOverflow(patient);
  assert.ok(shared.scrollWidth <= shared.innerWidth, `no horizontal scrolling after sharing (${JSON.stringify(shared)})`);
  assert.deepEqual(await smallControls(patient), [], 'the controls after sharing are touch-sized too');

  const doctor = await browser.newPage({ viewport: phone });
  await doctor.goto(link);
  await doctor.byTestId('record-view').waitFor({ timeout: 60_000 });
  await doctor.screenshot('record-viewer-phone');
  const viewer = await horizontalOverflow(doctor);
  assert.ok(viewer.scrollWidth <= viewer.innerWidth, `no horizontal scrolling in the record viewer (${JSON.stringify(viewer)})`);
  assert.deepEqual(await smallControls(doctor), [], 'the record viewer\'s controls are touch-sized');
  // Every form control has a label a screen reader can announce.
  const unlabelled = await patient.evaluate(() => [...document.querySelectorAll('input, select')]
    .filter((el) => el.type !== 'hidden' && !(el.labels?.length) && !el.getAttribute('aria-label')).map((el) => el.outerHTML));
  assert.deepEqual(unlabelled, []);
  assert.ok(await doctor.locator('h1').count() >= 1, 'the page has a heading');
  assert.deepEqual([...await patient.allProblems(), ...await doctor.allProblems()], []);
});

test(`${T} a masked share shows its preview first and reaches the doctor without identifiers`, async () => {
  const name = 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6';
  const identifiers = JSON.parse(readFileSync(path.join(fixtures, `${name}.identifiers.json`), 'utf8'));
  const patient = await browser.newPage();
  await patient.goto(`${app.url}/`);
  await patient.byTestId('file-input').setFiles(carolee);
  await patient.byTestId('mode-masked').check();
  await patient.byTestId('mask-preview').waitFor({ timeout: 60_000 });
  const report = await patient.byTestId('mask-report').text();
  assert.match(report, /change/, `the preview reports what was changed: ${report}`);
  // Side by side: the original value with what is removed highlighted, and what leaves instead.
  const original = JSON.parse(readFileSync(carolee, 'utf8')).entry.map((e) => e.resource).find((r) => r.resourceType === 'Patient');
  const family = original.name[0].family;
  const diff = patient.byTestId('mask-diff');
  await diff.waitFor({ timeout: 60_000 });
  const marked = await diff.locator('[data-testid="mask-diff-before"] mark').allTexts();
  assert.ok(marked.some((m) => m.includes(family)), `the family name ${family} is highlighted as removed`);
  const beforeTexts = await diff.byTestId('mask-diff-before').allTexts();
  assert.ok(beforeTexts.some((b) => b.includes(original.birthDate)), 'the birth date is shown as it is on the device');
  const afterText = (await diff.byTestId('mask-diff-after').allTexts()).join('\n');
  for (const value of identifiers.must_not_appear_substring) {
    assert.ok(!afterText.includes(value), `the masked column shows ${value}`);
  }
  assert.ok(afterText.includes(original.birthDate.slice(0, 4)), 'the birth date is generalized to its year');
  await patient.setViewport({ width: 1100, height: 900 });
  await diff.scrollIntoView();
  await patient.screenshot('masking-preview-desktop');
  await patient.byTestId('share-button').click();
  await patient.byTestId('share-link').waitFor({ timeout: 60_000 });
  const link = await patient.byTestId('share-link').value();

  const doctor = await browser.newPage();
  await doctor.goto(link);
  await doctor.byTestId('record-view').waitFor({ timeout: 60_000 });
  assert.match(await doctor.locator('.sealed-note[role=status]').text(), /Masked by the patient/);
  const { bytes } = await doctor.download(doctor.byTestId('download-original'));
  const masked = bytes.toString('utf8');
  const shown = await doctor.content();
  for (const value of identifiers.must_not_appear_substring) {
    assert.ok(!masked.includes(value), `identifier ${value} left the device`);
    // Also proves the preview's change list, which holds the originals, was not sealed with it.
    assert.ok(!shown.includes(value), `identifier ${value} is shown to the doctor`);
  }
  // The medicine survives: the active condition is still there.
  assert.ok((await doctor.byTestId('problems').text()).includes('obesity'));
});

test(`${T} sharing can be cancelled while it runs, and the page stays responsive`, async () => {
  const file = path.join(work, 'large.bin');
  writeFileSync(file, randomBytes(40 * 1024 * 1024));
  const patient = await browser.newPage();
  await patient.goto(`${app.url}/`);
  await patient.byTestId('file-input').setFiles(file);
  await patient.byTestId('share-button').click();
  await patient.byTestId('progress').waitFor({ timeout: 30_000 });
  // The page answers while the work goes on: the main thread is free.
  const started = Date.now();
  await patient.evaluateAsync(() => new Promise((resolve) => setTimeout(resolve, 0)));
  assert.ok(Date.now() - started < 1_000, 'the page thread is not blocked');
  await patient.byTestId('cancel-button').click();
  await patient.byTestId('error').waitFor({ timeout: 30_000 });
  assert.match(await patient.byTestId('error').text(), /cancelled/i);
  assert.equal(await patient.byTestId('share-link').count(), 0, 'no link was made');
});

test(`${T} a PDF is shown inline under the page's content security policy`, async () => {
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
  const patient = await browser.newPage();
  const { link } = await shareFiles(patient, app.url, pdf);
  const doctor = await browser.newPage();
  await doctor.goto(link);
  await doctor.byTestId('record-view').waitFor({ timeout: 60_000 });
  const data = await doctor.locator('object.pdf').attr('data');
  assert.match(data ?? '', /^blob:/, 'the PDF is embedded from an object URL');
  // The page's securitypolicyviolation events are collected with its problems (wd/engine.mjs).
  await doctor.evaluateAsync(() => new Promise((r) => setTimeout(r, 500)));
  const violations = (await doctor.allProblems()).filter((p) => p.startsWith('csp:') || /Content Security Policy/i.test(p));
  assert.deepEqual(violations, [], 'the policy lets the PDF load');
  const { bytes } = await doctor.download(doctor.byTestId('download-original'));
  assert.ok(bytes.equals(readFileSync(pdf)));
});

test(`${T} a record shares and opens in private windows`, async () => {
  // Private modes take storage away (OPFS throws in Firefox's and Safari's, IndexedDB may be
  // in memory only); sharing and opening need none of it.
  const file = path.join(work, 'private.txt');
  writeFileSync(file, 'seen in a private window\n');
  const patient = await browser.newPage({ privateMode: true });
  const { link } = await shareFiles(patient, app.url, file);
  const doctor = await browser.newPage({ privateMode: true });
  await doctor.goto(link);
  await doctor.byTestId('record-view').waitFor({ timeout: 60_000 });
  // The decrypted text is shown (Chromium's incognito windows ignore the download folder
  // preference, so the bytes are proved by what the viewer shows).
  assert.ok((await doctor.byTestId('text-view').text()).includes('seen in a private window'));
  assert.deepEqual([...await patient.allProblems(), ...await doctor.allProblems()], []);
});

/** The files of the origin's private file system that hold opened records: [{name, size}]. */
async function storedFiles(page) {
  return page.evaluateAsync(async () => {
    const root = await navigator.storage.getDirectory();
    let dir;
    try { dir = await root.getDirectoryHandle('medseal-opened'); } catch { return []; }
    const out = [];
    for await (const [name, handle] of dir.entries()) {
      if (handle.kind === 'file') out.push({ name, size: (await handle.getFile()).size });
    }
    return out;
  });
}

// WebKitWebDriver's sessions are ephemeral, and there the private file system refuses to open
// ("an unknown transient reason"), as in a private window: in WebKit this journey proves the
// other branch, Blobs, and the page's notice that says so.
const diskInThisEngine = engine !== 'webkit';

test(`${T} a large record opens onto the device's disk, not into the page (or says it opens in memory), and goes from the disk with the page`, async () => {
  // 20 MiB, over the 16 MiB from which the worker writes an opened file to the origin's private
  // file system (frontend/src/opfs.rs) instead of holding it in Blobs; with a password, so the
  // downloaded ciphertext kept while the password is asked goes to disk too.
  const size = 20 * 1024 * 1024;
  const data = randomBytes(size);
  const file = path.join(work, 'echo-loop.bin');
  writeFileSync(file, data);
  const patient = await browser.newPage();
  const { link } = await shareFiles(patient, app.url, file, { password: 'large and on disk' });
  const doctor = await browser.newPage();
  await doctor.goto(link);
  await doctor.byTestId('password-input').waitFor({ timeout: 120_000 });
  if (!diskInThisEngine) {
    const disk = await doctor.evaluateAsync(async () => { try { await navigator.storage.getDirectory(); return 'opens'; } catch (e) { return String(e); } });
    assert.notEqual(disk, 'opens', 'this engine\'s private file system is still refused');
    await doctor.locator('[data-feature="disk"]').waitFor({ timeout: 10_000 });
    assert.match(await doctor.locator('[data-feature="disk"]').text(), /memory instead/, 'the page says large records open in memory here');
    await doctor.byTestId('password-input').fill('large and on disk');
    await doctor.byTestId('password-submit').click();
    const { bytes } = await doctor.download(doctor.byTestId('download-original'));
    assert.ok(bytes.equals(data), 'the record opened from Blobs, byte for byte');
    assert.deepEqual(await doctor.allProblems(), []);
    return;
  }
  const asking = await storedFiles(doctor);
  assert.equal(asking.length, 1, `the downloaded ciphertext is on disk while the password is asked: ${JSON.stringify(asking)}`);
  assert.ok(asking[0].size > size, 'it is the whole ciphertext');
  await doctor.byTestId('password-input').fill('large and on disk');
  await doctor.byTestId('password-submit').click();
  await doctor.byTestId('download-original').waitFor({ timeout: 120_000 });
  const opened = await storedFiles(doctor);
  assert.deepEqual(opened.map((f) => f.size), [size], `the opened file alone is on disk, the ciphertext gone: ${JSON.stringify(opened)}`);
  const { bytes, name } = await doctor.download(doctor.byTestId('download-original'));
  assert.equal(name, 'echo-loop.bin');
  assert.ok(bytes.equals(data), 'the file read back from disk is the shared one, byte for byte');
  assert.deepEqual(await doctor.allProblems(), []);

  // Leaving the record's page (here for another page of the app) removes the file.
  await doctor.goto(`${app.url}/keys`);
  let left = await storedFiles(doctor);
  for (const until = Date.now() + 10_000; left.length && Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 200));
    left = await storedFiles(doctor);
  }
  assert.deepEqual(left, [], 'nothing of the record is left on disk once its page is gone');
});

test(`${T} a share survives connections cut halfway through its upload and its download`, async () => {
  // The proxy breaks connections as a network would (loopback only): the parts of the second
  // half of the upload lose their first three connections before reaching the server, and the
  // download's answer is cut off after half its bytes. The link allows one download only, so
  // the download can only finish by resuming with the token the server gave it (server/API.md,
  // "Resuming"): a second counted download would be refused.
  const size = 12 * 1024 * 1024 + 12345;
  const data = randomBytes(size);
  const file = path.join(work, 'holter-trace.bin');
  writeFileSync(file, data);
  const partUrl = /^\/api\/shares\/[^/]+\/parts\/(\d+)$/;
  let cutParts = 0;
  app.rewrite.cut = ({ method, url }) => {
    const m = partUrl.exec(url);
    if (method === 'PUT' && m && Number(m[1]) >= 1 && cutParts < 3) {
      cutParts += 1;
      return { request: true };
    }
    return undefined;
  };
  const since = app.records.length;
  const patient = await browser.newPage();
  const { link } = await shareFiles(patient, app.url, file, { maxDownloads: 1 });
  const sent = app.records.slice(since).filter((r) => r.method === 'PUT' && partUrl.test(r.url));
  const reached = sent.filter((r) => !r.cut).map((r) => Number(partUrl.exec(r.url)[1]));
  assert.equal(sent.filter((r) => r.cut).length, 3, 'three part connections were cut');
  assert.ok(reached.length >= 2, `the share has several parts (${reached.length})`);
  assert.deepEqual([...reached].sort((a, b) => a - b), [...new Set(reached)].sort((a, b) => a - b), `each part reached the server once: the parts it had were not sent again (${reached})`);

  const id = new URL(link).pathname.split('/').pop();
  const download = new RegExp(`^/api/shares/${id}$`);
  let cutDownloads = 0;
  app.rewrite.cut = ({ method, url }) => {
    if (method === 'GET' && download.test(url) && cutDownloads === 0) {
      cutDownloads += 1;
      return { afterBytes: Math.floor(size / 2) };
    }
    return undefined;
  };
  const from = app.records.length;
  const doctor = await browser.newPage();
  await doctor.goto(link);
  await doctor.byTestId('download-original').waitFor({ timeout: 120_000 });
  const { bytes } = await doctor.download(doctor.byTestId('download-original'));
  assert.equal(bytes.length, size, 'the whole file came back');
  assert.ok(bytes.equals(data), 'byte for byte the original, the resumed half joined where the cut was');
  const gets = app.records.slice(from).filter((r) => r.method === 'GET' && download.test(r.url));
  assert.ok(gets.length >= 2, `the download was resumed (${gets.length} requests)`);
  const resumed = gets.slice(1);
  assert.ok(resumed.every((r) => /^bytes=\d+-$/.test(r.headers.range ?? '') && r.headers['medseal-resume-token']), 'the resumed requests ask for the rest, with the resume token');
  assert.ok(Number(/^bytes=(\d+)-$/.exec(resumed[0].headers.range)[1]) > 0, 'the first resume starts after the bytes already received');
  assert.deepEqual(await doctor.allProblems(), []);

  // The one download the link allowed is spent: the resume was not a second one.
  app.rewrite.cut = null;
  const other = await browser.newPage();
  await other.goto(link);
  await other.byTestId('error').waitFor({ timeout: 60_000 });
  assert.match(await other.byTestId('error').text(), /used up/i);
});
