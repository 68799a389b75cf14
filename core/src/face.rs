//! Face detection and tracking on the analysis-size image.
//!
//! [`FaceDetector`] is the seam: [`crate::engine::EngineDetector`] (BlazeFace, and FaceMesh
//! landmarks when loaded) is the detector page and server use (SeetaFace, which it replaced, is
//! gone with its 1.09 MB gzip of model). [`FaceTracker`] keeps a face between full detections:
//! by its landmarks when the detector has them ([`FaceDetector::follow`]), else with a cheap luma
//! template match, so most frames of a still person cost a fraction of a detection.

use crate::engine::mesh::Landmarks;
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

    /// The primary face's landmarks (analysis-image pixels) after the last detection or follow,
    /// when the detector has landmarks and is following the face.
    fn landmarks(&self) -> Option<&Landmarks> {
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
        TrackerSettings {
            redetect_every: REDETECT_EVERY,
            min_match: MIN_MATCH,
            search_radius: SEARCH_RADIUS,
            smoothing: SMOOTHING,
        }
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
    pub fn update(
        &mut self,
        detector: &mut dyn FaceDetector,
        image: &AnalysisImage,
    ) -> TrackedFaces {
        let (width, height) = (image.width(), image.height());
        let n = width as usize * height as usize;
        let luma = image.luma();
        if width == 0 || height == 0 || luma.len() < n {
            self.reset();
            return TrackedFaces::default();
        }
        let luma = &luma[..n];
        let due =
            self.frames_since_detection.saturating_add(1) >= self.settings.redetect_every.max(1);
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
        match self
            .last_track
            .and_then(|raw| self.track(raw, luma, width, height))
        {
            Some((moved, score)) => {
                self.missed += 1;
                self.restore_track(moved);
                // The detection ran (and cost its time) even though the face came from the match.
                let followed = self.follow(moved, score);
                self.frames_since_detection = 0;
                TrackedFaces {
                    ran_detection: true,
                    ..followed
                }
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
        TrackedFaces {
            face: Some(face),
            face_count: self.face_count.max(1),
            ran_detection: false,
            match_score: Some(score),
        }
    }

    fn detect(&mut self, detector: &mut dyn FaceDetector, image: &AnalysisImage) -> TrackedFaces {
        let (width, height) = (image.width(), image.height());
        let luma = image.luma();
        let faces = detector.detect(image);
        self.size = (width, height);
        self.frames_since_detection = 0;
        self.detected.clear();
        self.detected.extend(faces.iter().filter(|b| b.is_valid()));
        let primary = self
            .detected
            .iter()
            .copied()
            .max_by(|a, b| a.area().total_cmp(&b.area()));
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
        TrackedFaces {
            face: self.face.filter(|_| primary.is_some()),
            face_count: self.face_count,
            ran_detection: true,
            match_score: None,
        }
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
                    let score = ncc_at(
                        luma,
                        width,
                        height,
                        &raw,
                        dx as f32 / fw,
                        dy as f32 / fh,
                        &self.template,
                    );
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
        Some((
            FaceBox {
                x: raw.x + dx as f32 / fw,
                y: raw.y + dy as f32 / fh,
                ..raw
            },
            score,
        ))
    }
}

/// Samples the box (shifted by `dx`, `dy` normalised) on a TEMPLATE_SIDE² grid into `out`,
/// normalised to zero mean and unit norm (all zeros for a flat patch). Samples outside the image
/// take the nearest edge pixel.
fn sample_template(
    luma: &[u8],
    width: u32,
    height: u32,
    b: &FaceBox,
    dx: f32,
    dy: f32,
    out: &mut Vec<f32>,
) {
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
        let (sx, sy) = (
            b.w * fw / TEMPLATE_SIDE as f32,
            b.h * fh / TEMPLATE_SIDE as f32,
        );
        let (maxx, maxy) = (width as i64 - 1, height as i64 - 1);
        let mut g = SampleGrid {
            rows: [0; TEMPLATE_SIDE],
            cols: [0; TEMPLATE_SIDE],
        };
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
fn ncc_at(
    luma: &[u8],
    width: u32,
    height: u32,
    b: &FaceBox,
    dx: f32,
    dy: f32,
    template: &[f32],
) -> f32 {
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
        img.load(&crate::frame::RgbaFrame::packed(&rgba, w, h).unwrap(), w, h)
            .unwrap();
        img
    }

    /// A textured blob on a flat background, its top-left corner at (ox, oy).
    fn scene(w: u32, h: u32, ox: u32, oy: u32, side: u32) -> Vec<u8> {
        let mut l = vec![60u8; (w * h) as usize];
        for y in 0..side {
            for x in 0..side {
                let (px, py) = (ox + x, oy + y);
                if px < w && py < h {
                    l[(py * w + px) as usize] = (120
                        + ((x * 7 + y * 13) % 31) * 4
                        + if (x / 6 + y / 6) % 2 == 0 { 0 } else { 10 })
                        as u8;
                }
            }
        }
        l
    }

    #[test]
    fn tracker_follows_a_moving_patch_without_detecting() {
        let (w, h) = (160u32, 120u32);
        let start = FaceBox {
            x: 50.0 / w as f32,
            y: 30.0 / h as f32,
            w: 48.0 / w as f32,
            h: 48.0 / h as f32,
            score: 5.0,
        };
        let mut det = Scripted {
            boxes: vec![start],
            calls: 0,
        };
        let mut t = FaceTracker::with_settings(TrackerSettings {
            smoothing: 1.0,
            ..TrackerSettings::default()
        });
        let first = t.update(&mut det, &image(&scene(w, h, 50, 30, 48), w, h));
        assert!(first.ran_detection && first.face_count == 1);
        // Move the patch 3 px right and 2 px down per frame for 5 frames.
        for k in 1..=5u32 {
            let r = t.update(
                &mut det,
                &image(&scene(w, h, 50 + 3 * k, 30 + 2 * k, 48), w, h),
            );
            assert!(!r.ran_detection, "frame {k}");
            let f = r.face.unwrap();
            assert!(
                (f.x * w as f32 - (50 + 3 * k) as f32).abs() <= 1.5,
                "frame {k}: {}",
                f.x * w as f32
            );
            assert!(
                (f.y * h as f32 - (30 + 2 * k) as f32).abs() <= 1.5,
                "frame {k}: {}",
                f.y * h as f32
            );
        }
        assert_eq!(det.calls, 1);
    }

    #[test]
    fn tracker_redetects_on_schedule_and_on_loss() {
        let (w, h) = (160u32, 120u32);
        let b = FaceBox {
            x: 50.0 / w as f32,
            y: 30.0 / h as f32,
            w: 48.0 / w as f32,
            h: 48.0 / h as f32,
            score: 5.0,
        };
        let mut det = Scripted {
            boxes: vec![b],
            calls: 0,
        };
        let mut t = FaceTracker::new();
        let still = scene(w, h, 50, 30, 48);
        let ran: Vec<bool> = (0..20)
            .map(|_| t.update(&mut det, &image(&still, w, h)).ran_detection)
            .collect();
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
        let b = FaceBox {
            x: 50.0 / w as f32,
            y: 30.0 / h as f32,
            w: 48.0 / w as f32,
            h: 48.0 / h as f32,
            score: 5.0,
        };
        let mut det = Scripted {
            boxes: vec![b],
            calls: 0,
        };
        let mut t = FaceTracker::with_settings(TrackerSettings {
            redetect_every: 2,
            ..TrackerSettings::default()
        });
        let still = scene(w, h, 50, 30, 48);
        assert!(t.update(&mut det, &image(&still, w, h)).ran_detection);
        assert!(!t.update(&mut det, &image(&still, w, h)).ran_detection);
        // The detector now misses the face that is still there.
        det.boxes.clear();
        let miss = t.update(&mut det, &image(&still, w, h));
        assert!(
            miss.ran_detection && miss.face.is_some() && miss.face_count == 1,
            "{miss:?}"
        );
        assert!(!t.update(&mut det, &image(&still, w, h)).ran_detection);
        let second_miss = t.update(&mut det, &image(&still, w, h));
        assert!(
            second_miss.ran_detection && second_miss.face.is_none() && second_miss.face_count == 0,
            "{second_miss:?}"
        );
        assert_eq!(t.face(), None);
        // Found again: followed as before.
        det.boxes.push(b);
        assert!(t.update(&mut det, &image(&still, w, h)).face.is_some());
        assert!(!t.update(&mut det, &image(&still, w, h)).ran_detection);
    }

    #[test]
    fn tracker_rejects_bad_sizes() {
        let mut det = Scripted {
            boxes: vec![],
            calls: 0,
        };
        let mut t = FaceTracker::new();
        assert_eq!(
            t.update(&mut det, &AnalysisImage::new()),
            TrackedFaces::default()
        );
        assert_eq!(det.calls, 0);
    }
}
