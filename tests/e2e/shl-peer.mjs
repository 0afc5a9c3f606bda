// An independent SMART Health Links peer for interoperability tests: links are made, hosted and
// resolved by the MIT npm package kill-the-clipboard (pinned to 1.1.0 in package.json), so MedSeal
// is checked against code that is not its own.
//
//   startPeerHost()  a loopback http server hosting SHLs built with kill-the-clipboard's SHL and
//                    SHLManifestBuilder (MedSeal's viewer / CLI resolves them)
//   resolveWithPeer  resolves any shlink:/ URI (e.g. one issued by MedSeal) with kill-the-clipboard's
//                    SHLViewer
//
// What the library does and what this file adds:
// - SHL.generate makes the link (random 32-byte key and 43-character path entropy, flag, label,
//   exp); SHLManifestBuilder encrypts each file (JWE dir/A256GCM with cty, optional zip DEF), stores
//   it through our uploadFile callback and builds the manifest (embedded vs location decided by
//   ciphertext length against embeddedLengthMax, location URLs from our getFileURL callback).
// - The library has no server-side passcode handling at all (its README: "the P flag is server-side
//   access control only"), so the host below keeps the passcode and the lifetime attempt counter
//   itself and answers 401 {"remainingAttempts": n}, then 404 once the counter reaches 0.
// - The library has no server for the U flag either: the single file is still encrypted and stored
//   by SHLManifestBuilder.addFHIRResource / addHealthCard, and the host answers GET url?recipient=
//   with that stored JWE.
// - SHLViewer throws typed errors and does not read error bodies, so resolveWithPeer gives it a
//   recording fetch (its documented `fetch` option; the library still does every request and all
//   decryption) to report the HTTP status and the 401 body's remainingAttempts.
// - The library does not care about the scheme: plain http on 127.0.0.1 works with Node's fetch.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { SHL, SHLError, SHLExpiredError, SHLManifestBuilder, SHLViewer } from 'kill-the-clipboard';

const JOSE = 'application/jose';
const FILE_TICKET_MS = 60_000;

function token() {
  return randomBytes(24).toString('base64url');
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, body, contentType = 'application/json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  // Viewers are web pages on other origins (MedSeal's among them): the host allows any origin,
  // as hosts of SMART Health Links must for browser viewers.
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'access-control-allow-origin': '*' });
  res.end(text);
}

function flagFor({ longTerm, passcode, direct }) {
  // The spec's flags are single letters in alphabetical order; kill-the-clipboard accepts only
  // L, P, LP, U and LU (U with P is forbidden by the spec, and refused here too).
  const flag = `${longTerm ? 'L' : ''}${passcode !== undefined ? 'P' : ''}${direct ? 'U' : ''}`;
  return flag || undefined;
}

/**
 * Starts a loopback SHL host whose links are made with kill-the-clipboard.
 *
 * @param {{ passcodeAttempts?: number }} [options] lifetime passcode attempts per link (default 3)
 */
