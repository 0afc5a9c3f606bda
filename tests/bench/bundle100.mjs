// The research bundle benchmark (issue #7's closing note): the time and peak memory to decrypt
// and export a bundle of 100 contributions in the browser and with the CLI, on the same bundle
// in the same run.
//
// The researcher's key is made by `medseal keygen`, published over HTTP and imported into the
// browser's key manager (the admin page needs it in IndexedDB); the study is created on the real
// study page. 100 contributions come from `medseal contribute` (the same masking, metadata and
// upload as the contribution page): the 10 largest Synthea fixtures, each under 10 patient
// secrets, so 100 different patients. Then (a) the admin page decrypts and exports the bundle
// (tests/e2e/study-lib.mjs exportStudy: open the page, unlock the key, download, decrypt,
// export, save), sampling Chromium's memory from /proc, and (b) `medseal bundle --server` does
// the same under /usr/bin/time -v. --quick uses 10 contributions.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { newPage } from '../e2e/lib.mjs';
import { createStudy, exportStudy, fixtureDir, readZip } from '../e2e/study-lib.mjs';

const PASSPHRASE = 'bench passphrase for the study key';

/** Runs a command; resolves with its output, rejects with its stderr on failure. */
function run(cmd, args, { env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) resolve({ stdout, stderr, pid: child.pid });
      else reject(new Error(`${path.basename(cmd)} ${args.slice(0, 2).join(' ')} exited ${code}:\n${stderr.slice(-2000)}`));
    });
  });
}

function rss(pid, field) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch { return 0; }
}

function cmdline(pid) {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { return ''; }
}

/** The process and all its descendants. */
function tree(root) {
  const parent = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [p, pp] of parent) if (out.has(pp) && !out.has(p)) { out.add(p); grew = true; }
  }
  return [...out];
}

/** Samples the resident memory of the Chromium that this process launched: its renderer
 * processes (pages and their workers) and all its processes. */
function chromiumSampler(everyMs = 50) {
  const browser = tree(process.pid).find((p) => p !== process.pid && /chrom/.test(cmdline(p)) && !cmdline(p).includes('--type='));
  if (!browser) throw new Error('the Chromium browser process was not found');
  const sample = () => {
    let renderer = 0;
    let total = 0;
    for (const pid of tree(browser)) {
      const r = rss(pid, 'VmRSS');
      total += r;
      if (cmdline(pid).includes('--type=renderer')) renderer += r;
    }
    return { renderer, total };
  };
  const baseline = sample();
  const peak = { ...baseline };
  const timer = setInterval(() => {
    const s = sample();
    peak.renderer = Math.max(peak.renderer, s.renderer);
    peak.total = Math.max(peak.total, s.total);
  }, everyMs);
  return { baseline, stop() { clearInterval(timer); return peak; } };
}

/** Runs `cmd args` under /usr/bin/time -v: wall time in seconds and peak RSS in bytes. Without
 * /usr/bin/time, samples VmHWM every 10 ms (a lower bound). */
async function measured(cmd, args, env) {
  const started = process.hrtime.bigint();
  if (existsSync('/usr/bin/time')) {
    const { stderr } = await run('/usr/bin/time', ['-v', cmd, ...args], { env });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const kib = Number(stderr.match(/Maximum resident set size \(kbytes\): (\d+)/)?.[1] ?? NaN);
    return { seconds, peak: kib * 1024, how: 'maximum resident set size from /usr/bin/time -v', stderr };
  }
  let peak = 0;
  const child = run(cmd, args, { env });
  const timer = setInterval(() => {
    for (const pid of tree(process.pid)) if (cmdline(pid).startsWith(cmd)) peak = Math.max(peak, rss(pid, 'VmHWM'));
  }, 10);
  try {
    const { stderr } = await child;
    return { seconds: Number(process.hrtime.bigint() - started) / 1e9, peak, how: 'VmHWM sampled every 10 ms (lower bound)', stderr };
  } finally { clearInterval(timer); }
}

/** The ten largest Synthea fixtures. */
function fixtures() {
  return readdirSync(fixtureDir)
    .filter((n) => n.endsWith('.json') && !n.endsWith('.identifiers.json'))
    .map((n) => path.join(fixtureDir, n))
    .sort((a, b) => statSync(b).size - statSync(a).size || a.localeCompare(b))
    .slice(0, 10);
}

function duSync(dir) {
  let total = 0;
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const p = path.join(dir, name);
    const s = statSync(p);
    total += s.isDirectory() ? duSync(p) : s.size;
  }
  return total;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };

/** Entries of two exports that differ, the manifest (its export time) aside. */
function differences(a, b) {
  const names = new Set([...a.keys(), ...b.keys()]);
  return [...names].filter((n) => n !== 'manifest.json' && !(a.has(n) && b.has(n) && a.get(n).equals(b.get(n)))).sort();
}

