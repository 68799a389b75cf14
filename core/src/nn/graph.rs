//! The fused graph: what the converter produces and the runtime packs, plus its file format.
//!
//! File format (little-endian throughout):
//! ```text
//! "FNN1"
//! source: u32 length, UTF-8 (where the weights came from; informational)
//! tensors: u32 count, then per tensor u32 h, w, c (batch is always 1)
//! input: u32 tensor index
//! outputs: u32 count, then per output: name (u32 length, UTF-8), u32 part count, part tensor indices
//! ops: u32 count, then per op:
//!   u8 kind (0 conv, 1 depthwise conv, 2 max-pool), u32 input, output, kh, kw, stride_h, stride_w,
//!   pad_top, pad_left; for convolutions also: u32 residual (u32::MAX = none), u8 activation
//!   (0 none, 1 ReLU, 2 ReLU6, 3 PReLU), weights (a block), bias (a block), PReLU alphas (a block)
//! block: u8 encoding (0 f32, 1 f16, 2 i8, 3 i8 with f16 maxima), u32 count, then f32 × count,
//!   or u16 (IEEE half) × count, or u32 channels g, u32 inner, f32 scale × g, i8 × count (value
//!   i = q · scale of channel (i / inner) % g), or for 3 the same with u16 (IEEE half) max |w| × g
//!   in place of the scales (scale = max / 127, computed as the writer computed it)
//! ```
//! An i8 block's channels are the conv's output channels: rows of `count / g` values for a full
//! convolution (inner = count / g), the innermost axis for a depthwise one (inner = 1).
//!
//! Half precision is used wherever it is lossless: with [`WeightEncoding::F16`] or
//! [`WeightEncoding::I8`], a bias or PReLU block whose values all survive f16 and back bit for bit
//! is written as f16, and an i8 block whose channel maxima all do as encoding 3. The package's
//! models ship f16 weights, so all of theirs do: BlazeFace's file (embedded in the page's wasm) is
//! 110,969 bytes instead of 119,721 (99,303 instead of 105,522 gzip -9), and a reader gets the
//! same f32 values, bit for bit, either way.

use super::NnError;

const MAGIC: &[u8; 4] = b"FNN1";
/// Index written for "no residual".
const NO_RESIDUAL: u32 = u32::MAX;
/// Largest tensor side or channel count accepted from a file: far above any face model, small
/// enough that sizes computed from it cannot overflow.
const MAX_DIM: u32 = 1 << 16;
/// Largest number of values a tensor or a weight block may hold (256 M), for the same reason.
const MAX_VALUES: usize = 1 << 28;

/// A graph of fused operations on NHWC tensors (batch 1), in execution order.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// Where the weights came from (package, file, digest); informational.
    pub source: String,
    /// Shape `[h, w, c]` of every tensor.
    pub shapes: Vec<[usize; 3]>,
    /// The tensor the caller fills.
    pub input: usize,
    pub outputs: Vec<GraphOutput>,
    pub ops: Vec<Op>,
}

/// A named output: the listed tensors, each flattened (NHWC order), concatenated.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphOutput {
    pub name: String,
    pub parts: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Conv(ConvOp),
    MaxPool(PoolOp),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKind {
    /// Weights `[out_c][kh][kw][in_c]` (TFLite's layout).
    Full,
    /// Weights `[kh][kw][c]`, depth multiplier 1.
    Depthwise,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Activation {
    None,
    Relu,
    Relu6,
    /// `x` for `x ≥ 0`, else `alpha[c] · x`.
    PRelu(Vec<f32>),
}

/// `output = act(conv(input) + bias + residual)`; the residual may have fewer channels than the
/// output (a zero-padded shortcut) and is added to the first ones.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvOp {
    pub kind: ConvKind,
    pub input: usize,
    pub output: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub residual: Option<usize>,
    pub act: Activation,
}

/// Max-pooling; window positions outside the input are ignored (TFLite's SAME padding).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolOp {
    pub input: usize,
    pub output: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

/// How convolution weights are stored in a file (biases and PReLU alphas are `f32`, or `f16` where
/// that is lossless and the encoding is not `F32`: see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightEncoding {
    F32,
    /// IEEE half precision: exact for models shipped in f16 (BlazeFace).
    F16,
    /// Symmetric 8-bit, one scale per output channel (max |w| ↦ 127).
    I8,
}

