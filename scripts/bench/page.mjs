// Page start-up, flash timing and recording rate of the real H5 page, served by the real
// faceid-server, in headless Chromium with a synthetic face camera.
//
//   node page.mjs <server-base-url> <person.js> <astronaut.png> <out-dir> [mime ...]
//
// The camera is e2e/src/person.js (the end-to-end suite's synthetic person: getUserMedia replaced by
// a canvas stream of the astronaut photo lit by the colour the page shows), configured as in
// e2e/src/person.rs `Person::astronaut`. For each recorder MIME type given (default: the page's own
// choice), one verification runs: POST /demo/start → the H5 page → Start → guidance → challenge →
// upload → verdict. Per run it measures, on the page's performance.now() clock (0 = navigation start):
//   - firstPreviewMs: the first camera frame presented in the page's <video> (requestVideoFrameCallback);
//   - readyMs: guidance done: the progress bar at its maximum or the challenge overlay up, whichever is first;
//   - flash timing: each colour of the issued challenge, when it was first read back from the flash
//     canvas in an animation frame (an observer registered before the page's own callbacks), against
//     its scheduled start (hold start + the challenge's durations); also the page's own log (report);
//   - the uploaded video's size and type, and the seconds of challenge it covers.
// Also records 4 s of an animated canvas with each MIME type on a blank page (same bitrate), to tell
// the browser's encoder apart from the page. Writes <out-dir>/page.json, <out-dir>/flash.json and
// the videos.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const cache = process.env.FACEID_BENCH_CACHE ?? path.join(os.homedir(), '.cache', 'faceid-bench');
const { chromium } = createRequire(path.join(cache, 'package.json'))('playwright-core');

const [base, personPath, photoPath, outDir, ...mimes] = process.argv.slice(2);
const RUN_TIMEOUT_MS = 120000;
const PHOTO_PATH = '/__bench/astronaut.png';

// e2e/src/person.rs Person::astronaut (the values the end-to-end suite passes), photo served same-origin.
const ASTRONAUT_FACE = { x: 0.34, y: 0.133, w: 0.191, h: 0.191 };
const personConfig = {
  photoUrl: PHOTO_PATH,
  face: ASTRONAUT_FACE,
  width: 640,
  height: 480,
  fps: 30,
  faceWidth: 0.34,
  faceCentre: [0.5, 0.47],
  delayMs: 80,
  ambient: [1.05, 1.0, 0.95],
  faceGain: 0.45,
  backgroundGain: 0.03,
  targetLevel: 0.22,
  noiseLevels: 2,
  flashSelector: 'canvas.fid-flash',
  flashAttribute: 'data-colour',
  hiddenClass: 'fid-hidden',
  pageColour: [255, 255, 255],
};

