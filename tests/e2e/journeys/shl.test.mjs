// SMART Health Links in the engine MEDSEAL_ENGINE names (Chromium, Firefox or WebKit, over
// WebDriver; `cargo xtask test` runs it in each): a patient makes a link with a passcode, a doctor
// opens it in a fresh session; the app opens a link hosted by kill-the-clipboard (an independent
// implementation) on another origin; an IPS document reads as the document it is.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { repo } from '../lib.mjs';
import { engine, startApp, startEngine } from '../wd/app.mjs';
import { resolveWithPeer, startPeerHost } from '../shl-peer.mjs';

const T = `[${engine}]`;
const carolee = path.join(repo, 'core/tests/fixtures/synthea-r4/Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json');

let app, browser, peer;
before(async () => {
  app = await startApp(['--shl-allow-http']);
  browser = await startEngine();
  peer = await startPeerHost({ passcodeAttempts: 3 });
});
afterEach(async () => { await browser.closeAll(); });
after(async () => {
  await browser?.stop();
  await app?.stop();
  await peer?.close();
});

function patientName(bundle) {
  const patient = bundle.entry.map((e) => e.resource).find((r) => r.resourceType === 'Patient');
  const name = patient.name.find((n) => n.use === 'official') ?? patient.name[0];
  return [...(name.prefix ?? []), ...(name.given ?? []), name.family].join(' ');
}

test(`${T} a patient shares a SMART Health Link with a passcode and a doctor opens it`, async () => {
  const bundle = JSON.parse(readFileSync(carolee, 'utf8'));
  const patient = await browser.newPage();
  await patient.goto(`${app.url}/`);
  await patient.byTestId('file-input').setFiles([carolee]);
  await patient.byTestId('format-shl').check();
  await patient.byTestId('shl-passcode').fill('maple 1984');
  await patient.byTestId('share-button').click();
  await patient.byTestId('share-link').waitFor({ timeout: 60_000 });
  const link = await patient.byTestId('share-link').value();
  assert.ok(link.startsWith(`${app.url}/#shlink:/`), link);
  await patient.byTestId('qr-code').waitFor();
  await patient.screenshot('shl-shared');

  const doctor = await browser.newPage();
  await doctor.goto(link);
  await doctor.byTestId('password-input').waitFor({ timeout: 60_000 });
  assert.ok(!(await doctor.url()).includes('shlink'), 'the link is gone from the address bar');
  await doctor.byTestId('password-input').fill('maple 1985');
  await doctor.byTestId('password-submit').click();
  await doctor.byTestId('error').waitFor({ timeout: 60_000 });
  assert.match(await doctor.byTestId('error').text(), /9 attempts left/);
  await doctor.byTestId('password-input').fill('maple 1984');
  await doctor.byTestId('password-submit').click();
  await doctor.byTestId('record-view').waitFor({ timeout: 60_000 });
  assert.ok((await doctor.byTestId('patient-summary').text()).includes(patientName(bundle)));
  const { bytes } = await doctor.download(doctor.byTestId('download-original'));
  assert.ok(bytes.equals(readFileSync(carolee)), 'the shared bundle comes back byte for byte');
  await doctor.screenshot('shl-opened');
  // Chromium logs the wrong passcode's 401 as a failed load: that one line is expected.
  const problems = [...await patient.allProblems(), ...await doctor.allProblems()];
  assert.deepEqual(problems.filter((p) => !/\/api\/shl\/[A-Za-z0-9_-]{43} .*status of 401/.test(p)), []);
  assert.ok(problems.length <= 1, problems.join('\n'));

  // The independent viewer reads the same link to the same FHIR.
  const r = await resolveWithPeer(link, { passcode: 'maple 1984' });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.fhir, [bundle]);
});

test(`${T} the app opens a link hosted by kill-the-clipboard on another origin, by location and compressed`, async () => {
  const bundle = JSON.parse(readFileSync(carolee, 'utf8'));
  const uri = await peer.createLink({ resources: [bundle], embedded: false, compress: true, label: 'Carolee, summary for the clinic' });
  const doctor = await browser.newPage();
  await doctor.goto(`${app.url}/#${uri}`);
  await doctor.byTestId('record-view').waitFor({ timeout: 60_000 });
  assert.equal(await doctor.byTestId('shl-label').text(), 'Carolee, summary for the clinic');
  assert.ok((await doctor.byTestId('patient-summary').text()).includes(patientName(bundle)));
  const { bytes } = await doctor.download(doctor.byTestId('download-original'));
  assert.deepEqual(JSON.parse(bytes.toString('utf8')), bundle);
  assert.deepEqual(await doctor.allProblems(), []);
  // The key of the other host's link never reached MedSeal's server.
  const key = JSON.parse(Buffer.from(uri.slice('shlink:/'.length), 'base64url').toString('utf8')).key;
  for (const r of app.records) {
    assert.ok(!`${r.url} ${JSON.stringify(r.headers)} ${r.body?.toString('latin1') ?? ''}`.includes(key), `the key reached MedSeal in ${r.method} ${r.url}`);
  }
});

