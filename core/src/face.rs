//! Face detection and tracking on the analysis-size image.
//!
//! [`FaceDetector`] is the seam: [`crate::engine::EngineDetector`] (BlazeFace, and FaceMesh
//! landmarks when loaded) is the detector page and server use; [`SeetaFaceDetector`] wraps
//! rustface (the SeetaFace funnel-structured cascade) and checks every condition under which
//! rustface would panic before calling it. [`FaceTracker`] keeps a face between full detections:
//! by its landmarks when the detector has them ([`FaceDetector::follow`]), else with a cheap luma
//! template match, so most frames of a still person cost a fraction of a detection.

use std::io::Cursor;

use crate::engine::FaceMeasures;
use crate::frame::AnalysisImage;
use crate::geometry::FaceBox;

/// Anything that finds faces in the analysis image. Boxes are normalised to 0..1 of the image and
/// mean what SeetaFace's meant (a square from the brows to the chin, cheek to cheek), sorted by
/// descending confidence.
pub trait FaceDetector {
    fn detect(&mut self, image: &AnalysisImage) -> Vec<FaceBox>;

    /// Follows the primary face (the largest) of the last detection or follow into this frame by
    /// its landmarks. Detectors without landmarks say [`Followed::Unsupported`], and the tracker
    /// uses its template match instead.
    fn follow(&mut self, _image: &AnalysisImage) -> Followed {
        Followed::Unsupported
    }

    /// Measures of the primary face from its landmarks after the last detection or follow, when
    /// the detector has landmarks.
    fn measures(&self) -> Option<FaceMeasures> {
        None
    }
}

/// What [`FaceDetector::follow`] found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Followed {
    /// This detector cannot follow a face by itself.
    Unsupported,
    /// The face is no longer where it was: detect again.
    Lost,
    /// The face, now here.
    At(FaceBox),
}

/// The SeetaFace frontal model shipped inside the rustface package (see build.rs).
static SEETA_MODEL: &[u8] = include_bytes!(env!("FACEID_SEETA_MODEL_PATH"));

/// rustface scans a fixed 40 px window (its `K_WND_SIZE`); a face smaller than this in the image it
/// is given is never found, and an image smaller than this in either dimension must not be scanned.
pub const SEETA_WINDOW_PX: u32 = 40;

/// Why the detector could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error("cannot read the embedded SeetaFace model: {0}")]
    Model(#[from] std::io::Error),
}

/// Detector settings; see the constants for the defaults and why.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeetaSettings {
    /// Smallest face to find, as a fraction of the image's shorter side. The detector shrinks the
    /// image so that this size maps onto the 40 px window (rustface 0.1.7 always starts its pyramid
    /// at scale 1, so shrinking first is the only way to skip small faces and save time).
    pub min_face_fraction: f32,
    /// Ratio between pyramid levels (rustface accepts 0.01..0.99).
    pub pyramid_factor: f32,
    /// Sliding-window step in pixels (both directions), at least 1.
    pub step: u32,
    /// Minimum cascade score of a reported face (must be > 0).
    pub score_threshold: f64,
}

/// Smallest face for live analysis: 22 % of the shorter side (53 px of 240). The face must fill the
/// oval guide (a face box of 0.45–0.95 of the oval width, 72–152 px at 320 × 240), so faces from
/// 53 px (fill 0.33) still get "move closer" while the scan image shrinks to 40/53 of the frame:
/// rustface 0.1.7 always starts its pyramid at scale 1, so its first, costliest level is what we
/// shrink. Thread-CPU minimum per detection on the astronaut at 320 × 240 (fill 0.7), with
/// pyramid 0.7: 0.20 → 8.7 ms, 0.22 → 7.5 ms, 0.25 → 6.3 ms.
pub const LIVE_MIN_FACE_FRACTION: f32 = 0.22;
/// Pyramid factor 0.65 (rustface's default is 0.8): faces between the minimum and the whole frame
/// span a 4.5× range, covered in four levels; the cascade's regression stages refine the box size
/// (boxes measured within 5 % of the true face width at fills 0.35, 0.7 and 1.0), so the coarser
/// scale steps lose little. With min face 0.22: 0.7 → 7.5 ms, 0.65 → 5.9 ms (fill 0.7).
pub const LIVE_PYRAMID_FACTOR: f32 = 0.65;
/// Window step 4 px: the value SeetaFace was tuned with; the later cascade stages regress the box,
/// so a coarser first-stage grid costs accuracy only for faces near the window size.
pub const LIVE_STEP: u32 = 4;
/// Score threshold 2.0 (rustface's examples; its built-in default 3.85 drops dim or slightly
/// turned faces, and a false face is caught by the tracker's repeated detections anyway).
pub const LIVE_SCORE_THRESHOLD: f64 = 2.0;

