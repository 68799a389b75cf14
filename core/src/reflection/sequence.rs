//! Does the face follow the issued sequence? A rank test against alternative sequences on the same
//! video, with an error rate fixed by design.
//!
//! The delay is chosen without looking at any colour: the one at which free per-step levels explain
//! most of the face's drift-free chromatic variance (a step-locked response, whatever its colours).
//! At that delay the issued sequence and [`tuning::NULL_SEQUENCES`] alternatives drawn from the
//! same generator are fitted alike. A recording made before the challenge existed — a replay, a
//! still, a face that does not respond — cannot depend on the issued sequence, so the issued
//! sequence is just one more draw among the alternatives: the chance that it scores above all of
//! them is at most 1 / (N + 1) whatever the recording, the light or the camera (exchangeability).
//! That chance is the designed false-accept rate of this test.

use rand_core::SeedableRng;

use super::design::{Fit, SegmentDesign};
use super::timeline::Timeline;
use super::tuning;

/// What the sequence test found.
#[derive(Clone, Debug, Default)]
pub(super) struct SequenceTest {
    pub fit: Fit,
    /// Alternatives that scored at least as well as the issued sequence, out of `alternatives`.
    pub beaten_by: usize,
    pub alternatives: usize,
    /// Share of the face's drift-free variance the free step levels explain at the chosen delay,
    /// and the issued sequence's share of that.
    pub step_share: f64,
    pub issued_share_of_steps: f64,
    /// Step-locked response against the noise of a step's level (≈ 1 with no response).
    pub step_f: f64,
    /// Mean and spread of the alternatives' scores (for reports).
    pub null_mean: f64,
    pub null_spread: f64,
}

impl SequenceTest {
    /// p-value of the rank test: (1 + alternatives at least as good) / (N + 1).
    pub fn p_value(&self) -> f64 {
        (1 + self.beaten_by) as f64 / (self.alternatives + 1) as f64
    }

    /// How far the issued score stands above the alternatives, in their spreads (reports only).
    pub fn null_z(&self) -> f64 {
        if self.null_spread > 0.0 {
            (self.fit.explained - self.null_mean) / self.null_spread
        } else {
            0.0
        }
    }
}

/// The candidate delays: 0 to `max_delay` in [`tuning::DELAY_STEP_MS`].
pub(super) fn delays(max_delay: f64) -> Vec<f64> {
    (0..)
        .map(|i| f64::from(i) * tuning::DELAY_STEP_MS)
        .take_while(|&d| d <= max_delay + 1e-9)
        .collect()
}

/// Chooses the delay (see the module docs) and returns the face-only design at each delay tried.
pub(super) fn choose_delay(
    timeline: &Timeline,
    tau: &[f64],
    times: &[f64],
    face: &[[f64; 3]],
    max_delay: f64,
) -> (usize, Vec<SegmentDesign>) {
    let designs: Vec<SegmentDesign> = delays(max_delay)
        .into_iter()
        .map(|d| SegmentDesign::build(timeline, tau, times, &[face], d))
        .collect();
    let share = |d: &SegmentDesign| {
        let total = d.series.first().map_or(0.0, |s| s.total);
        if total > 1e-12 && d.steps_present() > 0 {
            d.segment_ss(0) / total
        } else {
            0.0
        }
    };
    let mut best = (0usize, f64::NEG_INFINITY);
    for (i, d) in designs.iter().enumerate() {
        let s = share(d);

        if s > best.1 {
            best = (i, s);
        }
    }
    (best.0, designs)
}

/// Alternative colour sequences on the issued timeline (same hold, same step count), drawn from the
/// challenge generator with a seed derived from the issued sequence: reproducible (page and server
/// decode alike) yet unknown to whoever recorded a video before the challenge was issued.
pub(super) fn alternatives(timeline: &Timeline) -> Vec<Vec<[f64; 3]>> {
    let mut seed = tuning::NULL_SEED;
    for c in &timeline.srgb {
        // FNV-1a over the issued colours.
        for b in [c.r, c.g, c.b] {
            seed ^= u64::from(b);
            seed = seed.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let hold = timeline.colours[0];
    (0..tuning::NULL_SEQUENCES)
        .map(|_| {
            let mut seq = Vec::with_capacity(timeline.colours.len());
            seq.push(hold);
            for c in crate::challenge::draw_sequence(&mut rng, timeline.steps()) {
                let l = c.to_linear();
                seq.push([f64::from(l.r), f64::from(l.g), f64::from(l.b)]);
            }
            seq
        })
        .collect()
}

/// Runs the rank test at the chosen delay.
pub(super) fn test(timeline: &Timeline, designs: &[SegmentDesign], chosen: usize) -> SequenceTest {
    let Some(design) = designs.get(chosen) else {
        return SequenceTest::default();
    };
    let fit = design.fit(&timeline.colours);
    let alternatives = alternatives(timeline);
    let scores: Vec<f64> = alternatives
        .iter()
        .map(|alt| design.fit(alt).explained)
        .collect();
    let beaten_by = scores.iter().filter(|&&s| s >= fit.explained).count();
    let n = scores.len().max(1) as f64;
    let null_mean = scores.iter().sum::<f64>() / n;
    let null_spread = (scores.iter().map(|s| (s - null_mean).powi(2)).sum::<f64>() / n).sqrt();
    let total = design.series.first().map_or(0.0, |s| s.total);
    let step_ss = design.segment_ss(0);
    let step_share = if total > 1e-12 { step_ss / total } else { 0.0 };
    let issued_share_of_steps = if step_ss > 1e-12 {
        (fit.explained / step_ss).clamp(0.0, 1.0)
    } else {
        0.0
    };
    SequenceTest {
        fit,
        beaten_by,
        alternatives: scores.len(),
        step_share,
        issued_share_of_steps,
        step_f: step_f(design, step_ss),
        null_mean,
        null_spread,
    }
}

/// The step-locked response's F statistic: the variance free per-step levels explain, per degree of
/// freedom, over the noise of a step's level. The noise is measured at the steps' own time scale:
/// half the difference between the mean of a step's first half and of its second half (both lit by
/// the same colour), so slow motion, talking and compression — which make neighbouring frames
/// alike — count in full. ≈ 1 when nothing responds to the screen.
fn step_f(design: &SegmentDesign, step_ss: f64) -> f64 {
    let segs = design.counts.len();
    let mut frames: Vec<Vec<[f64; 3]>> = vec![Vec::new(); segs];
    for (v, &s) in design.residuals.iter().zip(&design.seg) {
        frames[s].push(*v);
    }
    let (mut noise, mut halves) = (0.0, 0usize);
    for f in frames.iter().skip(1).filter(|f| f.len() >= 2) {
        let m = f.len() / 2;
        let mean = |part: &[[f64; 3]]| -> [f64; 3] {
            std::array::from_fn(|c| part.iter().map(|v| v[c]).sum::<f64>() / part.len() as f64)
        };
        let (a, b) = (mean(&f[..m]), mean(&f[f.len() - m..]));
        let d2: f64 = (0..3).map(|c| (a[c] - b[c]).powi(2)).sum();
        // |d|² spans two degrees of freedom (channel-centred) of variance 2σ²/m each.
        noise += d2 * m as f64 / 4.0;
        halves += 1;
    }
    let dof_steps = 2 * design.steps_present();
    if halves == 0 || dof_steps == 0 || noise <= 0.0 {
        return 0.0;
    }
    (step_ss / dof_steps as f64) / (noise / halves as f64)
}
