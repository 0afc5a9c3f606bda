// Helpers for the key manager and research study journeys (issue #7): drive the pages by their
// data-testid attributes, read the export zip, and compute what the export must contain
// independently of the app.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { crc32 as zlibCrc32, inflateRawSync } from 'node:zlib';
import { repo } from './lib.mjs';

export const fixtureDir = path.join(repo, 'core/tests/fixtures/synthea-r4');

/** The fixture bundle whose name starts with `prefix`, with its identifiers file. */
export function fixture(prefix) {
  const name = readdirSync(fixtureDir).find((n) => n.startsWith(prefix) && n.endsWith('.json') && !n.endsWith('.identifiers.json'));
  const file = path.join(fixtureDir, name);
  return {
    file,
    bundle: JSON.parse(readFileSync(file, 'utf8')),
    ids: JSON.parse(readFileSync(file.replace(/\.json$/, '.identifiers.json'), 'utf8')),
  };
}

/** Creates a key pair on the key page and returns its fingerprint (base64url). */
export async function createKey(page, baseUrl, { label = 'Research key', passphrase }) {
  await page.goto(`${baseUrl}/keys`);
  const before = await page.getByTestId('key-card').count();
  await page.getByTestId('key-label').fill(label);
  await page.getByTestId('key-passphrase').fill(passphrase);
  await page.getByTestId('key-passphrase-confirm').fill(passphrase);
  await page.getByTestId('key-create').click();
  await page.getByTestId('key-card').nth(before).waitFor({ timeout: 180_000 });
  return page.getByTestId('key-card').nth(before).getAttribute('data-fingerprint');
}

/** Unlocks the (first offered) key with its passphrase in a KeyUnlock form. */
export async function unlockKey(page, passphrase, scope = page) {
  await scope.getByTestId('unlock-passphrase').first().fill(passphrase);
  await scope.getByTestId('unlock-button').first().click();
}

/** Creates and publishes a study; returns the contribution link and the admin link. */
export async function createStudy(page, baseUrl, { passphrase, title, purpose, institution, contact, k = 5, freeText }) {
  await page.goto(`${baseUrl}/study/new`);
  await unlockKey(page, passphrase);
  await page.getByTestId('key-unlocked').waitFor({ timeout: 60_000 });
  await page.getByTestId('study-title').fill(title);
  await page.getByTestId('study-purpose').fill(purpose);
  await page.getByTestId('study-institution-input').fill(institution);
  await page.getByTestId('study-contact-input').fill(contact);
  await page.getByTestId('study-k-input').fill(String(k));
  if (freeText) await page.getByTestId('policy-free-text').selectOption(freeText);
  await page.getByTestId('study-create').click();
  await page.getByTestId('contribution-link').waitFor({ timeout: 60_000 });
  return {
    contributionLink: await page.getByTestId('contribution-link').inputValue(),
    adminLink: await page.getByTestId('admin-link').getAttribute('href'),
  };
}

/** Contributes files through a contribution link; returns the withdraw link. */
export async function contribute(page, link, files) {
  // From the same link's page, only the fragment would change and nothing would reload.
  await page.goto('about:blank');
  await page.goto(link);
  await page.getByTestId('study-verified').waitFor({ timeout: 60_000 });
  await page.getByTestId('file-input').setInputFiles(files);
  await page.getByTestId('masked-preview-section').waitFor({ timeout: 120_000 });
  await page.getByTestId('mask-diff').first().waitFor({ timeout: 10_000 });
  await page.getByTestId('consent').check();
  await page.getByTestId('contribute-button').click();
  const box = page.getByTestId('withdraw-link');
  await box.waitFor({ timeout: 120_000 });
  return box.inputValue();
}