impl Default for SeetaSettings {
    fn default() -> Self {
        SeetaSettings {
            min_face_fraction: LIVE_MIN_FACE_FRACTION,
            pyramid_factor: LIVE_PYRAMID_FACTOR,
            step: LIVE_STEP,
            score_threshold: LIVE_SCORE_THRESHOLD,
        }
    }
}

impl SeetaSettings {
    /// Settings for still photos with many small faces: scan at full resolution (faces from 40 px),
    /// finer pyramid.
    pub fn exhaustive() -> SeetaSettings {
        SeetaSettings { min_face_fraction: 0.0, pyramid_factor: 0.8, step: 4, score_threshold: 2.0 }
    }

    /// These settings with every value forced into the range rustface accepts without panicking.
    fn sanitised(self) -> SeetaSettings {
        let finite = |v: f32, d: f32| if v.is_finite() { v } else { d };
        SeetaSettings {
            min_face_fraction: finite(self.min_face_fraction, LIVE_MIN_FACE_FRACTION).clamp(0.0, 1.0),
            pyramid_factor: finite(self.pyramid_factor, LIVE_PYRAMID_FACTOR).clamp(0.1, 0.95),
            step: self.step.clamp(1, 64),
            score_threshold: if self.score_threshold.is_finite() && self.score_threshold > 0.0 {
                self.score_threshold
            } else {
                LIVE_SCORE_THRESHOLD
            },
        }
    }
}

/// Face detection with the SeetaFace frontal cascade (rustface), model embedded in the binary.
pub struct SeetaFaceDetector {
    detector: Option<Box<dyn rustface::Detector>>,
    settings: SeetaSettings,
    /// The luma image shrunk for the minimum face size (reused).
    scan: Vec<u8>,
}

impl std::fmt::Debug for SeetaFaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeetaFaceDetector")
            .field("loaded", &self.detector.is_some())
            .field("settings", &self.settings)
            .finish()
    }
}

impl Default for SeetaFaceDetector {
    fn default() -> Self {
        SeetaFaceDetector::new()
    }
}

impl SeetaFaceDetector {
    /// The detector with live-analysis settings. The model is part of the binary, so loading
    /// cannot fail short of a corrupt build; should it, this detector finds no face
    /// ([`SeetaFaceDetector::is_loaded`] says so) instead of panicking.
    pub fn new() -> SeetaFaceDetector {
        SeetaFaceDetector::with_settings(SeetaSettings::default())
    }

    pub fn with_settings(settings: SeetaSettings) -> SeetaFaceDetector {
        SeetaFaceDetector::try_with_settings(settings)
            .unwrap_or(SeetaFaceDetector { detector: None, settings: settings.sanitised(), scan: Vec::new() })
    }

    pub fn try_with_settings(settings: SeetaSettings) -> Result<SeetaFaceDetector, FaceError> {
        let model = rustface::read_model(Cursor::new(SEETA_MODEL))?;
        let settings = settings.sanitised();
        let mut detector = rustface::create_detector_with_model(model);
        // All four values are within rustface's accepted ranges after `sanitised`.
        detector.set_min_face_size(SEETA_WINDOW_PX);
        detector.set_pyramid_scale_factor(settings.pyramid_factor);
        detector.set_slide_window_step(settings.step, settings.step);
        detector.set_score_thresh(settings.score_threshold);
        Ok(SeetaFaceDetector { detector: Some(detector), settings, scan: Vec::new() })
    }

    pub fn is_loaded(&self) -> bool {
        self.detector.is_some()
    }

    pub fn settings(&self) -> SeetaSettings {
        self.settings
    }
}

impl FaceDetector for SeetaFaceDetector {
    fn detect(&mut self, image: &AnalysisImage) -> Vec<FaceBox> {
        self.detect_luma(image.luma(), image.width(), image.height())
    }
}

