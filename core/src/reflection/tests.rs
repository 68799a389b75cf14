//! Unit tests of the decoder on samples that follow its own model exactly (its behaviour on the
//! world's variety is measured by faceid-eval, not here).

use super::timeline::Timeline;
use super::*;
use crate::challenge::{ColourChallenge, DisplayedColour, PALETTE};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

fn sequence(seed: u64) -> Vec<DisplayedColour> {
    ColourChallenge::generate(&mut ChaCha20Rng::seed_from_u64(seed)).schedule(400.0)
}

/// What lights each region: a relative response per relief cell (nose, inner L/R, outer L/R,
/// forehead, chin, surround), the face's own, and whether the light is added (an emitter's glass)
/// rather than reflected.
#[derive(Clone, Copy)]
struct Scene {
    face: f32,
    cells: [f32; 8],
    levels: [f32; 8],
    additive: bool,
    /// Face box width, a share of the frame's.
    face_width: f32,
}

/// A face lit from the front by the screen and from above by the room: the outer cheeks and the
/// forehead catch a smaller share of screen light, the chin a larger one, the surround little.
const FACE: Scene = Scene {
    face: 1.0,
    cells: [1.0, 1.0, 1.0, 0.55, 0.6, 0.6, 1.4, 0.2],
    levels: [0.35, 0.3, 0.3, 0.22, 0.2, 0.4, 0.2, 0.1],
    additive: false,
    face_width: 0.3,
};

/// Samples following the decoder's model: per-channel gains of an ambient tint, a delay, exposure
/// changing every frame, a slow white-balance drift, a little noise. `lit` is what lit the scene
/// (for a replay, another challenge's timeline); `k` the screen's share of the room's light.
fn samples(
    lit: &[DisplayedColour],
    delay: f64,
    k: f32,
    scene: Scene,
    noise_seed: u64,
) -> Vec<ReflectionSample> {
    let timeline = Timeline::from_shown(lit).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(noise_seed);
    let mut noise = move || (rng.next_u32() as f32 / u32::MAX as f32 - 0.5) * 0.004;
    (0..170)
        .map(|i| {
            let t = 33.3 * i as f64;
            let s = match timeline.segment(t - delay) {
                Ok(seg) => timeline.colours[seg],
                Err(_) => timeline.colours[0],
            };
            let exposure = 1.0 + 0.3 * ((i * 7919) % 13) as f32 / 13.0;
            let drift = [1.0 + 0.0001 * i as f32, 1.0, 1.0 - 0.0001 * i as f32];
            let tint = [1.1f32, 1.0, 0.9];
            let mut region = |gain: f32, level: f32| {
                let mut ch = |c: usize| {
                    let base = level * tint[c];
                    let lit = if scene.additive {
                        base + k * gain * 0.3 * s[c] as f32
                    } else {
                        base * (1.0 + k * gain * s[c] as f32 / tint[c])
                    };
                    exposure * drift[c] * lit * (1.0 + noise())
                };
                Some(LinearRgb::new(ch(0), ch(1), ch(2)))
            };
            let face = region(scene.face, 0.3);
            let background = region(0.03, 0.2);
            let mut cells = [None; 7];
            for (j, c) in cells.iter_mut().enumerate() {
                *c = region(scene.cells[j], scene.levels[j]);
            }
            let surround = region(scene.cells[7], scene.levels[7]);
            ReflectionSample {
                t_ms: t,
                face,
                background,
                face_box: Some(FaceBox {
                    x: 0.5 - scene.face_width / 2.0,
                    y: 0.25,
                    w: scene.face_width,
                    h: 0.4,
                    score: 1.0,
                }),
                relief: ReliefSample {
                    cells,
                    surround,
                    saturated: [0.0; 8],
                },
            }
        })
        .collect()
}

fn decode(samples: &[ReflectionSample], shown: &[DisplayedColour]) -> (Verdict, DecodeReport) {
    ReflectionDecoder::default().decode_with_report(samples, shown)
}

#[test]
fn a_face_following_the_issued_sequence_passes_with_its_delay() {
    let shown = sequence(1);
    let (v, r) = decode(&samples(&shown, 120.0, 0.15, FACE, 1), &shown);
    assert!(v.passed && r.rule == Rule::Passed, "{r:?}");
    assert_eq!(r.beaten_by, 0);
    assert!((v.delay_ms - 120.0).abs() <= 10.0, "{}", v.delay_ms);
    assert!(r.fit > 0.9, "{r:?}");
    assert_eq!(v.colours.len(), crate::challenge::STEP_COUNT);
    assert!(v.colours.iter().all(|c| c.confidence > 0.5), "{v:?}");
    // Each relief part is measured relative to the front (nose and inner cheeks).
    assert!(
        (r.relief.outer_left - 0.55).abs() < 0.05 && (r.relief.chin - 1.4).abs() < 0.1,
        "{:?}",
        r.relief
    );
}

