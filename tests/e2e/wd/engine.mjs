// One journey library for three browser engines over W3C WebDriver (selenium-webdriver):
// Debian's Chromium through chromedriver, Firefox ESR through geckodriver and WebKitGTK's
// MiniBrowser through WebKitWebDriver (under Xvfb). The engine comes from MEDSEAL_ENGINE
// (chromium, firefox or webkit); `cargo xtask test` runs the journeys once per engine.
//
// A `Page` is one browser session with a fresh profile (its own cookies, storage and cache), the
// WebDriver counterpart of a Playwright browser context. Elements are found by data-testid and
// waited for on conditions, never by sleeping.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Builder, By, Key } from 'selenium-webdriver';
import { repo } from '../lib.mjs';

export { Key };

export const ENGINES = ['chromium', 'firefox', 'webkit'];
export const engine = process.env.MEDSEAL_ENGINE ?? 'chromium';
if (!ENGINES.includes(engine)) throw new Error(`MEDSEAL_ENGINE=${engine}: expected one of ${ENGINES.join(', ')}`);

export const screenshots = path.join(repo, 'target/screenshots');
mkdirSync(screenshots, { recursive: true });

const BIN = {
  chromium: process.env.CHROMIUM ?? '/usr/bin/chromium',
  chromedriver: process.env.CHROMEDRIVER ?? '/usr/bin/chromedriver',
  firefox: process.env.FIREFOX ?? '/usr/bin/firefox-esr',
  geckodriver: process.env.GECKODRIVER ?? path.join(process.env.CARGO_HOME ?? path.join(os.homedir(), '.cargo'), 'bin/geckodriver'),
  minibrowser: process.env.MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser',
  webkitdriver: process.env.WEBKITWEBDRIVER ?? '/usr/bin/WebKitWebDriver',
  xvfb: process.env.XVFB ?? '/usr/bin/Xvfb',
};

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitForPort(port, proc, what, logs) {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`${what} exited (${proc.exitCode}):\n${logs()}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on ${port} in 30 s:\n${logs()}`);
}

function spawnLogged(bin, args, env = {}) {
  if (!existsSync(bin)) throw new Error(`${bin} is missing (cargo xtask install installs it)`);
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let logs = '';
  proc.stdout.on('data', (d) => { logs = (logs + d).slice(-20_000); });
  proc.stderr.on('data', (d) => { logs = (logs + d).slice(-20_000); });
  return { proc, logs: () => logs };
}

async function stopProc(proc) {
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => { const t = setTimeout(() => { proc.kill('SIGKILL'); r(); }, 5_000); proc.once('exit', () => { clearTimeout(t); r(); }); });
  }
}

/** Starts an X server of its own (WebKitGTK needs a display) and returns its display name. */
async function startXvfb() {
  // -displayfd: Xvfb picks a free display and writes its number to fd 3.
  const { proc, logs } = spawnLogged(BIN.xvfb, ['-displayfd', '3', '-screen', '0', '1920x1080x24', '-nolisten', 'tcp']);
  const display = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`Xvfb gave no display in 15 s:\n${logs()}`)), 15_000);
    proc.stdio[3].on('data', (d) => {
      out += d;
      if (out.includes('\n')) { clearTimeout(timer); resolve(`:${out.trim()}`); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`Xvfb exited (${code}):\n${logs()}`)); });
  });
  return { proc, display };
}

/**
 * A GTK configuration folder for MiniBrowser whose stylesheet shrinks its toolbar: otherwise
 * the window cannot be narrower than about 450 px and no phone-sized viewport is possible.
 * (WebKitGTK has no device emulation; the web content itself is untouched.)
 */
let gtkDir = null;
function gtkConfig() {
  if (!gtkDir) {
    gtkDir = mkdtempSync(path.join(os.tmpdir(), 'medseal-gtk-'));
    mkdirSync(path.join(gtkDir, 'gtk-3.0'));
    writeFileSync(path.join(gtkDir, 'gtk-3.0/gtk.css'), [
      'headerbar, headerbar *, toolbar, toolbar *, entry, button, box { min-width: 0; min-height: 0; padding: 0; margin: 0; font-size: 1px; border-width: 0; }',
      'image { -gtk-icon-transform: scale(0.1); }',
    ].join('\n'));
  }
  return gtkDir;
}