impl Graph {
    /// Number of values in tensor `t` (0 for an index out of range).
    pub fn len_of(&self, t: usize) -> usize {
        self.shapes.get(t).map_or(0, |[h, w, c]| h * w * c)
    }

    /// Number of values in the named output.
    pub fn output_len(&self, name: &str) -> Option<usize> {
        let out = self.outputs.iter().find(|o| o.name == name)?;
        Some(out.parts.iter().map(|&t| self.len_of(t)).sum())
    }

    /// Checks indices, shapes and weight sizes, so that a [`super::Network`] built from this graph
    /// can index without bounds failures.
    pub fn validate(&self) -> Result<(), NnError> {
        let n = self.shapes.len();
        let bad = |m: &'static str| Err(NnError::Malformed(m));
        if self.input >= n {
            return bad("input index");
        }
        for s in &self.shapes {
            if s.iter().any(|&d| d == 0 || d > MAX_DIM as usize) || s[0] * s[1] * s[2] > MAX_VALUES
            {
                return bad("tensor shape");
            }
        }
        if self
            .outputs
            .iter()
            .any(|o| o.parts.is_empty() || o.parts.iter().any(|&t| t >= n))
        {
            return bad("output index");
        }
        let mut written = vec![false; n];
        written[self.input] = true;
        for op in &self.ops {
            let (input, output, kh, kw, sh, sw) = match op {
                Op::Conv(c) => (c.input, c.output, c.kh, c.kw, c.stride_h, c.stride_w),
                Op::MaxPool(p) => (p.input, p.output, p.kh, p.kw, p.stride_h, p.stride_w),
            };
            if input >= n || output >= n || !written[input] || written[output] {
                return bad("op tensor order");
            }
            written[output] = true;
            if kh == 0 || kw == 0 || sh == 0 || sw == 0 || kh > 64 || kw > 64 || sh > 64 || sw > 64
            {
                return bad("kernel or stride");
            }
            let [_, _, ci] = self.shapes[input];
            let [_, _, co] = self.shapes[output];
            match op {
                Op::Conv(c) => {
                    let expect = match c.kind {
                        ConvKind::Full => co * kh * kw * ci,
                        ConvKind::Depthwise if ci == co => kh * kw * co,
                        ConvKind::Depthwise => return bad("depthwise channels"),
                    };
                    if c.weights.len() != expect || c.bias.len() != co {
                        return bad("weight size");
                    }
                    if let Activation::PRelu(a) = &c.act {
                        if a.len() != co {
                            return bad("prelu size");
                        }
                    }
                    if let Some(r) = c.residual {
                        let (rs, os) = (self.shapes.get(r), self.shapes[output]);
                        match rs {
                            Some(rs)
                                if written[r]
                                    && rs[0] == os[0]
                                    && rs[1] == os[1]
                                    && rs[2] <= os[2] => {}
                            _ => return bad("residual"),
                        }
                    }
                }
                Op::MaxPool(_) if ci != co => return bad("pool channels"),
                Op::MaxPool(_) => {}
            }
        }
        if self
            .outputs
            .iter()
            .flat_map(|o| &o.parts)
            .any(|&t| !written[t])
        {
            return bad("output never written");
        }
        Ok(())
    }

    /// The same network for an input of `height × width` (channels unchanged): every tensor's
    /// size and every op's padding derived again from the input, as TFLite derives them. Each op
    /// keeps the padding rule its sizes show in this graph (SAME: `out = ceil(in / stride)`, the
    /// pad split as TFLite splits it; VALID: no pad, `out = (in − k) / stride + 1`). Only fully
    /// convolutional graphs resize (reshapes and concatenations exist only as flattened outputs
    /// here, so they hold any size); an op whose rule is unclear and matters at the new size, or
    /// a size that leaves some tensor empty, is refused.
    pub fn with_input_size(&self, height: usize, width: usize) -> Result<Graph, NnError> {
        let mut g = self.clone();
        let [_, _, c] = self.shapes[self.input];
        g.shapes[self.input] = [height, width, c];
        for (op, old) in g.ops.iter_mut().zip(&self.ops) {
            let (input, output, kh, kw, sh, sw, pt, pl) = match old {
                Op::Conv(c) => (
                    c.input, c.output, c.kh, c.kw, c.stride_h, c.stride_w, c.pad_top, c.pad_left,
                ),
                Op::MaxPool(p) => (
                    p.input, p.output, p.kh, p.kw, p.stride_h, p.stride_w, p.pad_top, p.pad_left,
                ),
            };
            let ([ih, iw, _], [oh, ow, oc]) = (self.shapes[input], self.shapes[output]);
            let [nh, nw, _] = g.shapes[input];
            let (h, top) = resize_axis(ih, oh, pt, kh, sh, nh)?;
            let (w, left) = resize_axis(iw, ow, pl, kw, sw, nw)?;
            g.shapes[output] = [h, w, oc];
            match op {
                Op::Conv(c) => (c.pad_top, c.pad_left) = (top, left),
                Op::MaxPool(p) => (p.pad_top, p.pad_left) = (top, left),
            }
        }
        g.validate()?;
        Ok(g)
    }