/** The entries of a zip of stored (uncompressed) entries, as written by medseal-core. */
export function readZip(bytes) {
  // Through the central directory (the end record is the last 22 bytes: no comment), so that
  // data descriptors, deflate and ZIP64 (the CLI's export) read as well as stored entries (the
  // browser's); each entry's CRC-32 is checked with zlib's.
  const entries = new Map();
  const end = bytes.length - 22;
  if (bytes.readUInt32LE(end) !== 0x06054b50) throw new Error('no end of central directory record');
  let count = bytes.readUInt16LE(end + 10);
  let at = bytes.readUInt32LE(end + 16);
  if (count === 0xffff || at === 0xffffffff) {
    const record = Number(bytes.readBigUInt64LE(end - 20 + 8));
    if (bytes.readUInt32LE(record) !== 0x06064b50) throw new Error('no ZIP64 end record');
    count = Number(bytes.readBigUInt64LE(record + 32));
    at = Number(bytes.readBigUInt64LE(record + 48));
  }
  for (let i = 0; i < count; i++) {
    if (bytes.readUInt32LE(at) !== 0x02014b50) throw new Error(`bad central directory entry ${i}`);
    const method = bytes.readUInt16LE(at + 10);
    const crc = bytes.readUInt32LE(at + 16);
    const fields = [bytes.readUInt32LE(at + 24), bytes.readUInt32LE(at + 20), bytes.readUInt32LE(at + 42)];
    const nameLen = bytes.readUInt16LE(at + 28);
    const extraLen = bytes.readUInt16LE(at + 30);
    const commentLen = bytes.readUInt16LE(at + 32);
    const name = bytes.subarray(at + 46, at + 46 + nameLen).toString('utf8');
    for (let x = at + 46 + nameLen; x + 4 <= at + 46 + nameLen + extraLen;) {
      const [id, len] = [bytes.readUInt16LE(x), bytes.readUInt16LE(x + 2)];
      if (id === 1) {
        let f = x + 4;
        for (let k = 0; k < 3; k++) if (fields[k] === 0xffffffff) { fields[k] = Number(bytes.readBigUInt64LE(f)); f += 8; }
      }
      x += 4 + len;
    }
    const [size, compressed, offset] = fields;
    const start = offset + 30 + bytes.readUInt16LE(offset + 26) + bytes.readUInt16LE(offset + 28);
    const body = bytes.subarray(start, start + compressed);
    const data = method === 0 ? body : method === 8 ? inflateRawSync(body) : null;
    if (data === null) throw new Error(`${name}: method ${method}`);
    if (data.length !== size || (zlibCrc32(data) >>> 0) !== crc) throw new Error(`${name}: size or CRC does not match`);
    entries.set(name, data);
    at += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

const LOW_POPULATION_ZIP3 = ['036', '059', '063', '102', '203', '556', '692', '790', '821', '823', '830', '831', '878', '879', '884', '890', '893'];

/** Birth year, sex and ZIP prefix of a fixture's patient, computed from the original record. */
export function quasiIdentifiers(f) {
  const patient = f.bundle.entry.map((e) => e.resource).find((r) => r.resourceType === 'Patient');
  const over89 = f.ids.patients?.[0]?.age_over_89_at_extraction;
  const zip = patient.address?.[0]?.postalCode?.slice(0, 3);
  return {
    birth_year: over89 ? '90 or older' : patient.birthDate.slice(0, 4),
    sex: patient.gender,
    zip3: zip ? (LOW_POPULATION_ZIP3.includes(zip) ? '000' : zip) : 'unknown',
  };
}

/** Groups of patients under k, computed independently of the app. */
export function groupsUnderK(fixtures, k) {
  const groups = new Map();
  for (const f of fixtures) {
    const q = quasiIdentifiers(f);
    const key = `${q.birth_year}|${q.sex}|${q.zip3}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  const under = [...groups.entries()].filter(([, n]) => n < k);
  return { groups: groups.size, under: under.length, patientsUnder: under.reduce((s, [, n]) => s + n, 0) };
}

/** Every file under a folder, with its bytes. */
export function filesUnder(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push({ path: p, bytes: readFileSync(p) });
  }
  return out;
}

/** The (system, code) pairs of a resource type's main code in a list of resources. */
export function codesOf(resources, type, field = 'code') {
  const out = new Set();
  for (const r of resources) {
    if (r.resourceType !== type) continue;
    for (const c of r[field]?.coding ?? []) out.add(`${c.system}|${c.code}`);
  }
  return out;
}

/** SHA-256 fingerprint (base64url) of a DER SubjectPublicKeyInfo. */
export function fingerprintOf(spkiDer) {
  return createHash('sha256').update(spkiDer).digest('base64url');
}

/** Opens the admin page, unlocks the key, decrypts the bundle and returns the export's entries. */
export async function exportStudy(page, adminLink, passphrase) {
  // From the same link's page, a goto would only be a fragment navigation and keep its state.
  await page.goto('about:blank');
  await page.goto(adminLink);
  await page.getByTestId('contribution-count').waitFor({ timeout: 30_000 });
  await page.getByTestId('unlock-passphrase').fill(passphrase);
  await page.getByTestId('unlock-button').click();
  await page.getByTestId('download-bundle').click();
  await page.getByTestId('export-ready').waitFor({ timeout: 180_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('bundle-export').click()]);
  return readZip(readFileSync(await download.path()));
}

/** The resources of one NDJSON file of an export. */
export function ndjson(zip, type) {
  return (zip.get(`fhir/${type}.ndjson`) ?? Buffer.alloc(0)).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
