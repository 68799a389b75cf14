//! One call per camera frame: downscale, track the face, measure the regions, gate quality.
//!
//! [`FrameAnalyser::analyse`] takes a borrowed RGBA frame and its capture time and returns the face,
//! the quality report and the [`ReflectionSample`] the light-challenge decoder consumes. The page
//! (wasm) and the server (native, on decoded video frames) run exactly this code.
//!
//! # Regions (the simulator and the reflection decoder rely on these; do not change them lightly)
//! All regions are taken on the analysis-size image (the frame downscaled to fit
//! [`ANALYSIS_WIDTH`] × [`ANALYSIS_HEIGHT`]), a pixel belonging to a region when its centre lies
//! inside it (box edges are rounded to the nearest pixel boundary, see [`PixelRect::from_face_box`]).
//! - **Face region**: the face box shrunk about its centre to its central 60 % of width and height
//!   (`FaceBox::shrunk(0.6)`), clamped to the frame: skin, without hair and background.
//! - **Background region**: the left and the right outer strips of the frame, each 15 % of the
//!   frame width (rounded to whole pixels) over the full frame height, minus every pixel inside the
//!   face box widened about its centre by 25 % (`FaceBox::shrunk(1.25)`).
//!
//! - **Relief regions** (for the decoder's check that the face is three-dimensional; laid out on
//!   the face box until the face engine gives landmarks), in box-relative coordinates (0..1 of the
//!   box's width and height from its top-left corner), away from the eyes (glasses mirror the
//!   screen) and the mouth (talking):
//!   - across the cheekbones and nose, rows `[0.5, 0.7]`: the *nose* `[0.4, 0.6]`, the *inner
//!     cheeks* `[0.22, 0.36]` and `[0.64, 0.78]` (turned 15–35° from the screen), the *outer
//!     cheeks* `[0.06, 0.2]` and `[0.8, 0.94]` (turned 40–65°, kept inside the box's edge so they
//!     stay on the face);
//!   - the *forehead* `[0.3, 0.7] × [0.08, 0.26]` (turned up) and the *chin* `[0.35, 0.65] ×
//!     [0.86, 0.98]` (turned down);
//!   - the *surround*: the box widened by 60 % minus the box widened by 15 %, above the box's
//!     bottom edge — hair, ears, what is next to the head (a print's own margin), not the neck.
//!
//! `sample.face` is the mean linear-light colour of the face region (None when no face is tracked
//! or the region is empty); `sample.background` is the mean linear-light colour of the background
//! region (present whenever it has pixels, with or without a face). Each analysis pixel is
//! linearised with [`crate::colour::SRGB_TO_LINEAR`] before averaging (the downscale itself
//! averages 8-bit sRGB within each box, which differs from linear-light averaging only where a
//! box straddles a strong edge).
//!
//! # Cost
//! Most frames only track: downscale, a template match around the last face, the region sums and
//! the quality gate (a fraction of a millisecond natively for a 640 × 480 frame, no allocation).
//! Every [`crate::face::REDETECT_EVERY`] frames, or when the match fails, a full BlazeFace
//! detection runs (a few milliseconds). With the landmark model loaded
//! ([`FrameAnalyser::with_landmark_model`]), tracking frames run FaceMesh on the face instead of
//! the template match (MediaPipe-style) and the analysis carries the face's measures (pose, eyes,
//! mouth, size). `cargo bench -p faceid-core --bench frame` measures them.

use crate::colour::LinearRgb;
use crate::engine::{EngineDetector, EngineError, FaceMeasures};
use crate::face::{FaceDetector, FaceTracker};
use crate::frame::{AnalysisImage, FrameError, PixelRect, RegionStats, RgbaFrame};
use crate::geometry::FaceBox;
use crate::quality::{OvalGuide, QualityGate, QualityInput, QualityReport};
use crate::reflection::{ReflectionSample, ReliefSample};

/// Analysis width: frames wider than this are downscaled first (page and server should deliver
/// frames at or below this size). 320 × 240 keeps a face filling the oval at ~100 px, plenty for
/// detection and colour means, at a quarter of the pixels of VGA.
pub const ANALYSIS_WIDTH: u32 = 320;
/// Analysis height (see [`ANALYSIS_WIDTH`]).
pub const ANALYSIS_HEIGHT: u32 = 240;

/// Face region: the central share of the face box (avoids hair, ears and background).
pub const FACE_REGION_SHRINK: f32 = 0.6;
/// Background strips: each this share of the frame width, at the left and right edges.
pub const BACKGROUND_STRIP_FRACTION: f32 = 0.15;
/// The face box widened by this factor is kept out of the background strips (hair, shoulders).
pub const BACKGROUND_FACE_MARGIN: f32 = 1.25;