/** Starts this engine's WebDriver server on a free port; returns its URL and how to stop it. */
async function startDriver(display) {
  const port = await freePort();
  let driver;
  if (engine === 'chromium') driver = spawnLogged(BIN.chromedriver, [`--port=${port}`]);
  else if (engine === 'firefox') driver = spawnLogged(BIN.geckodriver, ['--port', String(port), '--host', '127.0.0.1']);
  else driver = spawnLogged(BIN.webkitdriver, [`--port=${port}`], { DISPLAY: display, XDG_CONFIG_HOME: gtkConfig() });
  await waitForPort(port, driver.proc, `${engine} WebDriver`, driver.logs);
  return { url: `http://127.0.0.1:${port}`, logs: driver.logs, stop: () => stopProc(driver.proc) };
}

/**
 * Prepares this engine (Xvfb for WebKit). `newPage(options)` opens a fresh browser session, each
 * with a WebDriver server of its own: geckodriver and WebKitWebDriver hold one session at a time.
 */
export async function startEngine() {
  const xvfb = engine === 'webkit' ? await startXvfb() : null;
  const pages = new Set();
  return {
    engine,
    async newPage(options = {}) {
      const driver = await startDriver(xvfb?.display);
      let page;
      try {
        page = await Page.open(driver.url, options);
      } catch (e) {
        await driver.stop();
        throw new Error(`${engine}: no session: ${e.message}\n${driver.logs()}`);
      }
      pages.add(page);
      page.onClose = async () => { pages.delete(page); await driver.stop(); };
      return page;
    },
    /** Closes every page still open (each is a browser session). */
    async closeAll() {
      for (const p of [...pages]) await p.close().catch(() => {});
    },
    async stop() {
      for (const p of [...pages]) await p.close().catch(() => {});
      await stopProc(xvfb?.proc);
    },
  };
}

function capabilities(downloadDir, { privateMode, viewport }) {
  if (engine === 'chromium') {
    return {
      browserName: 'chrome',
      'goog:chromeOptions': {
        binary: BIN.chromium,
        args: [
          '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
          '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage', '--window-size=1280,900',
          ...(privateMode ? ['--incognito'] : []),
        ],
        prefs: { 'download.default_directory': downloadDir, 'download.prompt_for_download': false, 'safebrowsing.enabled': false },
      },
      'goog:loggingPrefs': { browser: 'ALL' },
    };
  }
  if (engine === 'firefox') {
    // Firefox's windows are never narrower than 450 CSS pixels (its toolbar), headless or not,
    // and scaling (layout.css.devPixelsPerPx) scales that minimum too: see FIREFOX_MIN_WIDTH.
    const size = viewport ? { width: Math.max(viewport.width, FIREFOX_MIN_WIDTH), height: viewport.height } : null;
    return {
      browserName: 'firefox',
      'moz:firefoxOptions': {
        binary: BIN.firefox,
        // Headless Firefox sizes its first window from these; a later resize stops at 450 px wide.
        args: ['-headless', '-width', String(size?.width ?? 1280), '-height', String(size?.height ?? 900)],
        prefs: {
          'browser.download.dir': downloadDir,
          'browser.download.folderList': 2,
          'browser.download.useDownloadDir': true,
          'browser.download.always_ask_before_handling_new_types': false,
          'browser.helperApps.neverAsk.saveToDisk': 'application/octet-stream,application/json,application/fhir+json,text/plain,text/csv,application/pdf,application/zip,application/x-pem-file,application/dicom',
          'pdfjs.disabled': false,
          ...(privateMode ? { 'browser.privatebrowsing.autostart': true } : {}),
        },
      },
    };
  }
  // WebKitGTK builds leave the Storage API and the origin's private file system off by default;
  // Safari, the WebKit of phones, ships both on, so MiniBrowser is started with them as Safari
  // has them. Its automation sessions are ephemeral, so `getDirectory()` then rejects, as in
  // Safari's private windows: the app's fallback to Blobs is what runs here.
  return {
    browserName: 'MiniBrowser',
    'webkitgtk:browserOptions': { binary: BIN.minibrowser, args: ['--automation', SAFARI_FEATURES, ...(privateMode ? ['--private'] : [])] },
  };
}

/** MiniBrowser's switches for the features Safari ships on and WebKitGTK leaves off. */
const SAFARI_FEATURES = '--features=+StorageAPI,+StorageAPIEstimate,+FileSystem';

/** The narrowest window Firefox makes, in CSS pixels. */
export const FIREFOX_MIN_WIDTH = 450;

/** The widest minimum window width accepted from Firefox as "as narrow as it goes". */
export const FIREFOX_WIDEST_MIN = 520;

/** The viewport width this engine can give for a requested one (Firefox may stop wider still,
 *  up to FIREFOX_WIDEST_MIN: read `innerWidth` for the width reached). */
