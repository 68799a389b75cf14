//! Which colour timeline the decoder checks the video against.
//!
//! The server decodes against the colours IT issued. The page's display log (`report.shown`) only
//! tells *when* each colour reached the screen. It is used when it agrees with the issued
//! challenge: the same colours in the same order, each lasting its issued duration within
//! [`DURATION_TOLERANCE_MS`], and inside the video's own timeline. Otherwise the issued schedule is
//! anchored at the page's reported hold start (the decoder's delay search absorbs display latency);
//! without a usable anchor inside the video the attempt is refused (1003): the server does not
//! search the recording for the best-matching position, because every extra alignment tried is
//! one more chance for a replayed recording to match by luck.

use faceid_core::challenge::{ColourChallenge, DisplayedColour};

/// A logged colour may last this much longer or shorter than issued: a 60 Hz display quantises to
/// 17 ms, busy main threads miss a frame or three, and requestAnimationFrame may pause briefly.
pub const DURATION_TOLERANCE_MS: f64 = 120.0;
/// The displayed timeline may start this much before the first decoded frame (the recorder's first
/// frame arrives after its start) and its anchor this much after the last.
pub const FRAME_SLACK_MS: f64 = 150.0;

/// Where the decoder's timeline came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimelineSource {
    /// The page's display log, checked against the issued challenge.
    PageLog,
    /// The issued schedule, anchored at the page's reported hold start.
    IssuedSchedule,
}

impl TimelineSource {
    pub fn name(self) -> &'static str {
        match self {
            TimelineSource::PageLog => "page-log",
            TimelineSource::IssuedSchedule => "issued-schedule",
        }
    }
}

/// Why the page's log was not used as it stands.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LogMismatch {
    #[error("the log has {got} entries; the challenge has {want}")]
    Length { got: usize, want: usize },
    #[error("entry {0} shows a different colour than issued")]
    Colour(usize),
    #[error("entry {0} has no finite start time or starts before the previous one")]
    Time(usize),
    #[error("entry {index} lasted {got_ms:.0} ms; {want_ms} ms were issued")]
    Duration {
        index: usize,
        got_ms: f64,
        want_ms: u32,
    },
    #[error("the log lies outside the recording")]
    OutsideVideo,
}

/// Checks the page's log against the issued challenge and the video's first/last frame times.
pub fn check_log(
    challenge: &ColourChallenge,
    shown: &[DisplayedColour],
    first_ms: f64,
    last_ms: f64,
) -> Result<(), LogMismatch> {
    let issued = challenge.schedule(0.0);
    if shown.len() != issued.len() {
        return Err(LogMismatch::Length {
            got: shown.len(),
            want: issued.len(),
        });
    }
    for (i, (s, want)) in shown.iter().zip(&issued).enumerate() {
        if s.colour != want.colour {
            return Err(LogMismatch::Colour(i));
        }
        if !s.start_ms.is_finite() || (i > 0 && s.start_ms <= shown[i - 1].start_ms) {
            return Err(LogMismatch::Time(i));
        }
    }
    let durations =
        std::iter::once(challenge.hold_ms).chain(challenge.steps.iter().map(|s| s.duration_ms));
    for (i, (w, want_ms)) in shown.windows(2).zip(durations).enumerate() {
        let got_ms = w[1].start_ms - w[0].start_ms;
        if (got_ms - f64::from(want_ms)).abs() > DURATION_TOLERANCE_MS {
            return Err(LogMismatch::Duration {
                index: i,
                got_ms,
                want_ms,
            });
        }
    }
    let (Some(first), Some(last)) = (shown.first(), shown.last()) else {
        return Err(LogMismatch::Length {
            got: 0,
            want: issued.len(),
        });
    };
    if first.start_ms < first_ms - FRAME_SLACK_MS || last.start_ms > last_ms + FRAME_SLACK_MS {
        return Err(LogMismatch::OutsideVideo);
    }
    Ok(())
}

/// The timeline to decode against, or None when neither the log nor an anchor is usable.
pub fn choose(
    challenge: &ColourChallenge,
    shown: &[DisplayedColour],
    hold_start_ms: Option<f64>,
    first_ms: f64,
    last_ms: f64,
) -> Option<(Vec<DisplayedColour>, TimelineSource, Option<LogMismatch>)> {
    let mismatch = match check_log(challenge, shown, first_ms, last_ms) {
        Ok(()) => return Some((shown.to_vec(), TimelineSource::PageLog, None)),
        Err(m) => m,
    };
    let anchor = hold_start_ms
        .or_else(|| {
            shown
                .first()
                .filter(|d| d.colour == challenge.hold_colour)
                .map(|d| d.start_ms)
        })
        .filter(|t| t.is_finite() && *t >= first_ms - FRAME_SLACK_MS && *t <= last_ms)?;
    Some((
        challenge.schedule(anchor),
        TimelineSource::IssuedSchedule,
        Some(mismatch),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use faceid_core::Rgb8;
    use rand_core::SeedableRng;

    fn challenge() -> ColourChallenge {
        ColourChallenge::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(11))
    }

    #[test]
    fn faithful_log_is_used() {
        let c = challenge();
        let mut log = c.schedule(500.0);
        // Jitter within tolerance.
        log[3].start_ms += 40.0;
        let (tl, src, why) = choose(&c, &log, Some(500.0), 0.0, 5_000.0).unwrap();
        assert_eq!((src, why), (TimelineSource::PageLog, None));
        assert_eq!(tl, log);
    }

    #[test]
    fn inconsistent_logs_fall_back_to_the_issued_schedule() {
        let c = challenge();
        let mut wrong_colour = c.schedule(500.0);
        wrong_colour[2].colour = Rgb8::new(1, 2, 3);
        let mut too_long = c.schedule(500.0);
        for d in &mut too_long[4..] {
            d.start_ms += 300.0;
        }
        let short = c.schedule(500.0)[..3].to_vec();
        for log in [wrong_colour, too_long, short] {
            let (tl, src, why) = choose(&c, &log, Some(500.0), 0.0, 5_000.0).unwrap();
            assert_eq!(src, TimelineSource::IssuedSchedule);
            assert!(why.is_some());
            assert_eq!(tl, c.schedule(500.0));
        }
    }

    #[test]
    fn log_outside_the_video_is_refused_without_an_anchor() {
        let c = challenge();
        let log = c.schedule(9_000.0);
        assert_eq!(
            check_log(&c, &log, 0.0, 4_000.0),
            Err(LogMismatch::OutsideVideo)
        );
        assert!(choose(&c, &log, None, 0.0, 4_000.0).is_none());
        assert!(choose(&c, &[], None, 0.0, 4_000.0).is_none());
        assert!(choose(&c, &[], Some(f64::NAN), 0.0, 4_000.0).is_none());
    }
}