export async function startPeerHost({ passcodeAttempts = 3 } = {}) {
  const requests = [];
  const links = new Map(); // manifest/file URL pathname -> link state
  const byUri = new Map(); // shlink URI -> link state
  const files = new Map(); // storage path -> { jwe, link }
  const tickets = new Map(); // ticket -> { path, expires }
  let origin;

  const storage = (link) => ({
    uploadFile: async (content) => {
      const path = token();
      files.set(path, { jwe: content, link });
      return path;
    },
    // Called by buildManifest for every file it does not embed: a fresh short-lived ticket each time.
    getFileURL: async (path) => {
      const ticket = token();
      tickets.set(ticket, { path, expires: Date.now() + FILE_TICKET_MS });
      return `${origin}/files/${path}?ticket=${ticket}`;
    },
    loadFile: async (path) => {
      const f = files.get(path);
      if (!f) throw new Error(`no stored file ${path}`);
      return f.jwe;
    },
  });

  const expired = (link) => link.shl.exp !== undefined && link.shl.exp < Math.floor(Date.now() / 1000);

  async function serveManifest(link, rawBody, res) {
    let body;
    try {
      body = JSON.parse(rawBody);
    } catch {
      return send(res, 400, { error: 'manifest request body is not JSON' });
    }
    if (!body || typeof body !== 'object' || typeof body.recipient !== 'string' || !body.recipient.trim()) {
      return send(res, 400, { error: 'recipient is required' });
    }
    if (link.passcode !== undefined) {
      // Passcode check and lifetime counter are the host's job: kill-the-clipboard has none.
      // A missing passcode counts as a wrong one.
      if (body.passcode !== link.passcode) {
        link.remainingAttempts = Math.max(0, link.remainingAttempts - 1);
        if (link.remainingAttempts === 0) link.active = false;
        return send(res, 401, { remainingAttempts: link.remainingAttempts });
      }
    }
    const requested = Number.isFinite(body.embeddedLengthMax) && body.embeddedLengthMax >= 0 ? body.embeddedLengthMax : undefined;
    // embedded: true  -> embed everything the client accepts (all files if it sets no limit)
    // embedded: false -> every file by location
    // undefined       -> the client's embeddedLengthMax as is (library default 16384 when absent)
    let embeddedLengthMax = requested;
    if (link.embedded === true) embeddedLengthMax = requested ?? Number.MAX_SAFE_INTEGER;
    if (link.embedded === false) embeddedLengthMax = 0;
    const builder = SHLManifestBuilder.fromDBAttrs({ shl: link.shl.payload, attrs: link.attrs, ...storage(link) });
    try {
      const manifest = await builder.buildManifest({
        ...(embeddedLengthMax !== undefined && { embeddedLengthMax }),
        ...(link.status && { status: link.status }),
      });
      return send(res, 200, manifest);
    } catch (e) {
      if (e instanceof SHLExpiredError) return send(res, 404, { error: 'expired' });
      return send(res, 500, { error: String(e?.message ?? e) });
    }
  }

  const server = http.createServer(async (req, res) => {
    try {
      const rawBody = await readBody(req);
      requests.push({ method: req.method, url: req.url, headers: { ...req.headers }, body: rawBody });
      const url = new URL(req.url, origin);
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'access-control-allow-origin': '*',
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': 'content-type',
          'access-control-max-age': '600',
        });
        return res.end();
      }

      if (url.pathname.startsWith('/files/')) {
        const path = url.pathname.slice('/files/'.length);
        const t = tickets.get(url.searchParams.get('ticket') ?? '');
        const f = files.get(path);
        if (req.method !== 'GET') return send(res, 405, { error: 'GET only' });
        if (!t || t.path !== path || t.expires < Date.now() || !f || !f.link.active || expired(f.link)) {
          return send(res, 404, { error: 'not found' });
        }
        return send(res, 200, f.jwe, JOSE);
      }

      const link = links.get(url.pathname);
      if (!link || !link.active || expired(link)) return send(res, 404, { error: 'not found' });
      if (link.direct) {
        if (req.method !== 'GET') return send(res, 405, { error: 'U-flag link: GET only' });
        if (!url.searchParams.get('recipient')) return send(res, 400, { error: 'recipient is required' });
        return send(res, 200, files.get(link.attrs.files[0].storagePath).jwe, JOSE);
      }
      if (req.method !== 'POST') return send(res, 405, { error: 'manifest: POST only' });
      return await serveManifest(link, rawBody, res);
    } catch (e) {
      if (!res.headersSent) send(res, 500, { error: String(e?.message ?? e) });
    }
  });

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${server.address().port}`;

  /**
   * Makes a link with kill-the-clipboard and hosts it.
   * @param {{
   *   resources?: object[],     // FHIR JSON resources, one file each, in this order
   *   healthCards?: string[],   // SMART Health Card JWS strings, one file each, after the resources
   *   passcode?: string,        // P flag; the host enforces passcodeAttempts lifetime attempts
   *   direct?: boolean,         // U flag: exactly one file, no passcode, GET url?recipient=
   *   compress?: boolean,       // zip DEF in the JWE; default = library default (FHIR on, SHC off)
   *   label?: string,           // at most 80 characters (the library refuses more)
   *   embedded?: boolean,       // true: embed all (within the client's limit); false: all location
   *   longTerm?: boolean,       // L flag
   *   expiresAt?: Date,         // exp
   *   status?: 'finalized' | 'can-change' | 'no-longer-valid', // manifest status, omitted if unset
   * }} options
   * @returns {Promise<string>} the bare shlink:/ URI
   */
  async function createLink({ resources = [], healthCards = [], passcode, direct = false, compress, label, embedded, longTerm = false, expiresAt, status } = {}) {
    if (direct && passcode !== undefined) throw new Error('the U flag cannot be combined with a passcode');
    if (direct && resources.length + healthCards.length !== 1) throw new Error('a U-flag link carries exactly one file');
    const flag = flagFor({ longTerm, passcode, direct });
    const shl = SHL.generate({
      baseManifestURL: `${origin}/shl`,
      manifestPath: direct ? 'file' : 'manifest.json',
      ...(flag && { flag }),
      ...(label !== undefined && { label }),
      ...(expiresAt && { expirationDate: expiresAt }),
    });
    const link = { shl, direct, embedded, status, passcode, remainingAttempts: passcodeAttempts, active: true, attrs: null };
    const builder = new SHLManifestBuilder({ shl, ...storage(link) });
    for (const content of resources) {
      await builder.addFHIRResource({ content, ...(compress !== undefined && { enableCompression: compress }) });
    }
    for (const shc of healthCards) {
      await builder.addHealthCard({ shc, ...(compress !== undefined && { enableCompression: compress }) });
    }
    link.attrs = builder.toDBAttrs(); // what a real host would persist; rebuilt per manifest request
    const uri = shl.toURI();
    links.set(new URL(shl.url).pathname, link);
    byUri.set(uri, link);
    return uri;
  }

  const find = (uri) => {
    const link = byUri.get(uri.slice(uri.indexOf('shlink:/')));
    if (!link) throw new Error('not a link of this host');
    return link;
  };

  return {
    origin,
    requests,
    createLink,
    /** Deactivates a link: its manifest / direct URL and its location files answer 404 from now on. */
    revoke(uri) {
      find(uri).active = false;
    },
    /** Host-side state of a link. */
    inspect(uri) {
      const l = find(uri);
      return { url: l.shl.url, flag: l.shl.flag, active: l.active, remainingAttempts: l.passcode === undefined ? undefined : l.remainingAttempts };
    },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

/**
 * Resolves a shlink:/ URI (bare or as viewer-URL#shlink:/...) with kill-the-clipboard's SHLViewer.
 *
 * ok:    { ok: true, fhir, healthCards: [{ jws, bundle }], label, flag, manifest, trace }
 *        fhir = application/fhir+json files in manifest order; manifest = the manifest JSON as
 *        received (undefined for a U-flag link)
 * error: { ok: false, status, remainingAttempts, message, code, name, trace }
 *        status = HTTP status of the failed response (undefined when the library refused before
 *        or without a response: malformed link, expired exp, P flag without passcode, network);
 *        remainingAttempts = the 401 body's value when it had one
 * trace: [{ method, url, status, body? }] every request the library made (body only for errors)
 *
 * @param {string} shlinkUri
 * @param {{ recipient?: string, passcode?: string, embeddedLengthMax?: number, shcReaderConfig?: object }} [options]
 *        shcReaderConfig goes to the library's SHCReader for health-card files (e.g. { publicKey });
 *        without it the library fetches {iss}/.well-known/jwks.json to verify each card.
 */
export async function resolveWithPeer(shlinkUri, { recipient = 'MedSeal interop test', passcode, embeddedLengthMax, shcReaderConfig } = {}) {
  const trace = [];
  const recordingFetch = async (url, init = {}) => {
    const res = await fetch(url, init);
    const entry = { method: init.method ?? 'GET', url: String(url), status: res.status };
    if (!res.ok) entry.body = await res.clone().text();
    trace.push(entry);
    return res;
  };
  try {
    const viewer = new SHLViewer({ shlinkURI: shlinkUri, fetch: recordingFetch });
    const resolved = await viewer.resolveSHL({
      recipient,
      ...(passcode !== undefined && { passcode }),
      ...(embeddedLengthMax !== undefined && { embeddedLengthMax }),
      ...(shcReaderConfig && { shcReaderConfig }),
    });
    return {
      ok: true,
      fhir: resolved.fhirResources,
      healthCards: resolved.smartHealthCards.map((shc) => ({ jws: shc.asJWS(), bundle: shc.getOriginalBundle() })),
      label: viewer.shl.label,
      flag: viewer.shl.flag,
      manifest: resolved.manifest,
      trace,
    };
  } catch (e) {
    const last = trace.at(-1);
    const failed = last && (last.status < 200 || last.status >= 300) ? last : undefined;
    let remainingAttempts;
    if (failed?.status === 401) {
      try {
        const n = JSON.parse(failed.body).remainingAttempts;
        if (typeof n === 'number') remainingAttempts = n;
      } catch { /* body not JSON: leave undefined */ }
    }
    return {
      ok: false,
      status: failed?.status,
      remainingAttempts,
      message: String(e?.message ?? e),
      code: e instanceof SHLError ? e.code : e?.code,
      name: e?.name,
      trace,
    };
  }
}
