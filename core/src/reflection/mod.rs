//! Decoding the light challenge from the reflection on the face.
//!
//! Types are fixed here (they travel between page, server and simulator); the decoder follows
//! LIVENESS.md §"Measuring the reflection" and issue #9: decisions are statistical tests whose
//! error rates are set by design, against what *this* video would show if it did not respond to the
//! issued sequence, rather than thresholds fitted to one simulator.
//!
//! Model (per region, in natural-log linear light, per frame i and channel c):
//! `ln F_c(i) = e(i) + drift_c(t_i) + k_c · S_c(t_i − d) + noise`, where `e` is the frame's
//! exposure (free per frame: removed by centring the three channels, so auto-exposure reacting to
//! the flash costs nothing), `drift_c` a cubic (white balance, slow exposure), `S` the displayed
//! colour in linear light and `k_c >= 0` one unknown gain per channel, pulled toward a common value
//! ([`tuning::GAIN_RIDGE`]). The delay `d` is searched over 0..=300 ms.
//!
//! Decision, in order (the rule that decided is [`DecodeReport::rule`]):
//! 1. 1003 without a usable timeline; 1303 when the samples do not span the baseline and the whole
//!    flash phase (or leave a gap over [`tuning::MAX_GAP_MS`]);
//! 2. 1210 when the face is missing from too many frames (1102 when the boxes that exist touch the
//!    frame edge), 1203 when the background strips are hidden by the face;
//! 3. the sequence test ([`sequence`]): the issued sequence must fit the face's response better
//!    than every one of [`tuning::NULL_SEQUENCES`] alternative sequences — a designed false-accept
//!    rate of 1 / (N + 1) for anything recorded before the challenge was issued. When it does not:
//!    1002 if the face clearly responds, step by step, to something else (a replay), else 1202 —
//!    the screen's light is too weak against the room's to decide, and the person is told to move
//!    away from bright light or hold the phone closer;
//! 4. the relief test ([`relief`]): what responds must be a convex, reflecting face — not paper
//!    (flat) and not a tablet's glass (a mirrored patch). 1002 when either is established, 1202
//!    when the response is too weak to tell.

mod design;
mod relief;
mod sequence;
mod stats;
mod timeline;

use crate::challenge::DisplayedColour;
use crate::codes::ResultCode;
use crate::colour::{LinearRgb, Rgb8};
use crate::geometry::FaceBox;

pub use relief::ReliefReport;
use timeline::Timeline;

/// What one analysed frame contributes to the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct ReflectionSample {
    /// Capture time in ms on the recording's clock (0 = recorder start).
    pub t_ms: f64,
    /// Mean linear-light colour of the face region (None when no face was found in this frame).
    pub face: Option<LinearRgb>,
    /// Mean linear-light colour of the background region.
    pub background: Option<LinearRgb>,
    /// The face box the regions were taken from.
    pub face_box: Option<FaceBox>,
    /// Mean linear-light colours of the relief regions (see [`crate::analysis`]).
    #[cfg_attr(feature = "serde", serde(default))]
    pub relief: ReliefSample,
}

/// The relief regions of one frame (see [`crate::analysis`] for their layout).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct ReliefSample {
    /// Nose, inner cheeks (left, right in the image), outer cheeks (left, right), forehead, chin.
    pub cells: [Option<LinearRgb>; 7],
    /// Hair, ears and what is next to the head.
    pub surround: Option<LinearRgb>,
    /// Share of each region's pixels (cells, then surround) with a saturated channel.
    #[cfg_attr(feature = "serde", serde(default))]
    pub saturated: [f32; 8],
}

/// The decoder's reading of one colour of the challenge.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct DecodedColour {
    /// The colour the screen showed.
    pub expected: Rgb8,
    /// The face's measured response to it (drift-free log-chromaticity, channel-centred).
    pub observed: [f32; 3],
    /// How much more clearly the expected colour explains this step than any other palette colour
    /// would, 0..1 (reported; the decision rests on the whole sequence).
    pub confidence: f32,
}

