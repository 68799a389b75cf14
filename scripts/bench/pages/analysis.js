// Per-frame analysis benchmark, one side per page load (?side=anchor or ?side=ours), so the two
// never share a renderer's heap or JIT state. Publishes window.__benchResult for browser.mjs.
//
// anchor: @vladmandic/face-api 1.7.15 (bundled TF.js 4.22) TinyFaceDetector + 68-point tiny
//         landmarks, default options, on each TF.js backend that works here; the fastest is measured
//         in full.
// ours:   faceid-core's FrameAnalyser (detector + tracker + quality) compiled to wasm by
//         scripts/bench/wasm-bench; each timed call includes reading the canvas (getImageData) and
//         copying it into wasm memory, as the page has to.
import { FRAME_W, FRAME_H, stillFrames, simFrames, stats } from './frames.js';

const q = new URLSearchParams(location.search);
const side = q.get('side') ?? 'anchor';
const WARM = Number(q.get('warm') ?? 5);
const MAX_ITERS = Number(q.get('iters') ?? 200);
const BUDGET_MS = Number(q.get('budget_ms') ?? 15000);
const SIM_FRAMES = Number(q.get('sim_frames') ?? 60);
const DATA = '/data';
const OURS = '/ours';
const FRAME_MS = 1000 / 30;

const status = (s) => {
  document.getElementById('status').textContent = s;
  console.log(s);
};

/** Calls `once(i)` (async, returns {ms, ...}) WARM times untimed, then until MAX_ITERS or BUDGET_MS. */
async function measure(once, { warm = WARM, maxIters = MAX_ITERS, budgetMs = BUDGET_MS, minIters = 5 } = {}) {
  for (let i = 0; i < warm; i++) await once(i);
  const runs = [];
  const start = performance.now();
  for (let i = 0; i < maxIters; i++) {
    runs.push(await once(warm + i));
    if (runs.length >= minIters && performance.now() - start > budgetMs) break;
  }
  return runs;
}

async function frameSets() {
  const sets = await stillFrames(DATA);
  const sim = await simFrames(OURS, DATA, SIM_FRAMES, 7);
  if (sim.frames) sets.push(sim.frames);
  return { sets, simReason: sim.reason };
}

async function anchor() {
  const faceapi = await import('/faceapi/dist/face-api.esm.js');
  const tf = faceapi.tf;
  if (typeof tf.setWasmPaths === 'function') tf.setWasmPaths('/tfwasm/');
  const { sets, simReason } = await frameSets();
  const astronaut = sets[0].canvases[0];
  const options = new faceapi.TinyFaceDetectorOptions(); // defaults: inputSize 416, scoreThreshold 0.5
  const detectWithLandmarks = async (c) => faceapi.detectAllFaces(c, options).withFaceLandmarks(true);
  const detectOnly = async (c) => faceapi.detectAllFaces(c, options);

  const loadModels = async () => {
    await faceapi.nets.tinyFaceDetector.loadFromUri('/faceapi/model');
    await faceapi.nets.faceLandmark68TinyNet.loadFromUri('/faceapi/model');
  };

  // Probe each backend briefly on the astronaut frame.
  const backends = {};
  for (const name of ['webgl', 'wasm', 'cpu']) {
    status(`anchor: probing ${name}`);
    let ok = false;
    try {
      ok = await tf.setBackend(name);
      await tf.ready();
    } catch (e) {
      backends[name] = { available: false, reason: String(e.message ?? e).slice(0, 200) };
      continue;
    }
    if (!ok || tf.getBackend() !== name) {
      backends[name] = { available: false, reason: `tf.setBackend('${name}') did not take (backend is ${tf.getBackend()})` };
      continue;
    }
    try {
      await loadModels();
      const runs = await measure(async () => {
        const t0 = performance.now();
        const r = await detectWithLandmarks(astronaut);
        return { ms: performance.now() - t0, faces: r.length };
      }, { warm: 3, maxIters: 10, budgetMs: 6000, minIters: 3 });
      const extra = {};
      if (name === 'wasm') {
        extra.simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
        extra.threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
      }
      if (name === 'webgl') extra.webglVersion = tf.env().getNumber('WEBGL_VERSION');
      backends[name] = { available: true, probe: stats(runs.map((r) => r.ms)), faces: runs[0]?.faces, ...extra };
    } catch (e) {
      backends[name] = { available: false, reason: `failed while running: ${String(e.message ?? e).slice(0, 200)}` };
    }
  }
  const usable = Object.entries(backends).filter(([, b]) => b.available);
  if (usable.length === 0) throw new Error(`no TF.js backend works: ${JSON.stringify(backends)}`);
  usable.sort((a, b) => a[1].probe.median - b[1].probe.median);
  const fastest = usable[0][0];
  await tf.setBackend(fastest);
  await tf.ready();
  await loadModels();

  const results = {};
  for (const set of sets) {
    status(`anchor: ${set.name} on ${fastest}`);
    const withLandmarks = await measure(async (i) => {
      const c = set.canvases[i % set.canvases.length];
      const t0 = performance.now();
      const r = await detectWithLandmarks(c);
      return { ms: performance.now() - t0, faces: r.length };
    });
    const detectorOnly = await measure(async (i) => {
      const c = set.canvases[i % set.canvases.length];
      const t0 = performance.now();
      const r = await detectOnly(c);
      return { ms: performance.now() - t0, faces: r.length };
    }, { maxIters: 60, budgetMs: BUDGET_MS / 2 });
    results[set.name] = {
      frames: set.canvases.length,
      detectLandmarks: stats(withLandmarks.map((r) => r.ms)),
      detectOnly: stats(detectorOnly.map((r) => r.ms)),
      facesFirstFrame: withLandmarks[0]?.faces ?? null,
    };
  }
  return {
    side: 'anchor',
    package: '@vladmandic/face-api@1.7.15',
    tfjs: tf.version_core ?? null,
    options: { detector: 'TinyFaceDetector', inputSize: options.inputSize, scoreThreshold: options.scoreThreshold, landmarks: 'faceLandmark68TinyNet' },
    crossOriginIsolated: self.crossOriginIsolated,
    hardwareConcurrency: navigator.hardwareConcurrency,
    backends,
    backend: fastest,
    results,
    simReason,
    frame: [FRAME_W, FRAME_H],
  };
}