export async function benchBundle100({ browser, serverUrl, serverDataDir, medsealBin, record, quick }) {
  const count = quick ? 10 : 100;
  const files = fixtures();
  if (files.length < 10) throw new Error(`only ${files.length} fixtures in ${fixtureDir}`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'medseal-bundle100-'));
  const page = await newPage(browser);
  try {
    // The researcher: a key from the CLI, published, imported into the browser.
    const keyFile = path.join(tmp, 'researcher.pem');
    await run(medsealBin, ['keygen', '-o', keyFile]);
    const put = await fetch(`${serverUrl}/api/keys`, { method: 'PUT', body: readFileSync(path.join(tmp, 'researcher.pub.pem')) });
    if (!put.ok) throw new Error(`publishing the key: HTTP ${put.status} ${await put.text()}`);
    await page.goto(`${serverUrl}/keys`);
    await page.getByTestId('import-key-file').setInputFiles({ name: 'researcher.pem', mimeType: 'application/x-pem-file', buffer: readFileSync(keyFile) });
    await page.getByTestId('import-passphrase').fill(PASSPHRASE);
    await page.getByTestId('import-key').click();
    await page.getByTestId('key-card').first().waitFor({ timeout: 60_000 });
    const { contributionLink, adminLink } = await createStudy(page, serverUrl, {
      passphrase: PASSPHRASE,
      title: 'Bundle benchmark',
      purpose: `Measure the export of ${count} contributions.`,
      institution: 'MedSeal bench',
      contact: 'bench@example.org',
      k: 5,
    });
    const admin = new URL(adminLink, serverUrl);
    const sid = admin.pathname.split('/').pop();
    const tokenFile = path.join(tmp, 'admin-token');
    writeFileSync(tokenFile, `${admin.hash.slice(1)}\n`, { mode: 0o600 });

    // The patients: every fixture under ten secrets, through `medseal contribute`.
    const contributeTimes = [];
    for (let i = 0; i < count; i++) {
      const t = process.hrtime.bigint();
      await run(medsealBin, ['contribute', contributionLink, files[i % files.length], '--secret-file', path.join(tmp, `patient-${i}.secret`)]);
      contributeTimes.push(Number(process.hrtime.bigint() - t) / 1e9);
    }
    const listed = await (await fetch(`${serverUrl}/api/studies/${sid}/contributions`, { headers: { authorization: `Bearer ${admin.hash.slice(1)}` } })).json();
    if (listed.length !== count) throw new Error(`the server lists ${listed.length} contributions, not ${count}`);
    const bundleBytes = listed.reduce((s, c) => s + c.size, 0);
    const onDisk = duSync(path.join(serverDataDir, 'objects', 'studies', sid));
    let inputBytes = 0;
    for (let i = 0; i < count; i++) inputBytes += statSync(files[i % files.length]).size;
    const what = `${count} contributions (${files.length} Synthea fixtures x ${count / files.length} patients, ${(inputBytes / 1e6).toFixed(1)} MB of FHIR JSON), ${(bundleBytes / 1e6).toFixed(1)} MB of ciphertext (${(onDisk / 1e6).toFixed(1)} MB on the server's disk)`;
    record('bundle100_cli_contribute_median', median(contributeTimes), 's', null, null, `one \`medseal contribute\` of one fixture: fetch and verify the study, mask, seal, upload; median of ${count}`);

    // (a) The browser: the admin page downloads, decrypts and exports in its worker.
    const sampler = chromiumSampler();
    const t0 = process.hrtime.bigint();
    const browserZip = await exportStudy(page, admin.href, PASSPHRASE);
    const browserSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const peak = sampler.stop();
    const browserReport = JSON.parse(browserZip.get('risk-report.json').toString('utf8'));
    if (browserReport.patients !== count) throw new Error(`the browser's export counts ${browserReport.patients} patients, not ${count}`);
    record('bundle100_browser', browserSeconds, 's', null, null,
      `${what}; exportStudy on the admin page: open it, unlock the key (Argon2id), download, decrypt, export, save the zip`);
    record('bundle100_browser_peak_memory', peak.renderer - sampler.baseline.renderer, 'bytes', 'bundle_size', bundleBytes,
      `growth of Chromium's renderer processes (the admin page and its worker) over the same tab at rest just before (${(sampler.baseline.renderer / 1e6).toFixed(0)} MB), sampled every 50 ms`);
    record('bundle100_browser_peak_memory_all_processes', peak.total - sampler.baseline.total, 'bytes', 'bundle_size', bundleBytes,
      'the same over every Chromium process (the browser process holds the saved zip)');

    // (b) The CLI: the same bundle through `medseal bundle --server`.
    const out = path.join(tmp, 'export.zip');
    const cli = await measured(medsealBin, ['bundle', '--server', serverUrl, '--study', sid, '--admin-token-file', tokenFile, '-i', keyFile, '-o', out]);
    if (!Number.isFinite(cli.peak)) throw new Error(`no peak memory in:\n${cli.stderr.slice(-2000)}`);
    const cliZip = readZip(readFileSync(out));
    const differ = differences(browserZip, cliZip);
    const same = differ.length === 0 ? 'the two exports are identical but for the manifest\'s export time' : `the exports differ in ${differ.slice(0, 5).join(', ')}${differ.length > 5 ? ', ...' : ''}`;
    record('bundle100_cli', cli.seconds, 's', 'bundle100_browser', browserSeconds,
      `${what}; medseal bundle --server: fetch and verify the study, download, decrypt, export, write the zip (${(statSync(out).size / 1e6).toFixed(1)} MB); ${same}`);
    record('bundle100_cli_peak_memory', cli.peak, 'bytes', 'bundle_size', bundleBytes, cli.how);

    await benchBundle10k({ tmp, keyFile, medsealBin, record, quick });
  } finally {
    await page.context().close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The 22-character base64url id of contribution `i`. */
function contributionId(i) {
  return Buffer.from(`c${String(i).padStart(15, '0')}`).toString('base64url').slice(0, 22).padEnd(22, 'A');
}

/**
 * `bundle10k_cli`: `medseal bundle` over a bundle file of 10,000 small contributions (1,000 with
 * --quick). Fifty small records (a Patient and five Observations each) are sealed to the
 * researcher's key by `medseal encrypt`; the bundle repeats their containers under 10,000
 * different contribution ids, in the server's framing (FORMAT.md, Bundles), so the CLI opens
 * and exports 10,000 contributions (of 50 patients) as the server would hand them over.
 */
export async function benchBundle10k({ tmp, keyFile, medsealBin, record, quick }) {
  const count = quick ? 1_000 : 10_000;
  const sealed = [];
  for (let i = 0; i < 50; i++) {
    const patient = `bench-${i}`;
    const entry = [{ resource: { resourceType: 'Patient', id: patient, gender: i % 2 ? 'male' : 'female', birthDate: `${1950 + i}`, address: [{ postalCode: `0${i % 10}1`, country: 'US' }] } }];
    for (let j = 0; j < 5; j++) {
      entry.push({ resource: { resourceType: 'Observation', id: `o${i}-${j}`, status: 'final', subject: { reference: `Patient/${patient}` },
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
        effectiveDateTime: `${2010 + j}`, valueQuantity: { value: 60 + i + j, unit: '/min' } } });
    }
    const file = path.join(tmp, `small-${i}.json`);
    writeFileSync(file, JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry }));
    await run(medsealBin, ['encrypt', file, '-r', path.join(tmp, 'researcher.pub.pem'), '-o', `${file}.msl`]);
    sealed.push(readFileSync(`${file}.msl`));
  }
  const parts = [Buffer.from('MEDSEAL-BUNDLE1\n'), Buffer.alloc(4)];
  parts[1].writeUInt32BE(count);
  let ciphertext = 0;
  for (let i = 0; i < count; i++) {
    const id = Buffer.from(contributionId(i));
    const head = Buffer.alloc(1 + id.length + 16);
    head.writeUInt8(id.length, 0);
    id.copy(head, 1);
    head.writeBigUInt64BE(BigInt(1_700_000_000 + i), 1 + id.length);
    const c = sealed[i % sealed.length];
    head.writeBigUInt64BE(BigInt(c.length), 9 + id.length);
    parts.push(head, c);
    ciphertext += c.length;
  }
  parts.push(Buffer.from([0]));
  const bundleFile = path.join(tmp, 'bundle10k.bundle');
  writeFileSync(bundleFile, Buffer.concat(parts));
  const bundleBytes = statSync(bundleFile).size;
  const out = path.join(tmp, 'export10k.zip');
  const cli = await measured(medsealBin, ['bundle', bundleFile, '-i', keyFile, '-o', out, '--k', '5']);
  const zip = readZip(readFileSync(out));
  const manifest = JSON.parse(zip.get('manifest.json').toString('utf8'));
  const exported = manifest.extension['https://medseal.org/export'].contributions.length;
  if (exported !== count) throw new Error(`the export lists ${exported} contributions, not ${count}`);
  const what = `${count} contributions of ${(ciphertext / count / 1e3).toFixed(1)} kB (50 small records sealed by medseal encrypt, repeated under ${count} ids), a ${(bundleBytes / 1e6).toFixed(1)} MB bundle file`;
  record('bundle10k_cli', cli.seconds, 's', null, null, `${what}; medseal bundle FILE: decrypt, export, write the zip (${(statSync(out).size / 1e6).toFixed(1)} MB, deflated)`);
  record('bundle10k_cli_peak_memory', cli.peak, 'bytes', 'bundle_size', bundleBytes, cli.how);
}
