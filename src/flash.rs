//! The light challenge's display timeline, driven by animation-frame timestamps: which colour each
//! frame must show, and when each colour actually reached the screen (the timestamp of the first
//! frame it was drawn in) on the recording's clock.

use faceid_core::challenge::{ColourChallenge, DisplayedColour};
use faceid_core::Rgb8;

/// What the display must do in one animation frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FlashFrame {
    /// Paint this colour (it was not on screen in the previous frame).
    Paint(Rgb8),
    /// Keep the colour already on screen.
    Keep,
    /// The sequence is over.
    Finished,
}

/// One run of a challenge on screen.
///
/// Colour boundaries are measured from the first frame (the hold start), not from when the previous
/// colour appeared, so a late frame delays one colour without shifting all later ones.
#[derive(Clone, Debug)]
pub struct FlashRun {
    colours: Vec<Rgb8>,
    /// End of each colour, in ms after the hold start.
    ends_ms: Vec<f64>,
    recorder_start_ms: f64,
    first_frame_ms: Option<f64>,
    current: Option<usize>,
    shown: Vec<DisplayedColour>,
}

impl FlashRun {
    /// `recorder_start_ms`: when the recorder started, on the same clock as the frame timestamps
    /// (`performance.now()`).
    pub fn new(challenge: &ColourChallenge, recorder_start_ms: f64) -> FlashRun {
        let mut colours = Vec::with_capacity(challenge.steps.len() + 1);
        let mut ends_ms = Vec::with_capacity(challenge.steps.len() + 1);
        let mut t = f64::from(challenge.hold_ms);
        colours.push(challenge.hold_colour);
        ends_ms.push(t);
        for step in &challenge.steps {
            t += f64::from(step.duration_ms);
            colours.push(step.colour);
            ends_ms.push(t);
        }
        FlashRun {
            shown: Vec::with_capacity(colours.len()),
            colours,
            ends_ms,
            recorder_start_ms,
            first_frame_ms: None,
            current: None,
        }
    }

    /// Advances to the animation frame at `frame_ms` (the requestAnimationFrame timestamp).
    pub fn on_frame(&mut self, frame_ms: f64) -> FlashFrame {
        let first = *self.first_frame_ms.get_or_insert(frame_ms);
        let elapsed = (frame_ms - first).max(0.0);
        let Some(index) = self.ends_ms.iter().position(|&end| elapsed < end) else {
            return FlashFrame::Finished;
        };
        if self.current == Some(index) {
            return FlashFrame::Keep;
        }
        self.current = Some(index);
        let colour = self.colours[index];
        self.shown.push(DisplayedColour {
            colour,
            start_ms: frame_ms - self.recorder_start_ms,
        });
        FlashFrame::Paint(colour)
    }

    /// The colours as actually displayed so far, hold first, on the recording's clock.
    pub fn shown(&self) -> &[DisplayedColour] {
        &self.shown
    }

    /// When the hold began on the recording's clock (None before the first frame).
    pub fn hold_start_ms(&self) -> Option<f64> {
        self.first_frame_ms.map(|f| f - self.recorder_start_ms)
    }

    /// Total length of the sequence in ms.
    pub fn total_ms(&self) -> f64 {
        self.ends_ms.last().copied().unwrap_or(0.0)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use faceid_core::challenge::ColourStep;

    fn challenge() -> ColourChallenge {
        ColourChallenge {
            hold_colour: Rgb8::new(255, 255, 255),
            hold_ms: 1000,
            steps: vec![
                ColourStep {
                    colour: Rgb8::new(0, 0, 255),
                    duration_ms: 400,
                },
                ColourStep {
                    colour: Rgb8::new(0, 255, 0),
                    duration_ms: 400,
                },
            ],
        }
    }

    #[test]
    fn logs_first_frame_of_each_colour_on_the_recording_clock() {
        let mut run = FlashRun::new(&challenge(), 500.0);
        assert_eq!(
            run.on_frame(600.0),
            FlashFrame::Paint(Rgb8::new(255, 255, 255))
        );
        assert_eq!(run.on_frame(616.0), FlashFrame::Keep);
        assert_eq!(run.on_frame(1_599.0), FlashFrame::Keep);
        // A late frame: the blue starts at 1 616 on screen although it was due at 1 600.
        assert_eq!(
            run.on_frame(1_616.0),
            FlashFrame::Paint(Rgb8::new(0, 0, 255))
        );
        // Green is due at 2 000 from the hold start, not 400 ms after blue appeared.
        assert_eq!(
            run.on_frame(2_000.0),
            FlashFrame::Paint(Rgb8::new(0, 255, 0))
        );
        assert_eq!(run.on_frame(2_399.0), FlashFrame::Keep);
        assert_eq!(run.on_frame(2_400.0), FlashFrame::Finished);
        let starts: Vec<f64> = run.shown().iter().map(|d| d.start_ms).collect();
        assert_eq!(starts, vec![100.0, 1_116.0, 1_500.0]);
        assert_eq!(run.hold_start_ms(), Some(100.0));
        assert_eq!(run.total_ms(), 1_800.0);
    }

    #[test]
    fn a_skipped_colour_is_not_logged() {
        let mut run = FlashRun::new(&challenge(), 0.0);
        run.on_frame(0.0);
        // The page was stalled through the whole blue step.
        assert_eq!(
            run.on_frame(1_500.0),
            FlashFrame::Paint(Rgb8::new(0, 255, 0))
        );
        assert_eq!(run.shown().len(), 2);
        assert_eq!(run.shown()[1].colour, Rgb8::new(0, 255, 0));
    }
}
