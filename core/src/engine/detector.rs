//! The engine behind the [`FaceDetector`] seam: what `FrameAnalyser` (page and server) runs.

use super::crop::RgbImage;
use super::mesh::{Landmarks, POINTS};
use super::{landmark_box, EngineError, FaceEngine, FaceMeasures};
use crate::face::{FaceDetector, Followed};
use crate::frame::AnalysisImage;
use crate::geometry::FaceBox;

/// [`FaceEngine`] as a [`FaceDetector`]: detection on the whole analysis image; with the landmark
/// model, the primary face (the largest) is followed by its landmarks frame to frame and its
/// measures are kept. Landmark buffers are reused, so following a face does not allocate.
pub struct EngineDetector {
    /// None only if an embedded model failed to load (a corrupt build): then no face is found.
    engine: Option<FaceEngine>,
    /// The primary face's landmarks, when `tracking`.
    tracked: Landmarks,
    tracking: bool,
    next: Landmarks,
    measures: Option<FaceMeasures>,
}

impl std::fmt::Debug for EngineDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineDetector")
            .field("engine", &self.engine)
            .field("tracking", &self.tracking)
            .finish()
    }
}

impl Default for EngineDetector {
    fn default() -> Self {
        EngineDetector::new()
    }
}

fn empty_landmarks() -> Landmarks {
    Landmarks {
        points: Vec::with_capacity(POINTS),
        presence: 0.0,
        roi: Default::default(),
    }
}

impl EngineDetector {
    /// BlazeFace alone (embedded). Loading cannot fail short of a corrupt build; should it, this
    /// detector finds no face ([`EngineDetector::is_loaded`] says so) instead of panicking.
    pub fn new() -> EngineDetector {
        EngineDetector::with_engine(FaceEngine::new().ok())
    }

    /// BlazeFace and the landmark model from a model file (e.g. fetched by the page).
    pub fn with_landmark_model(model: &[u8]) -> Result<EngineDetector, EngineError> {
        Ok(EngineDetector::with_engine(Some(
            FaceEngine::new()?.with_landmarks(model)?,
        )))
    }

    fn with_engine(engine: Option<FaceEngine>) -> EngineDetector {
        EngineDetector {
            engine,
            tracked: empty_landmarks(),
            tracking: false,
            next: empty_landmarks(),
            measures: None,
        }
    }

    pub fn is_loaded(&self) -> bool {
        self.engine.is_some()
    }

    pub fn has_landmarks(&self) -> bool {
        self.engine.as_ref().is_some_and(FaceEngine::has_landmarks)
    }

    /// The primary face's landmarks (image pixels of the analysis image), while it is followed.
    pub fn landmarks(&self) -> Option<&Landmarks> {
        self.tracking.then_some(&self.tracked)
    }

    fn lose(&mut self) {
        self.tracking = false;
        self.measures = None;
    }
}

impl FaceDetector for EngineDetector {
    fn detect(&mut self, image: &AnalysisImage) -> Vec<FaceBox> {
        self.lose();
        let (Some(engine), Some(rgb)) = (
            self.engine.as_mut(),
            RgbImage::new(image.rgb(), image.width(), image.height()),
        ) else {
            return Vec::new();
        };
        let faces = engine.detect(&rgb).unwrap_or_default();
        // The tracker follows the largest face: keep its landmarks.
        if let Some(primary) = faces
            .iter()
            .max_by(|a, b| a.face_box.area().total_cmp(&b.face_box.area()))
        {
            if let Some(l) = &primary.landmarks {
                self.tracked.clone_from(l);
                self.tracking = true;
                self.measures = primary.measures;
            }
        }
        faces
            .into_iter()
            .map(|f| f.face_box)
            .filter(FaceBox::is_valid)
            .collect()
    }

    fn follow(&mut self, image: &AnalysisImage) -> Followed {
        let Some(engine) = self.engine.as_mut() else {
            return Followed::Unsupported;
        };
        if !engine.has_landmarks() {
            return Followed::Unsupported;
        }
        let Some(rgb) = RgbImage::new(image.rgb(), image.width(), image.height()) else {
            self.lose();
            return Followed::Lost;
        };
        if !self.tracking
            || !matches!(
                engine.follow_into(&rgb, &self.tracked, &mut self.next),
                Ok(true)
            )
        {
            self.lose();
            return Followed::Lost;
        }
        std::mem::swap(&mut self.tracked, &mut self.next);
        self.measures = Some(FaceMeasures::from_landmarks(
            &self.tracked,
            rgb.width() as f32,
        ));
        Followed::At(landmark_box(&self.tracked, &rgb))
    }

    fn measures(&self) -> Option<FaceMeasures> {
        self.measures
    }

    fn landmarks(&self) -> Option<&Landmarks> {
        EngineDetector::landmarks(self)
    }
}
