//! The runtime: a [`Graph`] packed for the kernels, with its activation buffers planned once.
//!
//! Activations are NHWC with the channel axis padded to a multiple of [`LANES`] (the padding
//! channels hold zeros: zero weights and zero bias keep them zero through every op), so every
//! kernel works on whole blocks of eight channels. The graph input keeps its own channel count
//! (3 for RGB), which only full convolutions read.
//!
//! Kernels are written on `[f32; LANES]` blocks with plain loops; LLVM vectorises them (two
//! 4-lane operations per block in wasm simd128 or SSE, one in AVX). Max and ReLU use
//! comparisons (`if a > b`), which lower to `f32x4.pmax`/`maxps`, not `f32::max`'s NaN handling.

use super::graph::{Activation, ConvKind, Graph, Op};
use super::simd::F4;
use super::NnError;

/// Channels per block.
const LANES: usize = 8;
/// Output pixels per block of the 1×1 convolution: 4 pixels × 8 channels keep 4 accumulators of
/// two vectors each in registers while one weight row is loaded per input channel.
const PIXELS: usize = 4;

fn round_up(c: usize) -> usize {
    c.div_ceil(LANES) * LANES
}

/// Where a tensor lives: its buffer and its layout.
#[derive(Clone, Copy, Debug)]
struct Slot {
    buffer: usize,
    h: usize,
    w: usize,
    /// Logical channels.
    c: usize,
    /// Channel stride (c rounded up to LANES, except for the graph input).
    cs: usize,
}

impl Slot {
    fn len(&self) -> usize {
        self.h * self.w * self.cs
    }
}

enum Act {
    None,
    Relu,
    Relu6,
    /// Alphas, padded to the output's channel stride.
    PRelu(Vec<f32>),
}

struct PackedConv {
    depthwise: bool,
    input: usize,
    output: usize,
    residual: Option<usize>,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    pt: usize,
    pl: usize,
    /// Full: `[output block][ky][kx][ci (input stride)][LANES]`; depthwise: `[ky][kx][c stride]`.
    weights: Vec<f32>,
    /// Padded to the output's channel stride.
    bias: Vec<f32>,
    act: Act,
}

struct PackedPool {
    input: usize,
    output: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    pt: usize,
    pl: usize,
}

enum Step {
    Conv(PackedConv),
    Pool(PackedPool),
}

/// A graph ready to run. Built once (packing and buffer planning allocate); [`Network::run`] does
/// not allocate.
pub struct Network {
    slots: Vec<Slot>,
    buffers: Vec<Vec<f32>>,
    steps: Vec<Step>,
    input: usize,
    outputs: Vec<(String, Vec<usize>)>,
    /// Each output, unpadded and concatenated, after the last run.
    results: Vec<Vec<f32>>,
    /// One pixel's accumulators for the depthwise kernel (the widest channel stride).
    scratch: Vec<f32>,
    source: String,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("source", &self.source)
            .field("steps", &self.steps.len())
            .field("buffers", &self.buffers.len())
            .finish()
    }
}

