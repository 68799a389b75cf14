// A synthetic person in front of the screen (faceid-e2e). Installed with
// Page.addScriptToEvaluateOnNewDocument; replaces navigator.mediaDevices.getUserMedia with a
// canvas.captureStream whose canvas draws a real face photo lit by the colour the page shows.
//
// Reflection model (the one faceid_core::sim renders), in linear light:
//   pixel_c = E(t) · albedo_c(x, y) · room(x, y) · (ambient_c + gain(x, y) · screen_c(t − delay)) + noise
// gain follows a head's shape on a live person (headResponse: more where the face turns toward
// the screen, less where it turns up to the room's light) and is weak on the background; on a
// print it is the same everywhere. screen(t − delay) is the colour the page showed `delayMs`
// earlier (panel latency plus camera pipeline), averaged over the exposure.
(() => {
  "use strict";
  const CFG = __PERSON_CONFIG__;
  if (window.__faceidPerson || !navigator.mediaDevices) return;
  const person = { frames: 0, history: [], requests: 0, error: null };
  window.__faceidPerson = person;

  // ---- What the screen shows, logged with the time it was seen.
  const parseColour = (s) => {
    if (!s) return null;
    s = String(s).trim();
    let m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(s);
    if (m) return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
    m = /^rgba?\(\s*([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)(?:[ ,/]+([\d.]+))?\s*\)$/i.exec(s);
    if (m) {
      const a = m[4] === undefined ? 1 : parseFloat(m[4]);
      if (a < 0.5) return null;
      return [+m[1], +m[2], +m[3]];
    }
    return null;
  };
  const shown = (el) => {
    if (CFG.hiddenClass && el.classList.contains(CFG.hiddenClass)) return false;
    const st = getComputedStyle(el);
    return st.display !== "none" && st.visibility !== "hidden" && parseFloat(st.opacity || "1") > 0.5;
  };
  const screenColour = () => {
    const flash = document.querySelector(CFG.flashSelector);
    if (flash && shown(flash)) {
      let c = parseColour(flash.getAttribute(CFG.flashAttribute));
      if (!c && flash instanceof HTMLCanvasElement && flash.width > 4 && flash.height > 4) {
        // What the page actually painted: a pixel in the corner, outside the face cut-out.
        try {
          const d = flash.getContext("2d").getImageData(2, 2, 1, 1).data;
          if (d[3] > 127) c = [d[0], d[1], d[2]];
        } catch (e) { /* not readable: fall through */ }
      }
      if (!c) c = parseColour(getComputedStyle(flash).backgroundColor);
      if (c) return c;
    }
    // No flash: the page itself lights the face (its background colour).
    const body = document.body;
    const c = body && parseColour(getComputedStyle(body).backgroundColor);
    return c || CFG.pageColour;
  };
  const lin = new Float32Array(256);
  for (let i = 0; i < 256; i++) {
    const v = i / 255;
    lin[i] = v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  }
  const toLinear = (c) => [lin[c[0] | 0], lin[c[1] | 0], lin[c[2] | 0]];
  const observe = () => {
    const now = performance.now();
    const c = toLinear(screenColour());
    const h = person.history;
    const last = h[h.length - 1];
    if (!last || last.c[0] !== c[0] || last.c[1] !== c[1] || last.c[2] !== c[2]) h.push({ t: now, c });
    // Keep a few seconds: enough for any delay.
    while (h.length > 2 && now - h[1].t > 5000) h.shift();
  };
  const colourAt = (t) => {
    const h = person.history;
    let c = h.length ? h[0].c : toLinear(CFG.pageColour);
    for (let i = 0; i < h.length && h[i].t <= t; i++) c = h[i].c;
    return c;
  };
  // The page paints its flash canvas with fillRect in a frame callback: note the colour at the
  // moment it is painted (polling alone would notice it late on a busy machine, and late by a
  // varying amount). Polling below still catches the overlay being hidden or shown.
  const fillRect = CanvasRenderingContext2D.prototype.fillRect;
  CanvasRenderingContext2D.prototype.fillRect = function (...args) {
    const r = fillRect.apply(this, args);
    try {
      const cv = this.canvas;
      if (cv && cv.matches && cv.matches(CFG.flashSelector) && this.globalCompositeOperation === "source-over") {
        const c = parseColour(String(this.fillStyle));
        const h = person.history;
        const last = h[h.length - 1];
        const l = c && toLinear(c);
        if (l && (!last || last.c[0] !== l[0] || last.c[1] !== l[1] || last.c[2] !== l[2])) h.push({ t: performance.now(), c: l });
      }
    } catch (e) { /* never break the page's painting */ }
    return r;
  };
  const watch = () => { observe(); requestAnimationFrame(watch); };
  requestAnimationFrame(watch);
  setInterval(observe, 8);

  // ---- A live head's response, relative to a face patch facing the screen (the model of
  // faceid_core::sim::scene, in face units: half the detector box's width, u right, v down, z toward
  // the camera). An ellipsoid head with a nose; the screen 7 cm below the camera at 30 cm; the room
  // a ceiling-bright hemisphere plus a lamp above and in front. null off the head and neck.
  const HEAD = { v0: -0.35, a: 1.08, b: 1.45, c: 1.25 };
  const headHeight = (u, v) => {
    const q = 1 - (u / HEAD.a) ** 2 - ((v - HEAD.v0) / HEAD.b) ** 2;
    if (q > 0) {
      const along = v >= -0.25 && v <= 0.3 ? (v + 0.25) / 0.55 : v > 0.3 && v <= 0.45 ? (0.45 - v) / 0.15 : 0;
      return HEAD.c * Math.sqrt(q) + 0.3 * along * Math.exp(-((u / 0.25) ** 2));
    }
    if (v > 0.6 && Math.abs(u) < 0.62) return HEAD.c - 0.5 - 0.62 + 0.62 * Math.sqrt(1 - (u / 0.62) ** 2);
    return null;
  };
  const norm = (p) => { const n = Math.hypot(p[0], p[1], p[2]) || 1; return [p[0] / n, p[1] / n, p[2] / n]; };
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const SCREEN = [0, 0.93, HEAD.c + 4.0];
  const LAMP = norm([0, -0.85, 0.5]);
  const screenLight = (p, n) => {
    const d = [SCREEN[0] - p[0], SCREEN[1] - p[1], SCREEN[2] - p[2]];
    return Math.max(0, (dot(n, norm(d)) + 0.12) / 1.12) / dot(d, d);
  };
  const roomLight = (n) => 0.5 * (1 - 0.6 * n[1]) + 0.075 * (1 + n[1]) + 1.0 * Math.max(0, dot(n, LAMP));
  const FRONT = screenLight([0, 0.1, HEAD.c], [0, 0, 1]) / roomLight([0, 0, 1]);
  // The share of screen to room light at (u, v) relative to the front's, and the room's light there
  // relative to the front's: the photo is relit by the room (so the screen's added light,
  // albedo · room · gain, follows the screen's light alone, as on a real face).
  const headResponse = (u, v) => {
    const z = headHeight(u, v);
    if (z === null) return null;
    const e = 0.01;
    const zu = (headHeight(u + e, v) ?? z) - (headHeight(u - e, v) ?? z);
    const zv = (headHeight(u, v + e) ?? z) - (headHeight(u, v - e) ?? z);
    const n = norm([-Math.max(-20, Math.min(20, zu / (2 * e))), -Math.max(-20, Math.min(20, zv / (2 * e))), 1]);
    const room = roomLight(n) / roomLight([0, 0, 1]);
    return { share: screenLight([u, v, z], n) / roomLight(n) / FRONT, room };
  };

  // ---- The scene: photo albedo in linear light and the screen's gain per pixel.
  const W = CFG.width, H = CFG.height, N = W * H;
  let scene = null;
  const loadScene = () => scene || (scene = new Promise((resolve, reject) => {
    const img = new Image();
    img.crossOrigin = "anonymous";
    img.onerror = () => reject(new DOMException("synthetic person: photo did not load", "NotReadableError"));
    img.onload = () => {
      const cv = document.createElement("canvas");
      cv.width = W; cv.height = H;
      const cx = cv.getContext("2d", { willReadFrequently: true });
      // Face box of the photo (normalised) → frame: face width CFG.faceWidth·W, centred at CFG.faceCentre.
      const fw = CFG.face.w * img.naturalWidth, fh = CFG.face.h * img.naturalHeight;
      const k = (CFG.faceWidth * W) / fw;
      const pcx = (CFG.face.x + CFG.face.w / 2) * img.naturalWidth;
      const pcy = (CFG.face.y + CFG.face.h / 2) * img.naturalHeight;
      const fcx = CFG.faceCentre[0] * W, fcy = CFG.faceCentre[1] * H;
      cx.fillStyle = "#808080";
      cx.fillRect(0, 0, W, H);
      cx.drawImage(img, fcx - pcx * k, fcy - pcy * k, img.naturalWidth * k, img.naturalHeight * k);
      const px = cx.getImageData(0, 0, W, H).data;
      const albedo = new Float32Array(N * 3);
      const gain = new Float32Array(N);
      const room = new Float32Array(N).fill(1);
      const hw = (fw * k) / 2, hh = (fh * k) / 2;
      for (let y = 0, i = 0; y < H; y++) {
        for (let x = 0; x < W; x++, i++) {
          albedo[3 * i] = lin[px[4 * i]];
          albedo[3 * i + 1] = lin[px[4 * i + 1]];
          albedo[3 * i + 2] = lin[px[4 * i + 2]];
          const u = (x + 0.5 - fcx) / hw, v = (y + 0.5 - fcy) / hh;
          const r = CFG.relief ? headResponse(u, v) : null;
          gain[i] = CFG.relief ? (r === null ? CFG.backgroundGain : CFG.faceGain * r.share) : CFG.faceGain;
          if (r !== null) room[i] = r.room;
        }
      }
      // Exposure: the face's mean luminance under a white screen reaches CFG.targetLevel.
      let lum = 0, n = 0;
      for (let y = Math.floor(fcy - 0.3 * hh); y < fcy + 0.3 * hh; y++) {
        for (let x = Math.floor(fcx - 0.3 * hw); x < fcx + 0.3 * hw; x++) {
          if (x < 0 || y < 0 || x >= W || y >= H) continue;
          const i = y * W + x;
          const g = gain[i];
          lum += room[i] * (0.2126 * albedo[3 * i] * (CFG.ambient[0] + g) + 0.7152 * albedo[3 * i + 1] * (CFG.ambient[1] + g) +
                 0.0722 * albedo[3 * i + 2] * (CFG.ambient[2] + g));
          n++;
        }
      }
      const exposure = CFG.targetLevel / Math.max(1e-6, lum / Math.max(1, n));
      // Fold the room's light into the albedo: the rendering below stays one multiply per channel.
      for (let i = 0; i < N; i++) {
        albedo[3 * i] *= room[i]; albedo[3 * i + 1] *= room[i]; albedo[3 * i + 2] *= room[i];
      }
      resolve({ albedo, gain, exposure });
    };
    img.src = CFG.photoUrl;
  }));

  // sRGB encoding table over linear 0..1 and a table of Gaussian noise (8-bit levels).
  const ENC = 4096;
  const encode = new Uint8ClampedArray(ENC + 1);
  for (let i = 0; i <= ENC; i++) {
    const v = i / ENC;
    encode[i] = Math.round(255 * (v <= 0.0031308 ? v * 12.92 : 1.055 * Math.pow(v, 1 / 2.4) - 0.055));
  }
  const NOISE = 1 << 16;
  const noise = new Float32Array(NOISE);
  for (let i = 0; i < NOISE; i++) {
    const u1 = Math.max(1e-12, Math.random()), u2 = Math.random();
    noise[i] = CFG.noiseLevels * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  const start = async () => {
    const s = await loadScene();
    const canvas = document.createElement("canvas");
    canvas.width = W; canvas.height = H;
    const ctx = canvas.getContext("2d");
    const frame = ctx.createImageData(W, H);
    const out = frame.data;
    const stream = canvas.captureStream(CFG.fps);
    const draw = () => {
      const now = performance.now();
      // The exposure integrates the delayed screen colour over ~20 ms.
      const l = [0, 0, 0];
      for (let j = 0; j < 4; j++) {
        const c = colourAt(now - CFG.delayMs - 20 * (j + 0.5) / 4);
        l[0] += c[0] / 4; l[1] += c[1] / 4; l[2] += c[2] / 4;
      }
      const e = s.exposure * ENC;
      const a0 = CFG.ambient[0], a1 = CFG.ambient[1], a2 = CFG.ambient[2];
      let ni = (Math.random() * NOISE) | 0;
      for (let i = 0; i < N; i++) {
        const g = s.gain[i], b = 3 * i, o = 4 * i;
        const r = s.albedo[b] * (a0 + g * l[0]) * e;
        const gg = s.albedo[b + 1] * (a1 + g * l[1]) * e;
        const bb = s.albedo[b + 2] * (a2 + g * l[2]) * e;
        out[o] = encode[r < ENC ? r | 0 : ENC] + noise[ni]; ni = (ni + 1) & (NOISE - 1);
        out[o + 1] = encode[gg < ENC ? gg | 0 : ENC] + noise[ni]; ni = (ni + 1) & (NOISE - 1);
        out[o + 2] = encode[bb < ENC ? bb | 0 : ENC] + noise[ni]; ni = (ni + 1) & (NOISE - 1);
        out[o + 3] = 255;
      }
      ctx.putImageData(frame, 0, 0);
      person.frames++;
    };
    draw();
    const timer = setInterval(draw, 1000 / CFG.fps);
    for (const track of stream.getVideoTracks()) {
      const stop = track.stop.bind(track);
      track.stop = () => { clearInterval(timer); stop(); };
    }
    return stream;
  };

  const md = navigator.mediaDevices;
  const original = md.getUserMedia ? md.getUserMedia.bind(md) : null;
  md.getUserMedia = function (constraints) {
    person.requests++;
    if (!constraints || !constraints.video) {
      return original ? original(constraints) : Promise.reject(new DOMException("no media", "NotFoundError"));
    }
    return start().catch((e) => { person.error = String(e); throw e; });
  };
})();