#[test]
fn an_even_response_is_not_a_face() {
    // Paper: every part responds alike, whatever its level.
    let shown = sequence(2);
    let paper = Scene {
        cells: [1.0; 8],
        ..FACE
    };
    let (v, r) = decode(&samples(&shown, 90.0, 0.3, paper, 2), &shown);
    assert!(!v.passed, "{r:?}");
    // Its margin responds like the face while nothing is uneven: established flat.
    assert_eq!(r.rule, Rule::Flat, "{r:?}");
    assert_eq!(v.code, ResultCode::SuspectedNonLive);
    // A cut-out (no margin) is as flat but its surround is the room: too little to call it paper.
    let cutout = Scene {
        cells: [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.05],
        ..FACE
    };
    let (v, r) = decode(&samples(&shown, 90.0, 0.3, cutout, 3), &shown);
    assert!(
        !v.passed && r.rule == Rule::ReliefUndecided && v.code == ResultCode::TooBright,
        "{r:?}"
    );
}

#[test]
fn paper_may_differ_more_from_chin_to_forehead_the_more_of_the_view_it_fills() {
    // A cut-out print pitched toward the screen: its chin takes 2.6 times its forehead's share,
    // everything else even. Paper filling ±10° of the view cannot do that (at most ×1.8); filling
    // ±21° (a face box 0.45 of the frame on an 80° camera) it can (up to ×3.2).
    let shown = sequence(9);
    let pitched = |face_width| Scene {
        cells: [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 1.3, 0.05],
        face_width,
        ..FACE
    };
    let (_, small) = decode(&samples(&shown, 90.0, 0.3, pitched(0.21), 9), &shown);
    assert!(
        small.relief.t_uneven >= small.relief.t_critical_uneven,
        "{:?}",
        small.relief
    );
    let (v, big) = decode(&samples(&shown, 90.0, 0.3, pitched(0.45), 9), &shown);
    assert!(
        big.relief.t_uneven < big.relief.t_critical_uneven && !v.passed,
        "{:?}",
        big.relief
    );
    assert!(big.relief.face_tan > small.relief.face_tan);
}

#[test]
fn paper_bounds_grow_with_the_face_angle() {
    let at = |deg: f64| relief::flat_bounds(deg.to_radians().tan());
    assert_eq!(at(5.0), at(7.0));
    for deg in [9.0, 13.0, 17.0, 21.0, 25.0] {
        let (a, b) = (at(deg), at(deg + 2.0));
        assert!((0..3).all(|k| b[k] > a[k]), "{a:?} {b:?}");
    }
    // Between rows, linear: 13° halfway between 12° and 14° (in tangent, nearly).
    let mid = at(13.0)[2];
    assert!(mid > 0.796 && mid < 0.930, "{mid}");
    // Beyond the table (a face closer than the gate allows), the last segment goes on.
    assert!(at(35.0)[2] > at(28.0)[2]);
    // No face box at all: the table's loosest row.
    let none = relief::flat_bounds(f64::NAN);
    assert_eq!(none, relief::flat_bounds(f64::INFINITY));
    assert!((0..3).all(|k| none[k] > at(27.0)[k]), "{none:?}");
}

