//! FaceMesh v1: 468 face landmarks (x, y, z) in a rotated square around the face, and a face
//! presence score.
//!
//! Regions follow MediaPipe's face landmark graphs: from a detection, the box rotated so that the
//! eyes (keypoints 0 → 1) are level (`face_detection_front_detection_to_roi`); from landmarks, the
//! landmarks' bounding box rotated so that the outer eye corners (33 → 263) are level
//! (`face_landmark_landmarks_to_roi`); both enlarged 1.5× and made square on the longer side.

use super::blazeface::Detection;
use super::crop::{sample, InputSpec, RgbImage, Roi};
use super::EngineError;
use crate::nn::Network;

/// Input side of the model.
pub const INPUT: usize = 192;
/// Landmarks per face.
pub const POINTS: usize = 468;
/// [0, 1] input; the image's edge pixels repeat outside it (MediaPipe's BORDER_REPLICATE).
const SPEC: InputSpec = InputSpec {
    width: INPUT,
    height: INPUT,
    scale: 1.0 / 255.0,
    offset: 0.0,
    fill: None,
};
/// The region around a face is this many times its box (MediaPipe's `scale_x/scale_y: 1.5`).
const ROI_SCALE: f32 = 1.5;

/// Landmark indices of the FaceMesh topology used by the engine ("right"/"left" are the
/// person's: the right eye appears on the image's left in an unmirrored image).
pub mod index {
    /// Outer corner of the right eye.
    pub const RIGHT_EYE_OUTER: usize = 33;
    /// Inner corner of the right eye.
    pub const RIGHT_EYE_INNER: usize = 133;
    /// Upper and lower lid of the right eye, at the pupil.
    pub const RIGHT_EYE_UPPER: usize = 159;
    pub const RIGHT_EYE_LOWER: usize = 145;
    /// Outer corner of the left eye.
    pub const LEFT_EYE_OUTER: usize = 263;
    pub const LEFT_EYE_INNER: usize = 362;
    pub const LEFT_EYE_UPPER: usize = 386;
    pub const LEFT_EYE_LOWER: usize = 374;
    /// Inner edge of the upper and the lower lip, at the middle.
    pub const UPPER_LIP_INNER: usize = 13;
    pub const LOWER_LIP_INNER: usize = 14;
    /// Mouth corners (right, left).
    pub const MOUTH_RIGHT: usize = 61;
    pub const MOUTH_LEFT: usize = 291;
    pub const NOSE_TIP: usize = 1;
    /// Bottom of the chin and top of the forehead on the midline.
    pub const CHIN: usize = 152;
    pub const FOREHEAD: usize = 10;
    /// The face's outline at eye height (right side, left side).
    pub const CHEEK_RIGHT: usize = 234;
    pub const CHEEK_LEFT: usize = 454;
    /// Upper edge of the eyebrows (right brow outer → inner, then left brow inner → outer).
    pub const BROWS_UPPER: [usize; 10] = [70, 63, 105, 66, 107, 336, 296, 334, 293, 300];
}

/// A face's landmarks in image pixels (z: depth relative to the face centre, in the same scale
/// as x, towards the camera negative), with the region they were found in.
#[derive(Clone, Debug, PartialEq)]
pub struct Landmarks {
    pub points: Vec<[f32; 3]>,
    /// Face presence, 0..1 (sigmoid of the model's face flag).
    pub presence: f32,
    /// The region the model looked at.
    pub roi: Roi,
}

impl Landmarks {
    pub fn point(&self, i: usize) -> [f32; 3] {
        self.points.get(i).copied().unwrap_or([0.0; 3])
    }

    /// The region to look at in the next frame: these landmarks' bounding box, levelled on the
    /// outer eye corners, enlarged 1.5× and squared.
    pub fn next_roi(&self) -> Roi {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in &self.points {
            x0 = x0.min(p[0]);
            y0 = y0.min(p[1]);
            x1 = x1.max(p[0]);
            y1 = y1.max(p[1]);
        }
        let (a, b) = (
            self.point(index::RIGHT_EYE_OUTER),
            self.point(index::LEFT_EYE_OUTER),
        );
        square_roi(
            (x0 + x1) / 2.0,
            (y0 + y1) / 2.0,
            x1 - x0,
            y1 - y0,
            level_angle((a[0], a[1]), (b[0], b[1])),
        )
    }
}

/// The rotation that makes the line `from → to` horizontal (MediaPipe's `DetectionsToRects` with
/// target angle 0): positive when `to` is lower on screen, i.e. a clockwise region.
fn level_angle(from: (f32, f32), to: (f32, f32)) -> f32 {
    -(-(to.1 - from.1)).atan2(to.0 - from.0)
}

/// A square region of side `ROI_SCALE × max(w, h)` centred at (`cx`, `cy`), rotated by `angle`.
fn square_roi(cx: f32, cy: f32, w: f32, h: f32, angle: f32) -> Roi {
    let side = w.max(h) * ROI_SCALE;
    Roi {
        cx,
        cy,
        w: side,
        h: side,
        angle,
    }
}

/// The region for the mesh from a detection: its box, levelled on the eyes, 1.5×, square.
pub fn roi_from_detection(d: &Detection) -> Roi {
    square_roi(
        d.cx,
        d.cy,
        d.w,
        d.h,
        level_angle(d.keypoints[0], d.keypoints[1]),
    )
}

/// The landmark model with its input buffer.
pub struct FaceMesh {
    net: Network,
    input: Vec<f32>,
}

impl std::fmt::Debug for FaceMesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceMesh").field("net", &self.net).finish()
    }
}

/// Output names of the model.
const OUT_POINTS: &str = "conv2d_20";
const OUT_PRESENCE: &str = "conv2d_30";

impl FaceMesh {
    /// The model from a file (see [`super::models::FACE_LANDMARK`]).
    pub fn from_bytes(model: &[u8]) -> Result<FaceMesh, EngineError> {
        let net = Network::from_bytes(model)?;
        if net.input_shape() != [INPUT, INPUT, 3]
            || net.output(OUT_POINTS).map(<[f32]>::len).ok() != Some(POINTS * 3)
            || net.output(OUT_PRESENCE).map(<[f32]>::len).ok() != Some(1)
        {
            return Err(EngineError::ModelShape("FaceMesh"));
        }
        Ok(FaceMesh {
            net,
            input: vec![0f32; INPUT * INPUT * 3],
        })
    }

    /// Landmarks of the face in `roi` of `image`, written into `out` (its buffer reused).
    pub fn run(
        &mut self,
        image: &RgbImage,
        roi: &Roi,
        out: &mut Landmarks,
    ) -> Result<(), EngineError> {
        out.roi = *roi;
        out.points.clear();
        out.presence = 0.0;
        if !roi.is_valid() {
            return Ok(());
        }
        // [0, 1] input; the image's edge pixels repeat outside it (MediaPipe's BORDER_REPLICATE).
        sample(image, roi, &SPEC, &mut self.input);
        self.net.run(&self.input)?;
        let raw = self.net.output(OUT_POINTS)?;
        let flag = self
            .net
            .output(OUT_PRESENCE)?
            .first()
            .copied()
            .unwrap_or(f32::NEG_INFINITY);
        out.presence = 1.0 / (1.0 + (-flag).exp());
        let z_scale = roi.w / INPUT as f32;
        out.points.extend(raw.chunks_exact(3).map(|p| {
            let (x, y) = roi.to_image(p[0] / INPUT as f32, p[1] / INPUT as f32);
            [x, y, p[2] * z_scale]
        }));
        Ok(())
    }
}