    /// The graph as bytes, convolution weights stored with `encoding`.
    pub fn to_bytes(&self, encoding: WeightEncoding) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.0.extend_from_slice(MAGIC);
        w.str(&self.source);
        w.u32(self.shapes.len() as u32);
        for s in &self.shapes {
            s.iter().for_each(|&d| w.u32(d as u32));
        }
        w.u32(self.input as u32);
        w.u32(self.outputs.len() as u32);
        for o in &self.outputs {
            w.str(&o.name);
            w.u32(o.parts.len() as u32);
            o.parts.iter().for_each(|&p| w.u32(p as u32));
        }
        w.u32(self.ops.len() as u32);
        for op in &self.ops {
            match op {
                Op::Conv(c) => {
                    w.u8(if c.kind == ConvKind::Full { 0 } else { 1 });
                    for v in [
                        c.input, c.output, c.kh, c.kw, c.stride_h, c.stride_w, c.pad_top,
                        c.pad_left,
                    ] {
                        w.u32(v as u32);
                    }
                    w.u32(c.residual.map_or(NO_RESIDUAL, |r| r as u32));
                    let (code, alpha): (u8, &[f32]) = match &c.act {
                        Activation::None => (0, &[]),
                        Activation::Relu => (1, &[]),
                        Activation::Relu6 => (2, &[]),
                        Activation::PRelu(a) => (3, a),
                    };
                    w.u8(code);
                    let channels = self.shapes.get(c.output).map_or(1, |s| s[2]);
                    w.block(&c.weights, encoding, channels, c.kind);
                    let exact = |values: &[f32]| match encoding {
                        WeightEncoding::F32 => WeightEncoding::F32,
                        _ if f16_exact(values) => WeightEncoding::F16,
                        _ => WeightEncoding::F32,
                    };
                    w.block(&c.bias, exact(&c.bias), channels, c.kind);
                    w.block(alpha, exact(alpha), channels, c.kind);
                }
                Op::MaxPool(p) => {
                    w.u8(2);
                    for v in [
                        p.input, p.output, p.kh, p.kw, p.stride_h, p.stride_w, p.pad_top,
                        p.pad_left,
                    ] {
                        w.u32(v as u32);
                    }
                }
            }
        }
        w.0
    }

    /// Reads a graph written by [`Graph::to_bytes`] and validates it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Graph, NnError> {
        let mut r = Reader { b: bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(NnError::NotAModel);
        }
        let source = r.str()?;
        let n = r.count()?;
        let mut shapes = Vec::with_capacity(n);
        for _ in 0..n {
            shapes.push([r.dim()?, r.dim()?, r.dim()?]);
        }
        let input = r.u32()? as usize;
        let mut outputs = Vec::new();
        for _ in 0..r.count()? {
            let name = r.str()?;
            let parts = (0..r.count()?)
                .map(|_| r.u32().map(|v| v as usize))
                .collect::<Result<_, _>>()?;
            outputs.push(GraphOutput { name, parts });
        }
        let mut ops = Vec::new();
        for _ in 0..r.count()? {
            let kind = r.u8()?;
            let mut f = [0usize; 8];
            for v in &mut f {
                *v = r.u32()? as usize;
            }
            let [input, output, kh, kw, stride_h, stride_w, pad_top, pad_left] = f;
            if kind == 2 {
                ops.push(Op::MaxPool(PoolOp {
                    input,
                    output,
                    kh,
                    kw,
                    stride_h,
                    stride_w,
                    pad_top,
                    pad_left,
                }));
                continue;
            }
            let kind = match kind {
                0 => ConvKind::Full,
                1 => ConvKind::Depthwise,
                _ => return Err(NnError::Malformed("op kind")),
            };
            let residual = match r.u32()? {
                NO_RESIDUAL => None,
                t => Some(t as usize),
            };
            let act = r.u8()?;
            let weights = r.block()?;
            let bias = r.block()?;
            let alpha = r.block()?;
            let act = match act {
                0 => Activation::None,
                1 => Activation::Relu,
                2 => Activation::Relu6,
                3 => Activation::PRelu(alpha),
                _ => return Err(NnError::Malformed("activation")),
            };
            ops.push(Op::Conv(ConvOp {
                kind,
                input,
                output,
                kh,
                kw,
                stride_h,
                stride_w,
                pad_top,
                pad_left,
                weights,
                bias,
                residual,
                act,
            }));
        }
        if r.at != bytes.len() {
            return Err(NnError::Malformed("trailing bytes"));
        }
        let g = Graph {
            source,
            shapes,
            input,
            outputs,
            ops,
        };
        g.validate()?;
        Ok(g)
    }
}

