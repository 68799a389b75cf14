//! Liveness end to end: challenges, the simulator, FrameAnalyser and the reflection decoder.
#![cfg(not(target_arch = "wasm32"))]

use faceid_core::analysis::FrameAnalyser;
use faceid_core::challenge::{
    is_red_dominant, limits, ChallengeError, ColourChallenge, ColourStep, DisplayedColour, PALETTE,
};
use faceid_core::colour::{LinearRgb, Rgb8};
use faceid_core::engine::faces_in_grey_photo;
use faceid_core::frame::RgbaFrame;
use faceid_core::geometry::FaceBox;
use faceid_core::reflection::{
    DecodeReport, ReflectionDecoder, ReflectionSample, ReliefSample, Rule, Verdict,
};
use faceid_core::sim::{
    ground_truth_samples, Attack, Photo, SimConditions, SimSession, ASTRONAUT_FACE,
};
use faceid_core::ResultCode;
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn astronaut() -> Photo {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/faces/astronaut.png"
    ))
    .unwrap();
    Photo::from_png(&bytes).unwrap().with_face(ASTRONAUT_FACE)
}

fn challenge(seed: u64) -> ColourChallenge {
    ColourChallenge::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

/// Every colour change of a challenge (the switch to the hold at 0 included), in ms.
fn change_times(c: &ColourChallenge) -> Vec<u64> {
    let mut out = vec![0];
    let mut t = u64::from(c.hold_ms);
    let mut prev = c.hold_colour;
    for s in &c.steps {
        if s.colour != prev {
            out.push(t);
        }
        prev = s.colour;
        t += u64::from(s.duration_ms);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Challenges

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever the server's RNG draws, the challenge is safe and decodable.
    #[test]
    fn generated_challenges_validate_and_meet_the_safety_limits(seed in any::<u64>()) {
        let c = challenge(seed);
        prop_assert_eq!(c.validate(), Ok(()));
        // The 1 s neutral hold comes first.
        prop_assert!(c.hold_ms >= 1000);
        prop_assert!(c.hold_colour.r == c.hold_colour.g && c.hold_colour.g == c.hold_colour.b);
        // Flash phase at most 3.5 s (issue #9).
        prop_assert!(c.flash_duration_ms() <= 3500);
        // At most three changes in any one-second window: checked at every change (the worst
        // window starts at a change) by brute force, independently of the validator.
        let changes = change_times(&c);
        for &start in &changes {
            let n = changes.iter().filter(|&&t| t >= start && t <= start + 1000).count();
            prop_assert!(n <= 3, "{} changes from {} ms", n, start);
        }
        // No red-dominant colour, and every colour from the palette, never twice in a row.
        for s in &c.steps {
            prop_assert!(!(s.colour.r > s.colour.g && s.colour.r > s.colour.b));
            prop_assert!(PALETTE.contains(&s.colour));
        }
        for w in c.steps.windows(2) {
            prop_assert_ne!(w[0].colour, w[1].colour);
        }
    }
}

#[test]
fn entropy_is_at_least_24_bits() {
    // 9 colours, 10 steps, no colour twice in a row: log2(9 · 8^9) = 30.2 bits.
    assert!(ColourChallenge::entropy_bits() >= 30.0);
    assert_eq!(PALETTE.len(), 9);
    assert_eq!(challenge(0).steps.len(), 10);
}

#[test]
fn palette_is_well_separated_in_chromaticity() {
    // Opponent-plane coordinates of linear chromaticity: any two palette colours at least 0.4 apart
    // (the full gamut spans 1.41), so their reflections differ by a decodable amount.
    let plane = |c: Rgb8| {
        let l = c.to_linear();
        (
            (l.r - l.g) / 2f32.sqrt(),
            (l.r + l.g - 2.0 * l.b) / 6f32.sqrt(),
        )
    };
    for (i, &a) in PALETTE.iter().enumerate() {
        for &b in &PALETTE[..i] {
            let (pa, pb) = (plane(a), plane(b));
            let d = ((pa.0 - pb.0).powi(2) + (pa.1 - pb.1).powi(2)).sqrt();
            assert!(d >= 0.4, "{} {} {d}", a.to_hex(), b.to_hex());
        }
    }
}

#[test]
fn validation_rejects_each_kind_of_violation() {
    let good = challenge(11);
    assert_eq!(good.validate(), Ok(()));
    let with = |f: &dyn Fn(&mut ColourChallenge)| {
        let mut c = good.clone();
        f(&mut c);
        c.validate()
    };
    assert_eq!(with(&|c| c.steps.clear()), Err(ChallengeError::Empty));
    assert!(matches!(
        with(&|c| c.steps.push(ColourStep {
            colour: PALETTE[0],
            duration_ms: 350
        })),
        Err(ChallengeError::TooManySteps { count: 11, .. })
    ));
    assert!(matches!(
        with(&|c| c.hold_ms = 999),
        Err(ChallengeError::HoldOutOfRange { ms: 999, .. })
    ));
    assert!(matches!(
        with(&|c| c.hold_ms = 60_000),
        Err(ChallengeError::HoldOutOfRange { .. })
    ));
    assert!(matches!(
        with(&|c| c.hold_colour = Rgb8::new(255, 200, 255)),
        Err(ChallengeError::HoldNotNeutral { .. })
    ));
    assert!(matches!(
        with(&|c| c.steps[3].duration_ms = 300),
        Err(ChallengeError::StepTooShort {
            index: 3,
            ms: 300,
            ..
        })
    ));
    assert!(matches!(
        with(&|c| c.steps[0].duration_ms = 0),
        Err(ChallengeError::StepTooShort { index: 0, .. })
    ));
    assert!(matches!(
        with(&|c| c.steps.iter_mut().for_each(|s| s.duration_ms = 400)),
        Err(ChallengeError::FlashTooLong { ms: 4000, .. })
    ));
    // u32::MAX durations must not overflow the sum.
    assert!(matches!(
        with(&|c| c.steps.iter_mut().for_each(|s| s.duration_ms = u32::MAX)),
        Err(ChallengeError::FlashTooLong { .. })
    ));
    for red in [
        Rgb8::new(255, 0, 0),
        Rgb8::new(200, 40, 40),
        Rgb8::new(255, 128, 60),
    ] {
        assert!(is_red_dominant(red));
        assert!(matches!(
            with(&|c| c.steps[5].colour = red),
            Err(ChallengeError::RedDominant { index: 5, .. })
        ));
    }
    // Neutral and non-red colours pass even when not from the palette (validation is about safety).
    assert_eq!(
        with(&|c| c.steps[2].colour = Rgb8::new(120, 120, 120)),
        Ok(())
    );
    // The change-rate limit is implied by MIN_STEP_MS (3 × 334 ms > 1 s) and enforced on its own
    // too: the limits say so consistently.
    assert!(3 * u64::from(limits::MIN_STEP_MS) > limits::CHANGE_WINDOW_MS);
    assert_eq!(limits::MAX_CHANGES_PER_SECOND, 3);
}

#[cfg(feature = "serde")]
#[test]
fn challenge_round_trips_through_json_in_wire_shape() {
    let c = challenge(5);
    let json = serde_json::to_string(&c).unwrap();
    assert!(
        json.starts_with(r##"{"holdColour":"#ffffff","holdMs":1000,"steps":[{"colour":"#"##),
        "{json}"
    );
    assert!(json.contains(r#""durationMs":350"#));
    let back: ColourChallenge = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
    let shown = c.schedule(250.0);
    let back: Vec<DisplayedColour> =
        serde_json::from_str(&serde_json::to_string(&shown).unwrap()).unwrap();
    assert_eq!(back, shown);
    // A colour that is not #rrggbb is refused on the way in.
    assert!(
        serde_json::from_str::<ColourChallenge>(&json.replacen("#ffffff", "white", 1)).is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// Simulated sessions through FrameAnalyser and the decoder

/// The server's analyser: detection, landmarks, relief cells placed on the face.
fn run_analyser(session: &mut SimSession) -> Vec<ReflectionSample> {
    let mut analyser = FrameAnalyser::with_embedded_landmarks();
    let (w, h) = (session.conditions().width, session.conditions().height);
    let mut rgba = Vec::new();
    let mut out = Vec::new();
    while let Some((t, _)) = session.render_next(&mut rgba) {
        let frame = RgbaFrame::new(&rgba, w, h, w * 4).unwrap();
        out.push(analyser.analyse(&frame, t).unwrap().sample);
    }
    out
}

fn decode(samples: &[ReflectionSample], shown: &[DisplayedColour]) -> (Verdict, DecodeReport) {
    ReflectionDecoder::default().decode_with_report(samples, shown)
}

#[test]
fn genuine_sessions_pass_and_no_attack_is_accepted_through_the_analyser() {
    // A dim room (k 0.3–0.5) and a steady camera: the decision's limits are measured by
    // faceid-eval over the world's variety; here the whole path must work end to end. Every
    // genuine session's sequence is decoded and it is never refused (1002): it passes, or — when
    // the relief is too weak to tell from paper's, as for a third of genuine sessions in this band
    // (BENCHMARKS.md §7) — the person is asked to try again (1202); most pass.
    let photo = astronaut();
    let mut genuine_passed = 0;
    for seed in 0..3u64 {
        let c = challenge(100 + seed);
        for attack in Attack::ALL {
            let conditions =
                SimConditions::steady().fixed_rate(if seed == 1 { 15.0 } else { 30.0 });
            let mut s = SimSession::new(&photo, &c, conditions, attack, seed);
            let shown = s.shown().to_vec();
            let samples = run_analyser(&mut s);
            let (v, r) = decode(&samples, &shown);
            if attack == Attack::None {
                assert!(
                    matches!(r.rule, Rule::Passed | Rule::ReliefUndecided)
                        && v.passed == (r.rule == Rule::Passed)
                        && v.code == r.rule.code(),
                    "seed {seed}: {v:?} {r:?}"
                );
                genuine_passed += usize::from(v.passed);
                assert_eq!(v.colours.len(), 10);
                assert!(
                    v.colours.iter().filter(|d| d.confidence > 0.5).count() >= 9,
                    "{v:?}"
                );
                assert!(
                    (f64::from(v.delay_ms) - s.delay_ms()).abs() <= 40.0,
                    "{} vs {}",
                    v.delay_ms,
                    s.delay_ms()
                );
            } else {
                assert!(!v.passed, "{attack:?} seed {seed}: {r:?}");
                // Refused as not live, or — when the response cannot tell — asked to change the light.
                assert!(
                    matches!(v.code, ResultCode::SuspectedNonLive | ResultCode::TooBright),
                    "{attack:?} seed {seed}: {r:?}"
                );
            }
            if attack == Attack::Replay {
                assert_eq!(r.rule, Rule::SequenceMismatch, "seed {seed}: {r:?}");
            }
        }
    }
    assert!(
        genuine_passed >= 2,
        "{genuine_passed} of 3 genuine sessions passed"
    );
}

#[test]
fn group_photo_faces_pass_too() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/faces/group29-gray.png"
    ))
    .unwrap();
    let group = Photo::from_png(&bytes).unwrap().greyscale();
    let faces = faces_in_grey_photo(&group.luma(), group.width(), group.height(), 32.0).unwrap();
    for (i, face) in faces.iter().take(2).enumerate() {
        let photo = group.crop_around(*face, 0.7).unwrap();
        let c = challenge(200 + i as u64);
        let mut s = SimSession::new(
            &photo,
            &c,
            SimConditions::steady(),
            Attack::None,
            300 + i as u64,
        );
        let shown = s.shown().to_vec();
        let (v, r) = decode(&run_analyser(&mut s), &shown);
        assert!(v.passed, "face {i}: {r:?}");
    }
}

#[test]
fn astronaut_face_constant_matches_the_detector() {
    let p = astronaut();
    let faces = faces_in_grey_photo(&p.luma(), p.width(), p.height(), 20.0).unwrap();
    assert!(
        faces.iter().any(|f| f.iou(&ASTRONAUT_FACE) > 0.8),
        "{faces:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Decoder behaviour on ground-truth samples

fn genuine(
    seed: u64,
    conditions: SimConditions,
) -> (Vec<ReflectionSample>, Vec<DisplayedColour>, f64) {
    let mut s = SimSession::new(
        &astronaut(),
        &challenge(seed),
        conditions,
        Attack::None,
        seed,
    );
    let shown = s.shown().to_vec();
    let delay = s.delay_ms();
    (ground_truth_samples(&mut s), shown, delay)
}

#[test]
fn decoder_estimates_the_delay_instead_of_assuming_it() {
    for (seed, range) in [(1, [50.0, 60.0]), (2, [140.0, 150.0]), (3, [250.0, 260.0])] {
        let (samples, shown, delay) = genuine(
            seed,
            SimConditions {
                delay_ms: range,
                ..SimConditions::steady()
            },
        );
        let (v, _) = decode(&samples, &shown);
        assert!(v.passed);
        // The frame integrates ~25 ms of light before its timestamp: the estimate sits 0–30 ms late.
        assert!(
            (f64::from(v.delay_ms) - delay - 12.0).abs() <= 25.0,
            "{} vs {delay}",
            v.delay_ms
        );
    }
}

#[test]
fn decoder_survives_unsorted_samples_and_dropped_frames() {
    let (mut samples, shown, _) = genuine(4, SimConditions::steady());
    let (sorted, _) = decode(&samples, &shown);
    samples.reverse();
    samples.swap(3, 40);
    let (shuffled, _) = decode(&samples, &shown);
    assert_eq!(sorted, shuffled);
    // Drop every third frame (a 20 fps camera with a hiccup).
    let thinned: Vec<ReflectionSample> = samples
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, s)| *s)
        .collect();
    assert!(decode(&thinned, &shown).0.passed);
}

#[test]
fn decoder_answers_1303_when_the_flash_is_not_covered() {
    let (samples, shown, _) = genuine(5, SimConditions::steady());
    let mid = shown[4].start_ms;
    let cut: Vec<ReflectionSample> = samples.iter().filter(|s| s.t_ms < mid).copied().collect();
    assert_eq!(decode(&cut, &shown).0.code, ResultCode::RecordingTooShort);
    let late: Vec<ReflectionSample> = samples
        .iter()
        .filter(|s| s.t_ms > shown[1].start_ms)
        .copied()
        .collect();
    assert_eq!(decode(&late, &shown).0.code, ResultCode::RecordingTooShort);
    // A one-second hole in the middle of the flash.
    let holed: Vec<ReflectionSample> = samples
        .iter()
        .filter(|s| s.t_ms < shown[3].start_ms || s.t_ms > shown[6].start_ms)
        .copied()
        .collect();
    assert_eq!(decode(&holed, &shown).0.code, ResultCode::RecordingTooShort);
    assert_eq!(decode(&[], &shown).0.code, ResultCode::RecordingTooShort);
}

#[test]
fn decoder_answers_1210_without_a_face_and_1102_for_a_cut_off_face() {
    let (samples, shown, _) = genuine(6, SimConditions::steady());
    let faceless: Vec<ReflectionSample> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i % 2 == 0 {
                ReflectionSample {
                    face: None,
                    face_box: None,
                    ..*s
                }
            } else {
                *s
            }
        })
        .collect();
    assert_eq!(decode(&faceless, &shown).0.code, ResultCode::NoCompleteFace);
    let at_edge: Vec<ReflectionSample> = samples
        .iter()
        .map(|s| ReflectionSample {
            face_box: s.face_box.map(|b| FaceBox { x: 0.0, ..b }),
            ..*s
        })
        .collect();
    assert_eq!(
        decode(&at_edge, &shown).0.code,
        ResultCode::FaceNotFullyVisible
    );
    // Most frames without a face, the rest cut off by the edge: also 1102.
    let partly: Vec<ReflectionSample> = at_edge
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i % 3 != 0 {
                ReflectionSample {
                    face: None,
                    face_box: None,
                    ..*s
                }
            } else {
                *s
            }
        })
        .collect();
    assert_eq!(
        decode(&partly, &shown).0.code,
        ResultCode::FaceNotFullyVisible
    );
}

