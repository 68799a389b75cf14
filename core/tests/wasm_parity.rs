//! The wasm32 build decodes a fixed simulated session exactly as the native build does.
//!
//! Two seeded sessions (a genuine one and a flat print) of the astronaut photo are simulated,
//! measured on the simulator's true face box and decoded; the verdicts are compared with
//! `golden/light_sessions.json` both natively (`cargo test --features serde`) and in headless
//! Chromium (`wasm-pack test --headless --chrome core --features serde`). Floating-point maths
//! functions (sin, exp, ln) may differ in the last bit between the platforms' math libraries, so
//! numbers are compared with small tolerances; decisions and codes must match exactly.
//!
//! Regenerate the golden file (natively) with `FACEID_UPDATE_GOLDEN=1 cargo test -p faceid-core
//! --features serde --test wasm_parity`.
#![cfg(feature = "serde")]

use faceid_core::challenge::ColourChallenge;
use faceid_core::reflection::{ReflectionDecoder, Verdict};
use faceid_core::sim::{
    ground_truth_samples, Attack, Photo, SimConditions, SimSession, ASTRONAUT_FACE,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

static ASTRONAUT: &[u8] = include_bytes!("../../../shared/data/faces/astronaut.png");
static GOLDEN: &str = include_str!("golden/light_sessions.json");

/// Tolerances: far below anything that changes a decision, far above last-bit differences.
const SCORE_TOLERANCE: f32 = 2e-3;
const DELAY_TOLERANCE_MS: f32 = 10.0;
const OBSERVED_TOLERANCE: f32 = 2e-3;
const CONFIDENCE_TOLERANCE: f32 = 2e-2;

fn verdicts() -> Vec<Verdict> {
    let photo = Photo::from_png(ASTRONAUT)
        .expect("astronaut.png decodes")
        .with_face(ASTRONAUT_FACE);
    let decoder = ReflectionDecoder::default();
    [(Attack::None, 21u64), (Attack::FlatPrint, 22u64)]
        .into_iter()
        .map(|(attack, seed)| {
            let challenge = ColourChallenge::generate(&mut ChaCha20Rng::seed_from_u64(seed));
            let mut session =
                SimSession::new(&photo, &challenge, SimConditions::steady(), attack, seed);
            let shown = session.shown().to_vec();
            let samples = ground_truth_samples(&mut session);
            decoder.decode(&samples, &shown)
        })
        .collect()
}

fn check_against_golden(actual: &[Verdict]) {
    let golden: Vec<Verdict> = serde_json::from_str(GOLDEN).expect("golden JSON parses");
    assert_eq!(golden.len(), actual.len());
    for (g, a) in golden.iter().zip(actual) {
        assert_eq!(a.passed, g.passed, "{a:?}");
        assert_eq!(a.code, g.code);
        assert!(
            (a.score - g.score).abs() <= SCORE_TOLERANCE,
            "score {} vs {}",
            a.score,
            g.score
        );
        assert!(
            (a.delay_ms - g.delay_ms).abs() <= DELAY_TOLERANCE_MS,
            "delay {} vs {}",
            a.delay_ms,
            g.delay_ms
        );
        assert_eq!(a.colours.len(), g.colours.len());
        for (gc, ac) in g.colours.iter().zip(&a.colours) {
            assert_eq!(ac.expected, gc.expected);
            for (x, y) in ac.observed.iter().zip(&gc.observed) {
                assert!(
                    (x - y).abs() <= OBSERVED_TOLERANCE,
                    "observed {:?} vs {:?}",
                    ac.observed,
                    gc.observed
                );
            }
            assert!(
                (ac.confidence - gc.confidence).abs() <= CONFIDENCE_TOLERANCE,
                "{ac:?} vs {gc:?}"
            );
        }
    }
    // The sessions are not trivial: the genuine one passes, the flat print is refused as non-live.
    assert!(golden[0].passed);
    assert_eq!(golden[1].code, faceid_core::ResultCode::SuspectedNonLive);
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn native_decode_matches_the_golden_verdicts() {
    let actual = verdicts();
    if std::env::var_os("FACEID_UPDATE_GOLDEN").is_some() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/light_sessions.json"
        );
        let json = serde_json::to_string_pretty(&actual).expect("verdicts serialise");
        std::fs::write(path, json + "\n").expect("golden file writable");
        return;
    }
    check_against_golden(&actual);
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    fn wasm_decode_matches_the_golden_verdicts() {
        super::check_against_golden(&super::verdicts());
    }
}