/// The face region of `face` on a `width × height` image.
pub fn face_region(face: &FaceBox, width: u32, height: u32) -> PixelRect {
    PixelRect::from_face_box(&face.shrunk(FACE_REGION_SHRINK), width, height)
}

/// The two background strips (left, right) of a `width × height` image.
pub fn background_strips(width: u32, height: u32) -> [PixelRect; 2] {
    let strip = ((width as f32 * BACKGROUND_STRIP_FRACTION).round() as u32).min(width / 2);
    [
        PixelRect { x0: 0, y0: 0, x1: strip, y1: height },
        PixelRect { x0: width - strip, y0: 0, x1: width, y1: height },
    ]
}

/// Sharpness is measured with the Laplacian's neighbours one face-width / 48 apart (1 px for faces
/// up to ~70 px, 2 px for the ~110 px of a face filling the oval): detail at the scale of eyelids
/// and nostrils, whatever the distance to the camera.
pub const SHARPNESS_FACE_SAMPLES: f32 = 48.0;

/// The pixels kept out of the background strips for `face`.
pub fn background_exclusion(face: &FaceBox, width: u32, height: u32) -> PixelRect {
    PixelRect::from_face_box(&face.shrunk(BACKGROUND_FACE_MARGIN), width, height)
}

/// Colour and luma statistics of the background region for `face` (see the module docs).
pub fn background_stats(image: &AnalysisImage, face: Option<&FaceBox>) -> RegionStats {
    let (w, h) = (image.width(), image.height());
    let exclude = face.map(|f| background_exclusion(f, w, h));
    let [left, right] = background_strips(w, h);
    let mut bg = image.region_stats(left, exclude);
    bg.add(&image.region_stats(right, exclude));
    bg
}

/// Mean linear-light colours of the face region and the background region (see the module docs).
pub fn region_colours(image: &AnalysisImage, face: Option<&FaceBox>) -> (Option<LinearRgb>, Option<LinearRgb>) {
    let (w, h) = (image.width(), image.height());
    let face_mean = face.and_then(|f| image.linear_mean(face_region(f, w, h), None));
    (face_mean, background_stats(image, face).linear.mean())
}

/// The relief cells in box-relative coordinates (x0, x1, y0, y1), in the order of
/// [`ReliefSample::cells`]: nose, inner cheeks left and right, outer cheeks left and right,
/// forehead, chin (see the module docs).
pub const RELIEF_CELLS: [[f32; 4]; 7] = [
    [0.4, 0.6, 0.5, 0.7],
    [0.22, 0.36, 0.5, 0.7],
    [0.64, 0.78, 0.5, 0.7],
    [0.06, 0.2, 0.5, 0.7],
    [0.8, 0.94, 0.5, 0.7],
    [0.3, 0.7, 0.08, 0.26],
    [0.35, 0.65, 0.86, 0.98],
];
/// The surround ring: between the box widened by these factors, above the box's bottom edge.
pub const RELIEF_SURROUND: [f32; 2] = [1.15, 1.6];

/// The relief cells of `face` on a `width × height` image, in the order of [`RELIEF_CELLS`], then
/// the surround with the rectangle its pixels are taken out of.
pub fn relief_regions(face: &FaceBox, width: u32, height: u32) -> ([PixelRect; 7], PixelRect, PixelRect) {
    let cell = |[x0, x1, y0, y1]: [f32; 4]| {
        let b = FaceBox { x: face.x + x0 * face.w, y: face.y + y0 * face.h, w: (x1 - x0) * face.w, h: (y1 - y0) * face.h, score: face.score };
        PixelRect::from_face_box(&b, width, height)
    };
    let [inner, outer] = RELIEF_SURROUND;
    let wide = face.shrunk(outer);
    // Above the box's bottom edge only: the neck below the chin is lit by a phone held low.
    let surround = FaceBox { h: (face.y + face.h - wide.y).max(0.0), ..wide };
    (
        RELIEF_CELLS.map(cell),
        PixelRect::from_face_box(&surround, width, height),
        PixelRect::from_face_box(&face.shrunk(inner), width, height),
    )
}

/// The relief regions' colours (see the module docs).
pub fn relief_colours(image: &AnalysisImage, face: &FaceBox) -> ReliefSample {
    let (cells, surround, inner) = relief_regions(face, image.width(), image.height());
    ReliefSample { cells: cells.map(|r| image.linear_mean(r, None)), surround: image.linear_mean(surround, Some(inner)) }
}