export function reachableWidth(width) {
  return engine === 'firefox' ? Math.max(width, FIREFOX_MIN_WIDTH) : width;
}

/** Can this engine save a download to a folder the test reads? (WebKitGTK's cannot.) */
export const downloadsToDisk = engine !== 'webkit';

/** One browser session (a fresh profile), driven by data-testid. */
export class Page {
  static async open(serverUrl, { viewport, privateMode = false } = {}) {
    const downloadDir = mkdtempSync(path.join(os.tmpdir(), `medseal-dl-${engine}-`));
    const driver = await new Builder().usingServer(serverUrl).withCapabilities(capabilities(downloadDir, { privateMode, viewport })).build();
    const page = new Page(driver, downloadDir);
    await driver.manage().setTimeouts({ script: 120_000, pageLoad: 60_000 });
    if (viewport) await page.setViewport(viewport);
    else if (engine === 'webkit') await driver.manage().window().setRect({ width: 1280, height: 900 });
    return page;
  }

  constructor(driver, downloadDir) {
    this.driver = driver;
    this.downloadDir = downloadDir;
    /** Errors the page reported (uncaught errors, rejections, console.error) since the last goto. */
    this.problems = [];
  }

  /** Sets the inner size of the window (the CSS viewport) to width x height. */
  async setViewport({ width: asked, height }) {
    const width = reachableWidth(asked);
    const win = this.driver.manage().window();
    const now = await this.driver.executeScript('return [innerWidth, innerHeight]');
    if (now[0] === width && now[1] === height) return;
    await win.setRect({ width, height });
    // The outer window has chrome around the viewport: grow it by the difference. A window
    // just made may not be laid out yet (its inner size reads 0, or its rect lags), so this
    // measures again until the viewport is right.
    let inner = [0, 0];
    for (let i = 0; i < 30; i++) {
      inner = await this.driver.executeScript('return [innerWidth, innerHeight]');
      if (inner[0] === width && inner[1] === height) return;
      const rect = await win.getRect();
      const outer = { width: rect.width + (width - inner[0]), height: rect.height + (height - inner[1]) };
      if (inner[0] > 0 && inner[1] > 0 && outer.width > 0 && outer.height > 0) await win.setRect(outer);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Firefox's narrowest window depends on its toolbar, which changes between releases (450 CSS
    // px in 153.3, 500 in 153.8): a width it refuses is kept at its minimum, up to that bound.
    if (engine === 'firefox' && inner[1] === height && inner[0] > width && inner[0] <= FIREFOX_WIDEST_MIN) return;
    throw new Error(`${engine}: the viewport stays ${inner.join('x')}, not ${width}x${height}`);
  }

  async goto(url) {
    await this.collectProblems();
    await this.driver.get(url);
    await this.watchProblems();
  }

  async reload() {
    await this.collectProblems();
    await this.driver.navigate().refresh();
    await this.watchProblems();
  }

  async url() { return this.driver.getCurrentUrl(); }

  async content() { return this.driver.getPageSource(); }

  /**
   * Installs listeners that keep the page's errors in sessionStorage-free page memory. WebDriver
   * classic has no event for them in every engine, so they are collected from the page itself
   * (errors thrown before this runs, during the first parse, are not seen; Chromium's console log
   * is read as well).
   */
  async watchProblems() {
    await this.driver.executeScript(`
      if (!window.__medsealProblems) {
        window.__medsealProblems = [];
        addEventListener('error', (e) => window.__medsealProblems.push('pageerror: ' + (e.message || e.type)));
        addEventListener('securitypolicyviolation', (e) => window.__medsealProblems.push('csp: ' + e.violatedDirective + ' blocked ' + e.blockedURI));
        addEventListener('unhandledrejection', (e) => window.__medsealProblems.push('unhandledrejection: ' + (e.reason && e.reason.message || e.reason)));
        const orig = console.error;
        console.error = function (...args) { window.__medsealProblems.push('console: ' + args.join(' ')); return orig.apply(this, args); };
      }`).catch(() => {});
  }

  async collectProblems() {
    try {
      const found = await this.driver.executeScript('const p = window.__medsealProblems || []; window.__medsealProblems = []; return p;');
      if (Array.isArray(found)) this.problems.push(...found);
    } catch { /* no page yet */ }
    if (engine === 'chromium') {
      try {
        const entries = await this.driver.manage().logs().get('browser');
        for (const e of entries) if (e.level.name === 'SEVERE' && !/favicon/.test(e.message)) this.problems.push(`console: ${e.message}`);
      } catch { /* logging unavailable */ }
    }
  }

  /** Every problem so far, read from the page now. */
  async allProblems() {
    await this.collectProblems();
    return this.problems;
  }

  byTestId(id) { return new Locator(this, `[data-testid="${id}"]`); }

  locator(css) { return new Locator(this, css); }

  async evaluate(fn, ...args) {
    return this.driver.executeScript(`return (${fn}).apply(null, arguments)`, ...args);
  }

  async evaluateAsync(fn, ...args) {
    return this.driver.executeAsyncScript(
      `const done = arguments[arguments.length - 1];
       Promise.resolve((${fn}).apply(null, Array.prototype.slice.call(arguments, 0, -1)))
         .then((v) => done({ ok: v }), (e) => done({ err: String(e && e.message || e) }));`,
      ...args,
    ).then((r) => { if (r && 'err' in r) throw new Error(r.err); return r?.ok; });
  }

  /** A screenshot of the window to target/screenshots/<engine>-<name>.png. */
  async screenshot(name) {
    const png = await this.driver.takeScreenshot();
    const file = path.join(screenshots, `${engine}-${name}.png`);
    writeFileSync(file, Buffer.from(png, 'base64'));
    return file;
  }

  /** Presses a key on whatever has focus. */
  async press(key) {
    await this.driver.actions().sendKeys(key).perform();
  }

  /**
   * WebKit only (see `download`): the object URL and suggested name of what `locator` downloads.
   * A link names its object URL; a button makes one and clicks a link of its own, which the tap
   * of wd/app.mjs records.
   */
  async downloadUrl(locator) {
    const el = await locator.waitFor({ timeout: 60_000 });
    const href = await el.getAttribute('href');
    if (href) return { href, name: await el.getAttribute('download') };
    const seen = await this.evaluate(() => window.__medsealLastDownload?.n ?? 0);
    await el.click();
    const until = Date.now() + 120_000;
    let last;
    while (!(last = await this.evaluate((n) => ((window.__medsealLastDownload?.n ?? 0) > n ? window.__medsealLastDownload : null), seen))) {
      if (Date.now() > until) throw new Error(`${locator.describe()} started no download`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { href: last.href, name: last.name };
  }

  /**
   * The bytes a download link gives, and the name it suggests. Chromium and Firefox save the file
   * into this session's download folder and the test reads it from disk. WebKitGTK's
   * MiniBrowser saves nowhere a test can see, and the app's policy forbids fetching a blob: URL,
   * so there the same bytes are proved another way: the Blob the link's object URL stands for
   * (remembered by the script wd/app.mjs adds in WebKit) is read inside the page and handed over
   * as base64; the suggested name is the link's download attribute.
   */
  async download(locator) {
    const el = await locator.waitFor({ timeout: 60_000 });
    if (!downloadsToDisk) {
      const { href, name } = await this.downloadUrl(locator);
      const b64 = await this.evaluateAsync(async (url) => {
        const blob = window.__medsealBlobs?.get(url);
        if (!blob) throw new Error(`no Blob is known for ${url}`);
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let s = '';
        for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
        return btoa(s);
      }, href);
      return { bytes: Buffer.from(b64, 'base64'), name };
    }
    const before = new Set(readdirSync(this.downloadDir));
    await el.click();
    const until = Date.now() + 120_000;
    for (;;) {
      const fresh = readdirSync(this.downloadDir).filter((n) => !before.has(n) && !/\.(crdownload|part)$/.test(n) && !n.startsWith('.'));
      // Firefox makes the final file first (empty) and its .part beside it: wait for the .part to go.
      const partial = readdirSync(this.downloadDir).some((n) => /\.(crdownload|part)$/.test(n));
      if (fresh.length && !partial) {
        const file = path.join(this.downloadDir, fresh[0]);
        const size = statSync(file).size;
        await new Promise((r) => setTimeout(r, 50));
        if (statSync(file).size === size) return { bytes: readFileSync(file), name: fresh[0] };
      }
      if (Date.now() > until) throw new Error(`no download appeared in ${this.downloadDir}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close() {
    try { await this.driver.quit(); } catch { /* already gone */ }
    rmSync(this.downloadDir, { recursive: true, force: true });
    await this.onClose?.();
  }
}

/** Elements matching a CSS selector, optionally inside a scope element, optionally the nth. */
export class Locator {
  constructor(page, css, { scope = null, index = null } = {}) {
    this.page = page;
    this.css = css;
    this.scope = scope;
    this.index = index;
  }

  get driver() { return this.page.driver; }

  nth(i) { return new Locator(this.page, this.css, { scope: this.scope, index: i }); }

  first() { return this.nth(0); }

  /** A locator for `id` inside this one's (first, or nth) element. */
  byTestId(id) { return new Locator(this.page, `[data-testid="${id}"]`, { scope: this }); }

  locator(css) { return new Locator(this.page, css, { scope: this }); }

  async all() {
    let roots;
    if (this.scope) {
      const s = await this.scope.element();
      if (!s) return [];
      roots = await s.findElements(By.css(this.css));
    } else {
      roots = await this.driver.findElements(By.css(this.css));
    }
    return roots;
  }

  async element() {
    const all = await this.all();
    return all[this.index ?? 0] ?? null;
  }

  async count() { return (await this.all()).length; }

  /** Waits until the element exists and is displayed; returns it. */
  async waitFor({ timeout = 30_000, visible = true } = {}) {
    const until = Date.now() + timeout;
    let last = null;
    for (;;) {
      try {
        const el = await this.element();
        if (el && (!visible || await el.isDisplayed())) return el;
      } catch (e) { last = e; }
      if (Date.now() > until) {
        const errors = await this.page.allProblems().catch(() => []);
        throw new Error(`${this.describe()} did not appear in ${timeout} ms${last ? ` (${last.message})` : ''}; page problems: ${JSON.stringify(errors)}; url ${await this.page.url().catch(() => '?')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  describe() {
    return `${this.scope ? `${this.scope.describe()} >> ` : ''}${this.css}${this.index !== null ? `[${this.index}]` : ''}`;
  }

  /** Clicks once the element is displayed and enabled (as Playwright's click waits). */
  async click({ timeout = 60_000 } = {}) {
    const until = Date.now() + timeout;
    let el = await this.waitFor({ timeout });
    while (!(await el.isEnabled())) {
      if (Date.now() > until) throw new Error(`${this.describe()} stayed disabled for ${timeout} ms`);
      await new Promise((r) => setTimeout(r, 50));
      el = await this.waitFor({ timeout });
    }
    await this.driver.executeScript('arguments[0].scrollIntoView({block: "center"})', el);
    await el.click();
  }

  /** Replaces the value of a text field with `text`, typed as keys. */
  async fill(text) {
    const el = await this.waitFor();
    await el.clear();
    await el.sendKeys(text);
  }

  async check() {
    const el = await this.waitFor();
    if (!(await el.isSelected())) await el.click();
  }

  /** Chooses the option with this value of a <select>, by clicking it. */
  async selectOption(value) {
    const el = await this.waitFor();
    await el.click();
    const option = await el.findElement(By.css(`option[value="${value}"]`));
    await option.click();
    // Some engines leave the native list open: close it without changing the choice.
    if ((await el.getAttribute('value')) !== String(value)) {
      // A native popup that did not take the click: set it the way a keyboard user would.
      await this.driver.executeScript('arguments[0].focus()', el);
      const options = await el.findElements(By.css('option'));
      for (const o of options) {
        if ((await o.getAttribute('value')) === String(value)) break;
        await el.sendKeys(Key.ARROW_DOWN);
      }
    }
    if ((await el.getAttribute('value')) !== String(value)) throw new Error(`${this.describe()}: could not choose ${value}`);
  }

  /** Puts files into a file input, as a person choosing them would. `files`: paths or {name, buffer}. */
  async setFiles(files) {
    const list = (Array.isArray(files) ? files : [files]).map((f) => {
      if (typeof f === 'string') return f;
      const dir = mkdtempSync(path.join(os.tmpdir(), 'medseal-upload-'));
      const p = path.join(dir, f.name);
      writeFileSync(p, f.buffer);
      return p;
    });
    const el = await this.waitFor({ visible: false });
    await el.sendKeys(list.join('\n'));
  }

  async text() { return (await this.waitFor({ visible: false })).getText(); }

  /**
   * The rendered text of every match, read in one script (one round trip, not one per element;
   * WebKitWebDriver does not accept element references inside an array argument, so the page
   * queries the selector itself, under the scope's element).
   */
  async allTexts() {
    const scope = this.scope ? await this.scope.element() : null;
    if (this.scope && !scope) return [];
    return this.driver.executeScript(
      'return [...(arguments[0] || document).querySelectorAll(arguments[1])].map((e) => e.innerText)', scope, this.css);
  }

  /** The live value of an input or textarea. */
  async value() { return this.driver.executeScript('return arguments[0].value', await this.waitFor({ visible: false })); }

  async attr(name) { return this.driver.executeScript('return arguments[0].getAttribute(arguments[1])', await this.waitFor({ visible: false }), name); }

  async scrollIntoView() {
    await this.driver.executeScript('arguments[0].scrollIntoView({block: "center"})', await this.waitFor());
  }
}
