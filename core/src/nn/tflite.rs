//! TFLite flatbuffer → [`Graph`]: reads the subset of the schema these models use
//! (`tensorflow/lite/schema/schema.fbs`: Model, SubGraph, Tensor, Buffer, Operator, OperatorCode and
//! the options of the ops below) and fuses the ops into [`ConvOp`]s and [`PoolOp`]s.
//!
//! Supported builtin ops: CONV_2D, DEPTHWISE_CONV_2D (multiplier 1), ADD, RELU, RELU6, PRELU,
//! MAX_POOL_2D, PAD (channels only, feeding an ADD), DEQUANTIZE (of f16 constants), RESHAPE and
//! CONCATENATION (only on the way to a graph output). Dilation must be 1. Anything else is
//! refused with [`NnError::UnsupportedOp`], never silently changed.

use std::collections::HashMap;

use super::graph::{same_pad_before, Activation, ConvKind, ConvOp, Graph, GraphOutput, Op, PoolOp};
use super::NnError;

// Builtin operator codes (schema.fbs `enum BuiltinOperator`).
const ADD: i32 = 0;
const CONCATENATION: i32 = 2;
const CONV_2D: i32 = 3;
const DEPTHWISE_CONV_2D: i32 = 4;
const DEQUANTIZE: i32 = 6;
const MAX_POOL_2D: i32 = 17;
const RELU: i32 = 19;
const RELU6: i32 = 21;
const RESHAPE: i32 = 22;
const PAD: i32 = 34;
const PRELU: i32 = 54;

// Tensor types (schema.fbs `enum TensorType`).
const FLOAT32: u8 = 0;
const FLOAT16: u8 = 1;
const INT32: u8 = 2;

/// schema.fbs `enum Padding`.
const PADDING_SAME: u8 = 0;

/// A flatbuffer table: its position and its vtable's.
#[derive(Clone, Copy)]
struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
}

fn read<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N], NnError> {
    buf.get(at..at.checked_add(N).ok_or(NnError::Malformed("offset"))?)
        .and_then(|s| s.try_into().ok())
        .ok_or(NnError::Malformed("flatbuffer offset out of range"))
}

fn u32_at(buf: &[u8], at: usize) -> Result<u32, NnError> {
    read::<4>(buf, at).map(u32::from_le_bytes)
}

impl<'a> Table<'a> {
    fn at(buf: &'a [u8], pos: usize) -> Result<Table<'a>, NnError> {
        let soffset = i32::from_le_bytes(read::<4>(buf, pos)?) as i64;
        let vtable =
            usize::try_from(pos as i64 - soffset).map_err(|_| NnError::Malformed("vtable"))?;
        let vtable_len = u16::from_le_bytes(read::<2>(buf, vtable)?) as usize;
        Ok(Table {
            buf,
            pos,
            vtable,
            vtable_len,
        })
    }

    /// Absolute position of field `slot`, None when absent (its default applies).
    fn field(&self, slot: usize) -> Result<Option<usize>, NnError> {
        let entry = 4 + 2 * slot;
        if entry + 2 > self.vtable_len {
            return Ok(None);
        }
        let off = u16::from_le_bytes(read::<2>(self.buf, self.vtable + entry)?) as usize;
        Ok((off != 0).then_some(self.pos + off))
    }

    fn scalar<const N: usize>(&self, slot: usize) -> Result<Option<[u8; N]>, NnError> {
        self.field(slot)?
            .map(|p| read::<N>(self.buf, p))
            .transpose()
    }

    fn u8(&self, slot: usize, default: u8) -> Result<u8, NnError> {
        Ok(self.scalar::<1>(slot)?.map_or(default, |b| b[0]))
    }

    fn i32(&self, slot: usize, default: i32) -> Result<i32, NnError> {
        Ok(self.scalar::<4>(slot)?.map_or(default, i32::from_le_bytes))
    }

    fn u32(&self, slot: usize, default: u32) -> Result<u32, NnError> {
        Ok(self.scalar::<4>(slot)?.map_or(default, u32::from_le_bytes))
    }

    fn indirect(&self, p: usize) -> Result<usize, NnError> {
        p.checked_add(u32_at(self.buf, p)? as usize)
            .ok_or(NnError::Malformed("offset"))
    }

    fn table(&self, slot: usize) -> Result<Option<Table<'a>>, NnError> {
        self.field(slot)?
            .map(|p| Table::at(self.buf, self.indirect(p)?))
            .transpose()
    }

