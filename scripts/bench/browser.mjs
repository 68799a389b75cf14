// Opens one bench page in headless Chromium (Debian's /usr/bin/chromium through playwright-core),
// waits until the page publishes `window.__benchResult` (or `window.__benchError`), and writes it as
// JSON, together with the browser version, to the output file. playwright-core is loaded from
// $FACEID_BENCH_CACHE (default ~/.cache/faceid-bench).
//
//   node browser.mjs <url> <out.json> <timeout-seconds> [extra chromium flag ...]
//
// Exit status: 0 with a result, 1 when the page reported an error or timed out (the reason is written
// to <out.json> as {"error": "..."} so the report can say why a row was not measured).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

// playwright-core lives in the bench cache (installed by bench.sh from scripts/bench/package.json).
const cache = process.env.FACEID_BENCH_CACHE ?? path.join(os.homedir(), '.cache', 'faceid-bench');
const { chromium } = createRequire(path.join(cache, 'package.json'))('playwright-core');

const [url, out, timeoutArg, ...extra] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg ?? 300) * 1000;
const executablePath = process.env.FACEID_BENCH_CHROMIUM ?? '/usr/bin/chromium';
const args = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  ...extra,
];

function write(obj) {
  fs.writeFileSync(out, JSON.stringify(obj, null, 2));
}

let browser;
try {
  browser = await chromium.launch({ executablePath, args, headless: true });
  const version = browser.version();
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  page.on('console', (m) => process.stderr.write(`[page ${m.type()}] ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  await page.goto(url, { waitUntil: 'load', timeout: 60000 });
  await page.waitForFunction(() => window.__benchResult !== undefined || window.__benchError !== undefined, null, {
    timeout: timeoutMs,
    polling: 250,
  });
  const { result, error } = await page.evaluate(() => ({ result: window.__benchResult, error: window.__benchError }));
  const ua = await page.evaluate(() => navigator.userAgent);
  if (error !== undefined) {
    write({ error: String(error), browser: version, userAgent: ua });
    process.exitCode = 1;
  } else {
    write({ ...result, browser: version, userAgent: ua });
  }
} catch (e) {
  write({ error: `browser run failed: ${e.message.split('\n')[0]}` });
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
}