impl SeetaFaceDetector {
    /// Faces in an 8-bit luma image (`width × height`, row-major, no padding).
    pub fn detect_luma(&mut self, luma: &[u8], width: u32, height: u32) -> Vec<FaceBox> {
        let Some(detector) = self.detector.as_mut() else { return Vec::new() };
        let n = width as usize * height as usize;
        if width == 0 || height == 0 || luma.len() < n {
            return Vec::new();
        }
        let luma = &luma[..n];
        // Shrink so that the minimum face maps onto the window (never enlarge).
        let min_face_px = self.settings.min_face_fraction * width.min(height) as f32;
        let scale = if min_face_px > SEETA_WINDOW_PX as f32 { SEETA_WINDOW_PX as f32 / min_face_px } else { 1.0 };
        let (sw, sh) = if scale < 1.0 {
            (((width as f32 * scale) as u32).max(1), ((height as f32 * scale) as u32).max(1))
        } else {
            (width, height)
        };
        let Some(max_face) = safe_max_face(sw, sh, self.settings.pyramid_factor) else { return Vec::new() };
        let image = if (sw, sh) == (width, height) {
            luma
        } else {
            shrink_luma(luma, width, height, sw, sh, &mut self.scan);
            &self.scan[..]
        };
        detector.set_max_face_size(max_face);
        let faces = detector.detect(&rustface::ImageData::new(image, sw, sh));
        let (fw, fh) = (sw as f32, sh as f32);
        let mut boxes: Vec<FaceBox> = faces
            .iter()
            .map(|f| {
                let b = f.bbox();
                FaceBox {
                    x: b.x() as f32 / fw,
                    y: b.y() as f32 / fh,
                    w: b.width() as f32 / fw,
                    h: b.height() as f32 / fh,
                    score: f.score() as f32,
                }
            })
            .filter(FaceBox::is_valid)
            .collect();
        boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
        boxes
    }
}

/// The largest `max_face_size` for which rustface's pyramid over a `w × h` image is safe, or None
/// when the image is too small to scan at all.
///
/// rustface computes every level as `(side as f32 * scale) as u32` and then `side - 40` in u32; a
/// level that truncates to 39 px overflows (a panic in debug builds, a wild loop in release). It
/// stops at `scale < 40 / min(side, max_face)`, so this replays its f32 arithmetic exactly and
/// lowers `max_face` until no level can come out under the window. Resize also needs 2 px per side.
fn safe_max_face(w: u32, h: u32, factor: f32) -> Option<u32> {
    let side = w.min(h);
    if side < SEETA_WINDOW_PX {
        return None;
    }
    let mut max_face = side;
    while max_face >= SEETA_WINDOW_PX {
        if pyramid_is_safe(w, h, factor, max_face) {
            return Some(max_face);
        }
        max_face -= 1;
    }
    None
}

/// Replays rustface 0.1.7's pyramid loop (`ImagePyramid::get_next_scale_image`) in the same f32
/// arithmetic and checks every level keeps both sides at least one window.
fn pyramid_is_safe(w: u32, h: u32, factor: f32, max_face: u32) -> bool {
    let min_img = w.min(h).min(max_face);
    let min_scale = SEETA_WINDOW_PX as f32 / min_img as f32;
    let mut scale = 1.0f32;
    let mut levels = 0;
    while scale >= min_scale {
        let (lw, lh) = ((w as f32 * scale) as u32, (h as f32 * scale) as u32);
        if lw < SEETA_WINDOW_PX || lh < SEETA_WINDOW_PX {
            return false;
        }
        scale *= factor;
        levels += 1;
        if levels > 256 {
            return false;
        }
    }
    true
}

/// Box-filter shrink of a luma image into `out` (resized to `dw × dh`); `dw <= w`, `dh <= h`.
fn shrink_luma(src: &[u8], w: u32, h: u32, dw: u32, dh: u32, out: &mut Vec<u8>) {
    out.clear();
    out.resize(dw as usize * dh as usize, 0);
    let (w64, h64) = (w as u64, h as u64);
    for oy in 0..dh as u64 {
        let y0 = (oy * h64 / dh as u64) as usize;
        let y1 = (((oy + 1) * h64 / dh as u64) as usize).max(y0 + 1).min(h as usize);
        for ox in 0..dw as u64 {
            let x0 = (ox * w64 / dw as u64) as usize;
            let x1 = (((ox + 1) * w64 / dw as u64) as usize).max(x0 + 1).min(w as usize);
            let mut sum = 0u32;
            for y in y0..y1 {
                let row = &src[y * w as usize..];
                sum += row[x0..x1].iter().map(|&v| v as u32).sum::<u32>();
            }
            let count = ((y1 - y0) * (x1 - x0)).max(1) as u32;
            out[oy as usize * dw as usize + ox as usize] = ((sum + count / 2) / count) as u8;
        }
    }
}

