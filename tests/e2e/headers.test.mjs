// Security headers on every kind of response: the app's HTML, its assets, API answers, errors.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer } from './lib.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

function checkHeaders(res, what) {
  const csp = res.headers.get('content-security-policy') ?? '';
  const directives = Object.fromEntries(csp.split(';').map((d) => d.trim()).filter(Boolean).map((d) => {
    const [name, ...values] = d.split(/\s+/);
    return [name, values];
  }));
  assert.deepEqual(directives['default-src'], ["'self'"], `${what}: default-src is self only (${csp})`);
  assert.ok(directives['script-src']?.includes("'self'"), `${what}: script-src allows self`);
  assert.ok(directives['script-src']?.includes("'wasm-unsafe-eval'"), `${what}: script-src allows wasm`);
  for (const value of directives['script-src'] ?? []) {
    assert.ok(["'self'", "'wasm-unsafe-eval'"].includes(value) || /^'sha(256|384|512)-[A-Za-z0-9+/=]+'$/.test(value),
      `${what}: script-src allows nothing but self, wasm and hashed inline scripts, found ${value}`);
  }
  assert.ok(!csp.includes('unsafe-inline') && !csp.includes("'unsafe-eval'"), `${what}: no unsafe-inline or unsafe-eval`);
  assert.deepEqual(directives['frame-ancestors'], ["'none'"], `${what}: frame-ancestors 'none'`);
  // The page may fetch SMART Health Links from their https hosts itself (ARCHITECTURE.md); plain
  // http only with --shl-allow-http, never any other scheme.
  assert.deepEqual(directives['connect-src'], ["'self'", 'https:'], `${what}: connect-src is self and https hosts (${csp})`);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer', `${what}: Referrer-Policy`);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${what}: nosniff`);
  assert.equal(res.headers.get('x-frame-options')?.toUpperCase(), 'DENY', `${what}: X-Frame-Options`);
  assert.equal(res.headers.get('set-cookie'), null, `${what}: no cookies`);
}

test('the app page carries every security header and its scripts carry integrity', async () => {
  const res = await fetch(`${server.url}/`);
  assert.equal(res.status, 200);
  const html = await res.text();
  checkHeaders(res, 'GET /');
  assert.match(html, /<link rel="modulepreload"[^>]+integrity="sha384-/, 'the app script has Subresource Integrity');
  assert.match(html, /<link rel="preload"[^>]+\.wasm"[^>]+integrity="sha384-/, 'the wasm has Subresource Integrity');
  // The inline loader script is allowed by its hash, and only by it.
  const { createHash } = await import('node:crypto');
  const inline = [...html.matchAll(/<script type="module">([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  assert.ok(inline.length > 0);
  const csp = res.headers.get('content-security-policy');
  for (const script of inline) {
    const hash = createHash('sha256').update(script).digest('base64');
    assert.ok(csp.includes(`'sha256-${hash}'`), 'the inline loader is allowed by its hash');
  }
});

test('app routes, assets, API answers and errors carry the same headers', async () => {
  const html = await (await fetch(`${server.url}/`)).text();
  const script = html.match(/href="(\/[^"]+\.js)"/)[1];
  for (const path of ['/s/AAAAAAAAAAAAAAAAAAAAAA', script, '/api/shares/AAAAAAAAAAAAAAAAAAAAAA', '/api/shares/not-an-id', '/healthz']) {
    const res = await fetch(`${server.url}${path}`);
    checkHeaders(res, `GET ${path} (${res.status})`);
    if (path.startsWith('/api/')) {
      assert.equal(res.headers.get('cache-control'), 'no-store', `${path}: objects are never cached`);
      const body = await res.json();
      assert.equal(typeof body.code, 'string', `${path}: JSON error with a code`);
      assert.equal(typeof body.message, 'string', `${path}: JSON error with a message`);
    }
  }
});