#[test]
fn decoder_ignores_frames_where_the_tracker_jumped_to_another_face() {
    let (samples, shown, _) = genuine(7, SimConditions::steady());
    // Every fifth frame measures someone else (no response, elsewhere in the frame).
    let other = LinearRgb::new(0.2, 0.2, 0.2);
    let jumpy: Vec<ReflectionSample> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i % 5 == 0 {
                ReflectionSample {
                    face: Some(other),
                    face_box: Some(FaceBox {
                        x: 0.02,
                        y: 0.5,
                        w: 0.3,
                        h: 0.4,
                        score: 1.0,
                    }),
                    ..*s
                }
            } else {
                *s
            }
        })
        .collect();
    assert!(decode(&jumpy, &shown).0.passed);
}

#[test]
fn a_replay_of_another_challenge_scores_like_a_random_sequence() {
    // The genuine recording of challenge A, decoded against 20 other challenges: none passes, and
    // each ranks among the alternatives as a random sequence would (uniform p-values), while A
    // beats all 999 of them.
    let (samples, shown_a, _) = genuine(8, SimConditions::steady());
    let (va, ra) = decode(&samples, &shown_a);
    assert!(va.passed && ra.beaten_by == 0, "{ra:?}");
    let mut ps = Vec::new();
    for seed in 1000..1020 {
        let other = challenge(seed);
        let shown_b: Vec<DisplayedColour> = other
            .schedule(shown_a[0].start_ms)
            .into_iter()
            .zip(&shown_a)
            .map(|(b, a)| DisplayedColour {
                start_ms: a.start_ms,
                ..b
            })
            .collect();
        let (vb, rb) = decode(&samples, &shown_b);
        assert!(
            !vb.passed
                && vb.code == ResultCode::SuspectedNonLive
                && rb.rule == Rule::SequenceMismatch,
            "{rb:?}"
        );
        ps.push(rb.sequence_p);
    }
    let mean = ps.iter().sum::<f64>() / ps.len() as f64;
    assert!((0.3..0.7).contains(&mean), "{ps:?}");
}

