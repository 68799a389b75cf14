//! Decoding the light challenge from the reflection on the face.
//!
//! Types are fixed here (they travel between page, server and simulator); the decoder follows
//! LIVENESS.md §"Measuring the reflection".

use crate::codes::ResultCode;
use crate::challenge::DisplayedColour;
use crate::colour::{LinearRgb, Rgb8};
use crate::geometry::FaceBox;

/// What one analysed frame contributes to the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct ReflectionSample {
    /// Capture time in ms on the recording's clock (0 = recorder start).
    pub t_ms: f64,
    /// Mean linear-light colour of the face region (None when no face was found in this frame).
    pub face: Option<LinearRgb>,
    /// Mean linear-light colour of the background region.
    pub background: Option<LinearRgb>,
    /// The face box the regions were taken from.
    pub face_box: Option<FaceBox>,
}

/// The decoder's reading of one colour of the challenge.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct DecodedColour {
    /// The colour the screen showed.
    pub expected: Rgb8,
    /// The face's measured response to it (model-dependent units, e.g. normalised chromaticity change).
    pub observed: [f32; 3],
    /// How strongly this step's response agrees with the expected colour, 0..1.
    pub confidence: f32,
}

/// The outcome of decoding one attempt.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Verdict {
    pub passed: bool,
    /// 0 when passed; otherwise the PROTOCOL.md §3 code that says why (1002, 1102, 1210, 1303 …).
    pub code: ResultCode,
    /// Match score, 0..1 (higher = the face followed the sequence).
    pub score: f32,
    /// Estimated screen-plus-camera delay between display and capture.
    pub delay_ms: f32,
    /// Per colour of the sequence, in order.
    pub colours: Vec<DecodedColour>,
}

/// Decodes the face's response to a displayed colour timeline (in progress: see `decode`).
#[derive(Clone, Debug, Default)]
pub struct ReflectionDecoder {}

impl ReflectionDecoder {
    /// Decides whether `samples` (one per analysed frame, any order) show a live face following
    /// `shown` (the timeline as displayed, hold colour first). Never panics.
    pub fn decode(&self, samples: &[ReflectionSample], shown: &[DisplayedColour]) -> Verdict {
        let _ = (samples, shown);
        // In progress: the real decoder replaces this refusal shortly.
        Verdict { passed: false, code: ResultCode::SuspectedNonLive, score: 0.0, delay_ms: 0.0, colours: Vec::new() }
    }
}