// An International Patient Summary (HL7 fhir-ips examples, CC0: core/tests/data/ips/SOURCE.md)
// reads as its document: the sections in order, each narrative's text as this engine's own XML
// parser reads it; a hostile narrative stays text.
test(`${T} an IPS reads as its document, section by section, and a hostile narrative stays text`, async () => {
  const sections = (root) => [...root.querySelectorAll('[data-testid="ips-section"]')].map((s) => {
    const own = (sel) => [...s.querySelectorAll(sel)].filter((el) => el.closest('[data-testid="ips-section"]') === s);
    return {
      title: own('[data-testid="ips-section-title"]')[0]?.textContent ?? null,
      narrative: own('[data-testid="ips-narrative"]').map((n) => n.textContent).join('').replace(/\s+/g, ''),
      emptyReason: own('[data-testid="ips-empty-reason"]').length > 0,
    };
  });
  for (const name of ['Bundle-IPS-examples-Bundle-01.json', 'bundle-no-info-required-sections.json']) {
    const doc = JSON.parse(readFileSync(path.join(repo, 'core/tests/data/ips', name), 'utf8'));
    const comp = doc.entry.map((e) => e.resource).find((r) => r.resourceType === 'Composition');
    const uri = await peer.createLink({ resources: [doc] });
    const doctor = await browser.newPage();
    await doctor.goto(`${app.url}/#${uri}`);
    await doctor.byTestId('ips-document').waitFor({ timeout: 60_000 });
    assert.equal(await doctor.byTestId('ips-title').text(), comp.title);
    const { shown, expected } = await doctor.evaluate(`function (divs) {
      const read = ${sections.toString()};
      const expected = divs.map((div) => div ? new DOMParser().parseFromString(div, 'application/xhtml+xml').documentElement.textContent.replace(/\\s+/g, '') : '');
      return { shown: read(document.querySelector('[data-testid="ips-document"]')), expected };
    }`, comp.section.map((s) => s.text?.div ?? null));
    assert.deepEqual(shown.map((s) => s.title), comp.section.map((s) => s.title), `${name}: sections in order`);
    assert.deepEqual(shown.map((s) => s.narrative), expected, `${name}: each section's narrative`);
    assert.deepEqual(shown.map((s) => s.emptyReason), comp.section.map((s) => s.emptyReason !== undefined), `${name}: empty reasons`);
    await doctor.screenshot(`ips-${name.replace(/\.json$/, '')}`);
    assert.deepEqual(await doctor.allProblems(), []);
  }

  const hostile = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Seen<script>window.__pwned = 1</script> today</p>'
    + '<img src="x" onerror="window.__pwned = 2"/><p><a href="javascript:window.__pwned = 3">Open</a></p>'
    + '<svg onload="window.__pwned = 4"><text>svg</text></svg><p onmouseover="window.__pwned = 5">&lt;b&gt;literal&lt;/b&gt;</p></div>';
  const doc = { resourceType: 'Bundle', type: 'document', entry: [{ fullUrl: 'urn:uuid:9e4c1a53-0000-4000-8000-000000000001', resource: {
    resourceType: 'Composition', status: 'final', title: 'Hostile', date: '2026-12-08',
    section: [{ title: 'Notes', text: { status: 'generated', div: hostile } }] } }] };
  const uri = await peer.createLink({ resources: [doc] });
  const doctor = await browser.newPage();
  await doctor.goto(`${app.url}/#${uri}`);
  await doctor.byTestId('ips-section').waitFor({ timeout: 60_000 });
  await doctor.locator('[data-testid="ips-section"] p:nth-child(2)').click();
  const found = await doctor.evaluate(`function () {
    const root = document.querySelector('[data-testid="ips-document"]');
    return {
      pwned: window.__pwned ?? null,
      tags: [...root.querySelectorAll('script, img, a, svg, iframe, style')].map((e) => e.tagName),
      attributes: [...root.querySelectorAll('*')].flatMap((e) => [...e.attributes].map((a) => a.name)).filter((n) => /^on|^href$|^src$|^style$/.test(n)),
      text: root.querySelector('[data-testid="ips-narrative"]').textContent,
    };
  }`);
  assert.deepEqual(found, { pwned: null, tags: [], attributes: [], text: found.text });
  assert.ok(found.text.includes('<b>literal</b>') && found.text.includes('Open') && !found.text.includes('__pwned'), found.text);
  assert.deepEqual(await doctor.allProblems(), []);
});