/// What the tracker knows after one frame.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct TrackedFaces {
    /// The primary face (the largest detected), smoothed; None when there is none.
    pub face: Option<FaceBox>,
    /// Faces found by the latest full detection (the tracker follows only the primary one).
    pub face_count: usize,
    /// Whether this frame ran a full detection.
    pub ran_detection: bool,
    /// On a tracking frame: the normalised cross-correlation of the template match (1 =
    /// identical), or the landmark model's face presence (0..1) when the detector followed the
    /// face by its landmarks; None on detection frames.
    pub match_score: Option<f32>,
}

/// Tracker settings; see the constants for the defaults and why.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackerSettings {
    /// Run a full detection at least every this many frames.
    pub redetect_every: u32,
    /// Accept a template match at or above this normalised cross-correlation.
    pub min_match: f32,
    /// Search radius of the template match, as a fraction of the face width.
    pub search_radius: f32,
    /// Weight of the new box in exponential smoothing (1 = no smoothing).
    pub smoothing: f32,
}

/// A full detection every 10 frames (a third of a second at 30 fps): a second face or a swapped
/// face is noticed quickly, and the detection cost is spread over ten frames.
pub const REDETECT_EVERY: u32 = 10;
/// NCC 0.8: the same face a frame later, with camera noise and small expression changes, matches at
/// 0.9+; a turned head, occlusion or a different face falls well below.
pub const MIN_MATCH: f32 = 0.8;
/// Search ±12 % of the face width per frame: a hand-held phone drifts less than that in 33 ms;
/// faster motion fails the match and falls back to a full detection.
pub const SEARCH_RADIUS: f32 = 0.12;
/// Smoothing weight 0.5: halves detector jitter on the oval overlay while lagging a real move by
/// about one frame.
pub const SMOOTHING: f32 = 0.5;
/// Template side in samples: 24 × 24 samples over the face are enough texture for NCC and cost
/// about 576 multiply-adds per candidate position.
const TEMPLATE_SIDE: usize = 24;
/// IoU above which a new detection is the same face as the tracked one (smooth instead of jump).
const SAME_FACE_IOU: f32 = 0.3;
/// Scheduled detections in a row that may miss a face whose template still matches before the
/// face is dropped: one, so a single missed detection does not flicker "no face" (and restart the
/// stillness period), while a face really gone is dropped at the next check.
const MAX_MISSED_DETECTIONS: u32 = 1;
/// Search positions per axis on each side of the last position (the radius is divided into these).
const SEARCH_STEPS: i32 = 4;

impl Default for TrackerSettings {
    fn default() -> Self {
        TrackerSettings { redetect_every: REDETECT_EVERY, min_match: MIN_MATCH, search_radius: SEARCH_RADIUS, smoothing: SMOOTHING }
    }
}

/// Follows the primary face between full detections.
///
/// Each frame: if a face is tracked and the last full detection is recent, the luma template taken
/// at that detection is matched (NCC) at positions around the last box; a good match moves the box
/// and skips detection. Otherwise — no face, a poor match, the frame size changed, or
/// `redetect_every` frames since the last detection — the detector runs on the whole frame.
#[derive(Clone, Debug)]
pub struct FaceTracker {
    settings: TrackerSettings,
    /// The tracked box (smoothed) and the raw box the template was taken from / last matched at.
    face: Option<FaceBox>,
    raw: Option<FaceBox>,
    face_count: usize,
    frames_since_detection: u32,
    size: (u32, u32),
    template: Vec<f32>,
    /// The valid boxes of the latest full detection.
    detected: Vec<FaceBox>,
    /// The raw box of the last detection or successful match (survives one missed detection).
    last_track: Option<FaceBox>,
    /// Consecutive scheduled detections that missed a face the template still matched.
    missed: u32,
}

impl Default for FaceTracker {
    fn default() -> Self {
        FaceTracker::new()
    }
}

impl FaceTracker {
    pub fn new() -> FaceTracker {
        FaceTracker::with_settings(TrackerSettings::default())
    }

    pub fn with_settings(settings: TrackerSettings) -> FaceTracker {
        FaceTracker {
            settings,
            face: None,
            raw: None,
            face_count: 0,
            frames_since_detection: 0,
            size: (0, 0),
            template: Vec::with_capacity(TEMPLATE_SIDE * TEMPLATE_SIDE),
            detected: Vec::new(),
            last_track: None,
            missed: 0,
        }
    }

