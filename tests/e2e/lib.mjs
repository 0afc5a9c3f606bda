// Shared fixtures for the end-to-end tests: the real server binary, a recording proxy in front
// of it, and Debian's Chromium driven by playwright-core (which downloads no browser).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');

export const serverBin = process.env.MEDSEAL_SERVER_BIN ?? path.join(repo, 'target/debug/medseal-server');
export const distDir = process.env.MEDSEAL_DIST ?? path.join(repo, 'dist');
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Starts the real server on a free port with a fresh data folder. */
export async function startServer(extraArgs = [], env = {}) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'medseal-e2e-'));
  const proc = spawn(serverBin, ['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--static-dir', distDir, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', ...env },
  });
  let logs = '';
  proc.stderr.on('data', (d) => { logs += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${out}\n${logs}`)), 30_000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/MedSeal listening on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); resolve(m[1].replace(/\/$/, '')); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}):\n${out}\n${logs}`)); });
  });
  return {
    url,
    dataDir,
    logs: () => logs,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A proxy between the browser and the server that records everything the server receives:
 * method, URL, headers and the whole body of every request.
 */
export async function startRecordingProxy(targetUrl) {
  const target = new URL(targetUrl);
  const records = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      records.push({ method: req.method, url: req.url, headers: { ...req.headers }, body });
      const upstream = http.request(
        { hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (up) => { res.writeHead(up.statusCode, up.headers); up.pipe(res); },
      );
      upstream.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
      upstream.end(body);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    records,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

/** Debian's Chromium, headless, with the flags a root sandbox-less machine needs. */
export async function launchBrowser({ extraArgs = [] } = {}) {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage', ...extraArgs,
    ],
  });
}

/** A fresh browser context (its own cookies, storage and cache) with page errors collected. */
export async function newPage(browser, { viewport } = {}) {
  const context = await browser.newContext({ acceptDownloads: true, viewport });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  return page;
}

/** Shares files through the patient's page and returns the link and the revoke link. */
export async function shareFiles(page, baseUrl, files, { expiry, maxDownloads, password } = {}) {
  await page.goto(`${baseUrl}/`);
  await page.getByTestId('file-input').setInputFiles(files);
  if (expiry) await page.getByTestId('expiry').selectOption(String(expiry));
  if (maxDownloads) await page.getByTestId('max-downloads').selectOption(String(maxDownloads));
  if (password) await page.getByTestId('password').fill(password);
  await page.getByTestId('share-button').click();
  const linkBox = page.getByTestId('share-link');
  await linkBox.waitFor({ timeout: 60_000 });
  const link = await linkBox.inputValue();
  const revokeLink = await page.getByTestId('revoke-link').getAttribute('href');
  return { link, revokeLink };
}

/** Clicks "Download original" and returns the downloaded bytes and suggested name. */
export async function downloadOriginal(page, locator = page.getByTestId('download-original')) {
  const [download] = await Promise.all([page.waitForEvent('download'), locator.first().click()]);
  const file = await download.path();
  const { readFileSync } = await import('node:fs');
  return { bytes: readFileSync(file), name: download.suggestedFilename() };
}
