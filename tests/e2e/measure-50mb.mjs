// Not a test: measures how long sharing and opening a 50 MB file takes in headless Chromium
// (for the record; timings are never asserted). Run: node measure-50mb.mjs
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, newPage, startServer } from './lib.mjs';

const size = Number(process.env.MEDSEAL_MEASURE_MB ?? 50) * 1024 * 1024;
const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'medseal-measure-')), 'big.bin');
writeFileSync(file, randomBytes(size));
const server = await startServer();
const browser = await launchBrowser();
try {
  const patient = await newPage(browser);
  await patient.goto(`${server.url}/`);
  await patient.getByTestId('file-input').setInputFiles(file);
  const t0 = performance.now();
  await patient.getByTestId('share-button').click();
  await patient.getByTestId('share-link').waitFor({ timeout: 600_000 });
  const shareMs = performance.now() - t0;
  const link = await patient.getByTestId('share-link').inputValue();
  const doctor = await newPage(browser);
  const t1 = performance.now();
  await doctor.goto(link);
  await doctor.getByTestId('record-view').waitFor({ timeout: 600_000 });
  const openMs = performance.now() - t1;
  const mb = size / 1e6;
  console.log(`share ${mb.toFixed(1)} MB: ${(shareMs / 1000).toFixed(2)} s (${(mb / (shareMs / 1000)).toFixed(1)} MB/s)`);
  console.log(`open  ${mb.toFixed(1)} MB: ${(openMs / 1000).toFixed(2)} s (${(mb / (openMs / 1000)).toFixed(1)} MB/s)`);
} finally {
  await browser.close();
  await server.stop();
}
