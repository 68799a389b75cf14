//! The light challenge: a server-issued random colour sequence flashed on the screen.
//!
//! Type shapes are fixed here (they travel on the wire); generation and validation follow the
//! safety limits of LIVENESS.md (WCAG 2.3.1) and the entropy goal of the foundation issue.
//!
//! Design:
//! - [`PALETTE`]: nine colours around the edge of the RGB gamut's chromaticity hexagon, with the
//!   red corner and its two neighbours left out (no red-dominant colour at all, WCAG 2.3.1 red
//!   flash). Adjacent palette colours are 0.41 apart in the opponent plane where the full gamut
//!   spans 1.41, so a face's reflection of any two of them is distinguishable.
//! - [`STEP_COUNT`] steps of [`STEP_MS`], no colour repeated back-to-back. Entropy:
//!   log2(9 · 8^9) = 30.17 bits ([`ColourChallenge::entropy_bits`]).
//! - A [`HOLD_MS`] neutral hold (white) before the first step; every colour change, including
//!   hold → first step, is at least 350 ms after the previous one, so no one-second window holds
//!   more than three changes.

use crate::colour::Rgb8;

/// One colour of the sequence and how long it stays on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct ColourStep {
    pub colour: Rgb8,
    pub duration_ms: u32,
}

/// A light challenge as issued by the server and shown by the page.
///
/// Timeline, from the moment the page starts the flash phase: `hold_colour` for `hold_ms`
/// (the person settles, the camera adapts), then each step in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct ColourChallenge {
    /// Neutral colour shown during the hold before the first step.
    pub hold_colour: Rgb8,
    /// How long the hold lasts before the first step.
    pub hold_ms: u32,
    /// The colour sequence (the one-time password).
    pub steps: Vec<ColourStep>,
}

/// One colour as actually displayed: when it reached the screen, in ms on the recording's clock
/// (0 = recorder start). The page logs these; the simulator produces them; the decoder consumes them.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct DisplayedColour {
    pub colour: Rgb8,
    pub start_ms: f64,
}

/// Linear 0.5 in sRGB (0.5^(1/2.4)·1.055 − 0.055 = 0.7354 → 188): the half-way point of an edge of
/// the chromaticity hexagon.
const HALF: u8 = 188;

/// The colours a challenge is drawn from, in order around the chromaticity hexagon
/// (yellow → green → cyan → blue → magenta). No red, orange or rose: none is red-dominant.
pub const PALETTE: [Rgb8; 9] = [
    Rgb8::new(255, 255, 0),  // yellow
    Rgb8::new(HALF, 255, 0), // chartreuse
    Rgb8::new(0, 255, 0),    // green
    Rgb8::new(0, 255, HALF), // spring green
    Rgb8::new(0, 255, 255),  // cyan
    Rgb8::new(0, HALF, 255), // azure
    Rgb8::new(0, 0, 255),    // blue
    Rgb8::new(HALF, 0, 255), // violet
    Rgb8::new(255, 0, 255),  // magenta
];

/// The neutral hold colour: white lights the face most, so the camera settles on its brightest scene.
pub const HOLD_COLOUR: Rgb8 = Rgb8::new(255, 255, 255);
/// Hold before the first step: the foundation issue asks for a 1 s neutral hold.
pub const HOLD_MS: u32 = 1000;
/// Duration of each step: 350 ms keeps every one-second window at <= 3 changes (WCAG 2.3.1) with a
/// 16 ms (one display frame) margin over the 334 ms limit.
pub const STEP_MS: u32 = 350;
/// Steps per challenge: 10 × 350 ms = 3.5 s, the flash-phase limit of issue #9. Every step adds
/// integration time for a weak reflection (the response's energy grows with the step count) and two
/// degrees of freedom to the decoder's step-level noise estimate, and 3 bits (30 bits in all).
pub const STEP_COUNT: usize = 10;