impl Network {
    /// Reads a model file ([`Graph::from_bytes`]) and packs it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Network, NnError> {
        Network::new(&Graph::from_bytes(bytes)?)
    }

    /// Packs a validated graph.
    pub fn new(g: &Graph) -> Result<Network, NnError> {
        g.validate()?;
        let n = g.shapes.len();
        // Layouts.
        let mut slots: Vec<Slot> = g
            .shapes
            .iter()
            .enumerate()
            .map(|(t, &[h, w, c])| Slot {
                buffer: 0,
                h,
                w,
                c,
                cs: if t == g.input { c } else { round_up(c) },
            })
            .collect();
        for op in &g.ops {
            let reads_input = match op {
                Op::Conv(c) => {
                    (c.kind == ConvKind::Depthwise && c.input == g.input)
                        || c.residual == Some(g.input)
                }
                Op::MaxPool(p) => p.input == g.input,
            };
            if reads_input {
                return Err(NnError::Unsupported(
                    "the graph input feeds an op other than a full convolution".into(),
                ));
            }
        }
        // Buffer planning: a tensor's buffer is free again after its last reader; an op's output
        // never shares a buffer with its inputs.
        let mut last_use = vec![0usize; n];
        for (i, op) in g.ops.iter().enumerate() {
            let reads: Vec<usize> = match op {
                Op::Conv(c) => std::iter::once(c.input).chain(c.residual).collect(),
                Op::MaxPool(p) => vec![p.input],
            };
            reads
                .into_iter()
                .for_each(|t| last_use[t] = last_use[t].max(i));
        }
        for o in &g.outputs {
            o.parts.iter().for_each(|&t| last_use[t] = usize::MAX);
        }
        let mut sizes: Vec<usize> = Vec::new();
        let mut busy_until: Vec<usize> = Vec::new();
        // Tensor `t` written by op `at`: any buffer whose tensor was last read before `at` is
        // free; the op's own inputs are read at `at`, so they are never chosen.
        let mut assign = |t: usize, at: usize, slots: &mut [Slot]| {
            let need = slots[t].len();
            let free = (0..sizes.len())
                .filter(|&b| busy_until[b] < at)
                .min_by_key(|&b| (sizes[b] < need, sizes[b].abs_diff(need)));
            let b = free.unwrap_or_else(|| {
                sizes.push(0);
                busy_until.push(0);
                sizes.len() - 1
            });
            sizes[b] = sizes[b].max(need);
            busy_until[b] = last_use[t];
            slots[t].buffer = b;
        };
        assign(g.input, 0, &mut slots);
        for (i, op) in g.ops.iter().enumerate() {
            let out = match op {
                Op::Conv(c) => c.output,
                Op::MaxPool(p) => p.output,
            };
            assign(out, i, &mut slots);
        }
        let buffers = sizes.iter().map(|&s| vec![0f32; s]).collect();
        let steps = g.ops.iter().map(|op| pack(op, &slots)).collect();
        let outputs: Vec<(String, Vec<usize>)> = g
            .outputs
            .iter()
            .map(|o| (o.name.clone(), o.parts.clone()))
            .collect();
        let results = outputs
            .iter()
            .map(|(_, parts)| vec![0f32; parts.iter().map(|&t| g.len_of(t)).sum()])
            .collect();
        let scratch = vec![0f32; slots.iter().map(|s| s.cs).max().unwrap_or(0)];
        Ok(Network {
            slots,
            buffers,
            steps,
            input: g.input,
            outputs,
            results,
            scratch,
            source: g.source.clone(),
        })
    }

    /// Where the weights came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `[h, w, c]` of the input.
    pub fn input_shape(&self) -> [usize; 3] {
        let s = self.slots[self.input];
        [s.h, s.w, s.c]
    }

    /// Runs the graph on `input` (NHWC, `h × w × c` values).
    pub fn run(&mut self, input: &[f32]) -> Result<(), NnError> {
        let s = self.slots[self.input];
        let expected = s.h * s.w * s.c;
        if input.len() != expected {
            return Err(NnError::InputSize {
                expected,
                got: input.len(),
            });
        }
        self.buffers[s.buffer][..expected].copy_from_slice(input);
        for step in &self.steps {
            match step {
                Step::Conv(c) => run_conv(c, &self.slots, &mut self.buffers, &mut self.scratch),
                Step::Pool(p) => run_pool(p, &self.slots, &mut self.buffers),
            }
        }
        for ((_, parts), result) in self.outputs.iter().zip(&mut self.results) {
            let mut at = 0;
            for &t in parts {
                let s = self.slots[t];
                let data = &self.buffers[s.buffer];
                for px in 0..s.h * s.w {
                    result[at..at + s.c].copy_from_slice(&data[px * s.cs..px * s.cs + s.c]);
                    at += s.c;
                }
            }
        }
        Ok(())
    }

    /// The named output of the last run (flattened NHWC, parts concatenated).
    pub fn output(&self, name: &str) -> Result<&[f32], NnError> {
        self.outputs
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| &self.results[i][..])
            .ok_or_else(|| NnError::NoSuchOutput(name.to_string()))
    }

    /// Output names, in the model's order.
    pub fn output_names(&self) -> impl Iterator<Item = &str> {
        self.outputs.iter().map(|(n, _)| n.as_str())
    }
}

