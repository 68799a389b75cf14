//! Liveness: challenges, the simulator and the reflection decoder, end to end.

use faceid_core::challenge::ColourChallenge;
use faceid_core::face::{FaceDetector, SeetaFaceDetector, SeetaSettings};
use faceid_core::reflection::ReflectionDecoder;
use faceid_core::sim::{ground_truth_samples, Attack, Photo, SimConditions, SimSession, ASTRONAUT_FACE};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn astronaut() -> Photo {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/faces/astronaut.png")).unwrap();
    Photo::from_png(&bytes).unwrap().with_face(ASTRONAUT_FACE)
}

fn challenge(seed: u64) -> ColourChallenge {
    ColourChallenge::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

#[test]
fn astronaut_face_constant_matches_the_detector() {
    let p = astronaut();
    let mut d = SeetaFaceDetector::with_settings(SeetaSettings::exhaustive());
    let faces = d.detect(&p.luma(), p.width(), p.height());
    eprintln!("{faces:?}");
    assert!(faces.iter().any(|f| f.iou(&ASTRONAUT_FACE) > 0.8), "{faces:?}");
}