/// Validation limits for a challenge received over the wire.
pub mod limits {
    /// The hold must give the person and the camera at least a second (foundation issue).
    pub const MIN_HOLD_MS: u32 = 1000;
    /// A longer hold only delays the person; anything beyond 5 s is not a challenge we issue.
    pub const MAX_HOLD_MS: u32 = 5000;
    /// Flash phase limit (issue #9: at most 3.5 s; LIVENESS.md: the light mode takes ~3 s).
    pub const MAX_FLASH_MS: u64 = 3500;
    /// No step shorter than this: with at most 3 changes per second, 334 ms is the hard floor;
    /// 350 ms leaves a display frame of margin.
    pub const MIN_STEP_MS: u32 = 350;
    /// Bounded length: 3500 / 350.
    pub const MAX_STEPS: usize = 10;
    /// WCAG 2.3.1: no more than three flashes in any one-second period.
    pub const MAX_CHANGES_PER_SECOND: usize = 3;
    /// Length of the WCAG sliding window.
    pub const CHANGE_WINDOW_MS: u64 = 1000;
    /// A colour is red-dominant when red exceeds both other channels by more than this (sRGB
    /// levels); such colours are refused outright (WCAG 2.3.1 red flash, LIVENESS.md).
    pub const RED_DOMINANCE_LEVELS: i32 = 32;
    /// The hold colour is neutral when its channels differ by at most this many sRGB levels.
    pub const NEUTRAL_TOLERANCE_LEVELS: i32 = 8;
}

/// Why a challenge is unsafe or unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("the challenge has no steps")]
    Empty,
    #[error("the challenge has {count} steps; at most {max} are allowed")]
    TooManySteps { count: usize, max: usize },
    #[error("the hold lasts {ms} ms; it must last {min}..={max} ms")]
    HoldOutOfRange { ms: u32, min: u32, max: u32 },
    #[error("the hold colour {colour} is not neutral")]
    HoldNotNeutral { colour: String },
    #[error("step {index} lasts {ms} ms; at least {min} ms are required")]
    StepTooShort { index: usize, ms: u32, min: u32 },
    #[error("the flash phase lasts {ms} ms; at most {max} ms are allowed")]
    FlashTooLong { ms: u64, max: u64 },
    #[error("step {index} shows the red-dominant colour {colour}")]
    RedDominant { index: usize, colour: String },
    #[error("{changes} colour changes within one second starting at {window_start_ms} ms; at most {max} are allowed")]
    TooManyChanges {
        window_start_ms: u64,
        changes: usize,
        max: usize,
    },
}

/// Whether a colour's red channel dominates both others (refused: WCAG 2.3.1 red flash).
pub fn is_red_dominant(c: Rgb8) -> bool {
    let (r, g, b) = (i32::from(c.r), i32::from(c.g), i32::from(c.b));
    r - g > limits::RED_DOMINANCE_LEVELS && r - b > limits::RED_DOMINANCE_LEVELS
}

/// Whether a colour is a neutral grey (or white).
pub fn is_neutral(c: Rgb8) -> bool {
    let (r, g, b) = (i32::from(c.r), i32::from(c.g), i32::from(c.b));
    let (hi, lo) = (r.max(g).max(b), r.min(g).min(b));
    hi - lo <= limits::NEUTRAL_TOLERANCE_LEVELS
}

/// A uniform index in 0..n (n > 0) by rejection sampling, so no colour is favoured.
fn uniform_index<R: rand_core::RngCore + ?Sized>(rng: &mut R, n: u32) -> u32 {
    debug_assert!(n > 0);
    let n = n.max(1);
    // Largest multiple of n that fits in u32: values at or above it are redrawn.
    let zone = u32::MAX - (u32::MAX % n + 1) % n;
    loop {
        let v = rng.next_u32();
        if v <= zone {
            return v % n;
        }
    }
}

/// Draws a palette-ring colour sequence of `len` steps with no colour repeated back-to-back.
pub(crate) fn draw_sequence<R: rand_core::RngCore + ?Sized>(rng: &mut R, len: usize) -> Vec<Rgb8> {
    let p = PALETTE.len() as u32;
    let mut out = Vec::with_capacity(len);
    let mut prev: Option<u32> = None;
    for _ in 0..len {
        let idx = match prev {
            None => uniform_index(rng, p),
            // Draw among the other P-1 colours: skip over the previous one.
            Some(q) => {
                let i = uniform_index(rng, p - 1);
                if i >= q {
                    i + 1
                } else {
                    i
                }
            }
        };
        prev = Some(idx);
        out.push(PALETTE[idx as usize]);
    }
    out
}

impl ColourChallenge {
    /// Draws a fresh challenge from a caller-supplied cryptographic RNG (the server's).
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> ColourChallenge {
        let steps = draw_sequence(rng, STEP_COUNT)
            .into_iter()
            .map(|colour| ColourStep {
                colour,
                duration_ms: STEP_MS,
            })
            .collect();
        ColourChallenge {
            hold_colour: HOLD_COLOUR,
            hold_ms: HOLD_MS,
            steps,
        }
    }

