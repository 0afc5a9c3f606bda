// A CPU profile of MedSeal's worker while it seals and opens a file in headless Chromium: where
// the browser path spends its time (issue #8). Not a test and not part of `cargo xtask bench`'s
// figures; run it after `cargo xtask build`:
//
//   node --experimental-websocket tests/bench/profile-worker.mjs [--size MiB] [--out DIR]
//
// It starts the release server, opens the app, runs one `seal` and one `open` request in a
// fresh worker with the V8 sampling profiler on (Chrome DevTools Protocol, attached to the
// worker), writes each profile as a .cpuprofile (loadable in Chrome DevTools) and prints the
// functions with the most self time, and the time by category (WebAssembly, the page's glue,
// the browser's built-ins, idle).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from '../e2e/node_modules/playwright-core/index.mjs';
import { repo } from '../e2e/lib.mjs';

const args = process.argv.slice(2);
const arg = (name, fallback) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : fallback; };
const sizeMiB = Number(arg('--size', '64'));
const outDir = arg('--out', path.join(repo, 'target/bench/profile'));
const serverBin = process.env.MEDSEAL_SERVER_BIN ?? path.join(repo, 'target/release/medseal-server');
const distDir = process.env.MEDSEAL_DIST ?? path.join(repo, 'dist');
const port = 9200 + Math.floor(Math.random() * 700);

async function startServer() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'medseal-profile-'));
  const proc = spawn(serverBin, ['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--static-dir', distDir,
    '--max-object-size', String(4096 * 1024 * 1024)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => { out += d; const m = out.match(/http:\/\/[0-9.:]+/); if (m) resolve(m[0]); });
    proc.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  return { url, stop: () => proc.kill('SIGTERM') };
}

/** A minimal CDP client over the browser's WebSocket, speaking to flattened sessions. */
async function cdpClient(wsUrl) {
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  let id = 0;
  const pending = new Map();
  const listeners = [];
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(JSON.stringify(msg.error))); else resolve(msg.result);
    } else if (msg.method) listeners.forEach((l) => l(msg));
  };
  return {
    send: (method, params = {}, sessionId = undefined) => new Promise((resolve, reject) => {
      const message = { id: ++id, method, params };
      if (sessionId) message.sessionId = sessionId;
      pending.set(message.id, { resolve, reject });
      ws.send(JSON.stringify(message));
    }),
    on: (fn) => listeners.push(fn),
    close: () => ws.close(),
  };
}

function summarize(profile, label) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const f = node.callFrame;
    const name = f.functionName || '(anonymous)';
    const where = f.url ? path.basename(f.url.split('?')[0]) : '';
    const key = `${name}${where ? ` [${where}]` : ''}`;
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const category = (key) => {
    if (/^\((idle|program|garbage collector)\)/.test(key)) return key.match(/^\(([^)]+)\)/)[1];
    if (/\.wasm|wasm-function|\$/.test(key) || /^(medseal|aes|ghash|polyval|sha2|hkdf|zeroize|core::|alloc::|<)/.test(key)) return 'WebAssembly';
    if (/\.js\]$/.test(key)) return 'JavaScript glue';
    return 'browser built-ins and other';
  };
  const cats = new Map();
  for (const [k, v] of self) cats.set(category(k), (cats.get(category(k)) ?? 0) + v);
  console.log(`\n${label}: ${(total / 1000).toFixed(0)} ms sampled`);
  for (const [k, v] of [...cats].sort((a, b) => b[1] - a[1])) console.log(`  ${(100 * v / total).toFixed(1).padStart(5)} %  ${k}`);
  console.log('  top self time:');
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 18)) {
    console.log(`  ${(100 * v / total).toFixed(1).padStart(5)} %  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
}

async function main() {
  mkdirSync(outDir, { recursive: true });
  const server = await startServer();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage', `--remote-debugging-port=${port}`],
  });
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}/`);
    await page.getByTestId('share-button').waitFor();
    const version = await (await fetch(`http://127.0.0.1:${port}/json/version`)).json();
    const cdp = await cdpClient(version.webSocketDebuggerUrl);
    const { targetInfos } = await cdp.send('Target.getTargets');
    const pageTarget = targetInfos.find((t) => t.type === 'page' && t.url.startsWith(server.url));
    const { sessionId: pageSession } = await cdp.send('Target.attachToTarget', { targetId: pageTarget.targetId, flatten: true });
    const workers = [];
    cdp.on((msg) => {
      if (msg.method === 'Target.attachedToTarget' && msg.params.targetInfo.type === 'worker') workers.push(msg.params.sessionId);
    });
    await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true }, pageSession);

    const size = sizeMiB * 1024 * 1024;
    for (const op of ['seal', 'open']) {
      const seen = workers.length;
      // Start a worker that waits for the debugger, then profile it from its first instruction.
      const run = page.evaluate(async ({ op, size }) => {
        if (!window.profileState) {
          const data = new Uint8Array(size);
          for (let at = 0; at < size; at += 65536) crypto.getRandomValues(data.subarray(at, Math.min(size, at + 65536)));
          window.profileState = { file: new File([data], 'profile.bin', { type: 'application/octet-stream' }) };
        }
        const s = window.profileState;
        const request = op === 'seal'
          ? { op: 'seal', files: [{ name: s.file.name, type: s.file.type, file: s.file }], password: null }
          : { op: 'open', sealed: s.sealed, fragment: s.fragment, password: null };
        return new Promise((resolve, reject) => {
          const worker = new Worker('/medseal-worker_loader.js');
          let started = 0;
          worker.onmessage = (event) => {
            const d = event.data;
            if (d.type === 'ready') { started = performance.now(); worker.postMessage(request); } else if (d.type === 'error') reject(new Error(d.message));
            else if (d.type !== 'progress') {
              if (op === 'seal') { s.sealed = d.sealed; s.fragment = d.fragment; }
              // Kept alive until its profile has been read.
              window.profiledWorker = worker;
              resolve({ ms: performance.now() - started, wasmMemory: d.wasm_memory });
            }
          };
        });
      }, { op, size });
      while (workers.length === seen) await new Promise((r) => setTimeout(r, 20));
      const session = workers[workers.length - 1];
      await cdp.send('Profiler.enable', {}, session);
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 }, session);
      await cdp.send('Profiler.start', {}, session);
      await cdp.send('Runtime.runIfWaitingForDebugger', {}, session);
      const { ms, wasmMemory } = await run;
      const { profile } = await cdp.send('Profiler.stop', {}, session).catch(async () => ({ profile: null }));
      await page.evaluate(() => window.profiledWorker.terminate());
      console.log(`${op}: ${sizeMiB} MiB in ${ms.toFixed(0)} ms = ${(size / 1e6 / (ms / 1000)).toFixed(1)} MB/s; the worker's wasm memory grew to ${(wasmMemory / 1048576).toFixed(1)} MiB`);
      if (profile) {
        writeFileSync(path.join(outDir, `${op}.cpuprofile`), JSON.stringify(profile));
        summarize(profile, `${op} profile`);
      } else console.log('  (the worker ended before its profile could be read)');
    }
    cdp.close();
  } finally {
    await browser.close();
    server.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