/// TFLite's SAME padding before the data on one axis: `out = ceil(in / stride)`, total pad
/// `max((out − 1) · stride + k − in, 0)`, the smaller half first.
pub(crate) fn same_pad_before(input: usize, k: usize, stride: usize) -> usize {
    let out = input.div_ceil(stride.max(1));
    ((out.saturating_sub(1)) * stride + k).saturating_sub(input) / 2
}

/// One axis of an op at a new input size `new_in`: (output size, pad before), by the rule the
/// op's sizes `input → output` with pad `pad` show (see [`Graph::with_input_size`]).
fn resize_axis(
    input: usize,
    output: usize,
    pad: usize,
    k: usize,
    stride: usize,
    new_in: usize,
) -> Result<(usize, usize), NnError> {
    let same = |i: usize| (i.div_ceil(stride), same_pad_before(i, k, stride));
    let valid = |i: usize| (i >= k).then(|| ((i - k) / stride + 1, 0));
    let (is_same, is_valid) = (
        same(input) == (output, pad),
        valid(input) == Some((output, pad)),
    );
    let resized = match (is_same, is_valid) {
        (true, false) => Some(same(new_in)),
        (false, true) => valid(new_in),
        // Both rules fit the original sizes: fine as long as they agree at the new one.
        (true, true) => Some(same(new_in)).filter(|&s| valid(new_in) == Some(s)),
        (false, false) => {
            return Err(NnError::Unsupported(format!(
                "an op of {input} → {output} (kernel {k}, stride {stride}, pad {pad}) follows neither SAME nor VALID padding"
            )))
        }
    };
    match resized {
        Some(r) if r.0 > 0 => Ok(r),
        _ => Err(NnError::Unsupported(format!(
            "input size {new_in} on an op of kernel {k}, stride {stride} (was {input} → {output})"
        ))),
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }

    /// A block of `values`; for i8, `channels` groups laid out as `kind` lays out its weights.
    fn block(&mut self, values: &[f32], encoding: WeightEncoding, channels: usize, kind: ConvKind) {
        let encoding = if values.is_empty() {
            WeightEncoding::F32
        } else {
            encoding
        };
        match encoding {
            WeightEncoding::F32 => {
                self.u8(0);
                self.u32(values.len() as u32);
                values
                    .iter()
                    .for_each(|v| self.0.extend_from_slice(&v.to_le_bytes()));
            }
            WeightEncoding::F16 => {
                self.u8(1);
                self.u32(values.len() as u32);
                values
                    .iter()
                    .for_each(|&v| self.0.extend_from_slice(&f32_to_f16(v).to_le_bytes()));
            }
            WeightEncoding::I8 => {
                let g = channels.max(1);
                // Output channels are rows of a full conv's weights and the innermost axis of a
                // depthwise conv's: value i belongs to channel (i / inner) % g.
                let inner = match kind {
                    ConvKind::Full => (values.len() / g).max(1),
                    ConvKind::Depthwise => 1,
                };
                let channel = |i: usize| (i / inner) % g;
                let mut max = vec![0f32; g];
                for (i, v) in values.iter().enumerate() {
                    max[channel(i)] = max[channel(i)].max(v.abs());
                }
                let scales: Vec<f32> = max.iter().map(|&m| i8_scale(m)).collect();
                let half_maxima = f16_exact(&max);
                self.u8(if half_maxima { 3 } else { 2 });
                self.u32(values.len() as u32);
                self.u32(g as u32);
                self.u32(inner as u32);
                if half_maxima {
                    max.iter()
                        .for_each(|&m| self.0.extend_from_slice(&f32_to_f16(m).to_le_bytes()));
                } else {
                    scales
                        .iter()
                        .for_each(|s| self.0.extend_from_slice(&s.to_le_bytes()));
                }
                for (i, v) in values.iter().enumerate() {
                    let q = (v / scales[channel(i)]).round().clamp(-127.0, 127.0) as i8;
                    self.0.push(q as u8);
                }
            }
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], NnError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(NnError::Malformed("truncated"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, NnError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, NnError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u16(&mut self) -> Result<u16, NnError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn f32(&mut self) -> Result<f32, NnError> {
        Ok(f32::from_bits(self.u32()?))
    }

    /// A count of items that each take at least one byte: bounded by what is left.
    fn count(&mut self) -> Result<usize, NnError> {
        let n = self.u32()? as usize;
        if n > self.b.len() - self.at {
            return Err(NnError::Malformed("count"));
        }
        Ok(n)
    }

    fn dim(&mut self) -> Result<usize, NnError> {
        match self.u32()? {
            d @ 1..=MAX_DIM => Ok(d as usize),
            _ => Err(NnError::Malformed("dimension")),
        }
    }

    fn str(&mut self) -> Result<String, NnError> {
        let n = self.count()?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| NnError::Malformed("string"))
    }

    fn block(&mut self) -> Result<Vec<f32>, NnError> {
        let encoding = self.u8()?;
        let n = self.u32()? as usize;
        if n > MAX_VALUES {
            return Err(NnError::Malformed("block size"));
        }
        match encoding {
            0 => {
                let bytes = self.take(n.checked_mul(4).ok_or(NnError::Malformed("block size"))?)?;
                Ok(bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect())
            }
            1 => {
                let bytes = self.take(n.checked_mul(2).ok_or(NnError::Malformed("block size"))?)?;
                Ok(bytes
                    .chunks_exact(2)
                    .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                    .collect())
            }
            2 | 3 => {
                let (g, inner) = (self.u32()? as usize, self.u32()? as usize);
                if g == 0 || inner == 0 || g.checked_mul(inner).is_none_or(|gi| gi > n.max(1)) {
                    return Err(NnError::Malformed("i8 channels"));
                }
                let scales = (0..g)
                    .map(|_| match encoding {
                        2 => self.f32(),
                        _ => self.u16().map(|h| i8_scale(f16_to_f32(h))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let q = self.take(n)?;
                Ok(q.iter()
                    .enumerate()
                    .map(|(i, &b)| b as i8 as f32 * scales[(i / inner) % g])
                    .collect())
            }
            _ => Err(NnError::Malformed("block encoding")),
        }
    }
}

/// The i8 scale of a channel whose largest |weight| is `max` (max ↦ 127); the reader of an
/// encoding-3 block computes it from the stored maximum with this same function, so it gets the
/// writer's scale bit for bit.
fn i8_scale(max: f32) -> f32 {
    if max > 0.0 {
        max / 127.0
    } else {
        1.0
    }
}

/// Whether every value survives f16 and back bit for bit (so storing it as f16 loses nothing).
fn f16_exact(values: &[f32]) -> bool {
    values
        .iter()
        .all(|&v| f16_to_f32(f32_to_f16(v)).to_bits() == v.to_bits())
}

/// IEEE 754 half → single (exact).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise.
            let shift = m.leading_zeros() - 21;
            let m = (m << shift) & 0x3ff;
            sign | ((113 - shift) << 23) | (m << 13)
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, m) => sign | 0x7fc0_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// Single → IEEE 754 half, round to nearest even (exact for values that came from f16).
pub(crate) fn f32_to_f16(v: f32) -> u16 {
    let bits = v.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if mant != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = mant | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = m >> shift;
        let rem = m & ((1 << shift) - 1);
        let mid = 1 << (shift - 1);
        let round = (rem > mid || (rem == mid && half & 1 == 1)) as u32;
        return sign | (half + round) as u16;
    }
    let half = ((e as u32) << 10) | (mant >> 13);
    let rem = mant & 0x1fff;
    let round = (rem > 0x1000 || (rem == 0x1000 && half & 1 == 1)) as u32;
    sign | (half + round) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One 1×1 full convolution, 2 → 2 channels, with PReLU.
    fn conv(weights: [f32; 4], bias: [f32; 2], alpha: [f32; 2]) -> Graph {
        Graph {
            source: "test".into(),
            shapes: vec![[1, 1, 2], [1, 1, 2]],
            input: 0,
            outputs: vec![GraphOutput {
                name: "out".into(),
                parts: vec![1],
            }],
            ops: vec![Op::Conv(ConvOp {
                kind: ConvKind::Full,
                input: 0,
                output: 1,
                kh: 1,
                kw: 1,
                stride_h: 1,
                stride_w: 1,
                pad_top: 0,
                pad_left: 0,
                weights: weights.to_vec(),
                bias: bias.to_vec(),
                residual: None,
                act: Activation::PRelu(alpha.to_vec()),
            })],
        }
    }

    fn blocks(g: &Graph) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        match &g.ops[0] {
            Op::Conv(ConvOp {
                weights,
                bias,
                act: Activation::PRelu(alpha),
                ..
            }) => (weights.clone(), bias.clone(), alpha.clone()),
            other => panic!("{other:?}"),
        }
    }

    /// What i8 storage of `w` gives back with the scale written as an f32 (encoding 2).
    fn quantised(w: [f32; 4]) -> Vec<f32> {
        let scale = |row: &[f32]| i8_scale(row.iter().fold(0f32, |m, v| m.max(v.abs())));
        let (s0, s1) = (scale(&w[..2]), scale(&w[2..]));
        w.iter()
            .zip([s0, s0, s1, s1])
            .map(|(v, s)| (v / s).round().clamp(-127.0, 127.0) as i8 as f32 * s)
            .collect()
    }

    #[test]
    fn resizing_keeps_each_ops_padding_rule() {
        // SAME, 5×5 stride 2 (BlazeFace's downsampling): 128 → 64 with pad 1; 96 → 48, pad 1.
        assert_eq!(same_pad_before(128, 5, 2), 1);
        assert_eq!(resize_axis(128, 64, 1, 5, 2, 96).unwrap(), (48, 1));
        // VALID, 3×3 stride 1: 10 → 8 without pad; 7 → 5.
        assert_eq!(resize_axis(10, 8, 0, 3, 1, 7).unwrap(), (5, 0));
        // A 2×2 stride-2 pool fits both rules on even sizes; an odd size would tell them apart.
        assert_eq!(resize_axis(16, 8, 0, 2, 2, 12).unwrap(), (6, 0));
        assert!(resize_axis(16, 8, 0, 2, 2, 13).is_err());
        // Neither rule: refused.
        assert!(resize_axis(10, 7, 0, 3, 1, 12).is_err());
        // A 1×1 graph resized: the output follows the input.
        let g = conv([1.0, 0.0, 0.0, 1.0], [0.0; 2], [0.0; 2]);
        let r = g.with_input_size(3, 4).unwrap();
        assert_eq!(r.shapes, vec![[3, 4, 2], [3, 4, 2]]);
    }

    #[test]
    fn half_precision_is_used_only_where_it_is_lossless() {
        // f16 values (as the package's models hold): maxima 0.75 and 3.0, bias and slopes exact.
        let w = [0.75, -0.3125, 1.5, -3.0];
        let exact = conv(w, [0.5, -2.25], [0.25, 0.125]);
        let bytes = exact.to_bytes(WeightEncoding::I8);
        let back = Graph::from_bytes(&bytes).unwrap();
        let (weights, bias, alpha) = blocks(&back);
        assert_eq!(weights, quantised(w));
        assert_eq!((bias, alpha), (vec![0.5, -2.25], vec![0.25, 0.125]));

        // 0.1 and a maximum of 0.3 are not f16 values: f32 blocks and f32 scales, as before.
        let w = [0.3, -0.1, 1.5, -3.0];
        let inexact = conv(w, [0.1, -2.25], [0.25, 0.125]);
        let longer = inexact.to_bytes(WeightEncoding::I8);
        let back = Graph::from_bytes(&longer).unwrap();
        let (weights, bias, alpha) = blocks(&back);
        assert_eq!(weights, quantised(w));
        assert_eq!((bias, alpha), (vec![0.1, -2.25], vec![0.25, 0.125]));
        // The two scales and the two bias values take 4 bytes each instead of 2; the slopes, still
        // exact, stay f16.
        assert_eq!(longer.len() - bytes.len(), 2 * 2 + 2 * 2);

        // With f32 weights everything stays f32, exact or not: bias and slopes take 4 bytes more
        // each than in the i8 file (whose weight block happens to be as long as four f32s).
        let full = exact.to_bytes(WeightEncoding::F32);
        assert_eq!(Graph::from_bytes(&full).unwrap(), exact);
        assert_eq!(full.len() - bytes.len(), 4 * 2);
    }
}