fn pack(op: &Op, slots: &[Slot]) -> Step {
    match op {
        Op::MaxPool(p) => Step::Pool(PackedPool {
            input: p.input,
            output: p.output,
            kh: p.kh,
            kw: p.kw,
            sh: p.stride_h,
            sw: p.stride_w,
            pt: p.pad_top,
            pl: p.pad_left,
        }),
        Op::Conv(c) => {
            let (si, so) = (slots[c.input], slots[c.output]);
            let taps = c.kh * c.kw;
            let weights = match c.kind {
                ConvKind::Full => {
                    // [output block][tap][ci][LANES]
                    let mut w = vec![0f32; taps * si.cs * so.cs];
                    for o in 0..so.c {
                        let (ob, j) = (o / LANES, o % LANES);
                        for t in 0..taps {
                            for i in 0..si.c {
                                w[((ob * taps + t) * si.cs + i) * LANES + j] =
                                    c.weights[(o * taps + t) * si.c + i];
                            }
                        }
                    }
                    w
                }
                ConvKind::Depthwise => {
                    let mut w = vec![0f32; taps * so.cs];
                    for t in 0..taps {
                        w[t * so.cs..t * so.cs + so.c]
                            .copy_from_slice(&c.weights[t * so.c..(t + 1) * so.c]);
                    }
                    w
                }
            };
            let padded = |v: &[f32]| {
                let mut p = vec![0f32; so.cs];
                p[..so.c].copy_from_slice(v);
                p
            };
            let act = match &c.act {
                Activation::None => Act::None,
                Activation::Relu => Act::Relu,
                Activation::Relu6 => Act::Relu6,
                Activation::PRelu(a) => Act::PRelu(padded(a)),
            };
            Step::Conv(PackedConv {
                depthwise: c.kind == ConvKind::Depthwise,
                input: c.input,
                output: c.output,
                residual: c.residual,
                kh: c.kh,
                kw: c.kw,
                sh: c.stride_h,
                sw: c.stride_w,
                pt: c.pad_top,
                pl: c.pad_left,
                weights,
                bias: padded(&c.bias),
                act,
            })
        }
    }
}

/// One block of LANES channels as two vectors.
type Block = [F4; 2];

#[inline(always)]
fn load_block(s: &[f32]) -> Block {
    [F4::load(s), F4::load(s.get(4..).unwrap_or(&[]))]
}

#[inline(always)]
fn store_block(b: Block, s: &mut [f32]) {
    let (lo, hi) = s.split_at_mut(4.min(s.len()));
    b[0].store(lo);
    b[1].store(hi);
}

/// `acc + x · w` on a block.
#[inline(always)]
fn mul_add(acc: Block, x: F4, w: Block) -> Block {
    [acc[0].mul_add(x, w[0]), acc[1].mul_add(x, w[1])]
}

/// Adds the residual block (if any) and applies the activation to one block of LANES channels
/// starting at channel `o` of an output pixel.
#[inline(always)]
fn finish(mut acc: Block, res: Option<&[f32]>, act: &Act, o: usize) -> Block {
    if let Some(r) = res {
        let r = load_block(r);
        acc = [acc[0].add(r[0]), acc[1].add(r[1])];
    }
    let zero = F4::splat(0.0);
    match act {
        Act::None => acc,
        Act::Relu => [acc[0].max(zero), acc[1].max(zero)],
        Act::Relu6 => {
            let six = F4::splat(6.0);
            [acc[0].max(zero).min(six), acc[1].max(zero).min(six)]
        }
        Act::PRelu(alpha) => {
            // max(x, 0) + a·min(x, 0): no branch per lane.
            let a = load_block(&alpha[o..]);
            [
                acc[0].max(zero).add(acc[0].min(zero).mul(a[0])),
                acc[1].max(zero).add(acc[1].min(zero).mul(a[1])),
            ]
        }
    }
}

fn run_conv(c: &PackedConv, slots: &[Slot], buffers: &mut [Vec<f32>], scratch: &mut [f32]) {
    let (si, so) = (slots[c.input], slots[c.output]);
    // The output buffer is taken out while the inputs are read (the planner never gives an op's
    // output the buffer of one of its inputs); taking a Vec out does not allocate.
    let mut out = std::mem::take(&mut buffers[so.buffer]);
    {
        let input = &buffers[si.buffer][..si.len()];
        let res = c
            .residual
            .map(|r| (&buffers[slots[r].buffer][..slots[r].len()], slots[r].cs));
        let output = &mut out[..so.len()];
        if c.depthwise {
            depthwise(c, si, so, input, res, output, scratch);
        } else if c.kh == 1 && c.kw == 1 && c.sh == 1 && c.sw == 1 && si.h == so.h && si.w == so.w {
            pointwise(c, si.cs, so.cs, input, res, output);
        } else {
            full(c, si, so, input, res, output);
        }
    }
    buffers[so.buffer] = out;
}

