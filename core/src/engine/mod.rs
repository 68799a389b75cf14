//! Face engine v2: BlazeFace detection and FaceMesh landmarks on our own inference ([`crate::nn`]),
//! the same code natively (server, CLI) and in wasm (page).
//!
//! - [`FaceEngine::detect`]: faces in a camera frame (the whole frame resampled once into a
//!   detector input of its own shape, 128×96 for 4:3: see [`blazeface`]), each refined and
//!   verified by the landmark model when it is loaded.
//! - [`FaceEngine::follow`]: MediaPipe-style tracking: the landmark model runs on the region the
//!   previous frame's landmarks give; only a lost face needs the detector again.
//! - [`FaceEngine::detect_photo`]: faces of any size in a still photo (overlapping tiles).
//!
//! # The face box
//! [`Face::face_box`] keeps the meaning SeetaFace's box had, which the quality gate and the
//! region measurement assume (`analysis::face_region` keeps its central 60 % as skin): a square
//! from the brows to the chin and from cheek to cheek. With landmarks it is computed from them
//! ([`measures::face_square`]). From a detection alone, BlazeFace's box (which runs from the eyes'
//! upper lids to below the chin) is mapped by [`DETECTION_BOX_SCALE`] and [`DETECTION_BOX_SHIFT`],
//! fitted to the landmark boxes of the 30 faces in the test photos.

pub mod blazeface;
pub mod crop;
mod detector;
pub mod measures;
pub mod mesh;
pub mod models;

use crate::geometry::FaceBox;
use crate::nn::NnError;
use blazeface::{BlazeFace, Detection};
use crop::RgbImage;
pub use detector::EngineDetector;
pub use measures::{FaceMeasures, HeadPose};
use mesh::{FaceMesh, Landmarks};

/// Why the engine could not be built or run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("model: {0}")]
    Model(#[from] NnError),
    #[error("the {0} model does not have the expected inputs and outputs")]
    ModelShape(&'static str),
}

/// The embedded BlazeFace short-range model (`core/models/face_detection_short_range.fnn`,
/// 111 KB, 99 KB gzip).
pub static FACE_DETECTION_MODEL: &[u8] =
    include_bytes!("../../models/face_detection_short_range.fnn");
/// The FaceMesh model (`core/models/face_landmark.fnn`, 643 KB). Native builds embed it; the page
/// fetches the same file when its mode needs landmarks, so the wasm does not carry it.
pub static FACE_LANDMARK_MODEL: &[u8] = include_bytes!("../../models/face_landmark.fnn");

/// Face presence (the landmark model's face flag, 0..1) below which a face is lost: MediaPipe's
/// `min_tracking_confidence` default, 0.5.
pub const MIN_PRESENCE: f32 = 0.5;
/// Detections refined by the landmark model per frame: the primary face and one more are enough
/// for "one face, in the oval" and "several faces" (further faces are reported from the detector).
const MAX_REFINED: usize = 2;
/// Face-box side over BlazeFace's box side: the median over the 30 faces of the test photos
/// (astronaut.png and group29-gray.png; range 0.76–0.99).
pub const DETECTION_BOX_SCALE: f32 = 0.89;
/// Face-box centre minus BlazeFace's box centre, in BlazeFace box sides (x, y): medians over the
/// same faces (the centres then agree within 3 % of the box, median, 15 % at worst).
pub const DETECTION_BOX_SHIFT: (f32, f32) = (0.015, -0.012);

/// A face as the engine reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Face {
    /// Normalised to the image (see the module docs for its meaning).
    pub face_box: FaceBox,
    /// Detector score on a detection without landmarks, else the landmark model's face presence
    /// (both 0..1).
    pub score: f32,
    /// Landmarks in image pixels, when the landmark model ran.
    pub landmarks: Option<Landmarks>,
    pub measures: Option<FaceMeasures>,
}

/// A normalised box from a square in image pixels.
fn normalised(left: f32, top: f32, side: f32, image: &RgbImage, score: f32) -> FaceBox {
    let (w, h) = (image.width() as f32, image.height() as f32);
    FaceBox {
        x: left / w,
        y: top / h,
        w: side / w,
        h: side / h,
        score,
    }
}

/// The face box of a detection without landmarks.
pub fn detection_box(d: &Detection, image: &RgbImage) -> FaceBox {
    let side = d.w.max(d.h) * DETECTION_BOX_SCALE;
    let (cx, cy) = (
        d.cx + DETECTION_BOX_SHIFT.0 * d.w,
        d.cy + DETECTION_BOX_SHIFT.1 * d.h,
    );
    normalised(cx - side / 2.0, cy - side / 2.0, side, image, d.score)
}

/// The face box of landmarks.
pub fn landmark_box(l: &Landmarks, image: &RgbImage) -> FaceBox {
    let (left, top, side) = measures::face_square(l);
    normalised(left, top, side, image, l.presence)
}

/// BlazeFace, and FaceMesh when loaded.
pub struct FaceEngine {
    detector: BlazeFace,
    mesh: Option<FaceMesh>,
}

impl std::fmt::Debug for FaceEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceEngine")
            .field("detector", &self.detector)
            .field("landmarks", &self.mesh.is_some())
            .finish()
    }
}