async function ours() {
  const mod = await import(`${OURS}/faceid_bench.js`);
  await mod.default();
  const { sets, simReason } = await frameSets();
  const analyser = new mod.BenchAnalyser();
  const results = {};
  for (const set of sets) {
    status(`ours: ${set.name}`);
    const ctxs = set.canvases.map((c) => c.getContext('2d', { willReadFrequently: true }));
    const analyse = (i, t) => {
      const ctx = ctxs[i % ctxs.length];
      const t0 = performance.now();
      const img = ctx.getImageData(0, 0, FRAME_W, FRAME_H);
      const t1 = performance.now();
      const faces = analyser.analyse_rgba(img.data, FRAME_W, FRAME_H, t);
      const t2 = performance.now();
      return { ms: t2 - t0, analyseMs: t2 - t1, faces, detection: analyser.ran_detection() };
    };
    // A stream: the analyser decides when to detect and when to track, as in the page.
    analyser.reset();
    let t = 0;
    const stream = await measure(async (i) => analyse(i, (t += FRAME_MS)));
    // Full detection every frame: reset() before each frame forgets the tracked face.
    const detection = await measure(async (i) => {
      analyser.reset();
      return analyse(i, (t += FRAME_MS));
    });
    // With the landmark model: tracking frames follow the face by FaceMesh (MediaPipe-style).
    const marked = mod.BenchAnalyser.with_landmarks();
    const analyseMarked = (i, t) => {
      const ctx = ctxs[i % ctxs.length];
      const t0 = performance.now();
      const img = ctx.getImageData(0, 0, FRAME_W, FRAME_H);
      const t1 = performance.now();
      marked.analyse_rgba(img.data, FRAME_W, FRAME_H, t);
      const t2 = performance.now();
      return { ms: t2 - t0, analyseMs: t2 - t1, detection: marked.ran_detection() };
    };
    const markedStream = await measure(async (i) => analyseMarked(i, (t += FRAME_MS)));
    marked.free();
    const markedTracking = markedStream.filter((r) => !r.detection);
    const tracking = stream.filter((r) => !r.detection);
    const detected = stream.filter((r) => r.detection).concat(detection.filter((r) => r.detection));
    results[set.name] = {
      frames: set.canvases.length,
      all: stats(stream.map((r) => r.ms)),
      tracking: stats(tracking.map((r) => r.ms)),
      trackingAnalyseOnly: stats(tracking.map((r) => r.analyseMs)),
      trackingLandmarks: stats(markedTracking.map((r) => r.ms)),
      trackingLandmarksAnalyseOnly: stats(markedTracking.map((r) => r.analyseMs)),
      detection: stats(detected.map((r) => r.ms)),
      detectionAnalyseOnly: stats(detected.map((r) => r.analyseMs)),
      detectionFramesInStream: stream.length - tracking.length,
      streamFrames: stream.length,
      resetDidDetect: detection.every((r) => r.detection),
      facesFirstFrame: detection[0]?.faces ?? null,
      // Faces from 16 px (the group photo's are about 19 px at 640 wide).
      detectorFacesFullFrame: mod.detector_face_count(ctxs[0].getImageData(0, 0, FRAME_W, FRAME_H).data, FRAME_W, FRAME_H, 16),
    };
  }
  return {
    side: 'ours',
    analysisSize: mod.analysis_size(),
    hardwareConcurrency: navigator.hardwareConcurrency,
    results,
    simReason,
    frame: [FRAME_W, FRAME_H],
  };
}

(side === 'ours' ? ours() : anchor()).then(
  (r) => {
    status('done');
    window.__benchResult = r;
  },
  (e) => {
    status(`error: ${e.message ?? e}`);
    window.__benchError = String(e.stack ?? e.message ?? e);
  },
);
