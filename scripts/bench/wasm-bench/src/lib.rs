//! Bench entry points for faceid-core in the browser: the per-frame analyser as the page runs it,
//! a full-resolution face count for still photos, and simulated session frames, so that the bench
//! page can time our analysis and the anchor's on identical frames.
use faceid_core::analysis::{FrameAnalyser, ANALYSIS_HEIGHT, ANALYSIS_WIDTH};
use faceid_core::engine::crop::RgbImage;
use faceid_core::engine::{FaceEngine, FACE_LANDMARK_MODEL};
use faceid_core::frame::{AnalysisImage, RgbaFrame};
use wasm_bindgen::prelude::*;

/// faceid-core's `FrameAnalyser` (detector + tracker + quality + region colours) behind a JS class.
#[wasm_bindgen]
pub struct BenchAnalyser {
    analyser: FrameAnalyser,
    ran_detection: bool,
}

impl Default for BenchAnalyser {
    fn default() -> Self {
        BenchAnalyser::new()
    }
}

#[wasm_bindgen]
impl BenchAnalyser {
    #[wasm_bindgen(constructor)]
    pub fn new() -> BenchAnalyser {
        BenchAnalyser { analyser: FrameAnalyser::new(), ran_detection: false }
    }

    /// The analyser with the landmark model (embedded in this bench build; the page fetches it):
    /// tracking frames follow the face by FaceMesh.
    pub fn with_landmarks() -> Result<BenchAnalyser, JsError> {
        Ok(BenchAnalyser { analyser: FrameAnalyser::with_landmark_model(FACE_LANDMARK_MODEL)?, ran_detection: false })
    }

    /// Analyses one packed RGBA frame captured at `t_ms`; returns the number of faces of the latest
    /// full detection.
    pub fn analyse_rgba(&mut self, bytes: &[u8], width: u32, height: u32, t_ms: f64) -> Result<u32, JsError> {
        let frame = RgbaFrame::packed(bytes, width, height)?;
        let analysis = self.analyser.analyse(&frame, t_ms)?;
        self.ran_detection = analysis.ran_detection;
        Ok(analysis.face_count as u32)
    }

    /// Whether the last analysed frame ran a full detection (otherwise the tracker matched).
    pub fn ran_detection(&self) -> bool {
        self.ran_detection
    }

    /// Forgets the tracked face, so the next frame runs a full detection.
    pub fn reset(&mut self) {
        self.analyser.reset();
    }
}

/// Faces the engine finds in a packed RGBA frame scanned at its full resolution as a still photo
/// (`FaceEngine::detect_photo`: tiles, every candidate verified by the landmark model), faces from
/// `min_face` pixels: the "faces found on the group photo" figure.
#[wasm_bindgen]
pub fn detector_face_count(bytes: &[u8], width: u32, height: u32, min_face: f32) -> Result<u32, JsError> {
    let frame = RgbaFrame::packed(bytes, width, height)?;
    let mut image = AnalysisImage::new();
    image.load(&frame, width, height)?;
    let rgb = RgbImage::new(image.rgb(), image.width(), image.height()).ok_or_else(|| JsError::new("empty image"))?;
    let mut engine = FaceEngine::with_embedded_landmarks()?;
    Ok(engine.detect_photo(&rgb, min_face)?.len() as u32)
}

/// The analysis size frames are downscaled to, e.g. "320x240".
#[wasm_bindgen]
pub fn analysis_size() -> String {
    format!("{ANALYSIS_WIDTH}x{ANALYSIS_HEIGHT}")
}

#[cfg(feature = "sim")]
mod sim;
#[cfg(feature = "sim")]
pub use sim::sim_frames;
