//! faceid-core: the pure analysis engine shared by the H5 page (compiled to wasm32) and the server.
//!
//! No web-sys, no I/O, no clock, no global RNG: frames come in as byte slices, time as milliseconds,
//! randomness as a caller-supplied RNG. Everything here is tested natively with `cargo test`.

pub mod codes;
pub mod colour;
pub mod geometry;
pub mod challenge;
pub mod redirect;
#[cfg(feature = "serde")]
pub mod protocol;

pub use codes::{Locale, ResultCode};
pub use colour::{LinearRgb, Rgb8};
pub use geometry::FaceBox;