/// The outcome of decoding one attempt.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Verdict {
    pub passed: bool,
    /// 0 when passed; otherwise the PROTOCOL.md §3 code that says why (1002, 1102, 1202, 1210, 1303 …).
    pub code: ResultCode,
    /// Share of the face's chromatic variance the issued sequence explains, 0..1.
    pub score: f32,
    /// Estimated screen-plus-camera delay between display and capture.
    pub delay_ms: f32,
    /// Per colour of the sequence, in order.
    pub colours: Vec<DecodedColour>,
}

/// The rule that decided a verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Rule {
    /// Every test passed.
    Passed,
    /// No usable display timeline (1003).
    #[default]
    NoTimeline,
    /// The recording does not span the hold and the flash, or has a long gap (1303).
    TooShort,
    /// The face is missing from too many frames (1210) …
    FaceMissing,
    /// … or cut by the frame's edge (1102).
    FaceCut,
    /// The face hides the background strips: too close (1203).
    TooClose,
    /// Too few frames with a face inside the analysis window (1210).
    TooFewFrames,
    /// The face clearly responds, step by step, to a sequence other than the issued one (1002).
    SequenceMismatch,
    /// The face does not clearly respond to the issued sequence, nor to any other: the screen's
    /// light is too weak against the room's (1202).
    ResponseTooWeak,
    /// The response is as even as paper's (1002).
    Flat,
    /// The response is confined to a patch at the centre, as a screen's glass mirrors ours (1002).
    Patch,
    /// The issued sequence is seen but the face's shape cannot be told from its response (1202).
    ReliefUndecided,
}

impl Rule {
    pub fn code(self) -> ResultCode {
        match self {
            Rule::Passed => ResultCode::Passed,
            Rule::NoTimeline => ResultCode::LivenessFailed,
            Rule::TooShort => ResultCode::RecordingTooShort,
            Rule::FaceMissing | Rule::TooFewFrames => ResultCode::NoCompleteFace,
            Rule::FaceCut => ResultCode::FaceNotFullyVisible,
            Rule::TooClose => ResultCode::TooClose,
            Rule::SequenceMismatch | Rule::Flat | Rule::Patch => ResultCode::SuspectedNonLive,
            Rule::ResponseTooWeak | Rule::ReliefUndecided => ResultCode::TooBright,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Rule::Passed => "passed",
            Rule::NoTimeline => "no-timeline",
            Rule::TooShort => "too-short",
            Rule::FaceMissing => "face-missing",
            Rule::FaceCut => "face-cut",
            Rule::TooClose => "too-close",
            Rule::TooFewFrames => "too-few-frames",
            Rule::SequenceMismatch => "sequence-mismatch",
            Rule::ResponseTooWeak => "response-too-weak",
            Rule::Flat => "flat",
            Rule::Patch => "patch",
            Rule::ReliefUndecided => "relief-undecided",
        }
    }

    pub const ALL: [Rule; 12] = [
        Rule::Passed,
        Rule::NoTimeline,
        Rule::TooShort,
        Rule::FaceMissing,
        Rule::FaceCut,
        Rule::TooClose,
        Rule::TooFewFrames,
        Rule::SequenceMismatch,
        Rule::ResponseTooWeak,
        Rule::Flat,
        Rule::Patch,
        Rule::ReliefUndecided,
    ];
}

