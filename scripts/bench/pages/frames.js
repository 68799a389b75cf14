// The frames both sides of the per-frame benchmark analyse: identical 640x480 RGBA canvases.
//   astronaut: the 512x512 portrait scaled to 480x480, centred on mid-grey (one frontal face);
//   group:     the 1666x1136 group photo scaled to fit 640 wide, letterboxed (29 faces);
//   sim:       a simulated light-challenge session from faceid-core's simulator (when built).
export const FRAME_W = 640;
export const FRAME_H = 480;

async function bitmap(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return createImageBitmap(await res.blob());
}

function canvas() {
  const c = document.createElement('canvas');
  c.width = FRAME_W;
  c.height = FRAME_H;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = '#808080';
  ctx.fillRect(0, 0, FRAME_W, FRAME_H);
  return [c, ctx];
}

/** Still frames from the shared face photos, each as [{name, canvases: [canvas]}]. */
export async function stillFrames(dataBase) {
  const astro = await bitmap(`${dataBase}/astronaut.png`);
  const group = await bitmap(`${dataBase}/group29-gray.png`);
  const [ca, xa] = canvas();
  xa.drawImage(astro, (FRAME_W - FRAME_H) / 2, 0, FRAME_H, FRAME_H);
  const [cg, xg] = canvas();
  const gh = Math.round((group.height * FRAME_W) / group.width);
  xg.drawImage(group, 0, Math.round((FRAME_H - gh) / 2), FRAME_W, gh);
  return [
    { name: 'astronaut', canvases: [ca] },
    { name: 'group', canvases: [cg] },
  ];
}

/**
 * Frames of a simulated session, rendered by faceid-core's simulator compiled to wasm
 * (`sim_frames` of scripts/bench/wasm-bench). Returns null with a reason when it is not available.
 */
export async function simFrames(oursBase, dataBase, count, seed) {
  let mod;
  try {
    mod = await import(`${oursBase}/faceid_bench.js`);
    await mod.default();
  } catch (e) {
    return { frames: null, reason: `wasm-bench module not available (${e.message})` };
  }
  const png = new Uint8Array(await (await fetch(`${dataBase}/astronaut.png`)).arrayBuffer());
  let rgba;
  try {
    rgba = mod.sim_frames(png, FRAME_W, FRAME_H, count, BigInt(seed));
  } catch (e) {
    return { frames: null, reason: `sim_frames failed: ${e.message ?? e}` };
  }
  const size = FRAME_W * FRAME_H * 4;
  const canvases = [];
  for (let i = 0; i + size <= rgba.length; i += size) {
    const [c, ctx] = canvas();
    ctx.putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset + i, size), FRAME_W, FRAME_H), 0, 0);
    canvases.push(c);
  }
  return { frames: { name: 'sim', canvases }, reason: null };
}

export function stats(ms) {
  if (ms.length === 0) return null;
  const s = [...ms].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  return { n: s.length, median: q(0.5), p95: q(0.95), min: s[0], max: s[s.length - 1] };
}
