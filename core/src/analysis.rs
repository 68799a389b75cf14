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
//!   screen) and the mouth (talking), each as large as that allows (a cell's colour is as noisy as
//!   the few compression blocks it covers):
//!   - below the eyes, from row 0.5: the *nose* `[0.4, 0.6] × [0.5, 0.72]`, the *inner cheeks*
//!     `[0.2, 0.38]` and `[0.62, 0.8] × [0.5, 0.74]` (turned 15–35° from the screen), the *outer
//!     cheeks* `[0.06, 0.2]` and `[0.8, 0.94] × [0.5, 0.78]` (turned 40–65°; kept inside the box's
//!     edge and above the jaw so they stay on the face, not beside it);
//!   - the *forehead* `[0.25, 0.75] × [0.05, 0.25]` (turned up) and the *chin* `[0.33, 0.67] ×
//!     [0.87, 1.0]` (turned down);
//!   - the *surround*: the box widened by 60 % minus the box widened by 15 %, above the box's
//!     bottom edge — hair, ears, what is next to the head (a print's own margin), not the neck.
//!
//!   With the landmark model loaded (the server's analyser), the same cells are placed on the face
//!   itself rather than on the box ([`RELIEF_LANDMARK_CELLS`]): a box a detector draws 10 % too wide
//!   puts a box-relative outer cheek on the background.
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
use crate::engine::mesh::Landmarks;
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
        PixelRect {
            x0: 0,
            y0: 0,
            x1: strip,
            y1: height,
        },
        PixelRect {
            x0: width - strip,
            y0: 0,
            x1: width,
            y1: height,
        },
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
pub fn region_colours(
    image: &AnalysisImage,
    face: Option<&FaceBox>,
) -> (Option<LinearRgb>, Option<LinearRgb>) {
    let (w, h) = (image.width(), image.height());
    let face_mean = face.and_then(|f| image.linear_mean(face_region(f, w, h), None));
    (face_mean, background_stats(image, face).linear.mean())
}

/// The relief cells in box-relative coordinates (x0, x1, y0, y1), in the order of
/// [`ReliefSample::cells`]: nose, inner cheeks left and right, outer cheeks left and right,
/// forehead, chin (see the module docs).
pub const RELIEF_CELLS: [[f32; 4]; 7] = [
    [0.4, 0.6, 0.5, 0.72],
    [0.2, 0.38, 0.5, 0.74],
    [0.62, 0.8, 0.5, 0.74],
    [0.06, 0.2, 0.5, 0.78],
    [0.8, 0.94, 0.5, 0.78],
    [0.25, 0.75, 0.05, 0.25],
    [0.33, 0.67, 0.87, 1.0],
];
/// The surround ring: between the box widened by these factors, above the box's bottom edge.
pub const RELIEF_SURROUND: [f32; 2] = [1.15, 1.6];

/// The relief cells of `face` on a `width × height` image, in the order of [`RELIEF_CELLS`], then
/// the surround with the rectangle its pixels are taken out of.
pub fn relief_regions(
    face: &FaceBox,
    width: u32,
    height: u32,
) -> ([PixelRect; 7], PixelRect, PixelRect) {
    let cell = |[x0, x1, y0, y1]: [f32; 4]| {
        let b = FaceBox {
            x: face.x + x0 * face.w,
            y: face.y + y0 * face.h,
            w: (x1 - x0) * face.w,
            h: (y1 - y0) * face.h,
            score: face.score,
        };
        PixelRect::from_face_box(&b, width, height)
    };
    let [inner, outer] = RELIEF_SURROUND;
    let wide = face.shrunk(outer);
    // Above the box's bottom edge only: the neck below the chin is lit by a phone held low.
    let surround = FaceBox {
        h: (face.y + face.h - wide.y).max(0.0),
        ..wide
    };
    (
        RELIEF_CELLS.map(cell),
        PixelRect::from_face_box(&surround, width, height),
        PixelRect::from_face_box(&face.shrunk(inner), width, height),
    )
}

/// The relief cells placed by landmarks, in the face's own frame: origin at the nose tip, x toward
/// the face's outline at eye height on the image's right (landmark 454, from 234 on the left), y
/// perpendicular toward the chin, both in units of that outline-to-outline width W. Each is
/// (centre x, centre y, width, height); the order is that of [`RELIEF_CELLS`]: the nose ridge
/// above the tip, the inner cheeks beside the nose's wings, the outer cheeks seven tenths of the way
/// to the outline (ending a twelfth of W inside it, so a print cut along the face's outline does not
/// reach into them), mid-forehead between brows and hairline, the chin below the lower lip.
pub const RELIEF_LANDMARK_CELLS: [[f32; 4]; 7] = [
    [0.0, -0.1, 0.11, 0.16],
    [-0.2, -0.02, 0.15, 0.15],
    [0.2, -0.02, 0.15, 0.15],
    [-0.36, -0.04, 0.1, 0.2],
    [0.36, -0.04, 0.1, 0.2],
    [0.0, -0.5, 0.34, 0.1],
    [0.0, 0.42, 0.24, 0.1],
];