/// The residual block for channels `o..o + LANES` of pixel `p`, if the residual has them.
#[inline(always)]
fn residual_block(res: Option<(&[f32], usize)>, p: usize, o: usize) -> Option<&[f32]> {
    let (r, cs) = res?;
    (o < cs).then(|| &r[p * cs + o..p * cs + o + LANES])
}

/// 1×1 convolution, stride 1: every output pixel is `W · x + b`. Weights are packed
/// `[output block][ci][LANES]`, so one block's weights are read as one contiguous run; four
/// pixels share each weight load.
#[inline(never)]
fn pointwise(
    c: &PackedConv,
    ci: usize,
    co: usize,
    x: &[f32],
    res: Option<(&[f32], usize)>,
    out: &mut [f32],
) {
    let pixels = x.len() / ci.max(1);
    let mut p = 0;
    while p + PIXELS <= pixels {
        let xs: [&[f32]; PIXELS] = std::array::from_fn(|q| &x[(p + q) * ci..(p + q + 1) * ci]);
        for (ob, w) in c.weights.chunks_exact(ci * LANES).enumerate() {
            let o = ob * LANES;
            let b = load_block(&c.bias[o..]);
            let mut acc = [b; PIXELS];
            for ((((wv, &x0), &x1), &x2), &x3) in w
                .chunks_exact(LANES)
                .zip(xs[0])
                .zip(xs[1])
                .zip(xs[2])
                .zip(xs[3])
            {
                let wv = load_block(wv);
                acc[0] = mul_add(acc[0], F4::splat(x0), wv);
                acc[1] = mul_add(acc[1], F4::splat(x1), wv);
                acc[2] = mul_add(acc[2], F4::splat(x2), wv);
                acc[3] = mul_add(acc[3], F4::splat(x3), wv);
            }
            for (q, a) in acc.into_iter().enumerate() {
                let a = finish(a, residual_block(res, p + q, o), &c.act, o);
                store_block(a, &mut out[(p + q) * co + o..(p + q) * co + o + LANES]);
            }
        }
        p += PIXELS;
    }
    while p < pixels {
        let xs = &x[p * ci..(p + 1) * ci];
        for (ob, w) in c.weights.chunks_exact(ci * LANES).enumerate() {
            let o = ob * LANES;
            let mut acc = load_block(&c.bias[o..]);
            for (wv, &xv) in w.chunks_exact(LANES).zip(xs) {
                acc = mul_add(acc, F4::splat(xv), load_block(wv));
            }
            let a = finish(acc, residual_block(res, p, o), &c.act, o);
            store_block(a, &mut out[p * co + o..p * co + o + LANES]);
        }
        p += 1;
    }
}

/// Any other full convolution (strides, padding, kernels larger than 1×1). Weights are packed
/// `[output block][ky][kx][ci][LANES]`: for one kernel row, the taps inside the input are one
/// contiguous run of the input row and one contiguous run of the weights.
#[inline(never)]
fn full(
    c: &PackedConv,
    si: Slot,
    so: Slot,
    x: &[f32],
    res: Option<(&[f32], usize)>,
    out: &mut [f32],
) {
    let ci = si.cs;
    let row_len = c.kw * ci * LANES;
    let block_len = c.kh * row_len;
    for oy in 0..so.h {
        let (ky0, ky1) = taps(oy, c.sh, c.pt, c.kh, si.h);
        for ox in 0..so.w {
            let (kx0, kx1) = taps(ox, c.sw, c.pl, c.kw, si.w);
            let p = oy * so.w + ox;
            let ix0 = (ox * c.sw + kx0).saturating_sub(c.pl);
            let run = (kx1 - kx0) * ci;
            for (ob, w) in c.weights.chunks_exact(block_len).enumerate() {
                let o = ob * LANES;
                let mut acc = load_block(&c.bias[o..]);
                for ky in ky0..ky1 {
                    let iy = oy * c.sh + ky - c.pt;
                    let xrun = &x[(iy * si.w + ix0) * ci..][..run];
                    let wrun = &w[ky * row_len + kx0 * ci * LANES..][..run * LANES];
                    for (&xv, wv) in xrun.iter().zip(wrun.chunks_exact(LANES)) {
                        acc = mul_add(acc, F4::splat(xv), load_block(wv));
                    }
                }
                let a = finish(acc, residual_block(res, p, o), &c.act, o);
                store_block(a, &mut out[p * so.cs + o..p * so.cs + o + LANES]);
            }
        }
    }
}

