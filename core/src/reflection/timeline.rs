//! The display timeline as the page logged it: the hold, then each step, on the recording clock.

use crate::challenge::DisplayedColour;
use crate::colour::Rgb8;

use super::tuning;

/// The displayed timeline after sanitising: segment 0 is the hold, 1..=n the steps.
pub(super) struct Timeline {
    pub colours: Vec<[f64; 3]>,
    pub srgb: Vec<Rgb8>,
    pub starts: Vec<f64>,
    pub end: f64,
}

impl Timeline {
    pub fn from_shown(shown: &[DisplayedColour]) -> Option<Timeline> {
        let v: Vec<DisplayedColour> = shown
            .iter()
            .copied()
            .filter(|d| d.start_ms.is_finite())
            .collect();
        if v.len() < 2 || v.len() > tuning::MAX_SHOWN {
            return None;
        }
        let v = super::stats::sorted_by_key(v, |d| d.start_ms);
        let starts: Vec<f64> = v.iter().map(|d| d.start_ms).collect();
        let n = starts.len();
        // The last step's end is not logged: assume it lasted as long as the median step before it.
        let mut durations: Vec<f64> = starts[1..].windows(2).map(|w| w[1] - w[0]).collect();
        super::stats::sort_values(&mut durations);
        let last = durations
            .get(durations.len() / 2)
            .copied()
            .unwrap_or(f64::from(crate::challenge::STEP_MS));
        let end = starts[n - 1] + last;
        let colours = v
            .iter()
            .map(|d| {
                let l = d.colour.to_linear();
                [f64::from(l.r), f64::from(l.g), f64::from(l.b)]
            })
            .collect();
        Some(Timeline {
            colours,
            srgb: v.iter().map(|d| d.colour).collect(),
            starts,
            end,
        })
    }

    pub fn steps(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn flash_start(&self) -> f64 {
        self.starts[1]
    }

    /// Segment of a time on the display clock: Some(0..=n) inside the timeline, None outside;
    /// `Err(true)` before it, `Err(false)` after it.
    pub fn segment(&self, t: f64) -> Result<usize, bool> {
        if t < self.starts[0] {
            return Err(true);
        }
        if t >= self.end {
            return Err(false);
        }
        Ok(self.starts.partition_point(|&s| s <= t).saturating_sub(1))
    }
}
