// SMART Health Links against an implementation that is not MedSeal's: kill-the-clipboard (MIT,
// pinned in package.json) resolves the links the medseal CLI makes on the real server, and hosts
// links that the CLI opens. Over real HTTP on loopback, with the server's --shl-allow-http.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, before, after } from 'node:test';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';

import { launchBrowser, newPage, repo, startRecordingProxy, startServer } from './lib.mjs';
import { fixture } from './study-lib.mjs';
import { startPeerHost, resolveWithPeer } from './shl-peer.mjs';

const run = promisify(execFile);
const cli = process.env.MEDSEAL_CLI_BIN ?? path.join(repo, 'target/debug/medseal');
const work = mkdtempSync(path.join(os.tmpdir(), 'medseal-shl-'));
let server;
let peer;
let proxy;
let browser;

// A Synthea bundle (hundreds of kilobytes: served by location) and a small resource (embedded).
const bundle = JSON.parse(readFileSync(fixture('Antonia30').file, 'utf8'));
const small = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Ruelas', given: ['Antonia'] }], birthDate: '1961-02-03' };
const card = JSON.parse(readFileSync(path.join(repo, 'core/tests/data/shl/example-00-e-file.smart-health-card'), 'utf8'));

function file(name, value) {
  const p = path.join(work, name);
  writeFileSync(p, typeof value === 'string' ? value : JSON.stringify(value));
  return p;
}