/// The kernel taps `k0..k1` of output position `o` that fall inside an input of `size`.
#[inline(always)]
fn taps(o: usize, stride: usize, pad: usize, k: usize, size: usize) -> (usize, usize) {
    let start = o * stride;
    // Input index of tap t is start + t − pad: inside when pad ≤ start + t < size + pad.
    let k0 = pad.saturating_sub(start).min(k);
    let k1 = (size + pad).saturating_sub(start).min(k).max(k0);
    (k0, k1)
}

/// Depthwise convolution, one output pixel at a time: the taps inside the input are summed over
/// all channels at once (long contiguous runs), then the blocks are finished. Weights are packed
/// `[ky][kx][c]`.
#[inline(never)]
fn depthwise(
    c: &PackedConv,
    si: Slot,
    so: Slot,
    x: &[f32],
    res: Option<(&[f32], usize)>,
    out: &mut [f32],
    acc: &mut [f32],
) {
    let cs = so.cs;
    let acc = &mut acc[..cs];
    for oy in 0..so.h {
        let (ky0, ky1) = taps(oy, c.sh, c.pt, c.kh, si.h);
        for ox in 0..so.w {
            let (kx0, kx1) = taps(ox, c.sw, c.pl, c.kw, si.w);
            acc.copy_from_slice(&c.bias[..cs]);
            for ky in ky0..ky1 {
                let iy = oy * c.sh + ky - c.pt;
                for kx in kx0..kx1 {
                    let ix = ox * c.sw + kx - c.pl;
                    let xv = &x[(iy * si.w + ix) * cs..][..cs];
                    let wv = &c.weights[(ky * c.kw + kx) * cs..][..cs];
                    for ((a, xi), wi) in acc
                        .chunks_exact_mut(4)
                        .zip(xv.chunks_exact(4))
                        .zip(wv.chunks_exact(4))
                    {
                        F4::load(a).mul_add(F4::load(xi), F4::load(wi)).store(a);
                    }
                }
            }
            let p = oy * so.w + ox;
            for (ob, a) in acc.chunks_exact(LANES).enumerate() {
                let o = ob * LANES;
                let a = finish(load_block(a), residual_block(res, p, o), &c.act, o);
                store_block(a, &mut out[p * cs + o..p * cs + o + LANES]);
            }
        }
    }
}

#[inline(never)]
fn run_pool(p: &PackedPool, slots: &[Slot], buffers: &mut [Vec<f32>]) {
    let (si, so) = (slots[p.input], slots[p.output]);
    let mut out = std::mem::take(&mut buffers[so.buffer]);
    let input = &buffers[si.buffer][..si.len()];
    for oy in 0..so.h {
        let (ky0, ky1) = taps(oy, p.sh, p.pt, p.kh, si.h);
        for ox in 0..so.w {
            let (kx0, kx1) = taps(ox, p.sw, p.pl, p.kw, si.w);
            let o = &mut out[(oy * so.w + ox) * so.cs..][..so.cs];
            o.fill(f32::NEG_INFINITY);
            for ky in ky0..ky1 {
                for kx in kx0..kx1 {
                    let (iy, ix) = (oy * p.sh + ky - p.pt, ox * p.sw + kx - p.pl);
                    let xv = &input[(iy * si.w + ix) * si.cs..][..si.cs];
                    for (a, xi) in o.chunks_exact_mut(4).zip(xv.chunks_exact(4)) {
                        F4::load(a).max(F4::load(xi)).store(a);
                    }
                }
            }
        }
    }
    buffers[so.buffer] = out;
}