/// Everything the light decoder needs from one frame whose face is `face` (see the module docs).
pub fn reflection_sample(image: &AnalysisImage, face: Option<&FaceBox>, t_ms: f64) -> ReflectionSample {
    let (face_colour, background) = region_colours(image, face);
    ReflectionSample {
        t_ms,
        face: face_colour,
        background,
        face_box: face.copied(),
        relief: face.map(|f| relief_colours(image, f)).unwrap_or_default(),
    }
}

/// Everything one frame yields.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct FrameAnalysis {
    /// Capture time, as passed in.
    pub t_ms: f64,
    /// Faces found by the latest full detection.
    pub face_count: usize,
    /// The tracked primary face (largest), normalised.
    pub face: Option<FaceBox>,
    pub quality: QualityReport,
    /// Region colours for the reflection decoder.
    pub sample: ReflectionSample,
    /// Whether this frame ran a full face detection (otherwise the tracker's cheap match).
    pub ran_detection: bool,
    /// The tracked face's measures from its landmarks (head pose, eye and mouth openness, size),
    /// when the detector has the landmark model.
    pub measures: Option<FaceMeasures>,
    /// The analysis-size image the frame was measured at.
    pub analysis_width: u32,
    pub analysis_height: u32,
}

/// Downscaler + face tracker + quality gate + region colours, with buffers reused across frames:
/// a frame that only tracks allocates nothing once the buffers have grown.
pub struct FrameAnalyser {
    image: AnalysisImage,
    detector: Box<dyn FaceDetector>,
    tracker: FaceTracker,
    gate: QualityGate,
}

impl std::fmt::Debug for FrameAnalyser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameAnalyser").field("tracker", &self.tracker).field("gate", &self.gate).finish_non_exhaustive()
    }
}

impl Default for FrameAnalyser {
    fn default() -> Self {
        FrameAnalyser::new()
    }
}

impl FrameAnalyser {
    /// With the embedded BlazeFace detector (no landmarks) and the default oval guide.
    pub fn new() -> FrameAnalyser {
        FrameAnalyser::with_detector(Box::new(EngineDetector::new()))
    }

    /// With BlazeFace and the landmark model from `model` (a `core/models/face_landmark.fnn`
    /// file: the page fetches it, native callers can pass `engine::FACE_LANDMARK_MODEL`).
    pub fn with_landmark_model(model: &[u8]) -> Result<FrameAnalyser, EngineError> {
        Ok(FrameAnalyser::with_detector(Box::new(EngineDetector::with_landmark_model(model)?)))
    }

    /// With any detector (tests use scripted ones).
    pub fn with_detector(detector: Box<dyn FaceDetector>) -> FrameAnalyser {
        FrameAnalyser { image: AnalysisImage::new(), detector, tracker: FaceTracker::new(), gate: QualityGate::new(OvalGuide::default()) }
    }

    /// Replaces the tracker (e.g. with other settings).
    pub fn with_tracker(mut self, tracker: FaceTracker) -> FrameAnalyser {
        self.tracker = tracker;
        self
    }

    /// The oval the quality gate measures against (the one the page draws).
    pub fn with_guide(mut self, guide: OvalGuide) -> FrameAnalyser {
        self.gate.set_guide(guide);
        self
    }

    pub fn set_guide(&mut self, guide: OvalGuide) {
        self.gate.set_guide(guide);
    }

    pub fn guide(&self) -> OvalGuide {
        self.gate.guide()
    }

    /// The analysis-size image of the last frame.
    pub fn image(&self) -> &AnalysisImage {
        &self.image
    }

    /// Forgets the tracked face and the stillness period (e.g. after the camera restarts).
    pub fn reset(&mut self) {
        self.tracker.reset();
        self.gate.reset();
    }