    /// (first element position, length) of a vector field.
    fn vector(&self, slot: usize, elem: usize) -> Result<Option<(usize, usize)>, NnError> {
        let Some(p) = self.field(slot)? else {
            return Ok(None);
        };
        let v = self.indirect(p)?;
        let len = u32_at(self.buf, v)? as usize;
        let start = v + 4;
        if len
            .checked_mul(elem)
            .and_then(|b| b.checked_add(start))
            .is_none_or(|end| end > self.buf.len())
        {
            return Err(NnError::Malformed("vector length"));
        }
        Ok(Some((start, len)))
    }

    fn bytes(&self, slot: usize) -> Result<&'a [u8], NnError> {
        Ok(self
            .vector(slot, 1)?
            .map_or(&[][..], |(s, n)| &self.buf[s..s + n]))
    }

    fn string(&self, slot: usize) -> Result<String, NnError> {
        Ok(String::from_utf8_lossy(self.bytes(slot)?).into_owned())
    }

    fn i32s(&self, slot: usize) -> Result<Vec<i32>, NnError> {
        let Some((s, n)) = self.vector(slot, 4)? else {
            return Ok(Vec::new());
        };
        (0..n)
            .map(|i| read::<4>(self.buf, s + 4 * i).map(i32::from_le_bytes))
            .collect()
    }

    fn tables(&self, slot: usize) -> Result<Vec<Table<'a>>, NnError> {
        let Some((s, n)) = self.vector(slot, 4)? else {
            return Ok(Vec::new());
        };
        (0..n)
            .map(|i| Table::at(self.buf, self.indirect(s + 4 * i)?))
            .collect()
    }
}

/// One TFLite tensor as far as conversion needs it.
struct TfTensor {
    shape: Vec<usize>,
    ty: u8,
    name: String,
    data: Vec<u8>,
}

/// One TFLite operator: builtin code, tensor indices (-1 = absent) and its options table.
struct TfOp<'a> {
    code: i32,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    options: Option<Table<'a>>,
}

/// Reads a `.tflite` file and converts its first subgraph. `source` is recorded in the graph.
pub fn convert(bytes: &[u8], source: &str) -> Result<Graph, NnError> {
    let model = Table::at(bytes, u32_at(bytes, 0)? as usize)?;
    let codes = model
        .tables(1)?
        .iter()
        .map(|c| Ok(c.i32(3, 0)?.max(c.u8(0, 0)? as i32)))
        .collect::<Result<Vec<i32>, NnError>>()?;
    let buffers = model.tables(4)?;
    let subgraph = model
        .tables(2)?
        .into_iter()
        .next()
        .ok_or(NnError::Malformed("no subgraph"))?;
    let tensors = subgraph
        .tables(0)?
        .iter()
        .map(|t| {
            let shape = t
                .i32s(0)?
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| NnError::Malformed("dynamic shape")))
                .collect::<Result<_, _>>()?;
            let buffer = t.u32(2, 0)? as usize;
            let data = match buffers.get(buffer) {
                Some(b) if buffer != 0 => b.bytes(0)?.to_vec(),
                _ => Vec::new(),
            };
            Ok(TfTensor {
                shape,
                ty: t.u8(1, 0)?,
                name: t.string(3)?,
                data,
            })
        })
        .collect::<Result<Vec<_>, NnError>>()?;
    let ops = subgraph
        .tables(3)?
        .iter()
        .map(|o| {
            let code = *codes
                .get(o.u32(0, 0)? as usize)
                .ok_or(NnError::Malformed("opcode index"))?;
            Ok(TfOp {
                code,
                inputs: o.i32s(1)?,
                outputs: o.i32s(2)?,
                options: o.table(4)?,
            })
        })
        .collect::<Result<Vec<_>, NnError>>()?;
    let inputs = subgraph.i32s(1)?;
    let outputs = subgraph.i32s(2)?;
    Converter::new(tensors).run(&ops, &inputs, &outputs, source)
}