    /// Entropy of [`generate`](Self::generate) in bits: log2(P · (P−1)^(n−1)) for a palette of P
    /// colours, n steps, no colour twice in a row (30.17 bits for P = 9, n = 10).
    pub fn entropy_bits() -> f64 {
        let p = PALETTE.len() as f64;
        p.log2() + (STEP_COUNT as f64 - 1.0) * (p - 1.0).log2()
    }

    /// Duration of the flash phase (all steps), in ms.
    pub fn flash_duration_ms(&self) -> u64 {
        self.steps.iter().map(|s| u64::from(s.duration_ms)).sum()
    }

    /// Hold plus flash phase, in ms.
    pub fn total_duration_ms(&self) -> u64 {
        u64::from(self.hold_ms) + self.flash_duration_ms()
    }

    /// The ideal timeline: the hold colour at `hold_start_ms`, then each step at its start.
    pub fn schedule(&self, hold_start_ms: f64) -> Vec<DisplayedColour> {
        let mut out = Vec::with_capacity(self.steps.len() + 1);
        out.push(DisplayedColour {
            colour: self.hold_colour,
            start_ms: hold_start_ms,
        });
        let mut t = hold_start_ms + f64::from(self.hold_ms);
        for s in &self.steps {
            out.push(DisplayedColour {
                colour: s.colour,
                start_ms: t,
            });
            t += f64::from(s.duration_ms);
        }
        out
    }

    /// Checks a challenge (typically one received over the wire) against every safety and sanity
    /// limit: non-empty and bounded length, a neutral hold of sane length, no step shorter than
    /// [`limits::MIN_STEP_MS`], flash phase within [`limits::MAX_FLASH_MS`], no red-dominant colour,
    /// and at most [`limits::MAX_CHANGES_PER_SECOND`] colour changes in any one-second window
    /// (the change into the hold and from the hold to the first step included).
    pub fn validate(&self) -> Result<(), ChallengeError> {
        use limits::*;
        if self.steps.is_empty() {
            return Err(ChallengeError::Empty);
        }
        if self.steps.len() > MAX_STEPS {
            return Err(ChallengeError::TooManySteps {
                count: self.steps.len(),
                max: MAX_STEPS,
            });
        }
        if !(MIN_HOLD_MS..=MAX_HOLD_MS).contains(&self.hold_ms) {
            return Err(ChallengeError::HoldOutOfRange {
                ms: self.hold_ms,
                min: MIN_HOLD_MS,
                max: MAX_HOLD_MS,
            });
        }
        if !is_neutral(self.hold_colour) {
            return Err(ChallengeError::HoldNotNeutral {
                colour: self.hold_colour.to_hex(),
            });
        }
        for (index, s) in self.steps.iter().enumerate() {
            if s.duration_ms < MIN_STEP_MS {
                return Err(ChallengeError::StepTooShort {
                    index,
                    ms: s.duration_ms,
                    min: MIN_STEP_MS,
                });
            }
            if is_red_dominant(s.colour) {
                return Err(ChallengeError::RedDominant {
                    index,
                    colour: s.colour.to_hex(),
                });
            }
        }
        let flash = self.flash_duration_ms();
        if flash > MAX_FLASH_MS {
            return Err(ChallengeError::FlashTooLong {
                ms: flash,
                max: MAX_FLASH_MS,
            });
        }
        self.check_change_rate()
    }