/// Decision parameters and search ranges. Each is a named constant with its reason; the decoder
/// copies the ones `faceid-eval` may vary.
pub mod tuning {
    /// Upper end of the delay search: screen latency (median 49–68 ms on phones, LIVENESS.md, ~100 ms
    /// at worst) plus one to three camera frames at 15 fps (200 ms) and the recorder's clock offset
    /// (~50 ms). It must stay under one step (350 ms): the delay is chosen without the colours, and
    /// a delay one step late lines the step boundaries up again.
    pub const MAX_DELAY_MS: f64 = 300.0;
    /// Delay search resolution: a third of a 30 fps frame interval.
    pub const DELAY_STEP_MS: f64 = 10.0;
    /// Alternative sequences in the rank test. The issued sequence must beat all of them, so the
    /// false-accept rate of a recording that cannot know the challenge is 1 / (N + 1) = 0.1 %.
    pub const NULL_SEQUENCES: usize = 999;
    /// Base seed of the alternatives (mixed with the issued colours, see `sequence::alternatives`).
    pub const NULL_SEED: u64 = 0x6661_6365_6964_6e75;
    /// A recording is refused as a response to another sequence (1002 rather than 1202) when the
    /// issued sequence is not even among the best 5 % of sequences, or explains less than half of
    /// the face's step-locked response (a face following it with a clear response has most of its
    /// step-to-step change explained: F ≥ 5 leaves noise at most a fifth) …
    pub const MISMATCH_P: f64 = 0.05;
    pub const MISMATCH_MAX_SHARE: f64 = 0.5;
    /// … while the face responds step by step clearly: the step-locked F statistic (≈ 1 without any
    /// response; the 99.9th percentile of F(16, ∞) is 2.45) is at least this.
    pub const MISMATCH_MIN_STEP_F: f64 = 5.0;
    /// Relief tests: one-sided t tests at this level (the unevenness contrasts share it, Bonferroni).
    /// Paper responds within the bounds below, so it is taken for a face's relief by chance in at
    /// most 0.3 % of prints — issue #9's bound on any attack's acceptance.
    pub const RELIEF_ALPHA: f64 = 0.003;
    /// Paper's bounds (`relief::FLAT_BOUNDS`) are read at the face's angle in the view, which the
    /// face box gives only with the camera's field of view: the widest front cameras (phones
    /// 65–80°, webcams 55–78°) make a face of a given box the largest, and paper's bounds the loosest.
    pub const CAMERA_HFOV_MAX_DEG: f64 = 80.0;
    /// … plus this much (natural-log units) for what the bounds' model leaves out: paper and
    /// screens are not quite Lambertian at the ≤ 45° of incidence and emission there.
    pub const FLAT_MODEL_MARGIN: f64 = 0.03;
    /// … plus this much per natural-log unit of difference between the parts' brightness: a camera
    /// tone curve that departs from sRGB by up to an S-curve of contrast 0.5 and a 3 % black lift
    /// changes its log-slope by up to ~25 % per natural-log unit of level, and the decoder measures
    /// responses through that slope.
    pub const FLAT_TONE_SLOPE: f64 = 0.25;
    /// Levels themselves are measured through the tone curve: a camera whose gamma departs from
    /// sRGB's by up to 15 % (2.1–2.75 against 2.4) stretches a level ratio by that much in natural-log
    /// units, which the added-light witnesses (response times level) allow for as well.
    pub const FLAT_GAMMA_DEVIATION: f64 = 0.15;
    /// … plus this much per unit of a part's mean share of saturated pixels: a saturated pixel
    /// stops following the light, and the brightest pixels weigh up to ~1.5× the mean in a part's
    /// mean colour. Both parts' shares widen both bounds: a channel clipped in some pixels bends a
    /// part's chromatic response (the clipped channel's share of each step's change is lost, and
    /// which way that moves the projection on the face's response depends on the step), so it
    /// does not only shrink it.
    pub const FLAT_SATURATION_LOSS: f64 = 1.5;
    /// Every part of a face faces the screen within ~65°, so it receives at least cos 65° ≈ 0.42 of
    /// the front's screen light, and reflects it with the skin's albedo: brows, a beard or a shadow
    /// baked into dark skin can take that to ~0.35 of the front's (0.42 × 0.35 ≈ 0.15), and levels
    /// are read through a tone curve up to 15 % off sRGB's. A part whose added light (response ×
    /// level) is under this share of the front's …
    pub const FACE_ADDED_MIN: f64 = 0.1;
    /// … and whose response (share of screen to room light) is under this share of the front's is
    /// dark: outside the patch a screen's glass mirrors, not on a face. (Alive needs only one of
    /// the two: a cheek turned to a window takes so much of the room's light that its share can
    /// fall to a twentieth of the front's while the screen lights it as much as ever.)
    pub const FACE_CELL_MIN: f64 = 0.05;
    /// A face's surround (hair turned up, ears turned away, the room behind) responds well under its
    /// front; paper's margin at least this share (its top is ~20° further from a screen held below
    /// the camera: cos 0.9, and the tone curve).
    pub const PRINT_SURROUND_MIN: f64 = 0.7;
    /// A relief region takes part when it was measured (face found, not saturated) in at least this
    /// share of the analysis window's frames.
    pub const RELIEF_MIN_MEASURED: f64 = 0.8;
    /// How much of the hold before the first step is used as the baseline: the last 700 ms, after
    /// auto-exposure has settled on the hold colour.
    pub const BASELINE_MS: f64 = 700.0;
    /// Drift removal: a cubic per channel over the ~4 s window absorbs auto-white-balance and
    /// exposure drift yet is far slower than 350 ms steps.
    pub const DRIFT_DEGREE: usize = 3;
    /// A face must be found in at least this share of frames of the flash phase (else 1210/1102).
    pub const MIN_FACE_FRACTION: f64 = 0.7;
    /// A face box closer than this to a frame edge (normalised) is cut off by the edge.
    pub const EDGE_MARGIN: f32 = 0.005;
    /// More than this share of face boxes at the edge means the face is not fully visible (1102).
    pub const MAX_EDGE_FRACTION: f64 = 0.5;
    /// The background region must be measurable in at least this share of frames; it vanishes only
    /// when the face covers the side strips, i.e. the person is too close (1203).
    pub const MIN_BACKGROUND_FRACTION: f64 = 0.5;
    /// A face box whose centre is more than half a face width from the session's median centre is
    /// another face (a second person, a false detection): a head does not jump that far in 100 ms
    /// and the quality gate held it still before the challenge.
    pub const MAX_FACE_SHIFT: f32 = 0.5;
    /// Likewise for a box 1.4× larger or smaller than the median.
    pub const MAX_FACE_SCALE: f32 = 1.4;
    /// Largest gap between samples inside the flash phase (1303): up to one 350 ms step may go
    /// unseen (a 15 fps camera dropping a burst of frames); the fit copes with a missing step, not
    /// with a missing half-second.
    pub const MAX_GAP_MS: f64 = 500.0;
    /// Baseline needed before the first step (ms of hold that must have been recorded) (1303).
    pub const MIN_BASELINE_MS: f64 = 200.0;
    /// Fewest usable samples for a fit: 8 steps need at least two frames each.
    pub const MIN_SAMPLES: usize = 16;
    /// Strength of the pull of the three channel gains toward their mean, relative to the data's
    /// own weight: gains may still differ severalfold (warm or cool ambient light), but no channel
    /// can be switched off to make two neighbouring palette colours look alike.
    pub const GAIN_RIDGE: f64 = 4.0;
    /// Bounded work on hostile input: at most this many timeline entries …
    pub const MAX_SHOWN: usize = 64;
    /// … and at most this many samples in the analysis window (a 4 s window at 30 fps has ~120).
    pub const MAX_WINDOW_SAMPLES: usize = 1024;
    /// Channel floor before the logarithm (linear light): black pixels carry no chromaticity.
    pub const CHANNEL_FLOOR: f32 = 1e-4;
}