impl FaceEngine {
    /// The detector alone (embedded model).
    pub fn new() -> Result<FaceEngine, EngineError> {
        Ok(FaceEngine {
            detector: BlazeFace::from_bytes(FACE_DETECTION_MODEL)?,
            mesh: None,
        })
    }

    /// The detector and the embedded landmark model.
    pub fn with_embedded_landmarks() -> Result<FaceEngine, EngineError> {
        FaceEngine::new()?.with_landmarks(FACE_LANDMARK_MODEL)
    }

    /// Adds the landmark model from a model file (e.g. fetched by the page).
    pub fn with_landmarks(mut self, model: &[u8]) -> Result<FaceEngine, EngineError> {
        self.mesh = Some(FaceMesh::from_bytes(model)?);
        Ok(self)
    }

    pub fn has_landmarks(&self) -> bool {
        self.mesh.is_some()
    }

    /// Faces in a camera frame, best first. With the landmark model, the best detections are
    /// refined by it (box and measures from landmarks) and dropped when it sees no face.
    pub fn detect(&mut self, image: &RgbImage) -> Result<Vec<Face>, EngineError> {
        let found = self.detector.detect(image)?;
        self.refine(image, found, MAX_REFINED)
    }

    /// Faces in a still photo down to about `min_face` pixels wide (tiles; see
    /// [`BlazeFace::detect_tiled`]), every one verified by the landmark model when loaded.
    pub fn detect_photo(
        &mut self,
        image: &RgbImage,
        min_face: f32,
    ) -> Result<Vec<Face>, EngineError> {
        let found = self.detector.detect_tiled(image, min_face)?;
        let n = found.len();
        self.refine(image, found, n)
    }

    fn refine(
        &mut self,
        image: &RgbImage,
        found: Vec<Detection>,
        refine: usize,
    ) -> Result<Vec<Face>, EngineError> {
        let mut faces = Vec::with_capacity(found.len());
        for (i, d) in found.iter().enumerate() {
            match self.mesh.as_mut() {
                Some(mesh) if i < refine => {
                    let mut l = Landmarks {
                        points: Vec::with_capacity(mesh::POINTS),
                        presence: 0.0,
                        roi: Default::default(),
                    };
                    mesh.run(image, &mesh::roi_from_detection(d), &mut l)?;
                    if l.presence >= MIN_PRESENCE {
                        faces.push(face_of(l, image));
                    }
                }
                _ => faces.push(Face {
                    face_box: detection_box(d, image),
                    score: d.score,
                    landmarks: None,
                    measures: None,
                }),
            }
        }
        Ok(faces)
    }

    /// Follows a face into this frame: the landmark model on the region `previous` gives. Writes
    /// the new landmarks into `out` (its buffer reused) and returns whether the face is still
    /// there; false without the landmark model.
    pub fn follow_into(
        &mut self,
        image: &RgbImage,
        previous: &Landmarks,
        out: &mut Landmarks,
    ) -> Result<bool, EngineError> {
        let Some(mesh) = self.mesh.as_mut() else {
            return Ok(false);
        };
        mesh.run(image, &previous.next_roi(), out)?;
        Ok(out.presence >= MIN_PRESENCE && out.points.len() == mesh::POINTS)
    }

    /// [`FaceEngine::follow_into`] returning the face (allocates).
    pub fn follow(
        &mut self,
        image: &RgbImage,
        previous: &Landmarks,
    ) -> Result<Option<Face>, EngineError> {
        let mut out = Landmarks {
            points: Vec::with_capacity(mesh::POINTS),
            presence: 0.0,
            roi: Default::default(),
        };
        Ok(self
            .follow_into(image, previous, &mut out)?
            .then(|| face_of(out, image)))
    }
}

/// Face boxes in a grey still photo (`width × height` luma) down to `min_face` pixels wide, by
/// the engine with the embedded landmark model ([`FaceEngine::detect_photo`]): best first, ties
/// (most faces have presence 1.0) broken top to bottom, left to right so the order is stable.
pub fn faces_in_grey_photo(
    luma: &[u8],
    width: u32,
    height: u32,
    min_face: f32,
) -> Result<Vec<FaceBox>, EngineError> {
    let rgb: Vec<u8> = luma.iter().flat_map(|&v| [v; 3]).collect();
    let Some(image) = RgbImage::new(&rgb, width, height) else {
        return Ok(Vec::new());
    };
    let mut boxes: Vec<FaceBox> = FaceEngine::with_embedded_landmarks()?
        .detect_photo(&image, min_face)?
        .into_iter()
        .map(|f| f.face_box)
        .collect();
    boxes.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.y.total_cmp(&b.y))
            .then(a.x.total_cmp(&b.x))
    });
    Ok(boxes)
}

/// A face from its landmarks.
fn face_of(l: Landmarks, image: &RgbImage) -> Face {
    let face_box = landmark_box(&l, image);
    let measures = FaceMeasures::from_landmarks(&l, image.width() as f32);
    Face {
        face_box,
        score: l.presence,
        measures: Some(measures),
        landmarks: Some(l),
    }
}