// ---------------------------------------------------------------------------------------------
// Robustness: never panic

fn any_colour() -> impl Strategy<Value = Option<LinearRgb>> {
    prop_oneof![
        Just(None),
        (any::<f32>(), any::<f32>(), any::<f32>())
            .prop_map(|(r, g, b)| Some(LinearRgb::new(r, g, b))),
        (0.0f32..1.0, 0.0f32..1.0, 0.0f32..1.0).prop_map(|(r, g, b)| Some(LinearRgb::new(r, g, b))),
    ]
}

fn any_box() -> impl Strategy<Value = Option<FaceBox>> {
    prop_oneof![
        Just(None),
        (any::<f32>(), any::<f32>(), any::<f32>(), any::<f32>()).prop_map(|(x, y, w, h)| Some(
            FaceBox {
                x,
                y,
                w,
                h,
                score: 1.0
            }
        )),
        (0.0f32..1.0, 0.0f32..1.0, 0.0f32..1.0, 0.0f32..1.0).prop_map(|(x, y, w, h)| Some(
            FaceBox {
                x,
                y,
                w,
                h,
                score: 1.0
            }
        )),
    ]
}

fn any_time() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        0.0f64..6000.0,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(-f64::INFINITY)
    ]
}

fn any_sample() -> impl Strategy<Value = ReflectionSample> {
    (
        any_time(),
        any_colour(),
        any_colour(),
        any_box(),
        prop::collection::vec(any_colour(), 8),
    )
        .prop_map(
            |(t_ms, face, background, face_box, relief)| ReflectionSample {
                t_ms,
                face,
                background,
                face_box,
                relief: ReliefSample {
                    cells: std::array::from_fn(|i| relief[i]),
                    surround: relief[7],
                    saturated: [0.0; 8],
                },
            },
        )
}