/// A tensor reference in the TFLite graph.
type Tid = usize;

/// An op of the intermediate list, on TFLite tensor ids, before fusion.
enum Raw {
    Conv {
        op: ConvOp,
    },
    Pool {
        op: PoolOp,
    },
    Add {
        a: Tid,
        b: Tid,
        out: Tid,
        act: Activation,
    },
    Act {
        x: Tid,
        out: Tid,
        act: Activation,
    },
    Pad {
        x: Tid,
        out: Tid,
    },
    /// Reshape or concatenation: the output is the inputs, flattened, one after the other.
    Flat {
        parts: Vec<Tid>,
        out: Tid,
    },
    /// Left behind by fusion; dropped before the next pass.
    Removed,
}

struct Converter {
    tensors: Vec<TfTensor>,
    /// Constants (weights, dequantized values) by tensor id, as f32.
    consts: HashMap<Tid, Vec<f32>>,
}

fn tid(i: i32) -> Result<Tid, NnError> {
    usize::try_from(i).map_err(|_| NnError::Malformed("missing tensor"))
}

/// TFLite's padding before the data: SAME's (see [`same_pad_before`]) or none (VALID).
fn pad_before(input: usize, k: usize, stride: usize, same: bool) -> usize {
    if same {
        same_pad_before(input, k, stride)
    } else {
        0
    }
}

fn fused(code: i8) -> Result<Activation, NnError> {
    match code {
        0 => Ok(Activation::None),
        1 => Ok(Activation::Relu),
        3 => Ok(Activation::Relu6),
        c => Err(NnError::Unsupported(format!("fused activation {c}"))),
    }
}

impl Converter {
    fn new(tensors: Vec<TfTensor>) -> Converter {
        Converter {
            tensors,
            consts: HashMap::new(),
        }
    }

    fn tensor(&self, t: Tid) -> Result<&TfTensor, NnError> {
        self.tensors
            .get(t)
            .ok_or(NnError::Malformed("tensor index"))
    }