    /// Sliding one-second window over every colour change (closed interval: a change exactly one
    /// second after another counts in the same window).
    fn check_change_rate(&self) -> Result<(), ChallengeError> {
        use limits::*;
        // The screen switches to the hold at 0 (whatever was shown before).
        let mut changes: Vec<u64> = Vec::with_capacity(self.steps.len() + 1);
        changes.push(0);
        let mut t = u64::from(self.hold_ms);
        let mut prev = self.hold_colour;
        for s in &self.steps {
            if s.colour != prev {
                changes.push(t);
            }
            prev = s.colour;
            t += u64::from(s.duration_ms);
        }
        let mut j = 0;
        for i in 0..changes.len() {
            if j < i {
                j = i;
            }
            while j + 1 < changes.len() && changes[j + 1] <= changes[i] + CHANGE_WINDOW_MS {
                j += 1;
            }
            let count = j - i + 1;
            if count > MAX_CHANGES_PER_SECOND {
                return Err(ChallengeError::TooManyChanges {
                    window_start_ms: changes[i],
                    changes: count,
                    max: MAX_CHANGES_PER_SECOND,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn challenge(seed: u64) -> ColourChallenge {
        ColourChallenge::generate(&mut ChaCha20Rng::seed_from_u64(seed))
    }

    #[test]
    fn palette_is_safe_and_distinct() {
        for (i, &c) in PALETTE.iter().enumerate() {
            assert!(!is_red_dominant(c), "{}", c.to_hex());
            assert!(!is_neutral(c), "{}", c.to_hex());
            assert!(!PALETTE[..i].contains(&c));
        }
        assert!(is_neutral(HOLD_COLOUR));
        assert!(is_red_dominant(Rgb8::new(255, 0, 0)));
        assert!(is_red_dominant(Rgb8::new(255, 128, 0)));
    }

    #[test]
    fn entropy_meets_the_goal() {
        let bits = ColourChallenge::entropy_bits();
        assert!(bits >= 24.0, "{bits}");
        assert!((bits - (9.0f64 * 8f64.powi(9)).log2()).abs() < 1e-9);
    }

    #[test]
    fn generated_challenges_validate_and_do_not_repeat_back_to_back() {
        for seed in 0..200 {
            let c = challenge(seed);
            assert_eq!(c.validate(), Ok(()));
            assert_eq!(c.steps.len(), STEP_COUNT);
            for w in c.steps.windows(2) {
                assert_ne!(w[0].colour, w[1].colour);
            }
            assert!(c.flash_duration_ms() <= limits::MAX_FLASH_MS);
        }
    }

    #[test]
    fn draws_use_every_palette_colour_and_differ_between_seeds() {
        let mut seen = [0usize; PALETTE.len()];
        for seed in 0..300 {
            for s in challenge(seed).steps {
                let i = PALETTE.iter().position(|&p| p == s.colour).unwrap();
                seen[i] += 1;
            }
        }
        // 2,400 draws over 9 colours: each expected ~267; a broken draw would leave some near 0.
        assert!(seen.iter().all(|&n| n > 180), "{seen:?}");
        assert_ne!(challenge(1), challenge(2));
    }

    #[test]
    fn schedule_follows_durations() {
        let c = challenge(7);
        let s = c.schedule(500.0);
        assert_eq!(s.len(), c.steps.len() + 1);
        assert_eq!(s[0].colour, c.hold_colour);
        assert_eq!(s[0].start_ms, 500.0);
        assert_eq!(s[1].start_ms, 1500.0);
        assert_eq!(s[8].start_ms, 1500.0 + 7.0 * 350.0);
        assert_eq!(c.total_duration_ms(), 1000 + 3500);
    }

    #[test]
    fn change_rate_window_counts_closed_intervals() {
        let mut c = challenge(3);
        c.steps.truncate(4);
        for s in &mut c.steps {
            s.duration_ms = 350;
        }
        assert_eq!(c.validate(), Ok(()));
        // A repeated colour is not a change, so it never makes the rate worse.
        c.steps[1].colour = c.steps[0].colour;
        assert_eq!(c.validate(), Ok(()));
        // 340 ms steps: changes at 1000, 1340, 1680 and 2020 are fine (2020 > 1000 + 1000), but
        // with the hold at 1000 and steps of 333 four changes fall within 1000..=1999.
        c.steps[1].colour = PALETTE[(PALETTE
            .iter()
            .position(|&p| p == c.steps[0].colour)
            .unwrap()
            + 1)
            % 9];
        c.steps[2].colour = PALETTE[(PALETTE
            .iter()
            .position(|&p| p == c.steps[1].colour)
            .unwrap()
            + 1)
            % 9];
        c.steps[3].colour = PALETTE[(PALETTE
            .iter()
            .position(|&p| p == c.steps[2].colour)
            .unwrap()
            + 1)
            % 9];
        assert!(c.check_change_rate().is_ok());
        for s in &mut c.steps {
            s.duration_ms = 333;
        }
        assert!(matches!(
            c.check_change_rate(),
            Err(ChallengeError::TooManyChanges { changes: 4, .. })
        ));
    }
}