#[test]
fn light_added_by_an_emitter_is_not_a_face() {
    // A tablet: the same light added everywhere, so the darker parts respond more — as uneven as a
    // face, but the added light itself does not fall off toward the sides.
    let shown = sequence(3);
    let tablet = Scene {
        cells: [1.0; 8],
        additive: true,
        ..FACE
    };
    let (v, r) = decode(&samples(&shown, 150.0, 0.3, tablet, 4), &shown);
    assert!(!v.passed, "{r:?}");
    assert!(
        r.relief.t_uneven > r.relief.t_critical_uneven,
        "uneven as a face: {:?}",
        r.relief
    );
    assert!(
        r.relief.t_screen_dome < r.relief.t_critical,
        "{:?}",
        r.relief
    );
    // A mirrored patch on the nose and inner cheeks only: the other parts are dark.
    let patch = Scene {
        cells: [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        additive: true,
        ..FACE
    };
    let (v, r) = decode(&samples(&shown, 150.0, 0.3, patch, 5), &shown);
    assert!(
        !v.passed && r.rule == Rule::Patch && v.code == ResultCode::SuspectedNonLive,
        "{r:?}"
    );
    // The reverse: the phone's coloured screen mirrored around the face, the page's uncoloured oval
    // on its front — the parts respond, the front does not.
    let hole = Scene {
        cells: [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        additive: true,
        ..FACE
    };
    let (v, r) = decode(&samples(&shown, 150.0, 0.3, hole, 7), &shown);
    assert!(
        !v.passed && r.rule == Rule::Patch && v.code == ResultCode::SuspectedNonLive,
        "{r:?}"
    );
}

#[test]
fn a_response_to_another_sequence_is_refused_and_no_response_gets_guidance() {
    let issued = sequence(4);
    // A recording lit by another challenge, in step with the page.
    let other: Vec<DisplayedColour> = sequence(5)
        .into_iter()
        .zip(&issued)
        .map(|(o, i)| DisplayedColour {
            start_ms: i.start_ms,
            ..o
        })
        .collect();
    let (v, r) = decode(&samples(&other, 100.0, 0.3, FACE, 6), &issued);
    assert!(
        !v.passed && r.rule == Rule::SequenceMismatch && v.code == ResultCode::SuspectedNonLive,
        "{r:?}"
    );
    assert!(r.sequence_p > tuning::MISMATCH_P, "{r:?}");
    // Nothing responds: the room's light drowns the screen's; the person is told to move.
    let (v, r) = decode(&samples(&issued, 100.0, 0.0, FACE, 7), &issued);
    assert!(
        !v.passed && r.rule == Rule::ResponseTooWeak && v.code == ResultCode::TooBright,
        "{r:?}"
    );
}

#[test]
fn the_rank_test_accepts_unrelated_recordings_at_its_designed_rate() {
    // Responses to sequences unrelated to the issued one: the issued sequence beats all 999
    // alternatives with probability 1/1000 whatever the recording. 3,000 unrelated pairs here
    // (alternating strong responses to another sequence and pure noise) expect 3 such wins; seven
    // or more would happen by chance with probability 3 % if the design held.
    let mut wins = 0;
    for i in 0..3000u64 {
        let issued = sequence(10_000 + i);
        let lit: Vec<DisplayedColour> = sequence(50_000 + i)
            .into_iter()
            .zip(&issued)
            .map(|(o, s)| DisplayedColour {
                start_ms: s.start_ms,
                ..o
            })
            .collect();
        let k = if i % 2 == 0 { 0.2 } else { 0.0 };
        let (_, r) = decode(&samples(&lit, 100.0, k, FACE, i), &issued);
        wins += usize::from(r.beaten_by == 0 && r.alternatives == tuning::NULL_SEQUENCES);
    }
    assert!(wins < 7, "{wins} of 3000");
}

#[test]
fn rules_name_their_codes() {
    for rule in Rule::ALL {
        assert!(!rule.name().is_empty());
        assert_eq!(rule.code() == ResultCode::Passed, rule == Rule::Passed);
    }
    assert_eq!(Rule::ResponseTooWeak.code(), ResultCode::TooBright);
    assert_eq!(Rule::Flat.code(), ResultCode::SuspectedNonLive);
}

#[test]
fn timeline_sorts_skips_non_finite_and_infers_the_last_step() {
    let mut shown = sequence(1);
    let n = shown.len();
    shown.reverse();
    shown.push(DisplayedColour {
        colour: Rgb8::new(1, 2, 3),
        start_ms: f64::NAN,
    });
    let t = Timeline::from_shown(&shown).unwrap();
    assert_eq!(t.steps(), n - 1);
    assert_eq!(t.starts[0], 400.0);
    assert_eq!(t.end, 1400.0 + 350.0 * (n - 1) as f64);
    assert_eq!(t.segment(399.0), Err(true));
    assert_eq!(t.segment(400.0), Ok(0));
    assert_eq!(t.segment(1400.0 + 350.0 * 2.5), Ok(3));
    assert_eq!(t.segment(t.end), Err(false));
    assert!(Timeline::from_shown(&shown[..1]).is_none());
    assert!(Timeline::from_shown(&[]).is_none());
}

#[test]
fn log_chroma_is_centred_and_refuses_non_finite() {
    let c = log_chroma(Some(LinearRgb::new(0.5, 0.25, 0.125))).unwrap();
    assert!((c[0] + c[1] + c[2]).abs() < 1e-12);
    assert!((c[0] - c[1] - 2f64.ln()).abs() < 1e-6);
    assert!(log_chroma(Some(LinearRgb::new(f32::NAN, 0.1, 0.1))).is_none());
    assert!(log_chroma(None).is_none());
    // Zero and negative channels are floored, not turned into −∞.
    assert!(log_chroma(Some(LinearRgb::new(0.0, -1.0, 0.2)))
        .unwrap()
        .iter()
        .all(|v| v.is_finite()));
    assert_eq!(PALETTE.len(), 9);
}