fn any_shown() -> impl Strategy<Value = DisplayedColour> {
    (any::<[u8; 3]>(), any_time()).prop_map(|(c, start_ms)| DisplayedColour {
        colour: Rgb8::new(c[0], c[1], c[2]),
        start_ms,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn decoder_never_panics_on_arbitrary_input(
        samples in prop::collection::vec(any_sample(), 0..200),
        shown in prop::collection::vec(any_shown(), 0..80),
    ) {
        let v = ReflectionDecoder::default().decode(&samples, &shown);
        prop_assert!(v.score.is_finite() && (0.0..=1.0).contains(&v.score));
        prop_assert!(v.delay_ms.is_finite());
        prop_assert!(v.passed == (v.code == ResultCode::Passed));
        prop_assert!(v.colours.iter().all(|c| c.confidence.is_finite() && c.observed.iter().all(|o| o.is_finite())));
    }

    /// Plausible timelines with hostile samples: dense in time, arbitrary values.
    #[test]
    fn decoder_never_panics_on_a_real_timeline(
        seed in any::<u64>(),
        samples in prop::collection::vec((0.0f64..5000.0, any_colour(), any_colour(), any_box()), 0..300),
    ) {
        let shown = challenge(seed).schedule(300.0);
        let samples: Vec<ReflectionSample> = samples
            .into_iter()
            .map(|(t_ms, face, background, face_box)| ReflectionSample {
                t_ms,
                face,
                background,
                face_box,
                relief: ReliefSample { cells: [face; 7], surround: background, saturated: [0.0; 8] },
            })
            .collect();
        let v = ReflectionDecoder::default().decode(&samples, &shown);
        prop_assert!(v.score.is_finite());
        prop_assert_eq!(v.colours.len(), 10);
    }
}

#[test]
fn decoder_handles_huge_inputs() {
    let (samples, shown, _) = genuine(9, SimConditions::steady());
    // 100 copies of every sample, slightly jittered: 14,000 samples.
    let huge: Vec<ReflectionSample> = samples
        .iter()
        .flat_map(|s| {
            (0..100).map(move |k| ReflectionSample {
                t_ms: s.t_ms + f64::from(k) * 0.01,
                ..*s
            })
        })
        .collect();
    assert!(decode(&huge, &shown).0.passed);
    let long_shown: Vec<DisplayedColour> = (0..10_000)
        .map(|i| DisplayedColour {
            colour: PALETTE[i % 9],
            start_ms: i as f64,
        })
        .collect();
    assert!(!decode(&samples, &long_shown).0.passed);
    let constant: Vec<ReflectionSample> = samples
        .iter()
        .map(|s| ReflectionSample {
            face: Some(LinearRgb::new(0.3, 0.3, 0.3)),
            background: Some(LinearRgb::new(0.3, 0.3, 0.3)),
            ..*s
        })
        .collect();
    // Nothing responds: too little of the screen's light to decide, and the person is told so.
    assert_eq!(decode(&constant, &shown).0.code, ResultCode::TooBright);
}
