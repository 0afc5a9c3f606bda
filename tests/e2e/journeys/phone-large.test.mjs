// A phone's tab holds little: a 200 MB file shares and opens in WebKit (the engine of every
// iPhone browser) at a phone-sized window, byte for byte (issue 17). Defined for WebKit only:
// the other engines' large-file path is `large.test.mjs` (Chromium) and `cargo xtask bench`
// (browser_peak_memory_1gib).
//
// The page's memory is the resident set of the WebKitWebProcess that runs the page and its
// workers, sampled from /proc every 100 ms: at rest, and at its peak while sharing and while
// opening (WebKit keeps Blob data in its network process, printed beside it). At rest it is
// already about 240 MB (WebKit's own libraries), so the bound is on what the work adds.
// Sharing adds under 256 MiB, and the test holds it: about 190 MB on 2026-12-07, since the
// worker reads a File as streams over 16 MiB windows (WebKit read one stream over a whole File
// ahead of its reader) and uploads parts from plain arrays. Opening is printed, not yet bounded:
// where the origin's private file system opens, the worker writes the opened file there
// (frontend/src/opfs.rs, proved in Chromium and Firefox by journeys/share.test.mjs), but
// WebKitWebDriver's sessions are ephemeral and refuse it, so here the file is collected in Blobs
// and opening adds 330-530 MB (the Blob data itself sits in the network process, printed beside).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { engine, startApp, startEngine } from '../wd/app.mjs';

const MiB = 1024 * 1024;
const SIZE = 200 * 1000 * 1000;
const BOUND = 256 * MiB;
const T = `[${engine}]`;

/** Writes `bytes` random bytes to `file`; returns the SHA-256 of each 1 MiB slice, in order. */
async function writeFile(file, bytes) {
  const out = createWriteStream(file);
  const slices = [];
  const block = randomBytes(MiB);
  for (let at = 0; at < bytes; at += MiB) {
    block.writeUInt32BE(at / MiB, 0);
    const piece = Buffer.from(block.subarray(0, Math.min(MiB, bytes - at)));
    slices.push(createHash('sha256').update(piece).digest('hex'));
    if (!out.write(piece)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
  return slices;
}

/** Process ids under `root` (its children, their children, ...), with their command names. */
function descendants(root) {
  const parent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      parent.set(Number(name), { ppid, comm });
    } catch { /* gone */ }
  }
  const out = [];
  for (const [pid, { comm }] of parent) {
    for (let p = parent.get(pid)?.ppid; p; p = parent.get(p)?.ppid) {
      if (p === root) { out.push({ pid, comm }); break; }
    }
  }
  return out;
}

function rss(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch { return 0; }
}

/**
 * Samples the peak resident memory of the web and network processes started for this test's
 * sessions (descendants of this node process) until `stop()`. WebKit names its processes
 * WebKitWebProcess and WebKitNetworkProcess (`comm` holds the first 15 characters).
 */
function sampler() {
  const peak = { web: 0, network: 0 };
  const tick = () => {
    let web = 0;
    let network = 0;
    for (const { pid, comm } of descendants(process.pid)) {
      if (comm.startsWith('WebKitWebProces')) web = Math.max(web, rss(pid));
      else if (comm.startsWith('WebKitNetworkPr')) network = Math.max(network, rss(pid));
    }
    peak.web = Math.max(peak.web, web);
    peak.network = Math.max(peak.network, network);
  };
  const timer = setInterval(tick, 100);
  tick();
  return { peak, stop() { clearInterval(timer); tick(); return peak; } };
}

const mb = (n) => `${(n / 1e6).toFixed(0)} MB`;

if (engine === 'webkit') {
  const work = mkdtempSync(path.join(os.tmpdir(), 'medseal-phone-large-'));
  let app, browser;
  before(async () => {
    app = await startApp(['--max-object-size', String(512 * MiB), '--rate-limit', '10000', '--rate-burst', '10000']);
    browser = await startEngine();
  });
  after(async () => {
    await browser?.stop();
    await app?.stop();
    rmSync(work, { recursive: true, force: true });
  }, { timeout: 120_000 });

  test(`${T} a 200 MB file shares and opens at a phone-sized window, byte for byte, sharing adding under 256 MiB to the page`, { timeout: 900_000 }, async () => {
    const file = path.join(work, 'ultrasound-video.bin');
    const slices = await writeFile(file, SIZE);
    const phone = { width: 390, height: 844 };

    // Each session is its own MiniBrowser: the patient's page is measured while it shares.
    const patient = await browser.newPage({ viewport: phone });
    await patient.goto(`${app.url}/`);
    await patient.byTestId('file-input').waitFor({ visible: false });
    assert.deepEqual(await patient.evaluate(() => [innerWidth, innerHeight]), [phone.width, phone.height], 'the viewport is phone-sized');
    const rest = sampler().stop();
    const sharing = sampler();
    await patient.byTestId('file-input').setFiles(file);
    await patient.byTestId('share-button').click();
    await patient.byTestId('share-link').waitFor({ timeout: 600_000 });
    const shared = sharing.stop();
    const link = await patient.byTestId('share-link').value();
    assert.deepEqual(await patient.allProblems(), []);
    await patient.close();

    // The doctor's page is measured while it opens the file and hands it over as a download;
    // the bytes are then checked slice by slice inside the page (1 MiB at a time, so the check
    // itself adds little), after the measurement stops.
    const doctor = await browser.newPage({ viewport: phone });
    const opening = sampler();
    await doctor.goto(link);
    const button = doctor.byTestId('download-original');
    await button.waitFor({ timeout: 600_000 });
    assert.equal(await doctor.byTestId('file-name').text(), 'ultrasound-video.bin');
    const { href } = await doctor.downloadUrl(button);
    const opened = opening.stop();
    console.log(`# ${engine}: page at rest ${mb(rest.web)}; 200 MB share: page peak ${mb(shared.web)} (+${mb(shared.web - rest.web)}; network process ${mb(shared.network)}); open: page peak ${mb(opened.web)} (+${mb(opened.web - rest.web)}; network process ${mb(opened.network)})`);
    const got = await doctor.evaluateAsync(async (url, mib) => {
      const blob = window.__medsealBlobs?.get(url);
      if (!blob) throw new Error(`no Blob is known for ${url}`);
      const out = [];
      for (let at = 0; at < blob.size; at += mib) {
        const digest = await crypto.subtle.digest('SHA-256', await blob.slice(at, at + mib).arrayBuffer());
        out.push([...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join(''));
      }
      return { size: blob.size, slices: out };
    }, href, MiB);
    assert.equal(got.size, SIZE, 'the opened file has the shared size');
    assert.ok(got.slices.length === slices.length && got.slices.every((h, i) => h === slices[i]), 'the opened file is the shared one, byte for byte');
    assert.deepEqual(await doctor.allProblems(), []);

    assert.ok(rest.web > 0 && shared.web > 0 && opened.web > 0, 'the page processes were found and measured');
    assert.ok(shared.web - rest.web < BOUND, `sharing 200 MB added under 256 MiB to the page (${mb(shared.web - rest.web)})`);
  });
}