    /// Analyses one frame captured at `t_ms` (any monotonic clock in milliseconds).
    pub fn analyse(&mut self, frame: &RgbaFrame, t_ms: f64) -> Result<FrameAnalysis, FrameError> {
        self.image.load(frame, ANALYSIS_WIDTH, ANALYSIS_HEIGHT)?;
        let (w, h) = (self.image.width(), self.image.height());
        let tracked = self.tracker.update(self.detector.as_mut(), &self.image);
        let face = tracked.face;

        let (face_stats, sharpness) = match &face {
            Some(f) => {
                let region = PixelRect::from_face_box(f, w, h);
                let spacing = (region.width() as f32 / SHARPNESS_FACE_SAMPLES).round().max(1.0) as u32;
                (self.image.region_stats(face_region(f, w, h), None), self.image.sharpness_with_spacing(region, spacing))
            }
            None => (RegionStats::default(), 0.0),
        };
        let background = background_stats(&self.image, face.as_ref());
        let (face_luma, background_luma) = (face_stats.luma(), background.luma());
        let quality = self.gate.assess(
            &QualityInput {
                face,
                faces: self.tracker.detected(),
                face_luma: face_luma.mean,
                face_clipped: face_luma.clipped,
                background_luma: background_luma.mean,
                sharpness,
            },
            t_ms,
        );
        let relief = face.map(|f| relief_colours(&self.image, &f)).unwrap_or_default();
        Ok(FrameAnalysis {
            t_ms,
            face_count: tracked.face_count,
            face,
            quality,
            sample: ReflectionSample { t_ms, face: face.and(face_stats.linear.mean()), background: background.linear.mean(), face_box: face, relief },
            ran_detection: tracked.ran_detection,
            measures: face.and(self.detector.measures()),
            analysis_width: w,
            analysis_height: h,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::QualityHint;

    struct Fixed(Vec<FaceBox>);
    impl FaceDetector for Fixed {
        fn detect(&mut self, _: &AnalysisImage) -> Vec<FaceBox> {
            self.0.clone()
        }
    }

    /// A 640x480 frame: background colour `bg`, with the rectangle `face` (normalised) in `skin`.
    fn frame(bg: [u8; 3], skin: [u8; 3], face: &FaceBox) -> Vec<u8> {
        let (w, h) = (640usize, 480usize);
        let mut d = vec![255u8; w * h * 4];
        for y in 0..h {
            for x in 0..w {
                let (nx, ny) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
                let inside = nx >= face.x && nx < face.x + face.w && ny >= face.y && ny < face.y + face.h;
                let c = if inside { skin } else { bg };
                d[(y * w + x) * 4..(y * w + x) * 4 + 3].copy_from_slice(&c);
            }
        }
        d
    }

    #[test]
    fn regions_follow_the_documented_definitions() {
        let [l, r] = background_strips(320, 240);
        assert_eq!(l, PixelRect { x0: 0, y0: 0, x1: 48, y1: 240 });
        assert_eq!(r, PixelRect { x0: 272, y0: 0, x1: 320, y1: 240 });
        let f = FaceBox { x: 0.25, y: 0.25, w: 0.5, h: 0.5, score: 1.0 };
        assert_eq!(face_region(&f, 100, 100), PixelRect { x0: 35, y0: 35, x1: 65, y1: 65 });
        assert_eq!(background_exclusion(&f, 100, 100), PixelRect { x0: 19, y0: 19, x1: 81, y1: 81 });
        assert_eq!(background_strips(1, 1)[0].width() + background_strips(1, 1)[1].width(), 0);
    }

    #[test]
    fn sample_separates_face_and_background_colours() {
        let face = FaceBox { x: 0.3, y: 0.2, w: 0.4, h: 0.55, score: 9.0 };
        let d = frame([20, 40, 200], [200, 150, 120], &face);
        let f = RgbaFrame::packed(&d, 640, 480).unwrap();
        let mut a = FrameAnalyser::with_detector(Box::new(Fixed(vec![face])));
        let r = a.analyse(&f, 10.0).unwrap();
        assert_eq!((r.analysis_width, r.analysis_height), (320, 240));
        assert!(r.ran_detection && r.face_count == 1);
        let skin = crate::colour::Rgb8::new(200, 150, 120).to_linear();
        let blue = crate::colour::Rgb8::new(20, 40, 200).to_linear();
        let fc = r.sample.face.unwrap();
        let bc = r.sample.background.unwrap();
        assert!((fc.r - skin.r).abs() < 1e-3 && (fc.b - skin.b).abs() < 1e-3, "{fc:?}");
        assert!((bc.r - blue.r).abs() < 1e-3 && (bc.b - blue.b).abs() < 1e-3, "{bc:?}");
        assert_eq!(r.sample.t_ms, 10.0);
        assert_eq!(r.sample.face_box, Some(face));
        // A flat synthetic face has no texture: the gate calls it blurry rather than ready.
        assert_eq!(r.quality.hint, Some(QualityHint::Blurry));
    }

    #[test]
    fn no_face_gives_no_face_sample_but_a_background() {
        let d = vec![128u8; 64 * 48 * 4];
        let f = RgbaFrame::packed(&d, 64, 48).unwrap();
        let mut a = FrameAnalyser::with_detector(Box::new(Fixed(vec![])));
        let r = a.analyse(&f, 0.0).unwrap();
        assert_eq!(r.quality.hint, Some(QualityHint::NoFace));
        assert_eq!(r.sample.face, None);
        assert!(r.sample.background.is_some());
        assert_eq!((r.analysis_width, r.analysis_height), (64, 48));
    }
}