    /// Forgets the tracked face: the next frame runs a full detection.
    pub fn reset(&mut self) {
        self.face = None;
        self.raw = None;
        self.face_count = 0;
        self.frames_since_detection = 0;
        self.template.clear();
        self.detected.clear();
        self.last_track = None;
        self.missed = 0;
    }

    /// Drops the followed face after a detection that found none (the template no longer matches).
    fn forget_track(&mut self) {
        self.face = None;
        self.raw = None;
        self.last_track = None;
        self.template.clear();
    }

    /// Resumes following after a missed detection: the face count of the previous detection holds.
    fn restore_track(&mut self, moved: FaceBox) {
        self.raw = Some(moved);
        if self.face_count == 0 {
            self.face_count = 1;
            self.detected.clear();
            self.detected.push(moved);
        }
    }

    /// The faces of the latest full detection (the primary one included).
    pub fn detected(&self) -> &[FaceBox] {
        &self.detected
    }

    /// The face tracked after the last update.
    pub fn face(&self) -> Option<FaceBox> {
        self.face
    }

    /// Processes one analysis image.
    pub fn update(&mut self, detector: &mut dyn FaceDetector, image: &AnalysisImage) -> TrackedFaces {
        let (width, height) = (image.width(), image.height());
        let n = width as usize * height as usize;
        let luma = image.luma();
        if width == 0 || height == 0 || luma.len() < n {
            self.reset();
            return TrackedFaces::default();
        }
        let luma = &luma[..n];
        let due = self.frames_since_detection.saturating_add(1) >= self.settings.redetect_every.max(1);
        let same_size = self.size == (width, height);
        let tracked = match (self.raw, same_size) {
            (Some(raw), true) if !due => match detector.follow(image) {
                Followed::At(b) if b.is_valid() => Some((b, b.score)),
                Followed::At(_) | Followed::Lost => None,
                Followed::Unsupported => self.track(raw, luma, width, height),
            },
            _ => None,
        };
        if let Some((moved, score)) = tracked {
            return self.follow(moved, score);
        }
        let detected = self.detect(detector, image);
        if detected.face.is_some() || !same_size || self.missed >= MAX_MISSED_DETECTIONS {
            self.missed = 0;
            if detected.face.is_none() {
                self.forget_track();
            }
            return detected;
        }
        // A scheduled detection found nothing, but the face may still be there (detectors miss
        // single frames): keep following it if the template still matches.
        match self.last_track.and_then(|raw| self.track(raw, luma, width, height)) {
            Some((moved, score)) => {
                self.missed += 1;
                self.restore_track(moved);
                // The detection ran (and cost its time) even though the face came from the match.
                let followed = self.follow(moved, score);
                self.frames_since_detection = 0;
                TrackedFaces { ran_detection: true, ..followed }
            }
            None => {
                self.missed = 0;
                self.forget_track();
                detected
            }
        }
    }

    /// A tracking frame: the face moved to `moved` with match `score`.
    fn follow(&mut self, moved: FaceBox, score: f32) -> TrackedFaces {
        self.frames_since_detection = self.frames_since_detection.saturating_add(1);
        self.raw = Some(moved);
        self.last_track = Some(moved);
        let face = self.smooth(moved);
        TrackedFaces { face: Some(face), face_count: self.face_count.max(1), ran_detection: false, match_score: Some(score) }
    }

    fn detect(&mut self, detector: &mut dyn FaceDetector, image: &AnalysisImage) -> TrackedFaces {
        let (width, height) = (image.width(), image.height());
        let luma = image.luma();
        let faces = detector.detect(image);
        self.size = (width, height);
        self.frames_since_detection = 0;
        self.detected.clear();
        self.detected.extend(faces.iter().filter(|b| b.is_valid()));
        let primary = self.detected.iter().copied().max_by(|a, b| a.area().total_cmp(&b.area()));
        self.face_count = self.detected.len();
        match primary {
            Some(b) => {
                let smoothed = match self.face {
                    Some(prev) if prev.iou(&b) >= SAME_FACE_IOU => self.smooth(b),
                    _ => b,
                };
                self.face = Some(smoothed);
                self.raw = Some(b);
                self.last_track = Some(b);
                sample_template(luma, width, height, &b, 0.0, 0.0, &mut self.template);
            }
            None => {
                // Keep the template and last box until `update` decides whether this was a miss.
                self.raw = None;
            }
        }
        TrackedFaces { face: self.face.filter(|_| primary.is_some()), face_count: self.face_count, ran_detection: true, match_score: None }
    }

