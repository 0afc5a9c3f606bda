// A proxy between the browser and the server that can rewrite what passes, the engine-neutral
// stand-in for Playwright's request routing (WebDriver classic cannot intercept requests).
// It also records every request the server receives, like lib.mjs's recording proxy.
import http from 'node:http';

/**
 * Starts a proxy to `targetUrl`. `rewrite` hooks, each optional and async:
 * - `request({method, url, headers, body})` returns a new body (Buffer) or undefined;
 * - `response({method, url}, {status, headers, body})` returns a new
 *   `{status, headers, body}` or undefined.
 * - `cut({method, url, headers})` breaks a connection as a network would: `{request: true}`
 *   closes it before the request reaches the server (recorded with `cut: true`), and
 *   `{afterBytes: n}` passes the server's answer on for `n` bytes of its body, then closes it.
 * Set or clear them at any time through `proxy.rewrite`.
 */
export async function startRewritingProxy(targetUrl) {
  const target = new URL(targetUrl);
  const records = [];
  const rewrite = { request: null, response: null, cut: null };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      try {
        let body = Buffer.concat(chunks);
        const info = { method: req.method, url: req.url, headers: { ...req.headers }, body };
        const changed = rewrite.request ? await rewrite.request(info) : undefined;
        if (changed !== undefined) body = Buffer.from(changed);
        const cut = rewrite.cut ? await rewrite.cut(info) : undefined;
        if (cut?.request) {
          records.push({ ...info, body, cut: true });
          req.socket.destroy();
          return;
        }
        records.push({ ...info, body });
        // Ends the answer early, when asked to: its first `afterBytes` bytes go out in pieces, as
        // a network delivers them, then the connection closes a moment later. (Written at once and
        // closed, a browser may error the response before its reader took any of it: a stream's
        // error drops what was queued.)
        let sent = 0;
        let cutting = Promise.resolve();
        const send = (chunk) => {
          const room = cut.afterBytes - sent;
          const part = chunk.subarray(0, Math.max(0, Math.min(room, chunk.length)));
          sent += part.length;
          const last = sent >= cut.afterBytes;
          cutting = cutting.then(async () => {
            for (let at = 0; at < part.length; at += 256 * 1024) {
              res.write(part.subarray(at, at + 256 * 1024));
              await new Promise((r) => setTimeout(r, 5));
            }
            if (last) {
              await new Promise((r) => setTimeout(r, 500));
              res.socket?.end();
            }
          });
          return !last;
        };
        const headers = { ...req.headers };
        if (changed !== undefined) headers['content-length'] = String(body.length);
        const upstream = http.request({ hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers }, (up) => {
          if (!rewrite.response && cut?.afterBytes == null) { res.writeHead(up.statusCode, up.headers); up.pipe(res); return; }
          if (!rewrite.response) {
            res.writeHead(up.statusCode, up.headers);
            up.on('data', (c) => { if (sent < cut.afterBytes) send(c); else up.destroy(); });
            up.on('end', () => { cutting.then(() => res.end()); });
            return;
          }
          const parts = [];
          up.on('data', (c) => parts.push(c));
          up.on('end', async () => {
            const original = { status: up.statusCode, headers: { ...up.headers }, body: Buffer.concat(parts) };
            const out = (await rewrite.response({ method: req.method, url: req.url }, original)) ?? original;
            const outHeaders = { ...out.headers, 'content-length': String(out.body.length) };
            delete outHeaders['transfer-encoding'];
            res.writeHead(out.status, outHeaders);
            if (cut?.afterBytes == null) res.end(out.body);
            else send(out.body);
          });
        });
        upstream.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
        upstream.end(body);
      } catch (e) {
        res.writeHead(500);
        res.end(String(e));
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    records,
    rewrite,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}