/// Decodes the face's response to a displayed colour timeline (see the module docs).
#[derive(Clone, Debug)]
pub struct ReflectionDecoder {
    pub max_delay_ms: f64,
    pub min_face_fraction: f64,
}

impl Default for ReflectionDecoder {
    fn default() -> Self {
        ReflectionDecoder {
            max_delay_ms: tuning::MAX_DELAY_MS,
            min_face_fraction: tuning::MIN_FACE_FRACTION,
        }
    }
}

/// Every figure behind a verdict, for logs, storage and evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct DecodeReport {
    /// The rule that decided.
    pub rule: Rule,
    pub delay_ms: f64,
    pub samples_used: usize,
    /// Share of the face's drift-free chromatic variance the issued sequence explains (R²).
    pub fit: f64,
    /// Alternatives scoring at least as well as the issued sequence, of how many, and the p-value.
    pub beaten_by: usize,
    pub alternatives: usize,
    pub sequence_p: f64,
    /// The issued score against the alternatives', in their spreads.
    pub null_z: f64,
    /// Share of the variance free per-step levels explain, and the issued sequence's share of that.
    pub step_share: f64,
    pub issued_share_of_steps: f64,
    /// Step-locked response against within-step noise (≈ 1 without any response).
    pub step_f: f64,
    /// RMS chromatic response of the face to the issued sequence (natural-log units).
    pub face_amplitude: f64,
    /// Steps read with a confidence under 0.45, and the lowest two confidences.
    pub weak_steps: usize,
    pub lowest_confidence: [f64; 2],
    pub relief: ReliefReport,
}

