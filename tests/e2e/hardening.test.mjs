// Security hardening of the client (issue 13), in headless Chromium against the real server
// (decrypted files never running as pages of MedSeal's origin is inline.test.mjs):
// - a study description swapped for another study's (same researcher key) is refused by the
//   contribution page and by the researcher's admin page;
// - garbage and damaged contributions beside real ones: the admin page exports the real ones
//   and lists the others.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage, startRecordingProxy, startServer } from './lib.mjs';
import { contribute, createKey, createStudy, exportStudy, fixture, ndjson } from './study-lib.mjs';

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

const PASSPHRASE = 'correct horse battery staple';

let researcher;
let studyA, studyB;

test('a study description swapped for another study of the same key is refused', async () => {
  researcher = await newPage(browser);
  await createKey(researcher, proxy.url, { label: 'Hardening key', passphrase: PASSPHRASE });
  await researcher.getByTestId('publish-key').first().click();
  await researcher.getByTestId('key-published').waitFor({ timeout: 30_000 });
  const details = { passphrase: PASSPHRASE, purpose: 'Swap check.', institution: 'MedSeal test lab', contact: 'lab@example.org' };
  studyA = await createStudy(researcher, proxy.url, { ...details, title: 'Study A', k: 2 });
  studyB = await createStudy(researcher, proxy.url, { ...details, title: 'Study B', k: 50 });
  const sidA = studyA.contributionLink.match(/\/c\/([^#]+)#/)[1];
  const sidB = studyB.contributionLink.match(/\/c\/([^#]+)#/)[1];
  const bodyB = await (await fetch(`${server.url}/api/studies/${sidB}`)).text();

  // The patient's page, with a server answering A's id with B's signed description.
  const patient = await newPage(browser);
  await patient.route(`**/api/studies/${sidA}`, (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', body: bodyB }));
  await patient.goto(studyA.contributionLink);
  await patient.getByTestId('tamper-warning').waitFor({ timeout: 30_000 });
  assert.match(await patient.getByTestId('error').innerText(), /another study/i);
  assert.equal(await patient.getByTestId('file-input').count(), 0, 'no way to contribute');
  assert.equal(await patient.getByText('Study B').count(), 0, 'the swapped study is not shown as verified');
  await patient.context().close();

  // Unswapped, the same link is accepted.
  const honest = await newPage(browser);
  await honest.goto(studyA.contributionLink);
  await honest.getByTestId('study-verified').waitFor({ timeout: 30_000 });
  await honest.context().close();

  // The researcher's admin page checks the description with the researcher's own key and id.
  await researcher.route(`**/api/studies/${sidA}`, (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', body: bodyB }));
  await researcher.goto(studyA.adminLink);
  await researcher.getByTestId('contribution-count').waitFor({ timeout: 30_000 });
  await researcher.getByTestId('unlock-passphrase').fill(PASSPHRASE);
  await researcher.getByTestId('unlock-button').click();
  await researcher.getByTestId('download-bundle').click();
  await researcher.getByTestId('error').waitFor({ timeout: 60_000 });
  assert.match(await researcher.getByTestId('error').innerText(), /Refusing this study/);
  assert.equal(await researcher.getByTestId('export-ready').count(), 0);
  assert.equal(proxy.records.filter((r) => r.url === `/api/studies/${sidA}/bundle`).length, 0, 'nothing was downloaded');
  await researcher.unroute(`**/api/studies/${sidA}`);
});

/** Uploads bytes as an anonymous contribution, as anyone who knows the study id can. */
async function uploadRaw(sid, bytes) {
  const created = await (await fetch(`${server.url}/api/studies/${sid}/contributions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ size: bytes.length }),
  })).json();
  const auth = { authorization: `Bearer ${created.upload_token}` };
  for (let i = 0, at = 0; at < bytes.length; i++, at += created.part_size) {
    const r = await fetch(`${server.url}/api/studies/${sid}/contributions/${created.id}/parts/${i}`, {
      method: 'PUT', headers: auth, body: bytes.subarray(at, at + created.part_size),
    });
    assert.equal(r.status, 200);
  }
  const done = await fetch(`${server.url}/api/studies/${sid}/contributions/${created.id}/complete`, { method: 'POST', headers: auth });
  assert.equal(done.status, 200);
  return created.id;
}

test('garbage and damaged contributions beside real ones: the admin page exports the real ones and lists the others', async () => {
  assert.ok(studyA, 'the study exists');
  const sid = studyA.contributionLink.match(/\/c\/([^#]+)#/)[1];
  const admin = studyA.adminLink.split('#')[1];
  const patient = await newPage(browser);
  await contribute(patient, studyA.contributionLink, fixture('Carolee951').file);
  await patient.context().close();
  const list = await (await fetch(`${server.url}/api/studies/${sid}/contributions`, { headers: { authorization: `Bearer ${admin}` } })).json();
  assert.equal(list.length, 1);
  const real = Buffer.from(await (await fetch(`${server.url}/api/studies/${sid}/contributions/${list[0].id}`, {
    headers: { authorization: `Bearer ${admin}` },
  })).arrayBuffer());
  const garbage = await uploadRaw(sid, Buffer.from([0x13, 0x8a, 0x00, 0xff, 0x42]));
  const altered = Buffer.from(real);
  altered[altered.length - 20] ^= 1;
  const damaged = await uploadRaw(sid, altered);
  const patient2 = await newPage(browser);
  await contribute(patient2, studyA.contributionLink, fixture('Luisa710').file);
  await patient2.context().close();

  const zip = await exportStudy(researcher, studyA.adminLink, PASSPHRASE);
  assert.equal(ndjson(zip, 'Patient').length, 2, 'both real contributions are exported');
  const manifest = JSON.parse(zip.get('manifest.json'));
  const skipped = manifest.extension['https://medseal.org/export'].skipped;
  assert.deepEqual(skipped.map((s) => s.id).sort(), [garbage, damaged].sort());
  assert.ok(skipped.every((s) => s.reason && s.code));
  assert.equal(JSON.parse(zip.get('risk-report.json')).skipped.length, 2);
  const shown = await researcher.getByTestId('skipped-contribution').allInnerTexts();
  assert.equal(shown.length, 2);
  assert.ok(shown.some((t) => t.includes(garbage)) && shown.some((t) => t.includes(damaged)));
});

test('on plain http from a network name the app refuses to handle secrets, and explains', async () => {
  // A name that resolves to this machine but is not loopback to the browser: plain http there is
  // not a secure context, as it would not be on a real network.
  const port = new URL(proxy.url).port;
  const remote = await launchBrowser({ extraArgs: ['--host-resolver-rules=MAP medseal.test 127.0.0.1'] });
  try {
    const page = await newPage(remote);
    const before = proxy.records.length;
    await page.goto(`http://medseal.test:${port}/s/AAAAAAAAAAAAAAAAAAAAAA#${'B'.repeat(43)}`);
    await page.getByTestId('insecure-context').waitFor({ timeout: 30_000 });
    assert.equal(await page.evaluate(() => window.isSecureContext), false);
    assert.match(await page.getByTestId('insecure-context').innerText(), /https/);
    assert.equal(await page.getByTestId('password-input').count(), 0);
    assert.ok(!proxy.records.slice(before).some((r) => r.url.startsWith('/api/')), 'no API call was made');
    for (const route of ['/', '/keys', '/study/new']) {
      await page.goto(`http://medseal.test:${port}${route}`);
      await page.getByTestId('insecure-context').waitFor({ timeout: 30_000 });
      assert.equal(await page.getByTestId('file-input').count(), 0, `${route} offers no file input`);
      assert.equal(await page.getByTestId('key-create').count(), 0, `${route} offers no key creation`);
    }
    // The same server on loopback is the app.
    const local = await newPage(remote);
    await local.goto(`http://127.0.0.1:${port}/`);
    await local.getByTestId('file-input').waitFor({ timeout: 30_000 });
    assert.equal(await local.getByTestId('insecure-context').count(), 0);
  } finally {
    await remote.close();
  }
});