// Registered before any page script: its rAF callback runs before the page's in every frame, so a
// colour the page paints in frame k is read back in frame k+1, the frame it is composited for.
// With `mime`, MediaRecorder.isTypeSupported answers yes only for it, so the page records with it.
const observer = (mime) => `(() => {
  const bench = { firstPreviewMs: null, readyMs: null, flashOnMs: null, colours: [] };
  window.__bench = bench;
  const forced = ${JSON.stringify(mime ?? null)};
  if (forced && window.MediaRecorder) {
    const orig = MediaRecorder.isTypeSupported.bind(MediaRecorder);
    MediaRecorder.isTypeSupported = (t) => t === forced && orig(t);
  }
  // The upload, read where the page hands it to XHR: the video part (size, type, bytes as base64 for
  // ffprobe) and the report part, and the server's answer.
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    if (body instanceof FormData && body.get('video') instanceof Blob) {
      const video = body.get('video');
      const report = body.get('report');
      const up = { videoBytes: video.size, videoType: video.type, report: null, answer: null, base64: null };
      bench.upload = up;
      (typeof report === 'string' ? Promise.resolve(report) : report ? report.text() : Promise.resolve(null))
        .then((t) => { up.report = t; });
      const fr = new FileReader();
      fr.onload = () => { up.base64 = String(fr.result).replace(/^data:[^,]*,/, ''); };
      fr.readAsDataURL(video);
      this.addEventListener('load', () => { up.answer = this.responseText; });
    }
    return send.call(this, body);
  };
  let last = null;
  const hooked = new WeakSet();
  const tick = (ts) => {
    const video = document.querySelector('video');
    if (video && !hooked.has(video) && video.requestVideoFrameCallback) {
      hooked.add(video);
      video.requestVideoFrameCallback((now) => { if (bench.firstPreviewMs === null) bench.firstPreviewMs = now; });
    }
    const s = document.querySelector('section.fid-screen');
    if (s && bench.readyMs === null) {
      const bar = s.querySelector('progress');
      const max = bar ? Number(bar.max || 1) : null;
      if (bar && Number(bar.value) >= max) bench.readyMs = ts;
      if (s.classList.contains('fid-flashing')) { bench.readyMs = ts; }
    }
    if (s && s.classList.contains('fid-flashing') && bench.flashOnMs === null) bench.flashOnMs = ts;
    const flash = document.querySelector('canvas.fid-flash');
    if (flash && !flash.classList.contains('fid-hidden') && flash.width > 4 && flash.height > 4) {
      try {
        const d = flash.getContext('2d').getImageData(2, 2, 1, 1).data;
        const hex = '#' + [d[0], d[1], d[2]].map((v) => v.toString(16).padStart(2, '0')).join('');
        if (d[3] > 127 && hex !== last) { bench.colours.push({ t: ts, hex }); last = hex; }
      } catch (e) { /* unreadable canvas: no observation */ }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();`;

const hexOf = (c) => (typeof c === 'string' ? c.toLowerCase() : '#' + c.map((v) => v.toString(16).padStart(2, '0')).join(''));
const close = (a, b) => {
  const p = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
  const [x, y] = [p(a), p(b)];
  return x.every((v, i) => Math.abs(v - y[i]) <= 3);
};

/** Start errors (ms) of each colour after the hold against the schedule, from a timeline [{t, hex}]. */
function startErrors(challenge, timeline) {
  const expected = [hexOf(challenge.holdColour), ...challenge.steps.map((s) => hexOf(s.colour))];
  const found = [];
  let j = 0;
  for (const hex of expected) {
    while (j < timeline.length && !close(timeline[j].hex, hex)) j++;
    if (j >= timeline.length) break;
    found.push(timeline[j].t);
    j++;
  }
  if (found.length < 2) return { errors: [], matched: found.length, expected: expected.length };
  const errors = [];
  let scheduled = found[0] + challenge.holdMs;
  for (let i = 1; i < found.length; i++) {
    errors.push(found[i] - scheduled);
    scheduled += challenge.steps[i - 1].durationMs;
  }
  return { errors, matched: found.length, expected: expected.length };
}

