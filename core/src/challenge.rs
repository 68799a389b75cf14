//! The light challenge: a server-issued random colour sequence flashed on the screen.
//!
//! Type shapes are fixed here (they travel on the wire); generation and validation follow the
//! safety limits of LIVENESS.md (WCAG 2.3.1) and the entropy goal of the foundation issue.

use crate::colour::Rgb8;

/// One colour of the sequence and how long it stays on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct ColourStep {
    pub colour: Rgb8,
    pub duration_ms: u32,
}

/// A light challenge as issued by the server and shown by the page.
///
/// Timeline, from the moment the page starts the flash phase: `hold_colour` for `hold_ms`
/// (the person settles, the camera adapts), then each step in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct ColourChallenge {
    /// Neutral colour shown during the hold before the first step.
    pub hold_colour: Rgb8,
    /// How long the hold lasts before the first step.
    pub hold_ms: u32,
    /// The colour sequence (the one-time password).
    pub steps: Vec<ColourStep>,
}

/// One colour as actually displayed: when it reached the screen, in ms on the recording's clock
/// (0 = recorder start). The page logs these; the simulator produces them; the decoder consumes them.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct DisplayedColour {
    pub colour: Rgb8,
    pub start_ms: f64,
}