    /// Exponential smoothing toward `b`; updates and returns the tracked box.
    fn smooth(&mut self, b: FaceBox) -> FaceBox {
        let a = self.settings.smoothing.clamp(0.0, 1.0);
        let out = match self.face {
            Some(p) => FaceBox {
                x: p.x + a * (b.x - p.x),
                y: p.y + a * (b.y - p.y),
                w: p.w + a * (b.w - p.w),
                h: p.h + a * (b.h - p.h),
                score: b.score,
            },
            None => b,
        };
        self.face = Some(out);
        out
    }

    /// Searches positions around `raw` for the best NCC with the template; Some((moved box, score))
    /// when the best match is good enough.
    fn track(&self, raw: FaceBox, luma: &[u8], width: u32, height: u32) -> Option<(FaceBox, f32)> {
        if self.template.len() != TEMPLATE_SIDE * TEMPLATE_SIDE {
            return None;
        }
        let (fw, fh) = (width as f32, height as f32);
        let radius_px = (self.settings.search_radius.max(0.0) * raw.w * fw).clamp(1.0, fw.max(fh));
        // Whole-pixel offsets: a coarse grid over the radius, then halving steps around the best.
        let mut step = ((radius_px / SEARCH_STEPS as f32).round() as i32).max(1);
        let mut span = ((radius_px / step as f32).round() as i32).max(1);
        let mut best: Option<(f32, i32, i32)> = None;
        let (mut cx, mut cy) = (0i32, 0i32);
        loop {
            for j in -span..=span {
                for i in -span..=span {
                    let (dx, dy) = (cx + i * step, cy + j * step);
                    let score = ncc_at(luma, width, height, &raw, dx as f32 / fw, dy as f32 / fh, &self.template);
                    if best.is_none_or(|(s, _, _)| score > s) {
                        best = Some((score, dx, dy));
                    }
                }
            }
            if step == 1 {
                break;
            }
            if let Some((_, bx, by)) = best {
                (cx, cy) = (bx, by);
            }
            step = (step / 2).max(1);
            span = 1;
        }
        let (score, dx, dy) = best?;
        if score.is_nan() || score < self.settings.min_match {
            return None;
        }
        Some((FaceBox { x: raw.x + dx as f32 / fw, y: raw.y + dy as f32 / fh, ..raw }, score))
    }
}

/// Samples the box (shifted by `dx`, `dy` normalised) on a TEMPLATE_SIDE² grid into `out`,
/// normalised to zero mean and unit norm (all zeros for a flat patch). Samples outside the image
/// take the nearest edge pixel.
fn sample_template(luma: &[u8], width: u32, height: u32, b: &FaceBox, dx: f32, dy: f32, out: &mut Vec<f32>) {
    out.clear();
    let grid = SampleGrid::new(width, height, b, dx, dy);
    for &y in &grid.rows {
        let row = &luma[y * width as usize..(y + 1) * width as usize];
        out.extend(grid.cols.iter().map(|&x| row[x] as f32));
    }
    let mean = out.iter().sum::<f32>() / out.len() as f32;
    let mut norm = 0f32;
    for v in out.iter_mut() {
        *v -= mean;
        norm += *v * *v;
    }
    // Flat patches (under one grey level of spread, as in `ncc_at`) give an all-zero template.
    if norm >= out.len() as f32 {
        let norm = norm.sqrt();
        out.iter_mut().for_each(|v| *v /= norm);
    } else {
        out.iter_mut().for_each(|v| *v = 0.0);
    }
}

/// Pixel rows and columns of the TEMPLATE_SIDE² sampling grid over a (shifted) box, clamped to
/// the image.
struct SampleGrid {
    rows: [usize; TEMPLATE_SIDE],
    cols: [usize; TEMPLATE_SIDE],
}

impl SampleGrid {
    fn new(width: u32, height: u32, b: &FaceBox, dx: f32, dy: f32) -> SampleGrid {
        let (fw, fh) = (width as f32, height as f32);
        let (x0, y0) = ((b.x + dx) * fw, (b.y + dy) * fh);
        let (sx, sy) = (b.w * fw / TEMPLATE_SIDE as f32, b.h * fh / TEMPLATE_SIDE as f32);
        let (maxx, maxy) = (width as i64 - 1, height as i64 - 1);
        let mut g = SampleGrid { rows: [0; TEMPLATE_SIDE], cols: [0; TEMPLATE_SIDE] };
        for i in 0..TEMPLATE_SIDE {
            // `as i64` saturates (NaN → 0), so any box yields in-range indices.
            g.cols[i] = ((x0 + (i as f32 + 0.5) * sx) as i64).clamp(0, maxx) as usize;
            g.rows[i] = ((y0 + (i as f32 + 0.5) * sy) as i64).clamp(0, maxy) as usize;
        }
        g
    }
}