async function oneRun(browser, mime, index) {
  const context = await browser.newContext({ viewport: { width: 420, height: 800 } });
  const page = await context.newPage();
  const personJs = fs.readFileSync(personPath, 'utf8').replace('__PERSON_CONFIG__', JSON.stringify(personConfig));
  await page.addInitScript({ content: observer(mime) });
  await page.addInitScript({ content: personJs });
  await page.route(`**${PHOTO_PATH}`, (route) => route.fulfill({ body: fs.readFileSync(photoPath), contentType: 'image/png' }));
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));

  let challenge = null;
  page.on('response', async (res) => {
    try {
      if (res.request().method() === 'POST' && /\/api\/h5\/v1\/attempts$/.test(res.url())) challenge = (await res.json()).challenge;
    } catch (e) {
      process.stderr.write(`response ${res.url()}: ${e.message}\n`);
    }
  });

  // A fresh verification: the demo's business side calls DetectAuth and redirects to the H5 page.
  const start = await fetch(`${base}/demo/start`, { method: 'POST', redirect: 'manual' });
  const h5 = start.headers.get('location');
  if (!h5) throw new Error(`POST /demo/start answered ${start.status} without a redirect`);
  await page.goto(new URL(h5, base).toString(), { waitUntil: 'load' });
  await page.waitForSelector('section.fid-screen.fid-intro button.fid-primary', { timeout: 30000 });
  const introMs = await page.evaluate(() => performance.now());
  await page.click('section.fid-screen.fid-intro button.fid-primary');
  const ended = await page
    .waitForSelector('section.fid-screen.fid-passed, section.fid-screen.fid-failed, section.fid-screen.fid-problem', {
      timeout: RUN_TIMEOUT_MS,
    })
    .then(() => true, () => false);
  // The upload's answer and the video bytes arrive asynchronously; wait for them briefly.
  for (let i = 0; i < 30; i++) {
    const done = await page
      .evaluate(() => !window.__bench?.upload || (window.__bench.upload.answer !== null && window.__bench.upload.base64 !== null))
      .catch(() => true);
    if (done) break;
    await page.waitForTimeout(100);
  }
  const bench = await page.evaluate(() => window.__bench);
  const outcome = await page.evaluate(() => {
    const s = document.querySelector('section.fid-screen');
    return s ? `${[...s.classList].filter((c) => c !== 'fid-screen').join(' ')}: ${s.innerText.replace(/\s+/g, ' ').slice(0, 160)}` : 'no screen';
  });
  await context.close();

  const up = bench.upload ?? null;
  let report = null;
  let answer = null;
  try {
    report = up?.report ? JSON.parse(up.report) : null;
    answer = up?.answer ? JSON.parse(up.answer) : null;
  } catch (e) {
    process.stderr.write(`unreadable report or answer: ${e.message}\n`);
  }
  let videoFile = null;
  if (up?.base64) {
    const ext = /mp4/.test(up.videoType) ? 'mp4' : 'webm';
    videoFile = path.join(outDir, `page-video-${index}.${ext}`);
    fs.writeFileSync(videoFile, Buffer.from(up.base64, 'base64'));
  }
  const challengeSeconds = challenge
    ? (challenge.holdMs + challenge.steps.reduce((a, s) => a + s.durationMs, 0)) / 1000
    : null;
  const observed = challenge ? startErrors(challenge, bench.colours) : null;
  const logged = challenge && report
    ? startErrors(challenge, report.shown.map((d) => ({ t: d.startMs, hex: hexOf(d.colour) })))
    : null;
  return {
    forcedMime: mime ?? null,
    ended,
    outcome,
    introMs,
    firstPreviewMs: bench.firstPreviewMs,
    readyMs: bench.readyMs,
    flashOnMs: bench.flashOnMs,
    challengeSeconds,
    recorderMime: report?.recorderMime ?? up?.videoType ?? null,
    frame: report ? [report.frameWidth, report.frameHeight] : null,
    videoBytes: up?.videoBytes ?? null,
    videoFile,
    answer,
    flashObserved: observed,
    flashLogged: logged,
    challenge,
    observedTimeline: bench.colours,
    loggedTimeline: report?.shown ?? null,
  };
}

function stats(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  return { n: s.length, median: q(0.5), p95: q(0.95), max: s[s.length - 1] };
}