/// The face's own frame, from its landmarks (analysis-image pixels): origin at the nose tip, unit
/// x toward the outline on the image's right, width W between the outlines at eye height.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceFrame {
    pub origin: (f32, f32),
    pub x_axis: (f32, f32),
    pub width: f32,
}

/// How much of a new frame's landmark frame enters the smoothed one: landmarks jitter by a pixel
/// from frame to frame, and a cell edge moving over skin texture changes its mean colour; a still
/// head moves far slower than a four-frame average follows.
pub const FACE_FRAME_SMOOTHING: f32 = 0.25;

impl FaceFrame {
    /// None when the landmarks do not span a face.
    pub fn from_landmarks(landmarks: &Landmarks) -> Option<FaceFrame> {
        use crate::engine::mesh::index;
        let p = |i: usize| {
            let v = landmarks.point(i);
            (v[0], v[1])
        };
        let (tip, left, right) = (
            p(index::NOSE_TIP),
            p(index::CHEEK_RIGHT),
            p(index::CHEEK_LEFT),
        );
        let width = ((right.0 - left.0).powi(2) + (right.1 - left.1).powi(2)).sqrt();
        (width.is_finite() && width >= 4.0 && tip.0.is_finite() && tip.1.is_finite()).then(|| {
            FaceFrame {
                origin: tip,
                x_axis: ((right.0 - left.0) / width, (right.1 - left.1) / width),
                width,
            }
        })
    }

    /// This frame moved `weight` of the way toward `next`.
    pub fn toward(self, next: FaceFrame, weight: f32) -> FaceFrame {
        let mix = |a: f32, b: f32| a + weight * (b - a);
        let (xa, ya) = (
            mix(self.x_axis.0, next.x_axis.0),
            mix(self.x_axis.1, next.x_axis.1),
        );
        let n = (xa * xa + ya * ya).sqrt().max(1e-6);
        FaceFrame {
            origin: (
                mix(self.origin.0, next.origin.0),
                mix(self.origin.1, next.origin.1),
            ),
            x_axis: (xa / n, ya / n),
            width: mix(self.width, next.width),
        }
    }

    /// The relief cells ([`RELIEF_LANDMARK_CELLS`]) on a `width × height` image.
    pub fn relief_cells(&self, width: u32, height: u32) -> [PixelRect; 7] {
        let (ex, w) = (self.x_axis, self.width);
        let ey = (-ex.1, ex.0);
        let rect = |[x, y, cw, ch]: [f32; 4]| {
            let cx = self.origin.0 + w * (x * ex.0 + y * ey.0);
            let cy = self.origin.1 + w * (x * ex.1 + y * ey.1);
            let (hw, hh) = (w * cw / 2.0, w * ch / 2.0);
            let px = |v: f32, max: u32| (v.round().max(0.0) as u32).min(max);
            PixelRect {
                x0: px(cx - hw, width),
                y0: px(cy - hh, height),
                x1: px(cx + hw, width),
                y1: px(cy + hh, height),
            }
        };
        RELIEF_LANDMARK_CELLS.map(rect)
    }
}

/// The relief regions' colours (see the module docs) and the share of each region's pixels with a
/// saturated channel (they stop following the light); a region more than
/// [`MAX_RELIEF_SATURATED`] saturated is left out (None).
pub fn relief_colours(
    image: &AnalysisImage,
    face: &FaceBox,
    frame: Option<&FaceFrame>,
) -> ReliefSample {
    let (box_cells, surround, inner) = relief_regions(face, image.width(), image.height());
    let cells = frame.map_or(box_cells, |f| f.relief_cells(image.width(), image.height()));
    let mut saturated = [0.0f32; 8];
    let mut measure = |i: usize, r: PixelRect, ex: Option<PixelRect>| {
        let s = image.region_stats(r, ex);
        saturated[i] = s.saturated_share();
        (s.saturated_share() <= MAX_RELIEF_SATURATED)
            .then_some(s.linear.mean())
            .flatten()
    };
    let mut out = ReliefSample::default();
    for (i, r) in cells.into_iter().enumerate() {
        out.cells[i] = measure(i, r, None);
    }
    out.surround = measure(7, surround, Some(inner));
    out.saturated = saturated;
    out
}

/// Largest share of saturated pixels a relief region may hold and still be measured. Below it the
/// decoder widens its allowance for paper by the response those pixels cannot give.
pub const MAX_RELIEF_SATURATED: f32 = 0.35;

