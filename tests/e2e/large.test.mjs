// A large file streams end to end: the patient's worker reads it in slices, seals it chunk by
// chunk and uploads parts as they are ready; the doctor's worker reads the download as a stream,
// opens it chunk by chunk into Blobs, and "Download original" gives back the same bytes.
//
// 64 MiB by default so `cargo xtask test` stays fast; MEDSEAL_LARGE_TESTS=1 uses 1 GiB (the
// size issue #8 asks for; `cargo xtask bench` reports the browser's peak memory for it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, launchBrowser, newPage } from './lib.mjs';

const MiB = 1024 * 1024;
const large = process.env.MEDSEAL_LARGE_TESTS === '1';
const size = large ? 1024 * MiB : 64 * MiB;
// Generous bounds so a slow, shared machine never fails the test; these are not timings.
const timeout = large ? 900_000 : 240_000;

async function writeFile(file, bytes) {
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  const block = randomBytes(MiB);
  for (let at = 0; at < bytes; at += MiB) {
    block.writeUInt32BE(at / MiB, 0);
    const piece = Buffer.from(block.subarray(0, Math.min(MiB, bytes - at)));
    hash.update(piece);
    if (!out.write(piece)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
  return hash.digest('hex');
}

async function hashFile(file) {
  const hash = createHash('sha256');
  for await (const piece of createReadStream(file)) hash.update(piece);
  return hash.digest('hex');
}

test(`a ${size / MiB} MiB file is shared and opened through the streaming path, byte for byte`, { timeout }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medseal-large-'));
  const server = await startServer(['--max-object-size', String(2048 * MiB), '--rate-limit', '10000', '--rate-burst', '10000']);
  const browser = await launchBrowser();
  try {
    const file = path.join(dir, 'scan-archive.bin');
    const digest = await writeFile(file, size);

    const patient = await newPage(browser);
    await patient.goto(`${server.url}/`);
    await patient.getByTestId('file-input').setInputFiles(file);
    await patient.getByTestId('share-button').click();
    await patient.getByTestId('progress').waitFor({ timeout: 30_000 });
    const linkBox = patient.getByTestId('share-link');
    await linkBox.waitFor({ timeout });
    const link = await linkBox.inputValue();
    assert.deepEqual(patient.problems, []);

    const doctor = await newPage(browser);
    await doctor.goto(link);
    const button = doctor.getByTestId('download-original');
    await button.waitFor({ timeout });
    assert.equal(await doctor.getByTestId('file-name').textContent(), 'scan-archive.bin');
    const [download] = await Promise.all([doctor.waitForEvent('download', { timeout }), button.click()]);
    const saved = await download.path();
    assert.equal(statSync(saved).size, size);
    assert.equal(await hashFile(saved), digest, 'the opened file differs from the shared one');
    assert.deepEqual(doctor.problems, []);
  } finally {
    await browser.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
