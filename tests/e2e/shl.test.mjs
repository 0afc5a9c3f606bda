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

import { repo, startServer } from './lib.mjs';
import { fixture } from './study-lib.mjs';
import { startPeerHost, resolveWithPeer } from './shl-peer.mjs';

const run = promisify(execFile);
const cli = process.env.MEDSEAL_CLI_BIN ?? path.join(repo, 'target/debug/medseal');
const work = mkdtempSync(path.join(os.tmpdir(), 'medseal-shl-'));
let server;
let peer;

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
});

after(async () => {
  await server?.stop();
  await peer?.close();
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
