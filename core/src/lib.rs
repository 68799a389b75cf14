//! faceid-core: the pure analysis engine shared by the H5 page (compiled to wasm32) and the server.
//!
//! No web-sys, no I/O, no clock, no global RNG: frames come in as byte slices, time as milliseconds,
//! randomness as a caller-supplied RNG. Everything here is tested natively with `cargo test`.
//!
//! Pipeline: [`frame`] (borrowed RGBA → analysis-size buffers, luma, sharpness, region colours) →
//! [`face`] (detector + tracker) → [`quality`] (hints toward a good position) → [`analysis`]
//! (one call per frame: `FrameAnalyser`) → [`reflection`] (`ReflectionDecoder` against the
//! [`challenge`] as displayed). [`sim`] simulates camera sessions for tests and `faceid-eval`.

pub mod analysis;
pub mod challenge;
pub mod codes;
pub mod colour;
pub mod engine;
pub mod face;
pub mod frame;
pub mod geometry;
pub mod nn;
#[cfg(feature = "serde")]
pub mod protocol;
pub mod quality;
pub mod redirect;
pub mod reflection;
pub mod sim;

pub use codes::{Locale, ResultCode};
pub use colour::{LinearRgb, Rgb8};
pub use geometry::FaceBox;