fs.mkdirSync(outDir, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.FACEID_BENCH_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--use-fake-ui-for-media-stream',
    '--autoplay-policy=no-user-gesture-required'],
});
const version = browser.version();
const runs = [];
// Only the MIME types this browser can record (the page would never pick the others).
const probe = await browser.newPage();
const supported = await probe.evaluate((ms) => ms.filter((m) => window.MediaRecorder && MediaRecorder.isTypeSupported(m)), mimes);
// The same recorder settings on a blank page (an animated 640x480 canvas, 30 fps, the page's
// 1 Mbit/s), to tell the browser's encoder apart from the page when a recording comes out short.
const blank = [];
for (const mime of supported) {
  const b64 = await probe.evaluate(async (mime) => {
    const c = document.createElement('canvas');
    c.width = 640;
    c.height = 480;
    document.body.appendChild(c);
    const x = c.getContext('2d');
    let k = 0;
    const paint = setInterval(() => {
      const d = x.createImageData(640, 480);
      for (let i = 0; i < d.data.length; i += 4) {
        const v = (i * 7 + k * 13) & 255;
        d.data[i] = v;
        d.data[i + 1] = 255 - v;
        d.data[i + 2] = (v * 3) & 255;
        d.data[i + 3] = 255;
      }
      x.putImageData(d, 0, 0);
      k++;
    }, 33);
    const r = new MediaRecorder(c.captureStream(30), { mimeType: mime, videoBitsPerSecond: 1000000 });
    const chunks = [];
    r.ondataavailable = (e) => chunks.push(e.data);
    r.start();
    await new Promise((res) => setTimeout(res, 4000));
    const stopped = new Promise((res) => (r.onstop = res));
    r.stop();
    await stopped;
    clearInterval(paint);
    c.remove();
    const blob = new Blob(chunks, { type: mime });
    return new Promise((res) => {
      const fr = new FileReader();
      fr.onload = () => res(String(fr.result).replace(/^data:[^,]*,/, ''));
      fr.readAsDataURL(blob);
    });
  }, mime);
  const file = path.join(outDir, `blank-video-${blank.length}.${/mp4/.test(mime) ? 'mp4' : 'webm'}`);
  fs.writeFileSync(file, Buffer.from(b64, 'base64'));
  blank.push({ mimeType: mime, seconds: 4, bytes: fs.statSync(file).size, file });
}
await probe.close();
const unsupported = mimes.filter((m) => !supported.includes(m));
const list = supported.length ? supported : [null];
for (let i = 0; i < list.length; i++) {
  try {
    runs.push(await oneRun(browser, list[i], i));
  } catch (e) {
    runs.push({ forcedMime: list[i], error: String(e.message ?? e).split('\n')[0] });
  }
  process.stderr.write(`run ${i}: ${JSON.stringify(runs[i]).slice(0, 600)}\n`);
}
await browser.close();

const first = runs.find((r) => r.firstPreviewMs != null);
const page = {
  browser: version,
  unsupportedMimes: unsupported,
  blankRecordings: blank,
  runs,
  firstPreviewMs: first?.firstPreviewMs ?? null,
  readyMs: first?.readyMs ?? null,
  introMs: first?.introMs ?? null,
  recordings: runs
    .filter((r) => r.videoBytes && r.challengeSeconds)
    .map((r) => ({ mimeType: r.recorderMime, bytes: r.videoBytes, seconds: r.challengeSeconds, bytesPerSecond: r.videoBytes / r.challengeSeconds, file: r.videoFile, outcome: r.outcome })),
};
if (page.firstPreviewMs == null) page.error = runs.map((r) => r.error ?? `no preview frame (${r.outcome})`).join('; ');
fs.writeFileSync(path.join(outDir, 'page.json'), JSON.stringify(page, null, 2));

const obs = runs.flatMap((r) => r.flashObserved?.errors ?? []);
const logged = runs.flatMap((r) => r.flashLogged?.errors ?? []);
const abs = (xs) => xs.map(Math.abs);
const flash = obs.length
  ? { ...stats(abs(obs)), signed: stats(obs), logged: stats(abs(logged)), runs: runs.length }
  : { error: runs.map((r) => r.error ?? (r.flashOnMs == null ? `the challenge never started (${r.outcome})` : 'no colour read back from the flash canvas')).join('; ') };
fs.writeFileSync(path.join(outDir, 'flash.json'), JSON.stringify(flash, null, 2));
