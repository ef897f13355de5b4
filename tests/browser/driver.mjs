// A line-oriented browser driver for the Python tests and the benchmark: one JSON command per
// stdin line, one JSON answer per stdout line. It drives Debian's /usr/bin/chromium through
// playwright-core (installed with the storefront's packages; no browser is ever downloaded).
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { join } from "node:path";

const storefront = process.env.STOREFRONT_DIR;
const require = createRequire(join(storefront, "package.json"));
const { chromium } = require("playwright-core");

// Playwright gives every launch a fresh temporary profile (--user-data-dir) and removes it.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
// Each named session is its own cookie jar (anonymous, paid buyer, unpaid buyer, ...).
const sessions = new Map();

async function session(name) {
  if (!sessions.has(name)) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    sessions.set(name, { context, page: await context.newPage() });
  }
  return sessions.get(name);
}

async function describe(page, response, queries) {
  const found = {};
  for (const [name, selector] of Object.entries(queries ?? {})) {
    found[name] = await page.$$eval(selector, (els) => els.map((e) => ({
      text: e.innerText, src: e.getAttribute("src"), href: e.getAttribute("href"), ...e.dataset,
    })));
  }
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    return nav ? { responseStart: nav.responseStart, domContentLoaded: nav.domContentLoadedEventEnd,
      load: nav.loadEventEnd, requestStart: nav.requestStart } : null;
  });
  return { status: response ? response.status() : null, url: page.url(), found, timing,
    html: await page.content() };
}

async function handle(cmd) {
  const { context, page } = await session(cmd.session ?? "default");
  if (cmd.cookies) await context.addCookies(cmd.cookies.map((c) => ({ path: "/", ...c })));
  let response = null;
  if (cmd.op === "goto") response = await page.goto(cmd.url, { waitUntil: "load" });
  else if (cmd.op === "reload") response = await page.reload({ waitUntil: "load" });
  else if (cmd.op === "click") {
    // Next's <Link> navigates client-side (no document response): wait for the URL to move,
    // which the App Router does once the new page is committed.
    const before = page.url();
    await page.click(cmd.selector);
    await page.waitForURL((u) => u.toString() !== before);
    await page.waitForLoadState("load");
  } else throw new Error(`unknown op ${cmd.op}`);
  if (cmd.screenshot) await page.screenshot({ path: cmd.screenshot, fullPage: true });
  return describe(page, response, cmd.queries);
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = { ok: true, ...(await handle(JSON.parse(line))) };
  } catch (err) {
    answer = { ok: false, error: String(err?.stack ?? err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
await browser.close();
