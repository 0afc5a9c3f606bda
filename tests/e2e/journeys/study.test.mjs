// Research studies end to end (issue #7), in the engine MEDSEAL_ENGINE names (over WebDriver;
// `cargo xtask test` runs it in Chromium, Firefox and WebKit): a researcher creates a key and a study; three
// patients in separate browser contexts contribute Synthea records and one of them withdraws.
// The researcher downloads the bundle, decrypts it in the browser and exports it.
// The export must hold no identifier of any fixture, keep the clinical codes, and its risk
// report must match a count made here independently. A tampered study is refused, and the
// server's data folder holds nothing readable.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { repo } from '../lib.mjs';
import { codesOf, filesUnder, fixture, fingerprintOf, groupsUnderK, ndjson, readZip } from '../study-lib.mjs';
import { contribute, createKey, createStudy, engine, exportStudy, startApp, startEngine } from '../wd/app.mjs';

const T = `[${engine}]`;
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

const PASSPHRASE = 'correct horse battery staple';
const K = 2;
const contributors = ['Carolee951', 'Luisa710'].map(fixture); // the two who stay
const withdrawn = fixture('Todd315'); // the third, who withdraws
let study; // { contributionLink, adminLink, researcher }
let browserExport; // the entries of the zip the browser made

function strictValues(v, out = []) {
  if (typeof v === 'string') out.push(v);
  else if (typeof v === 'number') out.push(String(v));
  else if (Array.isArray(v)) v.forEach((c) => strictValues(c, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((c) => strictValues(c, out));
  return out;
}

test(`${T} a researcher creates a key and a signed study, and gets a contribution link pinning the key`, async () => {
  const researcher = await browser.newPage();
  const fingerprint = await createKey(researcher, proxy.url, { label: 'Study key', passphrase: PASSPHRASE });
  assert.match(fingerprint, /^[A-Za-z0-9_-]{43}$/);
  await researcher.byTestId('publish-key').first().click();
  await researcher.byTestId('key-published').waitFor({ timeout: 30_000 });
  const created = await createStudy(researcher, proxy.url, {
    passphrase: PASSPHRASE,
    title: 'MedSeal end-to-end study',
    purpose: 'Checks that contributions travel masked and sealed.',
    institution: 'MedSeal test lab',
    contact: 'lab@example.org',
    k: K,
  });
  assert.match(created.contributionLink, new RegExp(`/c/[A-Za-z0-9_-]{22}#${fingerprint}$`));
  assert.match(created.adminLink, /\/study\/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{20,}$/);
  study = { ...created, researcher, fingerprint };
});

test(`${T} three patients contribute, one withdraws, and the researcher exports exactly the two others, clean`, async () => {
  assert.ok(study, 'the study exists');
  // Three patients, each in a fresh context (own storage, so own pseudonym secret). The last of
  // them withdraws after contributing.
  const contributed = [];
  for (const f of [...contributors, withdrawn]) {
    const patient = await browser.newPage();
    const withdrawLink = await contribute(patient, study.contributionLink, f.file);
    assert.match(withdrawLink, /\/withdraw\/[A-Za-z0-9_-]{22}\/[A-Za-z0-9_-]{22}#/);
    assert.ok(!(await patient.url()).includes('#'), 'the fingerprint is removed from the address bar');
    const policy = await patient.byTestId('study-policy').text();
    assert.match(policy, /year/i, 'the policy is shown in plain words');
    assert.deepEqual(await patient.allProblems(), []);
    contributed.push({ patient, withdrawLink });
  }
  const { patient: quitter, withdrawLink } = contributed.pop();
  for (const { patient } of contributed) await patient.close();
  await quitter.goto(withdrawLink);
  await quitter.byTestId('withdraw-button').click();
  await quitter.byTestId('withdrawn').waitFor({ timeout: 30_000 });
  assert.ok(!(await quitter.url()).includes('#'), 'the withdraw token is removed from the address bar');
  await quitter.close();

  // The researcher lists, downloads, decrypts and exports.
  const researcher = study.researcher;
  await researcher.goto(study.adminLink);
  await researcher.byTestId('contribution-count').waitFor({ timeout: 30_000 });
  assert.equal(await researcher.byTestId('contribution-count').text(), '2');
  assert.equal(await researcher.byTestId('contribution-row').count(), 2);
  await researcher.byTestId('unlock-passphrase').fill(PASSPHRASE);
  await researcher.byTestId('unlock-button').click();
  await researcher.byTestId('download-bundle').click();
  await researcher.byTestId('export-ready').waitFor({ timeout: 180_000 });
  const zip = readZip((await researcher.download(researcher.byTestId('bundle-export'))).bytes);
  browserExport = zip;
  const bundles = proxy.records.filter((r) => /\/api\/studies\/[^/]+\/bundle$/.test(r.url));
  assert.equal(bundles.length, 1, 'all contributions came in one stream');
  assert.match(bundles[0].headers.authorization, /^Bearer /, 'the admin token travels in a header');
  for (const name of ['manifest.json', 'risk-report.json', 'csv/patients.csv', 'csv/conditions.csv', 'csv/observations.csv',
    'csv/medications.csv', 'csv/immunizations.csv', 'csv/procedures.csv', 'fhir/Patient.ndjson', 'fhir/Condition.ndjson',
    'fhir/Observation.ndjson']) {
    assert.ok(zip.has(name), `${name} is in the export`);
  }
  const manifest = JSON.parse(zip.get('manifest.json'));
  assert.equal(manifest.output.find((o) => o.type === 'Patient').count, 2, 'two patients: the withdrawn one is absent');
  assert.equal(manifest.extension['https://medseal.org/export'].contributions.length, 2);
  const resources = [...zip.entries()].filter(([n]) => n.startsWith('fhir/'))
    .flatMap(([, b]) => b.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  // Exactly the two remaining patients' resources: as many of each type as their bundles hold.
  const count = (list) => list.reduce((m, r) => m.set(r.resourceType, (m.get(r.resourceType) ?? 0) + 1), new Map());
  const want = count(contributors.flatMap((f) => f.bundle.entry.map((e) => e.resource)));
  const got = count(resources);
  for (const type of ['Patient', 'Condition', 'Observation', 'Encounter', 'Immunization', 'Procedure', 'MedicationRequest']) {
    assert.equal(got.get(type) ?? 0, want.get(type) ?? 0, `${type}: the two patients' resources, no more, no fewer`);
  }
  for (const o of manifest.output) assert.equal(o.count, got.get(o.type), `the manifest counts ${o.type} right`);

  // No identifier of any fixture survives, in any file of the export.
  const everything = [...zip.values()].map((b) => b.toString('utf8')).join('\n');
  const values = new Set(strictValues(resources));
  const cells = new Set([...zip.entries()].filter(([n]) => n.endsWith('.csv'))
    .flatMap(([, b]) => b.toString('utf8').split('\n').flatMap((l) => l.split(','))));
  for (const f of [...contributors, withdrawn]) {
    for (const needle of f.ids.must_not_appear_substring) {
      assert.ok(!everything.includes(needle), `${needle} survived in the export`);
    }
    for (const v of f.ids.must_not_appear_as_value_strict) {
      assert.ok(!values.has(v), `${v} is still a whole FHIR value`);
      assert.ok(!cells.has(v), `${v} is still a whole CSV cell`);
    }
  }
  // The clinical codes of the two remaining contributors are kept.
  const originals = contributors.flatMap((f) => f.bundle.entry.map((e) => e.resource));
  for (const [type, field] of [['Condition', 'code'], ['Observation', 'code'], ['Immunization', 'vaccineCode'], ['Procedure', 'code']]) {
    const want = codesOf(originals, type, field);
    const got = codesOf(resources, type, field);
    assert.ok(want.size > 0);
    assert.deepEqual([...want].filter((c) => !got.has(c)), [], `${type} codes are kept`);
  }
  const conditionsCsv = zip.get('csv/conditions.csv').toString('utf8');
  for (const c of codesOf(originals, 'Condition')) {
    assert.ok(conditionsCsv.includes(c.split('|')[1]), `condition ${c} is in the CSV table`);
  }

  // The risk report matches a count made here from the original records.
  const expected = groupsUnderK(contributors, K);
  const report = JSON.parse(zip.get('risk-report.json'));
  assert.equal(report.patients, 2);
  assert.equal(report.k, K);
  assert.equal(report.groups, expected.groups);
  assert.equal(report.under_k.length, expected.under);
  assert.equal(report.patients_under_k, expected.patientsUnder);
  const shown = researcher.byTestId('risk-report');
  assert.equal(await shown.attr('data-under-k'), String(expected.under));
  assert.equal(await researcher.byTestId('risk-group').count(), expected.under);
  assert.deepEqual(await researcher.allProblems(), []);

  // The server stores nothing readable: no identifier and no clinical text in its data folder.
  const stored = filesUnder(server.dataDir);
  assert.ok(stored.length > 0);
  const clinicalText = new Set();
  for (const r of originals) {
    if (r.resourceType === 'Condition') for (const c of r.code.coding) if (c.display?.length > 8) clinicalText.add(c.display);
    if (r.resourceType === 'Observation') for (const c of r.code.coding) if (c.display?.length > 8) clinicalText.add(c.display);
  }
  assert.ok(clinicalText.size > 5);
  for (const { path: p, bytes } of stored) {
    const text = bytes.toString('latin1');
    for (const f of [...contributors, withdrawn]) {
      for (const needle of f.ids.must_not_appear_substring) {
        assert.ok(!text.includes(needle), `${needle} is readable in ${p}`);
      }
    }
    for (const t of clinicalText) assert.ok(!text.includes(t), `clinical text ${t} is readable in ${p}`);
    assert.ok(!text.includes('http://loinc.org'), `a code system is readable in ${p}`);
  }
  // Nor did any request carry them.
  for (const record of proxy.records) {
    const body = record.body.toString('latin1');
    for (const t of clinicalText) assert.ok(!body.includes(t), `clinical text reached the server in ${record.method} ${record.url}`);
    assert.ok(!record.url.includes('#'));
    assert.ok(!('cookie' in record.headers));
  }
});

test(`${T} medseal bundle writes the same export from the bundle file and from the server, with the exported key file`, async () => {
  const cli = process.env.MEDSEAL_CLI_BIN ?? path.join(repo, 'target/debug/medseal');
  // A missing or stale binary is a failure, never a skip: `cargo xtask test` builds it.
  assert.ok(existsSync(cli), `no medseal binary at ${cli} (cargo build -p medseal-cli)`);
  assert.doesNotThrow(() => execFileSync(cli, ['bundle', '--help'], { stdio: 'pipe' }),
    `${cli} is older than the bundle command (cargo build -p medseal-cli)`);
  assert.ok(browserExport, 'the browser exported the study');
  const researcher = study.researcher;
  // The key file, as the key manager exports it.
  await researcher.goto(`${proxy.url}/keys`);
  const card = researcher.byTestId('key-card').first();
  await card.byTestId('export-key-open').click();
  await card.byTestId('unlock-passphrase').fill(PASSPHRASE);
  await card.byTestId('unlock-button').click();
  const link = card.byTestId('key-file-download');
  await link.waitFor({ timeout: 30_000 });
  const { bytes: pem } = await researcher.download(link);
  const work = mkdtempSync(path.join(os.tmpdir(), 'medseal-bundle-'));
  const keyFile = path.join(work, 'key.pem');
  writeFileSync(keyFile, pem);
  // The bundle and the study, as the server serves them.
  const [, sid, token] = study.adminLink.match(/\/study\/([^#]+)#(.+)$/);
  const bundle = await fetch(`${server.url}/api/studies/${sid}/bundle`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(bundle.status, 200);
  const bundleFile = path.join(work, 'study.bundle');
  writeFileSync(bundleFile, Buffer.from(await bundle.arrayBuffer()));
  const studyFile = path.join(work, 'study.json');
  writeFileSync(studyFile, Buffer.from(await (await fetch(`${server.url}/api/studies/${sid}`)).arrayBuffer()));
  const out = path.join(work, 'export.zip');
  execFileSync(cli, ['bundle', '-i', keyFile, '--study', studyFile, '-o', out, bundleFile], { stdio: 'pipe' });
  const native = readZip(readFileSync(out));
  assert.deepEqual([...native.keys()].sort(), [...browserExport.keys()].sort(), 'the same files');
  for (const [name, bytes] of browserExport) {
    if (name === 'manifest.json') continue;
    assert.ok(native.get(name).equals(bytes), `${name} is identical`);
  }
  assert.deepEqual(JSON.parse(native.get('manifest.json')).output, JSON.parse(browserExport.get('manifest.json')).output);

  // The same export, downloaded by the CLI itself from the server with the admin token.
  const tokenFile = path.join(work, 'admin-token');
  writeFileSync(tokenFile, token);
  const fetched = path.join(work, 'export-server.zip');
  execFileSync(cli, ['bundle', '-i', keyFile, '--server', server.url, '--study', sid, '--admin-token-file', tokenFile, '-o', fetched], { stdio: 'pipe' });
  const viaServer = readZip(readFileSync(fetched));
  assert.deepEqual([...viaServer.keys()].sort(), [...browserExport.keys()].sort(), 'the same files');
  for (const [name, bytes] of browserExport) {
    if (name === 'manifest.json') continue;
    assert.ok(viaServer.get(name).equals(bytes), `${name} is identical when the CLI downloads the bundle`);
  }
  // A wrong token is refused and writes nothing.
  writeFileSync(tokenFile, 'A'.repeat(token.length));
  const refused = path.join(work, 'refused.zip');
  assert.throws(() => execFileSync(cli, ['bundle', '-i', keyFile, '--server', server.url, '--study', sid, '--admin-token-file', tokenFile, '-o', refused], { stdio: 'pipe' }));
  assert.ok(!existsSync(refused), 'no export is left behind');
});

test(`${T} one patient's records link inside a study and not across studies`, async () => {
  assert.ok(study, 'the researcher has a key');
  const researcher = study.researcher;
  const details = { passphrase: PASSPHRASE, purpose: 'Linkage check.', institution: 'MedSeal test lab', contact: 'lab@example.org', k: 2 };
  const b = await createStudy(researcher, proxy.url, { ...details, title: 'Study B' });
  const c = await createStudy(researcher, proxy.url, { ...details, title: 'Study C' });
  // The same patient (one browser context, so one secret) contributes twice to B and once to C.
  const patient = await browser.newPage();
  const record = contributors[0].file;
  await contribute(patient, b.contributionLink, record);
  await contribute(patient, b.contributionLink, record);
  await contribute(patient, c.contributionLink, record);
  await patient.close();

  // The researcher finds the studies again on this device, without the admin link.
  await researcher.goto(`${proxy.url}/study/new`);
  await researcher.byTestId('my-studies').waitFor({ timeout: 30_000 });
  await researcher.byTestId('my-studies').waitFor();
  await researcher.locator('[data-testid="my-studies"] a').all().then(async (links) => {
    for (const a of links) if ((await a.getText()).includes('Study B')) { await a.click(); return; }
    throw new Error('Study B is not listed');
  });
  await researcher.byTestId('contribution-count').waitFor({ timeout: 30_000 });
  assert.equal(await researcher.byTestId('contribution-count').text(), '2');

  const zipB = await exportStudy(researcher, b.adminLink, PASSPHRASE);
  const zipC = await exportStudy(researcher, c.adminLink, PASSPHRASE);
  const inB = ndjson(zipB, 'Patient').map((p) => p.id);
  const inC = ndjson(zipC, 'Patient').map((p) => p.id);
  assert.equal(inB.length, 2);
  assert.equal(inB[0], inB[1], 'both contributions carry the same pseudonym inside the study');
  assert.equal(JSON.parse(zipB.get('risk-report.json')).patients, 1, 'the risk report counts the patient once');
  assert.equal(inC.length, 1);
  assert.notEqual(inC[0], inB[0], 'another study gets another pseudonym');
  const conditionsB = new Set(ndjson(zipB, 'Condition').map((r) => r.id));
  const conditionsC = new Set(ndjson(zipC, 'Condition').map((r) => r.id));
  assert.ok(conditionsB.size > 0);
  assert.deepEqual([...conditionsB].filter((id) => conditionsC.has(id)), [], 'no record id links across studies');
  assert.ok(!inB.includes(contributors[0].ids.patients[0].id), 'the real id is gone');
});

test(`${T} a study served with another key or an altered signature is refused by the patient`, async () => {
  assert.ok(study, 'the study exists');
  const sid = study.contributionLink.match(/\/c\/([^#]+)#/)[1];

  // 1. The server serves an altered description (the signature no longer matches).
  // The proxy plays the malicious server.
  const p1 = await browser.newPage();
  app.rewrite.response = ({ method, url }, res) => {
    if (method !== 'GET' || url !== `/api/studies/${sid}`) return undefined;
    const body = JSON.parse(res.body.toString('utf8'));
    body.description.title = 'A study you can trust';
    return { ...res, body: Buffer.from(JSON.stringify(body)) };
  };
  await p1.goto(study.contributionLink);
  await p1.byTestId('tamper-warning').waitFor({ timeout: 30_000 });
  assert.match(await p1.byTestId('error').text(), /signature/i);
  assert.equal(await p1.byTestId('file-input').count(), 0, 'no way to contribute');

  // 2. The server swaps in its own key (and a study signed by it would need that key).
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const p2 = await browser.newPage();
  app.rewrite.response = ({ method, url }, res) => {
    if (method !== 'GET' || !/^\/api\/keys\/[^/?]+$/.test(url)) return undefined;
    return { status: 200, headers: { ...res.headers, 'content-type': 'application/octet-stream' }, body: der };
  };
  await p2.goto(study.contributionLink);
  await p2.byTestId('tamper-warning').waitFor({ timeout: 30_000 });
  assert.match(await p2.byTestId('error').text(), /does not match/i);

  // 3. A link pinning another (published) key: the study names a different key.
  const put = await fetch(`${server.url}/api/keys`, { method: 'PUT', body: der, headers: { 'content-type': 'application/octet-stream' } });
  assert.ok(put.ok);
  app.rewrite.response = null;
  const p3 = await browser.newPage();
  await p3.goto(study.contributionLink.replace(/#.*$/, `#${fingerprintOf(der)}`));
  await p3.byTestId('tamper-warning').waitFor({ timeout: 30_000 });
  assert.equal(await p3.byTestId('file-input').count(), 0);
});