/// A sample after sanitising: finite time, log-chromaticity of each region when measurable.
#[derive(Clone, Copy, Debug)]
struct Observation {
    t: f64,
    face: Option<[f64; 3]>,
    background: Option<[f64; 3]>,
    face_box: Option<FaceBox>,
    relief: ReliefObservation,
}

/// The relief regions of one frame: log-chromaticity and ln luminance of each region measured.
#[derive(Clone, Copy, Debug)]
struct ReliefObservation {
    chroma: [Option<[f64; 3]>; relief::SERIES],
    level: [f64; relief::SERIES],
    saturated: [f64; relief::SERIES],
}

fn log_chroma(c: Option<LinearRgb>) -> Option<[f64; 3]> {
    let c = c?;
    if !c.is_finite() {
        return None;
    }
    let f = tuning::CHANNEL_FLOOR;
    let l = [
        f64::from(c.r.max(f)).ln(),
        f64::from(c.g.max(f)).ln(),
        f64::from(c.b.max(f)).ln(),
    ];
    let m = (l[0] + l[1] + l[2]) / 3.0;
    Some([l[0] - m, l[1] - m, l[2] - m])
}

fn relief_observation(r: &ReliefSample) -> ReliefObservation {
    let mut out = ReliefObservation {
        chroma: [None; relief::SERIES],
        level: [0.0; relief::SERIES],
        saturated: std::array::from_fn(|i| f64::from(r.saturated[i]).clamp(0.0, 1.0)),
    };
    for (i, c) in r
        .cells
        .iter()
        .chain(std::iter::once(&r.surround))
        .enumerate()
    {
        out.chroma[i] = log_chroma(*c);
        out.level[i] = f64::from(c.map_or(0.0, |c| c.luminance()).max(tuning::CHANNEL_FLOOR)).ln();
    }
    out
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Marks the face of a sample as missing when its box is not where the face usually is in this
/// session: centre further than [`tuning::MAX_FACE_SHIFT`] median face widths from the median
/// centre, or width off by more than [`tuning::MAX_FACE_SCALE`] either way.
fn drop_stray_faces(obs: &mut [Observation], t0: f64, t1: f64) {
    let boxes: Vec<FaceBox> = obs
        .iter()
        .filter(|o| o.t >= t0 && o.t <= t1)
        .filter_map(|o| o.face_box)
        .collect();
    let (Some(cx), Some(cy), Some(w)) = (
        median(boxes.iter().map(|b| b.centre().0).collect()),
        median(boxes.iter().map(|b| b.centre().1).collect()),
        median(boxes.iter().map(|b| b.w).collect()),
    ) else {
        return;
    };
    if w.is_nan() || w <= 0.0 {
        return;
    }
    for o in obs.iter_mut() {
        if let Some(b) = o.face_box {
            let (bx, by) = b.centre();
            let shift = ((bx - cx).powi(2) + (by - cy).powi(2)).sqrt() / w;
            let scale = b.w / w;
            let same_face = shift <= tuning::MAX_FACE_SHIFT
                && (1.0 / tuning::MAX_FACE_SCALE..=tuning::MAX_FACE_SCALE).contains(&scale);
            if !same_face {
                o.face = None;
                o.face_box = None;
                o.relief.chroma = [None; relief::SERIES];
            }
        }
    }
}

fn touches_edge(b: &FaceBox) -> bool {
    let m = tuning::EDGE_MARGIN;
    b.x <= m || b.y <= m || b.x + b.w >= 1.0 - m || b.y + b.h >= 1.0 - m
}

pub(crate) fn undecoded(c: Rgb8) -> DecodedColour {
    DecodedColour {
        expected: c,
        observed: [0.0; 3],
        confidence: 0.0,
    }
}

/// Confidence under which a step counts as weakly read (reported only).
const WEAK_STEP_CONFIDENCE: f32 = 0.45;

impl ReflectionDecoder {
    /// Decides whether `samples` (one per analysed frame, any order) show a live face following
    /// `shown` (the timeline as displayed, hold colour first). Never panics, whatever the input.
    pub fn decode(&self, samples: &[ReflectionSample], shown: &[DisplayedColour]) -> Verdict {
        self.decode_with_report(samples, shown).0
    }

    /// [`decode`](Self::decode), plus the figures behind the verdict.
    pub fn decode_with_report(
        &self,
        samples: &[ReflectionSample],
        shown: &[DisplayedColour],
    ) -> (Verdict, DecodeReport) {
        let mut report = DecodeReport::default();
        let Some(timeline) = Timeline::from_shown(shown) else {
            let colours = shown
                .iter()
                .skip(1)
                .take(tuning::MAX_SHOWN)
                .map(|d| undecoded(d.colour))
                .collect();
            return (refusal(Rule::NoTimeline, colours), report);
        };
        let undecoded_colours = || {
            timeline.srgb[1..]
                .iter()
                .map(|&c| undecoded(c))
                .collect::<Vec<_>>()
        };
        let refuse = |rule: Rule, mut report: DecodeReport| {
            report.rule = rule;
            (refusal(rule, undecoded_colours()), report)
        };
        // Under one step (350 ms): a delay one step late would line the step boundaries up again.
        let max_delay = if self.max_delay_ms.is_finite() {
            self.max_delay_ms.clamp(0.0, 340.0)
        } else {
            tuning::MAX_DELAY_MS
        };

        // Sanitise and order the samples.
        let obs: Vec<Observation> = samples
            .iter()
            .filter(|s| s.t_ms.is_finite())
            .map(|s| Observation {
                t: s.t_ms,
                face: log_chroma(s.face),
                background: log_chroma(s.background),
                face_box: s.face_box.filter(|b| b.is_valid()),
                relief: relief_observation(&s.relief),
            })
            .collect();
        let mut obs = stats::sorted_by_key(obs, |o| o.t);

        // 1303: the recording must span the baseline and the whole flash phase without long gaps.
        let flash_start = timeline.flash_start();
        let covered = match (obs.first(), obs.last()) {
            (Some(first), Some(last)) => {
                first.t <= flash_start - tuning::MIN_BASELINE_MS && last.t >= timeline.end
            }
            _ => false,
        };
        let largest_gap = obs
            .windows(2)
            .filter(|w| w[1].t >= flash_start && w[0].t <= timeline.end)
            .map(|w| w[1].t - w[0].t)
            .fold(0.0, f64::max);
        if !covered || largest_gap > tuning::MAX_GAP_MS {
            return refuse(Rule::TooShort, report);
        }

        // One person: a face box far from the session's typical box is another face (or a false
        // detection) the tracker jumped to; its colours do not belong to the series.
        drop_stray_faces(
            &mut obs,
            flash_start - tuning::BASELINE_MS,
            timeline.end + max_delay,
        );

        // 1210 / 1102: the face must be present (and whole) through the flash phase.
        let in_flash: Vec<&Observation> = obs
            .iter()
            .filter(|o| o.t >= flash_start && o.t <= timeline.end + max_delay)
            .collect();
        let with_face = in_flash.iter().filter(|o| o.face.is_some()).count();
        let boxes: Vec<&FaceBox> = in_flash
            .iter()
            .filter_map(|o| o.face_box.as_ref())
            .collect();
        let at_edge = boxes.iter().filter(|b| touches_edge(b)).count();
        let edge_share = if boxes.is_empty() {
            0.0
        } else {
            at_edge as f64 / boxes.len() as f64
        };
        let face_share = if in_flash.is_empty() {
            0.0
        } else {
            with_face as f64 / in_flash.len() as f64
        };
        if face_share < self.min_face_fraction || !face_share.is_finite() {
            let rule = if edge_share > tuning::MAX_EDGE_FRACTION {
                Rule::FaceCut
            } else {
                Rule::FaceMissing
            };
            return refuse(rule, report);
        }
        if edge_share > tuning::MAX_EDGE_FRACTION {
            return refuse(Rule::FaceCut, report);
        }
        let with_background = in_flash
            .iter()
            .filter(|o| o.face.is_some() && o.background.is_some())
            .count();
        if (with_background as f64) < tuning::MIN_BACKGROUND_FRACTION * with_face as f64 {
            return refuse(Rule::TooClose, report);
        }

        // The analysis window: the settled end of the hold to the end of the flash plus the largest delay.
        let t0 = flash_start - tuning::BASELINE_MS;
        let t1 = timeline.end + max_delay;
        let mut used: Vec<&Observation> = obs
            .iter()
            .filter(|o| o.t >= t0 && o.t <= t1 && o.face.is_some())
            .collect();
        if used.len() > tuning::MAX_WINDOW_SAMPLES {
            let stride = used.len().div_ceil(tuning::MAX_WINDOW_SAMPLES);
            used = used.into_iter().step_by(stride).collect();
        }
        if used.len() < tuning::MIN_SAMPLES {
            return refuse(Rule::TooFewFrames, report);
        }
        report.samples_used = used.len();
        // Normalised time τ in [−1, 1] over the window, for the drift polynomial.
        let span = (t1 - t0).max(1.0);
        let tau_of = |t: f64| 2.0 * (t - t0) / span - 1.0;
        let times: Vec<f64> = used.iter().map(|o| o.t).collect();
        let tau: Vec<f64> = times.iter().map(|&t| tau_of(t)).collect();
        let face: Vec<[f64; 3]> = used.iter().filter_map(|o| o.face).collect();

        // 3. The sequence test.
        let (chosen, designs) = sequence::choose_delay(&timeline, &tau, &times, &face, max_delay);
        let delays = sequence::delays(max_delay);
        let delay = delays.get(chosen).copied().unwrap_or(0.0);
        let seq = sequence::test(&timeline, &designs, chosen);
        report.delay_ms = delay;
        report.fit = seq.fit.r2;
        report.beaten_by = seq.beaten_by;
        report.alternatives = seq.alternatives;
        report.sequence_p = seq.p_value();
        report.null_z = seq.null_z();
        report.step_share = seq.step_share;
        report.issued_share_of_steps = seq.issued_share_of_steps;
        report.step_f = seq.step_f;
        report.face_amplitude = seq.fit.amplitude;
        let colours = match designs.get(chosen) {
            Some(d) => design::per_colour(d, &timeline, &seq.fit).0,
            None => undecoded_colours(),
        };
        report.weak_steps = colours
            .iter()
            .filter(|c| c.confidence.is_nan() || c.confidence < WEAK_STEP_CONFIDENCE)
            .count();
        let mut confidences: Vec<f64> = colours.iter().map(|c| f64::from(c.confidence)).collect();
        stats::sort_values(&mut confidences);
        report.lowest_confidence = [
            confidences.first().copied().unwrap_or(0.0),
            confidences.get(1).copied().unwrap_or(0.0),
        ];
        let verdict = |rule: Rule, colours: Vec<DecodedColour>| Verdict {
            passed: rule == Rule::Passed,
            code: rule.code(),
            score: seq.fit.r2 as f32,
            delay_ms: delay as f32,
            colours,
        };

        if seq.beaten_by > 0 {
            let other = seq.p_value() > tuning::MISMATCH_P
                || seq.issued_share_of_steps < tuning::MISMATCH_MAX_SHARE;
            let clearly_other = other && seq.step_f >= tuning::MISMATCH_MIN_STEP_F;
            report.rule = if clearly_other {
                Rule::SequenceMismatch
            } else {
                Rule::ResponseTooWeak
            };
            return (verdict(report.rule, colours), report);
        }

        // 4. The relief test, on the frames where every relief region was measured.
        // Regions measured in most of the window's frames take part (a forehead clipped in a few
        // bright steps does not); the frames used are those where all of them were measured.
        let usable: [bool; relief::SERIES] = std::array::from_fn(|r| {
            let measured = used.iter().filter(|o| o.relief.chroma[r].is_some()).count();
            measured as f64 >= tuning::RELIEF_MIN_MEASURED * used.len() as f64
        });
        let with_relief: Vec<(f64, &ReliefObservation)> = used
            .iter()
            .filter(|o| (0..relief::SERIES).all(|r| !usable[r] || o.relief.chroma[r].is_some()))
            .map(|o| (o.t, &o.relief))
            .collect();
        let n = with_relief.len().max(1) as f64;
        // The face's angle in the view: its box's 90th-percentile width (a print held still keeps
        // one size; the larger quantile errs toward paper's looser bounds).
        let mut widths: Vec<f64> = used
            .iter()
            .filter_map(|o| o.face_box.map(|b| f64::from(b.w)))
            .collect();
        stats::sort_values(&mut widths);
        let width = widths
            .get((widths.len() * 9 / 10).min(widths.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::INFINITY);
        let face_tan = width * (tuning::CAMERA_HFOV_MAX_DEG.to_radians() / 2.0).tan();
        let input = relief::ReliefInput {
            times: with_relief.iter().map(|(t, _)| *t).collect(),
            tau: with_relief.iter().map(|(t, _)| tau_of(*t)).collect(),
            // An unusable region's series is left at zero; the test does not look at it.
            series: (0..relief::SERIES)
                .map(|r| {
                    with_relief
                        .iter()
                        .map(|(_, v)| v.chroma[r].unwrap_or_default())
                        .collect()
                })
                .collect(),
            levels: std::array::from_fn(|r| {
                with_relief.iter().map(|(_, v)| v.level[r]).sum::<f64>() / n
            }),
            saturated: std::array::from_fn(|r| {
                with_relief.iter().map(|(_, v)| v.saturated[r]).sum::<f64>() / n
            }),
            usable,
            face_tan,
        };
        let (shape, relief_report) = relief::test(&timeline, &input, delay, &seq.fit);
        report.relief = relief_report;
        report.rule = match shape {
            relief::Relief::Face => Rule::Passed,
            relief::Relief::Flat => Rule::Flat,
            relief::Relief::Patch => Rule::Patch,
            relief::Relief::Undecided => Rule::ReliefUndecided,
        };
        (verdict(report.rule, colours), report)
    }
}

fn refusal(rule: Rule, colours: Vec<DecodedColour>) -> Verdict {
    Verdict {
        passed: false,
        code: rule.code(),
        score: 0.0,
        delay_ms: 0.0,
        colours,
    }
}

#[cfg(test)]
mod tests;
