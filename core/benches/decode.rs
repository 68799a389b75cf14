//! Decoding one light challenge: ~5 s of samples (hold, 10 × 350 ms steps, tail) at 30 and
//! 20 fps against the displayed timeline. Goal (issue #9): <= 2 ms per decode.

use criterion::{criterion_group, criterion_main, Criterion};
use faceid_core::challenge::ColourChallenge;
use faceid_core::reflection::ReflectionDecoder;
use faceid_core::sim::{
    ground_truth_samples, Attack, Photo, SimConditions, SimSession, ASTRONAUT_FACE,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

fn decode(c: &mut Criterion) {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/faces/astronaut.png"
    ))
    .expect("shared/data/faces/astronaut.png next to the repository");
    let photo = Photo::from_png(&bytes)
        .expect("astronaut.png decodes")
        .with_face(ASTRONAUT_FACE);
    let challenge = ColourChallenge::generate(&mut ChaCha20Rng::seed_from_u64(7));
    let decoder = ReflectionDecoder::default();
    for fps in [30.0, 20.0] {
        let conditions = SimConditions::steady().fixed_rate(fps);
        let mut session = SimSession::new(&photo, &challenge, conditions, Attack::None, 7);
        let shown = session.shown().to_vec();
        let samples = ground_truth_samples(&mut session);
        let verdict = decoder.decode(&samples, &shown);
        println!(
            "decode bench at {fps} fps: {} samples, {} timeline entries, passed {}",
            samples.len(),
            shown.len(),
            verdict.passed
        );
        c.bench_function(
            &format!("decode {} samples ({fps} fps)", samples.len()),
            |b| b.iter(|| decoder.decode(black_box(&samples), black_box(&shown))),
        );
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