/// NCC between the template (zero mean, unit norm) and the box shifted by (`dx`, `dy`), in one
/// pass: with a zero-mean template, Σ t·(v − mean) = Σ t·v, and the patch norm comes from Σv, Σv².
fn ncc_at(luma: &[u8], width: u32, height: u32, b: &FaceBox, dx: f32, dy: f32, template: &[f32]) -> f32 {
    let grid = SampleGrid::new(width, height, b, dx, dy);
    let (mut dot, mut sum, mut sum2) = (0f32, 0u32, 0u32);
    for (&y, t_row) in grid.rows.iter().zip(template.chunks_exact(TEMPLATE_SIDE)) {
        let row = &luma[y * width as usize..(y + 1) * width as usize];
        for (&x, &t) in grid.cols.iter().zip(t_row) {
            let v = row[x];
            dot += t * v as f32;
            sum += v as u32;
            sum2 += v as u32 * v as u32;
        }
    }
    // Exact integer sums (576 × 255² < 2³²); a patch with under one grey level of spread is flat.
    let n = (TEMPLATE_SIDE * TEMPLATE_SIDE) as f64;
    let var = sum2 as f64 - (sum as f64) * (sum as f64) / n;
    if var < n {
        return 0.0;
    }
    let var = var as f32;
    dot / var.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A detector that returns scripted boxes and counts its calls.
    struct Scripted {
        boxes: Vec<FaceBox>,
        calls: usize,
    }

    impl FaceDetector for Scripted {
        fn detect(&mut self, _: &AnalysisImage) -> Vec<FaceBox> {
            self.calls += 1;
            self.boxes.clone()
        }
    }

    /// A grey analysis image with these luma values.
    fn image(luma: &[u8], w: u32, h: u32) -> AnalysisImage {
        let rgba: Vec<u8> = luma.iter().flat_map(|&v| [v, v, v, 255]).collect();
        let mut img = AnalysisImage::new();
        img.load(&crate::frame::RgbaFrame::packed(&rgba, w, h).unwrap(), w, h).unwrap();
        img
    }

    /// A textured blob on a flat background, its top-left corner at (ox, oy).
    fn scene(w: u32, h: u32, ox: u32, oy: u32, side: u32) -> Vec<u8> {
        let mut l = vec![60u8; (w * h) as usize];
        for y in 0..side {
            for x in 0..side {
                let (px, py) = (ox + x, oy + y);
                if px < w && py < h {
                    l[(py * w + px) as usize] = (120 + ((x * 7 + y * 13) % 31) * 4 + if (x / 6 + y / 6) % 2 == 0 { 0 } else { 10 }) as u8;
                }
            }
        }
        l
    }

    #[test]
    fn rustface_pyramid_guard_finds_a_safe_size() {
        for w in 40..400 {
            for &f in &[0.5f32, 0.7, 0.75, 0.8, 0.9] {
                let h = w * 3 / 4 + 1;
                if let Some(m) = safe_max_face(w, h, f) {
                    assert!(pyramid_is_safe(w, h, f, m));
                }
            }
        }
        assert_eq!(safe_max_face(39, 200, 0.8), None);
        assert_eq!(safe_max_face(40, 40, 0.8), Some(40));
    }

    #[test]
    fn seeta_detector_survives_tiny_and_odd_inputs() {
        let mut d = SeetaFaceDetector::new();
        assert!(d.is_loaded());
        for (w, h) in [(0, 0), (1, 1), (2, 50), (19, 19), (39, 100), (40, 40), (41, 97), (320, 1)] {
            let luma = vec![128u8; (w * h) as usize];
            assert!(d.detect_luma(&luma, w, h).is_empty(), "{w}x{h}");
        }
        // Too little data for the stated size.
        assert!(d.detect_luma(&[0u8; 10], 320, 240).is_empty());
        let bad = SeetaFaceDetector::with_settings(SeetaSettings { min_face_fraction: f32::NAN, pyramid_factor: 7.0, step: 0, score_threshold: -1.0 });
        assert!(bad.is_loaded());
        let s = bad.settings();
        assert!(s.pyramid_factor <= 0.95 && s.step >= 1 && s.score_threshold > 0.0);
    }

    #[test]
    fn tracker_follows_a_moving_patch_without_detecting() {
        let (w, h) = (160u32, 120u32);
        let start = FaceBox { x: 50.0 / w as f32, y: 30.0 / h as f32, w: 48.0 / w as f32, h: 48.0 / h as f32, score: 5.0 };
        let mut det = Scripted { boxes: vec![start], calls: 0 };
        let mut t = FaceTracker::with_settings(TrackerSettings { smoothing: 1.0, ..TrackerSettings::default() });
        let first = t.update(&mut det, &image(&scene(w, h, 50, 30, 48), w, h));
        assert!(first.ran_detection && first.face_count == 1);
        // Move the patch 3 px right and 2 px down per frame for 5 frames.
        for k in 1..=5u32 {
            let r = t.update(&mut det, &image(&scene(w, h, 50 + 3 * k, 30 + 2 * k, 48), w, h));
            assert!(!r.ran_detection, "frame {k}");
            let f = r.face.unwrap();
            assert!((f.x * w as f32 - (50 + 3 * k) as f32).abs() <= 1.5, "frame {k}: {}", f.x * w as f32);
            assert!((f.y * h as f32 - (30 + 2 * k) as f32).abs() <= 1.5, "frame {k}: {}", f.y * h as f32);
        }
        assert_eq!(det.calls, 1);
    }

    #[test]
    fn tracker_redetects_on_schedule_and_on_loss() {
        let (w, h) = (160u32, 120u32);
        let b = FaceBox { x: 50.0 / w as f32, y: 30.0 / h as f32, w: 48.0 / w as f32, h: 48.0 / h as f32, score: 5.0 };
        let mut det = Scripted { boxes: vec![b], calls: 0 };
        let mut t = FaceTracker::new();
        let still = scene(w, h, 50, 30, 48);
        let ran: Vec<bool> = (0..20).map(|_| t.update(&mut det, &image(&still, w, h)).ran_detection).collect();
        assert_eq!(ran.iter().filter(|&&r| r).count(), 2, "{ran:?}");
        assert!(ran[0] && ran[REDETECT_EVERY as usize]);
        // The patch vanishes: the match fails and the detector runs on the very next frame.
        det.boxes.clear();
        let flat = vec![60u8; (w * h) as usize];
        let r = t.update(&mut det, &image(&flat, w, h));
        assert!(r.ran_detection && r.face.is_none() && r.face_count == 0);
        // With no face, every frame detects.
        assert!(t.update(&mut det, &image(&flat, w, h)).ran_detection);
    }

    #[test]
    fn one_missed_detection_keeps_the_face_two_drop_it() {
        let (w, h) = (160u32, 120u32);
        let b = FaceBox { x: 50.0 / w as f32, y: 30.0 / h as f32, w: 48.0 / w as f32, h: 48.0 / h as f32, score: 5.0 };
        let mut det = Scripted { boxes: vec![b], calls: 0 };
        let mut t = FaceTracker::with_settings(TrackerSettings { redetect_every: 2, ..TrackerSettings::default() });
        let still = scene(w, h, 50, 30, 48);
        assert!(t.update(&mut det, &image(&still, w, h)).ran_detection);
        assert!(!t.update(&mut det, &image(&still, w, h)).ran_detection);
        // The detector now misses the face that is still there.
        det.boxes.clear();
        let miss = t.update(&mut det, &image(&still, w, h));
        assert!(miss.ran_detection && miss.face.is_some() && miss.face_count == 1, "{miss:?}");
        assert!(!t.update(&mut det, &image(&still, w, h)).ran_detection);
        let second_miss = t.update(&mut det, &image(&still, w, h));
        assert!(second_miss.ran_detection && second_miss.face.is_none() && second_miss.face_count == 0, "{second_miss:?}");
        assert_eq!(t.face(), None);
        // Found again: followed as before.
        det.boxes.push(b);
        assert!(t.update(&mut det, &image(&still, w, h)).face.is_some());
        assert!(!t.update(&mut det, &image(&still, w, h)).ran_detection);
    }

    #[test]
    fn tracker_rejects_bad_sizes() {
        let mut det = Scripted { boxes: vec![], calls: 0 };
        let mut t = FaceTracker::new();
        assert_eq!(t.update(&mut det, &AnalysisImage::new()), TrackedFaces::default());
        assert_eq!(det.calls, 0);
    }
}