async function medseal(args, { ok = true } = {}) {
  try {
    const r = await run(cli, args, { maxBuffer: 64 << 20 });
    assert.ok(ok, `medseal ${args.join(' ')} succeeded where it should fail`);
    return r;
  } catch (e) {
    if (ok || e.code === undefined || typeof e.code !== 'number') throw e;
    return { failed: true, stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

async function createWithCli(files, extra = []) {
  const { stdout } = await medseal(['shl', 'create', ...files, '--server', server.url, ...extra]);
  const link = stdout.trim();
  assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/#shlink:\/[A-Za-z0-9_-]+$/);
  return link;
}

function payload(link) {
  return JSON.parse(Buffer.from(link.slice(link.indexOf('shlink:/') + 8), 'base64url').toString('utf8'));
}

before(async () => {
  assert.ok(existsSync(cli), `no medseal binary at ${cli} (cargo build -p medseal-cli)`);
  server = await startServer(['--shl-allow-http', '--shl-embed-max', '8192']);
  peer = await startPeerHost({ passcodeAttempts: 3 });
  proxy = await startRecordingProxy(server.url);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.stop();
  await peer?.close();
});

/** Every byte the MedSeal server received through the proxy, with where it was. */
function received() {
  return proxy.records.map((r) => ({ where: `${r.method} ${r.url}`, text: `${r.url}\n${JSON.stringify(r.headers)}\n${r.body.toString('latin1')}` }));
}

function keyOf(uri) {
  return payload(uri).key;
}

/** Opens a link in a fresh page of the app and waits until the record or an error shows. */
async function openInApp(uri, { passcode } = {}) {
  const page = await newPage(browser);
  const bare = uri.slice(uri.indexOf('shlink:/'));
  await page.goto(`${proxy.url}/#${bare}`);
  if (passcode !== undefined) {
    await page.getByTestId('password-input').fill(passcode);
    await page.getByTestId('password-submit').click();
  }
  await page.locator('.opened, [data-testid="error"]').first().waitFor({ timeout: 30_000 });
  return page;
}

async function downloads(page) {
  const out = [];
  const buttons = page.getByTestId('download-original');
  for (let i = 0; i < await buttons.count(); i++) {
    const [download] = await Promise.all([page.waitForEvent('download'), buttons.nth(i).click()]);
    out.push(JSON.parse(readFileSync(await download.path(), 'utf8')));
  }
  return out;
}

test('with --shl-allow-http (for hosts on loopback) the page may also fetch plain http, and /api/config says so', async () => {
  const csp = (await fetch(`${server.url}/`)).headers.get('content-security-policy');
  assert.match(csp, /connect-src 'self' https: http:(;|$)/, csp);
  const config = await (await fetch(`${server.url}/api/config`)).json();
  assert.equal(config.shl_allow_http, true);
});

test('kill-the-clipboard resolves a MedSeal link to the exact FHIR, one file embedded and one by location', async () => {
  const link = await createWithCli([file('bundle.json', bundle), file('small.json', small)], ['--label', 'Records for Dr. Osei']);
  const p = payload(link);
  assert.equal(p.key.length, 43);
  assert.equal(p.flag, undefined, 'no flags on a link without passcode');
  assert.equal(p.label, 'Records for Dr. Osei');
  assert.ok(p.url.length <= 128);
  assert.ok(p.exp > Date.now() / 1000);
  // The viewer-prefixed form, as a person would paste it.
  const r = await resolveWithPeer(link, { recipient: 'Dr. Osei' });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.fhir, [bundle, small]);
  assert.equal(r.label, 'Records for Dr. Osei');
  const [big, little] = r.manifest.files;
  assert.ok(big.location && !big.embedded, 'the large file comes by location');
  assert.ok(little.embedded && !little.location, 'the small file is embedded');
  assert.match(big.location, /^http:\/\/127\.0\.0\.1:\d+\/api\/shl\/[A-Za-z0-9_-]{43}\/files\/0\?ticket=/);
  // A location is good for one copy: fetched again, it is refused.
  const again = await fetch(big.location);
  assert.equal(again.status, 404);
  // The client's embeddedLengthMax is honoured: 0 puts every file at a location.
  const none = await resolveWithPeer(link, { embeddedLengthMax: 0 });
  assert.ok(none.ok, JSON.stringify(none));
  assert.ok(none.manifest.files.every((f) => f.location && !f.embedded));
  assert.deepEqual(none.fhir, [bundle, small]);
});

test('a MedSeal passcode link: kill-the-clipboard gets remainingAttempts, the right passcode opens it, the last wrong one disables it', async () => {
  const link = await createWithCli([file('small-p.json', small)], ['--passcode-file', file('pc', 'blue heron 42\n'), '--max-attempts', '2']);
  assert.equal(payload(link).flag, 'P');
  const wrong = await resolveWithPeer(link, { passcode: 'blue heron 41' });
  assert.equal(wrong.ok, false);
  assert.equal(wrong.status, 401);
  assert.equal(wrong.remainingAttempts, 1);
  const right = await resolveWithPeer(link, { passcode: 'blue heron 42' });
  assert.ok(right.ok, JSON.stringify(right));
  assert.deepEqual(right.fhir, [small]);
  const last = await resolveWithPeer(link, { passcode: 'guess' });
  assert.equal(last.status, 401);
  assert.equal(last.remainingAttempts, 0);
  const late = await resolveWithPeer(link, { passcode: 'blue heron 42' });
  assert.equal(late.ok, false);
  assert.equal(late.status, 404, 'a disabled link answers 404 even to the right passcode');
});

test('a MedSeal U link (one file, no manifest) resolves in kill-the-clipboard; revoked, it is gone', async () => {
  const tokenFile = path.join(work, 'revoke-u');
  const link = await createWithCli([file('small-u.json', small)], ['--direct', '--revoke-token-file', tokenFile]);
  assert.equal(payload(link).flag, 'U');
  const r = await resolveWithPeer(link);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.fhir, [small]);
  assert.equal(r.trace[0].method, 'GET');
  assert.match(r.trace[0].url, /\?recipient=/);
  await medseal(['shl', 'revoke', link, '--token-file', tokenFile]);
  const gone = await resolveWithPeer(link);
  assert.equal(gone.status, 404);
});

test('the medseal CLI opens a kill-the-clipboard link to the exact FHIR of every file, compressed or not, embedded or by location', async () => {
  for (const [n, options] of [
    { compress: true },
    { compress: false, embedded: false },
    { embedded: true, label: 'Peer label' },
  ].entries()) {
    const uri = await peer.createLink({ resources: [bundle, small], ...options });
    const out = path.join(work, `peer-${n}`);
    const { stderr } = await medseal(['shl', 'open', uri, '-o', out, '--allow-http', '--recipient', 'CLI test']);
    assert.deepEqual(readdirSync(out).sort(), ['shl-file-1.json', 'shl-file-2.json']);
    assert.deepEqual(JSON.parse(readFileSync(path.join(out, 'shl-file-1.json'), 'utf8')), bundle);
    assert.deepEqual(JSON.parse(readFileSync(path.join(out, 'shl-file-2.json'), 'utf8')), small);
    if (options.label) assert.match(stderr, /Peer label/);
  }
});

test('the medseal CLI opens peer U links and health cards, and says a card is not verified', async () => {
  const uri = await peer.createLink({ resources: [small], direct: true });
  const out = path.join(work, 'peer-u');
  await medseal(['shl', 'open', uri, '-o', out, '--allow-http']);
  assert.deepEqual(JSON.parse(readFileSync(path.join(out, 'shl-file-1.json'), 'utf8')), small);
  const cardUri = await peer.createLink({ healthCards: [card.verifiableCredential[0]] });
  const cardOut = path.join(work, 'peer-card');
  const { stderr } = await medseal(['shl', 'open', cardUri, '-o', cardOut, '--allow-http']);
  const written = JSON.parse(readFileSync(path.join(cardOut, 'shl-file-1.smart-health-card'), 'utf8'));
  assert.deepEqual(written.verifiableCredential, [card.verifiableCredential[0]]);
  assert.match(stderr, /signature not verified/);
});

test('the medseal CLI: wrong passcodes say how many attempts are left, plain http needs --allow-http, a revoked link is gone', async () => {
  const uri = await peer.createLink({ resources: [small], passcode: 'open sesame' });
  const out = path.join(work, 'peer-p');
  const missing = await medseal(['shl', 'open', uri, '-o', out, '--allow-http'], { ok: false });
  assert.ok(missing.failed);
  assert.match(missing.stderr, /passcode/);
  assert.equal(peer.inspect(uri).remainingAttempts, 3, 'no request was made without a passcode');
  const wrong = await medseal(['shl', 'open', uri, '-o', out, '--allow-http', '--passcode-file', file('wrong-pc', 'open says me\n')], { ok: false });
  assert.match(wrong.stderr, /2 attempts left/);
  await medseal(['shl', 'open', uri, '-o', out, '--allow-http', '--passcode-file', file('right-pc', 'open sesame\n')]);
  assert.deepEqual(JSON.parse(readFileSync(path.join(out, 'shl-file-1.json'), 'utf8')), small);

  const plain = await peer.createLink({ resources: [small] });
  const refused = await medseal(['shl', 'open', plain, '-o', path.join(work, 'plain')], { ok: false });
  assert.match(refused.stderr, /plain http/);
  assert.ok(!existsSync(path.join(work, 'plain')), 'nothing was written');
  peer.revoke(plain);
  const gone = await medseal(['shl', 'open', plain, '-o', path.join(work, 'plain'), '--allow-http'], { ok: false });
  assert.match(gone.stderr, /no longer active/);
});

test('the browser opens kill-the-clipboard links (compressed or not, embedded or by location, U) with the label, and the key never reaches MedSeal', async () => {
  const cases = [
    [{ resources: [bundle, small], compress: true, label: 'Peer record for Dr. Osei' }, [bundle, small]],
    [{ resources: [bundle], compress: false, embedded: false }, [bundle]],
    [{ resources: [small], direct: true }, [small]],
  ];
  for (const [options, expected] of cases) {
    const uri = await peer.createLink(options);
    const page = await openInApp(uri);
    assert.equal(await page.getByTestId('error').count(), 0, await page.locator('main').innerText());
    assert.ok(!(await page.evaluate(() => location.href)).includes('shlink'), 'the link is cleared from the address bar');
    if (options.label) assert.equal(await page.getByTestId('shl-label').innerText(), options.label);
    await page.getByText('Ruelas').first().waitFor();
    assert.deepEqual(await downloads(page), expected);
    assert.deepEqual(page.problems, []);
    await page.context().close();
    for (const r of received()) assert.ok(!r.text.includes(keyOf(uri)), `the link's key reached MedSeal in ${r.where}`);
  }
  // Nor did the link's host hear of MedSeal's page: no referrer carries a fragment.
  assert.ok(peer.requests.every((r) => !String(r.headers.referer ?? '').includes('shlink')));
});

test('the browser asks for a peer link\'s passcode, shows the attempts left after a wrong one, and opens with the right one', async () => {
  const uri = await peer.createLink({ resources: [small], passcode: 'correct horse' });
  const page = await openInApp(uri, { passcode: 'wrong horse' });
  await page.getByText('2 attempts left').waitFor();
  assert.equal(peer.inspect(uri).remainingAttempts, 2);
  await page.getByTestId('password-input').fill('correct horse');
  await page.getByTestId('password-submit').click();
  await page.locator('.opened').waitFor({ timeout: 30_000 });
  assert.deepEqual(await downloads(page), [small]);
  await page.context().close();
});

test('a shlink:/ pasted on the open page opens; a health card says its signature is not verified', async () => {
  const uri = await peer.createLink({ healthCards: [card.verifiableCredential[0]] });
  const page = await newPage(browser);
  await page.goto(`${proxy.url}/open`);
  await page.getByTestId('link-input').fill(uri);
  await page.getByTestId('link-open').click();
  await page.locator('.opened').waitFor({ timeout: 30_000 });
  const note = await page.getByTestId('shc-unverified').innerText();
  assert.match(note, /signature not verified/);
  const jws = card.verifiableCredential[0];
  const vc = JSON.parse(inflateRawSync(Buffer.from(jws.split('.')[1], 'base64url')).toString('utf8'));
  assert.ok(note.includes(vc.iss), `the note names the issuer: ${note}`);
  assert.deepEqual(await downloads(page), [vc.vc.credentialSubject.fhirBundle]);
  await page.context().close();
  // Garbage is refused in words.
  const bad = await newPage(browser);
  await bad.goto(`${proxy.url}/open`);
  await bad.getByTestId('link-input').fill('shlink:/not-a-payload');
  await bad.getByTestId('link-open').click();
  await bad.getByTestId('error').waitFor();
  await bad.context().close();
});

test('the share page makes a SMART Health Link: kill-the-clipboard resolves it to the exact FHIR, and the server gets neither key, passcode nor record', async () => {
  const page = await newPage(browser);
  await page.goto(`${proxy.url}/`);
  const files = [file('share-bundle.json', bundle), file('share-small.json', small)];
  await page.getByTestId('file-input').setInputFiles(files);
  await page.getByTestId('format-shl').check();
  await page.getByTestId('shl-passcode').fill('river stone 7');
  await page.getByTestId('share-button').click();
  const box = page.getByTestId('share-link');
  await box.waitFor({ timeout: 60_000 });
  const link = await box.inputValue();
  assert.ok(link.startsWith(`${proxy.url}/#shlink:/`), link);
  assert.equal(payload(link).flag, 'P');
  await page.getByTestId('qr-code').waitFor();
  const revoke = await page.getByTestId('revoke-link').getAttribute('href');
  await page.context().close();

  const wrong = await resolveWithPeer(link, { passcode: 'river stone 8' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.remainingAttempts, 9);
  const r = await resolveWithPeer(link, { passcode: 'river stone 7' });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.fhir, [bundle, small]);
  // MedSeal's own viewer opens it too.
  const doctor = await openInApp(link, { passcode: 'river stone 7' });
  assert.deepEqual(await downloads(doctor), [bundle, small]);
  await doctor.context().close();

  const key = keyOf(link);
  for (const rec of received()) {
    assert.ok(!rec.text.includes(key), `the key reached the server in ${rec.where}`);
    assert.ok(!rec.text.includes('Ruelas'), `the record's plaintext reached the server in ${rec.where}`);
    if (rec.text.includes('river stone')) {
      assert.match(rec.where, /^POST \/api\/shl\/[A-Za-z0-9_-]{43}$/, `a passcode reached the server outside a manifest request: ${rec.where}`);
    }
  }
  // The revoke page deletes it: the link answers 404 from then on.
  const owner = await newPage(browser);
  await owner.goto(revoke);
  await owner.getByTestId('revoke-button').click();
  await owner.getByTestId('revoked').waitFor();
  await owner.context().close();
  const gone = await resolveWithPeer(link, { passcode: 'river stone 7' });
  assert.equal(gone.status, 404);
});

test('a file that is not FHIR does not fit a SMART Health Link: the page says so and offers the MedSeal link', async () => {
  const page = await newPage(browser);
  await page.goto(`${proxy.url}/`);
  await page.getByTestId('file-input').setInputFiles([file('notes.txt', 'Seen today for a cough.\n')]);
  await page.getByTestId('format-shl').check();
  await page.getByTestId('share-button').click();
  const notice = page.getByTestId('shl-not-fit');
  await notice.waitFor({ timeout: 30_000 });
  assert.match(await notice.innerText(), /notes\.txt/);
  await page.getByTestId('shl-fallback').click();
  const box = page.getByTestId('share-link');
  await box.waitFor({ timeout: 60_000 });
  assert.match(await box.inputValue(), /\/s\/[A-Za-z0-9_-]+#/);
  await page.context().close();
});

// International Patient Summaries (HL7 fhir-ips examples, CC0; see core/tests/data/ips/SOURCE.md)
// read as documents: each section in the Composition's order with its narrative. What the page
// must show is computed here from the fixture, the narrative's text by the browser's own XML
// parser, so the view is held against a reader that is not MedSeal's.
const ipsDir = path.join(repo, 'core/tests/data/ips');
const ipsFixtures = readdirSync(ipsDir).filter((f) => f.endsWith('.json')).sort();

function composition(doc) {
  return doc.entry.map((e) => e.resource).find((r) => r.resourceType === 'Composition');
}

/** The text a narrative holds, by DOMParser in the page, with all white space removed. */
async function narrativeText(page, div) {
  return page.evaluate((xhtml) => {
    const parsed = new DOMParser().parseFromString(xhtml, 'application/xhtml+xml');
    if (parsed.getElementsByTagName('parsererror').length) throw new Error(`bad XHTML: ${xhtml.slice(0, 80)}`);
    return parsed.documentElement.textContent.replace(/\s+/g, '');
  }, div);
}

/** What each shown section holds: title, narrative text (no white space), entries, empty reason. */
async function shownSections(page) {
  return page.getByTestId('ips-document').evaluate((root) => [...root.querySelectorAll('[data-testid="ips-section"]')].map((s) => {
    const own = (sel) => [...s.querySelectorAll(sel)].filter((el) => el.closest('[data-testid="ips-section"]') === s);
    return {
      title: own('[data-testid="ips-section-title"]')[0]?.textContent ?? null,
      narrative: own('[data-testid="ips-narrative"]').map((n) => n.textContent).join('').replace(/\s+/g, ''),
      entries: own('[data-testid="ips-entry"], [data-testid="ips-absent"]').length,
      emptyReason: own('[data-testid="ips-empty-reason"]')[0]?.textContent ?? null,
    };
  }));
}

test('an International Patient Summary opens as its document: every section in order, with its narrative, entries and empty reason', async () => {
  assert.ok(ipsFixtures.length >= 3, ipsFixtures.join());
  for (const name of ipsFixtures) {
    const doc = JSON.parse(readFileSync(path.join(ipsDir, name), 'utf8'));
    const comp = composition(doc);
    const uri = await peer.createLink({ resources: [doc], label: `IPS ${name}` });
    const page = await openInApp(uri);
    await page.getByTestId('ips-document').waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId('ips-title').innerText(), comp.title, name);
    const shown = await shownSections(page);
    assert.deepEqual(shown.map((s) => s.title), comp.section.map((s) => s.title), `${name}: section titles in order`);
    for (const [i, section] of comp.section.entries()) {
      const expected = section.text?.div ? await narrativeText(page, section.text.div) : '';
      assert.equal(shown[i].narrative, expected, `${name}: narrative of "${section.title}"`);
      assert.equal(shown[i].entries, (section.entry ?? []).length, `${name}: entries of "${section.title}"`);
      assert.equal(shown[i].emptyReason !== null, section.emptyReason !== undefined, `${name}: empty reason of "${section.title}"`);
      if (section.emptyReason) {
        const coding = section.emptyReason.coding?.[0];
        assert.ok(shown[i].emptyReason.length > 0 && shown[i].emptyReason !== coding?.code, `${name}: the empty reason is said in words: ${shown[i].emptyReason}`);
      }
    }
    // The patient named by the Composition's subject is shown.
    const patient = doc.entry.map((e) => e.resource).find((r) => r.resourceType === 'Patient');
    const family = patient?.name?.[0]?.family;
    if (family) assert.ok((await page.getByTestId('ips-subject').innerText()).includes(family), name);
    // The bytes are the fixture's, and the clinician's summary of the entries is one click away.
    assert.deepEqual(await downloads(page), [doc]);
    await page.getByTestId('ips-clinical-summary').locator('summary').click();
    await page.getByTestId('clinical-view').waitFor();
    await page.screenshot({ path: path.join(repo, `target/screenshots/chromium-ips-${name.replace(/\.json$/, '')}.png`), fullPage: true });
    assert.deepEqual(page.problems, []);
    await page.context().close();
  }
});

test('a hostile IPS narrative is inert: no element, attribute, script or style of it reaches the page, its text shows as text', async () => {
  const hostile = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Before<script>window.__pwned = 1</script> middle</p>'
    + '<img src="x" onerror="window.__pwned = 2"/><a href="javascript:window.__pwned = 3">Click here</a>'
    + '<iframe src="https://example.org/"></iframe><style>body { display: none }</style>'
    + '<p onclick="window.__pwned = 4" style="position:fixed;inset:0">After &lt;b&gt;not bold&lt;/b&gt; &lt;img src=x onerror=alert(1)&gt;</p>'
    + '<table><tr><td><svg onload="window.__pwned = 5"><text>svg text</text></svg>Cell</td></tr></table></div>';
  const doc = {
    resourceType: 'Bundle', id: 'hostile', type: 'document', timestamp: '2026-12-08T00:00:00Z',
    identifier: { system: 'urn:oid:2.16.724.4.8.10.200.10', value: 'hostile-1' },
    entry: [
      { fullUrl: 'urn:uuid:c0000000-0000-4000-8000-000000000001', resource: {
        resourceType: 'Composition', id: 'c', status: 'final', date: '2026-12-08T00:00:00Z',
        type: { coding: [{ system: 'http://loinc.org', code: '60591-5' }] },
        subject: { reference: 'urn:uuid:c0000000-0000-4000-8000-000000000002' },
        author: [{ display: '<b onmouseover="window.__pwned = 6">Dr. Evil</b>' }],
        title: 'Summary <img src=x onerror="window.__pwned = 7">',
        text: { status: 'generated', div: hostile },
        section: [{ title: '<script>window.__pwned = 8</script>Allergies', code: { coding: [{ system: 'http://loinc.org', code: '48765-2' }] }, text: { status: 'generated', div: hostile } }],
      } },
      { fullUrl: 'urn:uuid:c0000000-0000-4000-8000-000000000002', resource: { resourceType: 'Patient', id: 'p', name: [{ family: '<i>Ruelas</i>' }] } },
    ],
  };
  const uri = await peer.createLink({ resources: [doc] });
  const page = await openInApp(uri);
  const view = page.getByTestId('ips-document');
  await view.waitFor({ timeout: 30_000 });
  // Hover, click and wait: nothing of the narrative may run.
  const section = page.getByTestId('ips-section').first();
  await section.getByText('Click here').click();
  await section.getByText('Before').hover();
  // The Composition's narrative folds away under the header, and opens.
  await page.getByTestId('ips-document-narrative').locator('summary').click();
  await page.getByTestId('ips-document-narrative').getByText('Click here').click();
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  const found = await view.evaluate((root) => ({
    tags: [...root.querySelectorAll('script, style, img, a, iframe, svg, object, embed, link')].map((e) => e.tagName),
    handlers: [...root.querySelectorAll('*')].flatMap((e) => [...e.attributes].map((a) => a.name)).filter((n) => n.startsWith('on') || n === 'style' || n === 'href' || n === 'src'),
    narrative: [...root.querySelectorAll('[data-testid="ips-narrative"]')].map((n) => n.textContent).join('\n'),
    title: root.querySelector('[data-testid="ips-title"]').textContent,
    section: root.querySelector('[data-testid="ips-section-title"]').textContent,
    subject: root.querySelector('[data-testid="ips-subject"]').textContent,
  }));
  assert.deepEqual(found.tags, [], 'no element of the narrative reaches the page');
  assert.deepEqual(found.handlers, [], 'no attribute of the narrative reaches the page');
  assert.ok(found.narrative.includes('After <b>not bold</b> <img src=x onerror=alert(1)>'), 'escaped markup shows as the text it is');
  assert.ok(found.narrative.includes('Before') && found.narrative.includes('Click here'), found.narrative);
  assert.ok(!found.narrative.includes('__pwned') && !found.narrative.includes('display: none'), 'the content of scripts, styles and svg is not shown');
  // Plain string elements are text too, markup and all.
  assert.equal(found.title, doc.entry[0].resource.title);
  assert.equal(found.section, doc.entry[0].resource.section[0].title);
  assert.ok(found.subject.includes('<i>Ruelas</i>'), found.subject);
  assert.ok(await page.getByText('Cell').first().isVisible());
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