/// Everything the light decoder needs from one frame whose face is `face` (see the module docs).
pub fn reflection_sample(
    image: &AnalysisImage,
    face: Option<&FaceBox>,
    t_ms: f64,
) -> ReflectionSample {
    let (face_colour, background) = region_colours(image, face);
    ReflectionSample {
        t_ms,
        face: face_colour,
        background,
        face_box: face.copied(),
        relief: face
            .map(|f| relief_colours(image, f, None))
            .unwrap_or_default(),
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
    /// The followed face's landmark frame, smoothed over frames ([`FACE_FRAME_SMOOTHING`]).
    face_frame: Option<FaceFrame>,
}

impl std::fmt::Debug for FrameAnalyser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameAnalyser")
            .field("tracker", &self.tracker)
            .field("gate", &self.gate)
            .finish_non_exhaustive()
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
        Ok(FrameAnalyser::with_detector(Box::new(
            EngineDetector::with_landmark_model(model)?,
        )))
    }

    /// With BlazeFace and the landmark model embedded in this crate (the server's analyser: it
    /// follows the face by its landmarks and places the relief cells on the face itself). Falls
    /// back to detection alone if the model cannot be read.
    pub fn with_embedded_landmarks() -> FrameAnalyser {
        FrameAnalyser::with_landmark_model(crate::engine::FACE_LANDMARK_MODEL)
            .unwrap_or_else(|_| FrameAnalyser::new())
    }

    /// With any detector (tests use scripted ones).
    pub fn with_detector(detector: Box<dyn FaceDetector>) -> FrameAnalyser {
        FrameAnalyser {
            image: AnalysisImage::new(),
            detector,
            tracker: FaceTracker::new(),
            gate: QualityGate::new(OvalGuide::default()),
            face_frame: None,
        }
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
        self.face_frame = None;
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
                let spacing = (region.width() as f32 / SHARPNESS_FACE_SAMPLES)
                    .round()
                    .max(1.0) as u32;
                (
                    self.image.region_stats(face_region(f, w, h), None),
                    self.image.sharpness_with_spacing(region, spacing),
                )
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
                pose: face
                    .and(self.detector.measures())
                    .map(|measures| measures.pose),
            },
            t_ms,
        );
        let measured = face
            .and(self.detector.landmarks())
            .and_then(FaceFrame::from_landmarks);
        self.face_frame = match (self.face_frame, measured) {
            (Some(old), Some(new)) => Some(old.toward(new, FACE_FRAME_SMOOTHING)),
            (_, new) => new,
        };
        let relief = face
            .map(|f| relief_colours(&self.image, &f, self.face_frame.as_ref()))
            .unwrap_or_default();
        Ok(FrameAnalysis {
            t_ms,
            face_count: tracked.face_count,
            face,
            quality,
            sample: ReflectionSample {
                t_ms,
                face: face.and(face_stats.linear.mean()),
                background: background.linear.mean(),
                face_box: face,
                relief,
            },
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
                let inside =
                    nx >= face.x && nx < face.x + face.w && ny >= face.y && ny < face.y + face.h;
                let c = if inside { skin } else { bg };
                d[(y * w + x) * 4..(y * w + x) * 4 + 3].copy_from_slice(&c);
            }
        }
        d
    }

    #[test]
    fn regions_follow_the_documented_definitions() {
        let [l, r] = background_strips(320, 240);
        assert_eq!(
            l,
            PixelRect {
                x0: 0,
                y0: 0,
                x1: 48,
                y1: 240
            }
        );
        assert_eq!(
            r,
            PixelRect {
                x0: 272,
                y0: 0,
                x1: 320,
                y1: 240
            }
        );
        let f = FaceBox {
            x: 0.25,
            y: 0.25,
            w: 0.5,
            h: 0.5,
            score: 1.0,
        };
        assert_eq!(
            face_region(&f, 100, 100),
            PixelRect {
                x0: 35,
                y0: 35,
                x1: 65,
                y1: 65
            }
        );
        assert_eq!(
            background_exclusion(&f, 100, 100),
            PixelRect {
                x0: 19,
                y0: 19,
                x1: 81,
                y1: 81
            }
        );
        assert_eq!(
            background_strips(1, 1)[0].width() + background_strips(1, 1)[1].width(),
            0
        );
        let (cells, surround, inner) = relief_regions(&f, 100, 100);
        // Nose: box-relative [0.4, 0.6] × [0.5, 0.72] of a 50 px box at (25, 25).
        assert_eq!(
            cells[0],
            PixelRect {
                x0: 45,
                y0: 50,
                x1: 55,
                y1: 61
            }
        );
        // Outer cheeks stay inside the box.
        assert!(cells[3].x0 >= 25 && cells[4].x1 <= 75);
        // Surround: widened by 60 % (10..90), above the box's bottom (75), minus widened by 15 %.
        assert_eq!(
            surround,
            PixelRect {
                x0: 10,
                y0: 10,
                x1: 90,
                y1: 75
            }
        );
        assert_eq!(
            inner,
            PixelRect {
                x0: 21,
                y0: 21,
                x1: 79,
                y1: 79
            }
        );
    }

    #[test]
    fn sample_separates_face_and_background_colours() {
        let face = FaceBox {
            x: 0.3,
            y: 0.2,
            w: 0.4,
            h: 0.55,
            score: 9.0,
        };
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
        assert!(
            (fc.r - skin.r).abs() < 1e-3 && (fc.b - skin.b).abs() < 1e-3,
            "{fc:?}"
        );
        assert!(
            (bc.r - blue.r).abs() < 1e-3 && (bc.b - blue.b).abs() < 1e-3,
            "{bc:?}"
        );
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