    /// A constant tensor's values as f32 (f32 and f16 buffers, or an earlier DEQUANTIZE).
    fn constant(&self, t: Tid) -> Result<Vec<f32>, NnError> {
        if let Some(v) = self.consts.get(&t) {
            return Ok(v.clone());
        }
        let tensor = self.tensor(t)?;
        let count: usize = tensor.shape.iter().product();
        let v: Vec<f32> = match tensor.ty {
            FLOAT32 => tensor
                .data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            FLOAT16 => tensor
                .data
                .chunks_exact(2)
                .map(|b| super::graph::f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            _ => {
                return Err(NnError::Unsupported(format!(
                    "constant {} of type {}",
                    tensor.name, tensor.ty
                )))
            }
        };
        if v.len() != count {
            return Err(NnError::Malformed("constant size"));
        }
        Ok(v)
    }

    fn int_constant(&self, t: Tid) -> Result<Vec<i32>, NnError> {
        let tensor = self.tensor(t)?;
        if tensor.ty != INT32 {
            return Err(NnError::Unsupported(format!(
                "{} is not an int32 constant",
                tensor.name
            )));
        }
        Ok(tensor
            .data
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// `[h, w, c]` of an activation tensor (`[1, h, w, c]`, or `[1, n, c]` / `[1, n]` reshaped).
    fn hwc(&self, t: Tid) -> Result<[usize; 3], NnError> {
        let s = &self.tensor(t)?.shape;
        match s.as_slice() {
            [1, h, w, c] => Ok([*h, *w, *c]),
            [1, n, c] => Ok([1, *n, *c]),
            [1, n] => Ok([1, 1, *n]),
            _ => Err(NnError::Unsupported(format!("tensor shape {s:?}"))),
        }
    }

    fn run(
        mut self,
        ops: &[TfOp],
        inputs: &[i32],
        outputs: &[i32],
        source: &str,
    ) -> Result<Graph, NnError> {
        let mut raw = Vec::new();
        for op in ops {
            if let Some(r) = self.lower(op)? {
                raw.push(r);
            }
        }
        let input = match inputs {
            [i] => tid(*i)?,
            _ => {
                return Err(NnError::Unsupported(
                    "a model with more than one input".into(),
                ))
            }
        };
        fuse(&mut raw);
        self.build(raw, input, outputs, source)
    }

    /// One TFLite op into the intermediate list (DEQUANTIZE becomes a constant, not an op).
    fn lower(&mut self, op: &TfOp) -> Result<Option<Raw>, NnError> {
        let input = |i: usize| {
            op.inputs
                .get(i)
                .copied()
                .ok_or(NnError::Malformed("op input"))
                .and_then(tid)
        };
        let out = op
            .outputs
            .first()
            .copied()
            .ok_or(NnError::Malformed("op output"))
            .and_then(tid)?;
        let opts = op.options;
        let opt_u8 = |slot, d| opts.map_or(Ok(d), |o| o.u8(slot, d));
        let opt_i32 = |slot, d| opts.map_or(Ok(d), |o| o.i32(slot, d));
        Ok(Some(match op.code {
            DEQUANTIZE => {
                let v = self.constant(input(0)?)?;
                self.consts.insert(out, v);
                return Ok(None);
            }
            CONV_2D | DEPTHWISE_CONV_2D => {
                let depthwise = op.code == DEPTHWISE_CONV_2D;
                // Conv2DOptions: padding 0, stride_w 1, stride_h 2, activation 3, dilation_w 4, _h 5.
                // DepthwiseConv2DOptions: padding 0, stride_w 1, stride_h 2, multiplier 3,
                // activation 4, dilation_w 5, dilation_h 6.
                let (act_slot, dil) = if depthwise { (4, 5) } else { (3, 4) };
                if opt_i32(dil, 1)? != 1 || opt_i32(dil + 1, 1)? != 1 {
                    return Err(NnError::Unsupported("dilated convolution".into()));
                }
                let (x, w, b) = (input(0)?, input(1)?, input(2)?);
                let [ih, iw, ic] = self.hwc(x)?;
                let [_, _, oc] = self.hwc(out)?;
                let wshape = self.tensor(w)?.shape.clone();
                let (kh, kw) = match wshape.as_slice() {
                    [_, kh, kw, _] => (*kh, *kw),
                    _ => return Err(NnError::Malformed("filter shape")),
                };
                if depthwise && (opt_i32(3, 1)? != 1 || ic != oc) {
                    return Err(NnError::Unsupported("depth multiplier other than 1".into()));
                }
                let same = opt_u8(0, PADDING_SAME)? == PADDING_SAME;
                let (sw, sh) = (
                    opt_i32(1, 1)?.max(1) as usize,
                    opt_i32(2, 1)?.max(1) as usize,
                );
                Raw::Conv {
                    op: ConvOp {
                        kind: if depthwise {
                            ConvKind::Depthwise
                        } else {
                            ConvKind::Full
                        },
                        input: x,
                        output: out,
                        kh,
                        kw,
                        stride_h: sh,
                        stride_w: sw,
                        pad_top: pad_before(ih, kh, sh, same),
                        pad_left: pad_before(iw, kw, sw, same),
                        weights: self.constant(w)?,
                        bias: self.constant(b)?,
                        residual: None,
                        act: fused(opt_u8(act_slot, 0)? as i8)?,
                    },
                }
            }
            MAX_POOL_2D => {
                // Pool2DOptions: padding 0, stride_w 1, stride_h 2, filter_w 3, filter_h 4, act 5.
                if opt_u8(5, 0)? != 0 {
                    return Err(NnError::Unsupported(
                        "max-pool with a fused activation".into(),
                    ));
                }
                let x = input(0)?;
                let [ih, iw, _] = self.hwc(x)?;
                let same = opt_u8(0, PADDING_SAME)? == PADDING_SAME;
                let (sw, sh) = (
                    opt_i32(1, 1)?.max(1) as usize,
                    opt_i32(2, 1)?.max(1) as usize,
                );
                let (kw, kh) = (
                    opt_i32(3, 1)?.max(1) as usize,
                    opt_i32(4, 1)?.max(1) as usize,
                );
                Raw::Pool {
                    op: PoolOp {
                        input: x,
                        output: out,
                        kh,
                        kw,
                        stride_h: sh,
                        stride_w: sw,
                        pad_top: pad_before(ih, kh, sh, same),
                        pad_left: pad_before(iw, kw, sw, same),
                    },
                }
            }
            ADD => Raw::Add {
                a: input(0)?,
                b: input(1)?,
                out,
                act: fused(opt_u8(0, 0)? as i8)?,
            },
            RELU => Raw::Act {
                x: input(0)?,
                out,
                act: Activation::Relu,
            },
            RELU6 => Raw::Act {
                x: input(0)?,
                out,
                act: Activation::Relu6,
            },
            PRELU => Raw::Act {
                x: input(0)?,
                out,
                act: Activation::PRelu(self.constant(input(1)?)?),
            },
            PAD => {
                let pads = self.int_constant(input(1)?)?;
                // [[0, 0], [0, 0], [0, 0], [0, n]]: zero channels appended, nothing else.
                if pads.len() != 8 || pads[..7].iter().any(|&p| p != 0) {
                    return Err(NnError::Unsupported(format!(
                        "PAD {pads:?} (only trailing channels)"
                    )));
                }
                Raw::Pad { x: input(0)?, out }
            }
            RESHAPE => Raw::Flat {
                parts: vec![input(0)?],
                out,
            },
            CONCATENATION => {
                // ConcatenationOptions: axis 0, activation 1. Flat concatenation is the same as
                // along `axis` when every dimension before it is 1.
                let axis = opt_i32(0, 0)?;
                let shape = &self.tensor(out)?.shape;
                let axis = if axis < 0 {
                    axis + shape.len() as i32
                } else {
                    axis
                };
                if axis < 0
                    || shape.iter().take(axis as usize).any(|&d| d != 1)
                    || opt_u8(1, 0)? != 0
                {
                    return Err(NnError::Unsupported(format!(
                        "concatenation on axis {axis} of {shape:?}"
                    )));
                }
                let parts = op
                    .inputs
                    .iter()
                    .map(|&i| tid(i))
                    .collect::<Result<_, _>>()?;
                Raw::Flat { parts, out }
            }
            code => return Err(NnError::UnsupportedOp(format!("builtin {code}"))),
        }))
    }

    /// Turns the fused list into a [`Graph`]: dense tensor numbering, outputs resolved through
    /// reshapes and concatenations. Anything left unfused is refused.
    fn build(
        &self,
        raw: Vec<Raw>,
        input: Tid,
        outputs: &[i32],
        source: &str,
    ) -> Result<Graph, NnError> {
        let mut index: HashMap<Tid, usize> = HashMap::new();
        let mut shapes = Vec::new();
        let mut number = |t: Tid, shapes: &mut Vec<[usize; 3]>| -> Result<usize, NnError> {
            if let Some(&i) = index.get(&t) {
                return Ok(i);
            }
            let [h, w, c] = self.hwc(t)?;
            shapes.push([h, w, c]);
            index.insert(t, shapes.len() - 1);
            Ok(shapes.len() - 1)
        };
        let graph_input = number(input, &mut shapes)?;
        let mut flats: HashMap<Tid, Vec<Tid>> = HashMap::new();
        let mut ops = Vec::new();
        for r in raw {
            match r {
                Raw::Conv { mut op } => {
                    op.input = number(op.input, &mut shapes)?;
                    op.residual = op.residual.map(|t| number(t, &mut shapes)).transpose()?;
                    op.output = number(op.output, &mut shapes)?;
                    ops.push(Op::Conv(op));
                }
                Raw::Pool { mut op } => {
                    op.input = number(op.input, &mut shapes)?;
                    op.output = number(op.output, &mut shapes)?;
                    ops.push(Op::MaxPool(op));
                }
                Raw::Flat { parts, out } => {
                    let mut all = Vec::new();
                    for p in parts {
                        all.extend(flats.get(&p).cloned().unwrap_or_else(|| vec![p]));
                    }
                    flats.insert(out, all);
                }
                Raw::Removed => {}
                Raw::Add { out, .. } | Raw::Act { out, .. } | Raw::Pad { out, .. } => {
                    let name = &self.tensor(out)?.name;
                    return Err(NnError::Unsupported(format!("an ADD, activation or PAD that does not fuse into a convolution (output {name})")));
                }
            }
        }
        let mut graph_outputs = Vec::new();
        for &o in outputs {
            let o = tid(o)?;
            let parts = flats.get(&o).cloned().unwrap_or_else(|| vec![o]);
            let parts = parts
                .iter()
                .map(|p| {
                    index
                        .get(p)
                        .copied()
                        .ok_or(NnError::Malformed("output not computed"))
                })
                .collect::<Result<_, _>>()?;
            graph_outputs.push(GraphOutput {
                name: self.tensor(o)?.name.clone(),
                parts,
            });
        }
        let g = Graph {
            source: source.to_string(),
            shapes,
            input: graph_input,
            outputs: graph_outputs,
            ops,
        };
        g.validate()?;
        Ok(g)
    }
}

/// Fuses, in place: an ADD whose one input is a convolution's output used only there (the other
/// input, through a channel PAD used only there, becomes the residual), and an activation whose
/// input is a convolution's output used only there.
fn fuse(raw: &mut Vec<Raw>) {
    loop {
        let mut uses: HashMap<Tid, usize> = HashMap::new();
        for r in raw.iter() {
            let inputs: Vec<Tid> = match r {
                Raw::Conv { op } => std::iter::once(op.input).chain(op.residual).collect(),
                Raw::Pool { op } => vec![op.input],
                Raw::Add { a, b, .. } => vec![*a, *b],
                Raw::Act { x, .. } | Raw::Pad { x, .. } => vec![*x],
                Raw::Flat { parts, .. } => parts.clone(),
                Raw::Removed => Vec::new(),
            };
            inputs
                .into_iter()
                .for_each(|t| *uses.entry(t).or_default() += 1);
        }
        let producer = |t: Tid, raw: &[Raw]| {
            raw.iter().position(|r| match r {
                Raw::Conv { op } => op.output == t,
                Raw::Pool { op } => op.output == t,
                Raw::Add { out, .. }
                | Raw::Act { out, .. }
                | Raw::Pad { out, .. }
                | Raw::Flat { out, .. } => *out == t,
                Raw::Removed => false,
            })
        };
        let single = |t: Tid| uses.get(&t).copied() == Some(1);
        let mut changed = false;
        for i in 0..raw.len() {
            match &raw[i] {
                Raw::Add { a, b, out, act } => {
                    let (a, b, out, act) = (*a, *b, *out, act.clone());
                    // Which input is a bare convolution used only here?
                    let pick = [(b, a), (a, b)].into_iter().find_map(|(conv_t, other)| {
                        let p = producer(conv_t, raw)?;
                        match &raw[p] {
                            Raw::Conv { op }
                                if single(conv_t)
                                    && op.residual.is_none()
                                    && op.act == Activation::None =>
                            {
                                Some((p, other))
                            }
                            _ => None,
                        }
                    });
                    let Some((p, mut other)) = pick else { continue };
                    // A channel PAD feeding only this ADD: add the unpadded tensor instead.
                    let mut pad_at = None;
                    if let Some(q) = producer(other, raw) {
                        if let Raw::Pad { x, .. } = &raw[q] {
                            if single(other) {
                                pad_at = Some(q);
                                other = *x;
                            }
                        }
                    }
                    if let Raw::Conv { op } = &mut raw[p] {
                        op.residual = Some(other);
                        op.output = out;
                        op.act = act;
                    }
                    // The fused conv now writes the ADD's output; it must run where the ADD ran
                    // (after the residual is computed), so it takes the ADD's place.
                    raw[i] = std::mem::replace(&mut raw[p], Raw::Removed);
                    if let Some(q) = pad_at {
                        raw[q] = Raw::Removed;
                    }
                    raw.retain(|r| !matches!(r, Raw::Removed));
                    changed = true;
                    break;
                }
                Raw::Act { x, out, act } => {
                    let (x, out, act) = (*x, *out, act.clone());
                    let Some(p) = producer(x, raw) else { continue };
                    let fusable = matches!(&raw[p], Raw::Conv { op } if single(x) && op.act == Activation::None);
                    if !fusable {
                        continue;
                    }
                    if let Raw::Conv { op } = &mut raw[p] {
                        op.act = act;
                        op.output = out;
                    }
                    raw.remove(i);
                    changed = true;
                    break;
                }
                _ => {}
            }
        }
        if !changed {
            return;
        }
    }
}
