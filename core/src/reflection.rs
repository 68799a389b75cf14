//! Decoding the light challenge from the reflection on the face.
//!
//! Types are fixed here (they travel between page, server and simulator); the decoder follows
//! LIVENESS.md §"Measuring the reflection".

use crate::codes::ResultCode;
use crate::challenge::DisplayedColour;
use crate::colour::{LinearRgb, Rgb8};
use crate::geometry::FaceBox;

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
}

/// The decoder's reading of one colour of the challenge.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct DecodedColour {
    /// The colour the screen showed.
    pub expected: Rgb8,
    /// The face's measured response to it (model-dependent units, e.g. normalised chromaticity change).
    pub observed: [f32; 3],
    /// How strongly this step's response agrees with the expected colour, 0..1.
    pub confidence: f32,
}

/// The outcome of decoding one attempt.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Verdict {
    pub passed: bool,
    /// 0 when passed; otherwise the PROTOCOL.md §3 code that says why (1002, 1102, 1210, 1303 …).
    pub code: ResultCode,
    /// Match score, 0..1 (higher = the face followed the sequence).
    pub score: f32,
    /// Estimated screen-plus-camera delay between display and capture.
    pub delay_ms: f32,
    /// Per colour of the sequence, in order.
    pub colours: Vec<DecodedColour>,
}

/// Decision thresholds and search ranges. Each is a named constant with its reason; the decoder
/// copies them so `faceid-eval` can explore alternatives without touching the defaults.
pub mod tuning {
    /// Upper end of the delay search: screen latency (median 49–68 ms on phones, LIVENESS.md) plus
    /// one to three camera frames at 15 fps leaves 250 ms; 400 ms also covers slow pipelines.
    pub const MAX_DELAY_MS: f64 = 400.0;
    /// Delay search resolution: a third of a 30 fps frame interval.
    pub const DELAY_STEP_MS: f64 = 10.0;
    /// The delay is first searched on every `NULL_DELAY_STRIDE`-th delay (30 ms, under one 30 fps
    /// frame interval) for the issued sequence and the null alike, then refined to 10 ms around
    /// the issued sequence's best: the fit changes slowly with the delay, and this cuts the cost by 3.
    pub const NULL_DELAY_STRIDE: usize = 3;
    /// Alternative sequences scored to form the null distribution: enough for a stable mean and
    /// spread, few enough to decode in under a millisecond.
    pub const NULL_SEQUENCES: usize = 64;
    /// Fixed seed of the alternative sequences, so a decode is reproducible (and identical in wasm).
    pub const NULL_SEED: u64 = 0x6661_6365_6964_6e75;
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
    /// Share of the face's drift-free chromatic variance the issued sequence must explain. Simulated
    /// genuine sessions fit at >= 0.94 (median 0.98); replays of other challenges at <= 0.67.
    pub const MIN_FIT: f64 = 0.8;
    /// How far above the alternatives' scores (in their standard deviations) the issued sequence
    /// must score: a replay of another challenge scores like an alternative.
    pub const MIN_NULL_Z: f64 = 4.0;
    /// Smallest chromatic response on the face (RMS, natural-log units ≈ relative change): below
    /// 1.5 % the screen barely reaches the face (dim screen, far face); simulated genuine sessions
    /// respond with >= 7 %.
    pub const MIN_AMPLITUDE: f64 = 0.015;
    /// A near face responds several times more than the background behind it (inverse square law);
    /// a flat print or a replaying screen responds alike everywhere (ratio ≈ 1).
    pub const MIN_FACE_TO_BACKGROUND: f64 = 2.5;
    /// A step is read clearly when its confidence (margin of the expected colour over the nearest
    /// other palette colour, 0..1) reaches this. Simulated genuine sessions: all steps but one at
    /// >= 0.58; other challenges decoded against a genuine recording: at most one step above 0.35.
    pub const MIN_STEP_CONFIDENCE: f32 = 0.45;
    /// Steps that may be read unclearly: one (a blink, a burst of dropped frames); a replay of
    /// another challenge misreads most steps, even when its colours are neighbours of the issued.
    pub const MAX_WEAK_STEPS: usize = 1;
    /// Strength of the pull of the three channel gains toward their mean, relative to the data's
    /// own weight: gains may still differ severalfold (warm or cool ambient light), but no channel
    /// can be switched off to make two neighbouring palette colours look alike.
    pub const GAIN_RIDGE: f64 = 4.0;
    /// Floor on the null spread so a degenerate null (all alternatives alike) cannot inflate z.
    pub const MIN_NULL_SPREAD: f64 = 0.02;
    /// Bounded work on hostile input: at most this many timeline entries …
    pub const MAX_SHOWN: usize = 64;
    /// … and at most this many samples in the analysis window (a 4 s window at 30 fps has ~120).
    pub const MAX_WINDOW_SAMPLES: usize = 1024;
    /// Channel floor before the logarithm (linear light): black pixels carry no chromaticity.
    pub const CHANNEL_FLOOR: f32 = 1e-4;
}

/// Decodes the face's response to a displayed colour timeline.
///
/// Model (per region, in natural-log linear light, per frame i and channel c):
/// `ln F_c(i) = e(i) + drift_c(t_i) + k_c · S_c(t_i − d) + noise`, where `e` is the frame's
/// exposure (free per frame: removed by centring the three channels, so auto-exposure reacting to
/// the flash costs nothing), `drift_c` a cubic (white balance, slow exposure), `S` the displayed
/// colour in linear light and `k_c >= 0` one unknown gain per channel, pulled toward a common value
/// ([`tuning::GAIN_RIDGE`]): 3 constrained parameters for ~100 × 2 observations, no free colour
/// matrix. The delay `d` is searched over 0..=400 ms.
///
/// Decision, in order:
/// 1. 1003 without a usable timeline; 1303 when the samples do not span the baseline and the whole
///    flash phase (or leave a gap over [`tuning::MAX_GAP_MS`]);
/// 2. 1210 when the face is missing from too many frames (1102 when the boxes that exist touch the
///    frame edge), 1203 when the background strips are hidden by the face;
/// 3. 1002 unless all of: the issued sequence explains [`tuning::MIN_FIT`] of the face's
///    chromatic variance; it scores [`tuning::MIN_NULL_Z`] spreads above
///    [`tuning::NULL_SEQUENCES`] alternative sequences on the same timeline (each with its own best
///    delay: a replay of another challenge scores like one of them); at most
///    [`tuning::MAX_WEAK_STEPS`] step is read with less than [`tuning::MIN_STEP_CONFIDENCE`]
///    against the other palette colours; the response is at least [`tuning::MIN_AMPLITUDE`]; and
///    the face responds [`tuning::MIN_FACE_TO_BACKGROUND`] times more than the background (a flat
///    print or a replaying screen responds alike everywhere).
#[derive(Clone, Debug)]
pub struct ReflectionDecoder {
    pub max_delay_ms: f64,
    pub min_fit: f64,
    pub min_null_z: f64,
    pub min_amplitude: f64,
    pub min_face_to_background: f64,
    pub min_face_fraction: f64,
    pub min_step_confidence: f32,
    pub max_weak_steps: usize,
}

impl Default for ReflectionDecoder {
    fn default() -> Self {
        ReflectionDecoder {
            max_delay_ms: tuning::MAX_DELAY_MS,
            min_fit: tuning::MIN_FIT,
            min_null_z: tuning::MIN_NULL_Z,
            min_amplitude: tuning::MIN_AMPLITUDE,
            min_face_to_background: tuning::MIN_FACE_TO_BACKGROUND,
            min_face_fraction: tuning::MIN_FACE_FRACTION,
            min_step_confidence: tuning::MIN_STEP_CONFIDENCE,
            max_weak_steps: tuning::MAX_WEAK_STEPS,
        }
    }
}

/// Every figure behind a verdict, for evaluation and logs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodeReport {
    /// R² of the issued sequence at its best delay (fine grid).
    pub fit: f64,
    /// R² of the issued sequence on the null's delay grid (what `null_z` compares).
    pub fit_coarse: f64,
    /// Mean and standard deviation of the alternatives' best −ln(1 − R²).
    pub null_mean: f64,
    pub null_spread: f64,
    /// (−ln(1 − fit_coarse) − null_mean) / null_spread.
    pub null_z: f64,
    /// Share of alternatives scoring at least as well as the issued sequence.
    pub null_rank: f64,
    /// RMS chromatic response of the face and of the background to the issued sequence.
    pub face_amplitude: f64,
    pub background_amplitude: f64,
    pub delay_ms: f64,
    pub samples_used: usize,
    /// Steps whose response is nearer another palette colour's than the expected one's.
    pub misdecoded_steps: usize,
    /// Steps read with a confidence under the decoder's `min_step_confidence`.
    pub weak_steps: usize,
    /// Lowest and second-lowest per-step confidence.
    pub lowest_confidence: [f64; 2],
}

/// A sample after sanitising: finite time, log-chromaticity of each region when measurable.
#[derive(Clone, Copy, Debug)]
struct Observation {
    t: f64,
    face: Option<[f64; 3]>,
    background: Option<[f64; 3]>,
    face_box: Option<FaceBox>,
}

/// The displayed timeline after sanitising: segment 0 is the hold, 1..=n the steps.
struct Timeline {
    colours: Vec<[f64; 3]>,
    srgb: Vec<Rgb8>,
    starts: Vec<f64>,
    end: f64,
}

impl Timeline {
    fn from_shown(shown: &[DisplayedColour]) -> Option<Timeline> {
        let mut v: Vec<DisplayedColour> = shown.iter().copied().filter(|d| d.start_ms.is_finite()).collect();
        if v.len() < 2 || v.len() > tuning::MAX_SHOWN {
            return None;
        }
        v.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        let starts: Vec<f64> = v.iter().map(|d| d.start_ms).collect();
        let n = starts.len();
        // The last step's end is not logged: assume it lasted as long as the median step before it.
        let mut durations: Vec<f64> = starts[1..].windows(2).map(|w| w[1] - w[0]).collect();
        durations.sort_by(f64::total_cmp);
        let last = durations.get(durations.len() / 2).copied().unwrap_or(f64::from(crate::challenge::STEP_MS));
        let end = starts[n - 1] + last;
        let colours = v
            .iter()
            .map(|d| {
                let l = d.colour.to_linear();
                [f64::from(l.r), f64::from(l.g), f64::from(l.b)]
            })
            .collect();
        Some(Timeline { colours, srgb: v.iter().map(|d| d.colour).collect(), starts, end })
    }

    fn steps(&self) -> usize {
        self.starts.len() - 1
    }

    fn flash_start(&self) -> f64 {
        self.starts[1]
    }

    /// Segment of a time on the display clock: Some(0..=n) inside the timeline, None outside;
    /// `Err(true)` before it, `Err(false)` after it.
    fn segment(&self, t: f64) -> Result<usize, bool> {
        if t < self.starts[0] {
            return Err(true);
        }
        if t >= self.end {
            return Err(false);
        }
        Ok(self.starts.partition_point(|&s| s <= t).saturating_sub(1))
    }
}

fn log_chroma(c: Option<LinearRgb>) -> Option<[f64; 3]> {
    let c = c?;
    if !c.is_finite() {
        return None;
    }
    let f = tuning::CHANNEL_FLOOR;
    let l = [f64::from(c.r.max(f)).ln(), f64::from(c.g.max(f)).ln(), f64::from(c.b.max(f)).ln()];
    let m = (l[0] + l[1] + l[2]) / 3.0;
    Some([l[0] - m, l[1] - m, l[2] - m])
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Marks the face of a sample as missing when its box is not where the face usually is in this
/// session: centre further than [`tuning::MAX_FACE_SHIFT`] median face widths from the median
/// centre, or width off by more than [`tuning::MAX_FACE_SCALE`] either way.
fn drop_stray_faces(obs: &mut [Observation], t0: f64, t1: f64) {
    let boxes: Vec<FaceBox> = obs.iter().filter(|o| o.t >= t0 && o.t <= t1).filter_map(|o| o.face_box).collect();
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
            }
        }
    }
}

fn touches_edge(b: &FaceBox) -> bool {
    let m = tuning::EDGE_MARGIN;
    b.x <= m || b.y <= m || b.x + b.w >= 1.0 - m || b.y + b.h >= 1.0 - m
}

/// Orthonormal basis (columns of length n) built by modified Gram–Schmidt; near-dependent columns
/// are dropped.
fn orthonormalise(basis: &mut Vec<Vec<f64>>, mut col: Vec<f64>) {
    for q in basis.iter() {
        let d: f64 = q.iter().zip(&col).map(|(a, b)| a * b).sum();
        for (c, qv) in col.iter_mut().zip(q) {
            *c -= d * qv;
        }
    }
    let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm > 1e-6 {
        col.iter_mut().for_each(|v| *v /= norm);
        basis.push(col);
    }
}

/// The sufficient statistics of one region at one delay: everything a sequence's fit needs.
struct DelayDesign {
    /// Gram matrix of the drift-free segment indicators, (n+1)², row-major.
    gram: Vec<f64>,
    /// ⟨u_c, indicator_s⟩ with the channel-centring folded in: e[j][s] = Σ_c A_cj ⟨u_c, I_s⟩.
    cross: Vec<[f64; 3]>,
    /// Per segment: the number of kept samples.
    counts: Vec<usize>,
    /// Total detrended chromatic variance.
    total: f64,
    samples: usize,
    /// Each kept sample's segment and drift-free log-chromaticity (for robust per-step readings).
    seg: Vec<usize>,
    residuals: Vec<[f64; 3]>,
}

impl DelayDesign {
    /// Builds the statistics for one delay from the samples whose delayed time falls inside the
    /// timeline (hold to the end of the last step). Samples outside it (before the hold, after the
    /// flash) are left out rather than modelled with free levels: a free level right after the last
    /// step would let the drift absorb that step. `tau` is each sample's time mapped to −1..1 over
    /// the analysis window, for the drift polynomial.
    fn build(timeline: &Timeline, tau: &[f64], times: &[f64], ys: &[[f64; 3]], delay: f64) -> DelayDesign {
        let segs = timeline.starts.len();
        let mut seg = Vec::with_capacity(times.len());
        let mut u: Vec<[f64; 3]> = Vec::with_capacity(times.len());
        let mut kept_tau = Vec::with_capacity(times.len());
        for ((&t, &ta), y) in times.iter().zip(tau).zip(ys) {
            if let Ok(s) = timeline.segment(t - delay) {
                seg.push(s);
                u.push(*y);
                kept_tau.push(ta);
            }
        }
        // Drift basis on the kept samples: 1, τ, …, τ^DRIFT_DEGREE, orthonormalised.
        let mut basis: Vec<Vec<f64>> = Vec::with_capacity(tuning::DRIFT_DEGREE + 1);
        let mut power = vec![1.0; kept_tau.len()];
        for _ in 0..=tuning::DRIFT_DEGREE {
            orthonormalise(&mut basis, power.clone());
            power.iter_mut().zip(&kept_tau).for_each(|(p, t)| *p *= t);
        }
        // u = y − Q Qᵀ y per channel.
        for q in &basis {
            let mut d = [0.0; 3];
            for (qi, yi) in q.iter().zip(&u) {
                for c in 0..3 {
                    d[c] += qi * yi[c];
                }
            }
            for (qi, ui) in q.iter().zip(u.iter_mut()) {
                for c in 0..3 {
                    ui[c] -= d[c] * qi;
                }
            }
        }
        let n = u.len();
        let total: f64 = u.iter().map(|v| v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sum();
        let mut sums = vec![[0.0; 3]; segs];
        let mut counts = vec![0usize; segs];
        // a[q][s] = Σ_{i in s} Q_iq
        let mut a = vec![vec![0.0; segs]; basis.len()];
        for i in 0..n {
            let s = seg[i];
            counts[s] += 1;
            for c in 0..3 {
                sums[s][c] += u[i][c];
            }
            for (aq, q) in a.iter_mut().zip(&basis) {
                aq[s] += q[i];
            }
        }
        let mut gram = vec![0.0; segs * segs];
        for s in 0..segs {
            gram[s * segs + s] = counts[s] as f64;
        }
        for aq in &a {
            for s in 0..segs {
                for t in 0..segs {
                    gram[s * segs + t] -= aq[s] * aq[t];
                }
            }
        }
        let cross = sums
            .iter()
            .map(|v| {
                let m = (v[0] + v[1] + v[2]) / 3.0;
                [v[0] - m, v[1] - m, v[2] - m]
            })
            .collect();
        DelayDesign { gram, cross, counts, total, samples: n, seg, residuals: u }
    }

    /// Least-squares fit of `k >= 0` for the sequence `colours` (one linear RGB per segment).
    fn fit(&self, colours: &[[f64; 3]]) -> Fit {
        let segs = colours.len().min(self.cross.len());
        // ⟨v_j, v_l⟩ = S_jᵀ G S_l and b_j, accumulated row by row of the Gram matrix.
        let mut vv = [[0.0f64; 3]; 3];
        let mut b = [0.0f64; 3];
        for (s, row) in self.gram.chunks_exact(self.cross.len()).take(segs).enumerate() {
            let mut gs = [0.0; 3];
            for (g, col) in row.iter().zip(colours) {
                gs[0] += g * col[0];
                gs[1] += g * col[1];
                gs[2] += g * col[2];
            }
            let cs = colours[s];
            vv[0][0] += cs[0] * gs[0];
            vv[0][1] += cs[0] * gs[1];
            vv[0][2] += cs[0] * gs[2];
            vv[1][1] += cs[1] * gs[1];
            vv[1][2] += cs[1] * gs[2];
            vv[2][2] += cs[2] * gs[2];
            b[0] += cs[0] * self.cross[s][0];
            b[1] += cs[1] * self.cross[s][1];
            b[2] += cs[2] * self.cross[s][2];
        }
        // N_jl = A_jl ⟨v_j, v_l⟩ with A = I − 1/3.
        let mut nm = [[0.0f64; 3]; 3];
        for j in 0..3 {
            for l in j..3 {
                let a = if j == l { 2.0 / 3.0 } else { -1.0 / 3.0 };
                nm[j][l] = a * vv[j][l];
                nm[l][j] = nm[j][l];
            }
        }
        // Ridge toward equal gains: the three channels see the same screen and skin, so their gains
        // differ only by the ambient light's colour; without it, two colours that differ in one
        // channel become indistinguishable whenever that channel's gain is fitted to ~0.
        let ridge = tuning::GAIN_RIDGE * (nm[0][0] + nm[1][1] + nm[2][2]) / 3.0;
        let mut penalised = nm;
        for (j, row) in penalised.iter_mut().enumerate() {
            for (l, v) in row.iter_mut().enumerate() {
                *v += ridge * if j == l { 2.0 / 3.0 } else { -1.0 / 3.0 };
            }
        }
        let k = nnls3(&penalised, &b);
        let explained = 2.0 * dot3(&k, &b) - quad3(&nm, &k);
        let r2 = if self.total > 1e-12 { (explained / self.total).clamp(0.0, 1.0) } else { 0.0 };
        let amplitude = (quad3(&nm, &k).max(0.0) / self.samples.max(1) as f64).sqrt();
        Fit { k, r2, amplitude }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Fit {
    k: [f64; 3],
    r2: f64,
    amplitude: f64,
}

fn dot3(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn quad3(m: &[[f64; 3]; 3], k: &[f64; 3]) -> f64 {
    let mut s = 0.0;
    for j in 0..3 {
        for l in 0..3 {
            s += k[j] * m[j][l] * k[l];
        }
    }
    s
}

/// Minimises kᵀNk − 2bᵀk over k >= 0 (three unknowns: the unconstrained solution when feasible,
/// else the best of the active sets).
fn nnls3(nm: &[[f64; 3]; 3], b: &[f64; 3]) -> [f64; 3] {
    if let Some(k) = solve_subset(nm, b, 0b111) {
        if k.iter().all(|&v| v >= 0.0) {
            return k;
        }
    }
    let mut best = [0.0; 3];
    let mut best_obj = 0.0;
    for mask in [0b011u8, 0b101, 0b110, 0b001, 0b010, 0b100] {
        let Some(k) = solve_subset(nm, b, mask) else { continue };
        if k.iter().any(|&v| v < 0.0) {
            continue;
        }
        let obj = quad3(nm, &k) - 2.0 * dot3(&k, b);
        if obj < best_obj {
            best_obj = obj;
            best = k;
        }
    }
    best
}

/// Solves the normal equations restricted to the unknowns in `mask` (the others held at 0) by
/// Cramer's rule; None when singular or not finite.
fn solve_subset(nm: &[[f64; 3]; 3], b: &[f64; 3], mask: u8) -> Option<[f64; 3]> {
    let mut idx = [0usize; 3];
    let mut n = 0;
    for i in 0..3 {
        if mask & (1 << i) != 0 {
            idx[n] = i;
            n += 1;
        }
    }
    let m = |r: usize, c: usize| nm[idx[r]][idx[c]];
    let rhs = |r: usize| b[idx[r]];
    let scale = (0..n).map(|i| m(i, i).abs()).fold(0.0, f64::max);
    if scale.is_nan() || scale <= 1e-300 || !scale.is_finite() {
        return None;
    }
    let mut sol = [0.0; 3];
    let mut vals = [0.0; 3];
    match n {
        1 => vals[0] = rhs(0) / m(0, 0),
        2 => {
            let det = m(0, 0) * m(1, 1) - m(0, 1) * m(1, 0);
            if det.abs() <= 1e-12 * scale * scale {
                return None;
            }
            vals[0] = (rhs(0) * m(1, 1) - m(0, 1) * rhs(1)) / det;
            vals[1] = (m(0, 0) * rhs(1) - rhs(0) * m(1, 0)) / det;
        }
        3 => {
            let det3 = |c0: [f64; 3], c1: [f64; 3], c2: [f64; 3]| {
                c0[0] * (c1[1] * c2[2] - c1[2] * c2[1]) - c1[0] * (c0[1] * c2[2] - c0[2] * c2[1])
                    + c2[0] * (c0[1] * c1[2] - c0[2] * c1[1])
            };
            let col = |c: usize| [m(0, c), m(1, c), m(2, c)];
            let r = [rhs(0), rhs(1), rhs(2)];
            let det = det3(col(0), col(1), col(2));
            if det.abs() <= 1e-12 * scale * scale * scale {
                return None;
            }
            vals = [det3(r, col(1), col(2)) / det, det3(col(0), r, col(2)) / det, det3(col(0), col(1), r) / det];
        }
        _ => return None,
    }
    for i in 0..n {
        sol[idx[i]] = vals[i];
    }
    sol.iter().all(|v| v.is_finite()).then_some(sol)
}

impl ReflectionDecoder {
    /// Decides whether `samples` (one per analysed frame, any order) show a live face following
    /// `shown` (the timeline as displayed, hold colour first). Never panics, whatever the input.
    pub fn decode(&self, samples: &[ReflectionSample], shown: &[DisplayedColour]) -> Verdict {
        self.decode_with_report(samples, shown).0
    }

    /// [`decode`](Self::decode), plus the figures behind the verdict.
    pub fn decode_with_report(&self, samples: &[ReflectionSample], shown: &[DisplayedColour]) -> (Verdict, DecodeReport) {
        let mut report = DecodeReport::default();
        let Some(timeline) = Timeline::from_shown(shown) else {
            let colours = shown.iter().skip(1).take(tuning::MAX_SHOWN).map(|d| undecoded(d.colour)).collect();
            return (refusal(ResultCode::LivenessFailed, colours), report);
        };
        let undecoded_colours = || timeline.srgb[1..].iter().map(|&c| undecoded(c)).collect::<Vec<_>>();
        let max_delay = if self.max_delay_ms.is_finite() { self.max_delay_ms.clamp(0.0, 2000.0) } else { tuning::MAX_DELAY_MS };

        // Sanitise and order the samples.
        let mut obs: Vec<Observation> = samples
            .iter()
            .filter(|s| s.t_ms.is_finite())
            .map(|s| Observation {
                t: s.t_ms,
                face: log_chroma(s.face),
                background: log_chroma(s.background),
                face_box: s.face_box.filter(|b| b.is_valid()),
            })
            .collect();
        obs.sort_by(|a, b| a.t.total_cmp(&b.t));

        // 1303: the recording must span the baseline and the whole flash phase without long gaps.
        let flash_start = timeline.flash_start();
        let covered = match (obs.first(), obs.last()) {
            (Some(first), Some(last)) => first.t <= flash_start - tuning::MIN_BASELINE_MS && last.t >= timeline.end,
            _ => false,
        };
        let largest_gap = obs
            .windows(2)
            .filter(|w| w[1].t >= flash_start && w[0].t <= timeline.end)
            .map(|w| w[1].t - w[0].t)
            .fold(0.0, f64::max);
        if !covered || largest_gap > tuning::MAX_GAP_MS {
            return (refusal(ResultCode::RecordingTooShort, undecoded_colours()), report);
        }

        // One person: a face box far from the session's typical box is another face (or a false
        // detection) the tracker jumped to; its colours do not belong to the series.
        drop_stray_faces(&mut obs, flash_start - tuning::BASELINE_MS, timeline.end + max_delay);

        // 1210 / 1102: the face must be present (and whole) through the flash phase.
        let in_flash: Vec<&Observation> =
            obs.iter().filter(|o| o.t >= flash_start && o.t <= timeline.end + max_delay).collect();
        let with_face = in_flash.iter().filter(|o| o.face.is_some()).count();
        let boxes: Vec<&FaceBox> = in_flash.iter().filter_map(|o| o.face_box.as_ref()).collect();
        let at_edge = boxes.iter().filter(|b| touches_edge(b)).count();
        let edge_share = if boxes.is_empty() { 0.0 } else { at_edge as f64 / boxes.len() as f64 };
        let face_share = if in_flash.is_empty() { 0.0 } else { with_face as f64 / in_flash.len() as f64 };
        if face_share < self.min_face_fraction || !face_share.is_finite() {
            let code = if edge_share > tuning::MAX_EDGE_FRACTION { ResultCode::FaceNotFullyVisible } else { ResultCode::NoCompleteFace };
            return (refusal(code, undecoded_colours()), report);
        }
        if edge_share > tuning::MAX_EDGE_FRACTION {
            return (refusal(ResultCode::FaceNotFullyVisible, undecoded_colours()), report);
        }
        let with_background = in_flash.iter().filter(|o| o.face.is_some() && o.background.is_some()).count();
        if (with_background as f64) < tuning::MIN_BACKGROUND_FRACTION * with_face as f64 {
            return (refusal(ResultCode::TooClose, undecoded_colours()), report);
        }

        // The analysis window: the settled end of the hold to the end of the flash plus the largest delay.
        let t0 = flash_start - tuning::BASELINE_MS;
        let t1 = timeline.end + max_delay;
        let mut used: Vec<(f64, [f64; 3], [f64; 3])> = obs
            .iter()
            .filter(|o| o.t >= t0 && o.t <= t1)
            .filter_map(|o| Some((o.t, o.face?, o.background?)))
            .collect();
        if used.len() > tuning::MAX_WINDOW_SAMPLES {
            let stride = used.len().div_ceil(tuning::MAX_WINDOW_SAMPLES);
            used = used.into_iter().step_by(stride).collect();
        }
        if used.len() < tuning::MIN_SAMPLES {
            return (refusal(ResultCode::NoCompleteFace, undecoded_colours()), report);
        }
        report.samples_used = used.len();
        let times: Vec<f64> = used.iter().map(|u| u.0).collect();

        // Normalised time τ in [−1, 1] over the window, for the drift polynomial.
        let span = (t1 - t0).max(1.0);
        let tau: Vec<f64> = times.iter().map(|&t| 2.0 * (t - t0) / span - 1.0).collect();
        let face_y: Vec<[f64; 3]> = used.iter().map(|u| u.1).collect();
        let background_y: Vec<[f64; 3]> = used.iter().map(|u| u.2).collect();

        // Delay search: every NULL_DELAY_STRIDE-th delay (the coarse grid) for the issued sequence
        // and the null alike, then the issued sequence on the fine grid around its best coarse delay.
        let delays: Vec<f64> = (0..)
            .map(|i| f64::from(i) * tuning::DELAY_STEP_MS)
            .take_while(|&d| d <= max_delay + 1e-9)
            .collect();
        let stride = tuning::NULL_DELAY_STRIDE.max(1);
        let mut designs: Vec<Option<DelayDesign>> = (0..delays.len()).map(|_| None).collect();
        let issued = &timeline.colours;
        let mut best = (0usize, Fit::default());
        for i in (0..delays.len()).step_by(stride) {
            let design = DelayDesign::build(&timeline, &tau, &times, &face_y, delays[i]);
            let f = design.fit(issued);
            if f.r2 > best.1.r2 || i == 0 {
                best = (i, f);
            }
            designs[i] = Some(design);
        }
        let best_coarse = best.1.r2;
        let alternatives = null_sequences(&timeline);
        let null: Vec<f64> = alternatives
            .iter()
            .map(|alt| designs.iter().flatten().map(|d| d.fit(alt).r2).fold(0.0, f64::max))
            .collect();
        let around = best.0.saturating_sub(stride - 1)..(best.0 + stride).min(delays.len());
        for i in around {
            if designs[i].is_none() {
                let design = DelayDesign::build(&timeline, &tau, &times, &face_y, delays[i]);
                let f = design.fit(issued);
                if f.r2 > best.1.r2 {
                    best = (i, f);
                }
                designs[i] = Some(design);
            }
        }
        // z on the log residual ratio ln(TSS/RSS) = −ln(1 − R²) (the likelihood-ratio statistic up to
        // a factor): it stretches the top of the R² scale, where a true match and a near miss differ.
        let null_log: Vec<f64> = null.iter().map(|&r| log_residual_ratio(r)).collect();
        let nn = null.len().max(1) as f64;
        let null_mean = null_log.iter().sum::<f64>() / nn;
        let null_spread =
            (null_log.iter().map(|v| (v - null_mean).powi(2)).sum::<f64>() / nn).sqrt().max(tuning::MIN_NULL_SPREAD);
        let (best_index, face_fit) = best;
        let delay = delays[best_index];
        let background_design = DelayDesign::build(&timeline, &tau, &times, &background_y, delay);
        let background_fit = background_design.fit(issued);

        report.fit = face_fit.r2;
        report.fit_coarse = best_coarse;
        report.null_mean = null_mean;
        report.null_spread = null_spread;
        report.null_z = (log_residual_ratio(best_coarse) - null_mean) / null_spread;
        report.null_rank = null.iter().filter(|&&v| v >= best_coarse).count() as f64 / nn;
        report.face_amplitude = face_fit.amplitude;
        report.background_amplitude = background_fit.amplitude;
        report.delay_ms = delay;

        let Some(best_design) = designs[best_index].as_ref() else {
            return (refusal(ResultCode::LivenessFailed, undecoded_colours()), report);
        };
        let (colours, misdecoded) = per_colour(best_design, &timeline, &face_fit);
        report.misdecoded_steps = misdecoded;
        report.weak_steps = colours.iter().filter(|c| c.confidence.is_nan() || c.confidence < self.min_step_confidence).count();
        let mut confidences: Vec<f64> = colours.iter().map(|c| f64::from(c.confidence)).collect();
        confidences.sort_by(f64::total_cmp);
        report.lowest_confidence = [confidences.first().copied().unwrap_or(0.0), confidences.get(1).copied().unwrap_or(0.0)];
        let ratio = face_fit.amplitude / background_fit.amplitude.max(1e-9);
        let passed = face_fit.r2 >= self.min_fit
            && report.weak_steps <= self.max_weak_steps
            && report.null_z >= self.min_null_z
            && face_fit.amplitude >= self.min_amplitude
            && ratio >= self.min_face_to_background;
        let verdict = Verdict {
            passed,
            code: if passed { ResultCode::Passed } else { ResultCode::SuspectedNonLive },
            score: face_fit.r2 as f32,
            delay_ms: delay as f32,
            colours,
        };
        (verdict, report)
    }
}

/// −ln(1 − R²), with R² capped at 1 − 1e-4 so a perfect fit stays finite.
fn log_residual_ratio(r2: f64) -> f64 {
    -(1.0 - r2.clamp(0.0, 1.0 - 1e-4)).ln()
}

fn undecoded(c: Rgb8) -> DecodedColour {
    DecodedColour { expected: c, observed: [0.0; 3], confidence: 0.0 }
}

fn refusal(code: ResultCode, colours: Vec<DecodedColour>) -> Verdict {
    Verdict { passed: false, code, score: 0.0, delay_ms: 0.0, colours }
}

/// Alternative colour sequences on the issued timeline (same hold, same step count), drawn from
/// the challenge palette with a fixed seed.
fn null_sequences(timeline: &Timeline) -> Vec<Vec<[f64; 3]>> {
    use rand_core::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(tuning::NULL_SEED);
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

/// Per step: the mean drift-free log-chromaticity observed on the face, and how clearly the
/// expected colour explains it better than any other palette colour would.
///
/// With the gains fitted on the whole sequence, the model predicts each step's mean for any colour
/// put in that step (the others unchanged); the step is decoded as the colour whose prediction is
/// nearest to the observation (its per-channel median over the step's frames). `confidence` =
/// (d_other − d_expected) / (d_other + d_expected), clamped to 0..1, where d are the squared
/// distances to the expected colour's prediction and to the nearest other palette colour's. Returns the readings and the number of steps decoded as
/// another colour.
fn per_colour(design: &DelayDesign, timeline: &Timeline, fit: &Fit) -> (Vec<DecodedColour>, usize) {
    let segs = timeline.colours.len().min(design.counts.len());
    let stride = design.counts.len();
    let palette: Vec<[f64; 3]> = crate::challenge::PALETTE
        .iter()
        .map(|c| {
            let l = c.to_linear();
            [f64::from(l.r), f64::from(l.g), f64::from(l.b)]
        })
        .collect();
    let mut misdecoded = 0;
    let colours = (1..segs)
        .map(|s| {
            let n = design.counts[s];
            if n == 0 {
                misdecoded += 1;
                return undecoded(timeline.srgb[s]);
            }
            // The step's reading: per-channel median over its frames, so one frame measured on a
            // jumping face box or a blink does not move it (the model's prediction is a mean, which
            // the median matches for clean frames).
            let mut observed = [0.0; 3];
            let mut values: Vec<f64> = Vec::with_capacity(n);
            for (c, o) in observed.iter_mut().enumerate() {
                values.clear();
                values.extend(design.seg.iter().zip(&design.residuals).filter(|(&g, _)| g == s).map(|(_, r)| r[c]));
                values.sort_by(f64::total_cmp);
                let m = values.len();
                *o = if m == 0 { 0.0 } else if m % 2 == 1 { values[m / 2] } else { (values[m / 2 - 1] + values[m / 2]) / 2.0 };
            }
            let om = (observed[0] + observed[1] + observed[2]) / 3.0;
            observed.iter_mut().for_each(|o| *o -= om);
            // Σ_{i in s} ṽ_j(i) = (G S)_sj; with step s's colour replaced by p it changes by
            // G_ss (p − S_s). The model's channel c is the channel-centred k_c · that, per sample.
            let row = &design.gram[s * stride..(s + 1) * stride];
            let mut gs = [0.0; 3];
            for (g, col) in row.iter().zip(&timeline.colours) {
                for j in 0..3 {
                    gs[j] += g * col[j];
                }
            }
            let gss = row[s];
            let expected = timeline.colours[s];
            let distance = |p: &[f64; 3]| {
                let w: [f64; 3] = std::array::from_fn(|j| fit.k[j] * (gs[j] + gss * (p[j] - expected[j])) / n as f64);
                let m = (w[0] + w[1] + w[2]) / 3.0;
                (0..3).map(|j| (observed[j] - (w[j] - m)).powi(2)).sum::<f64>()
            };
            let d_expected = distance(&expected);
            let d_other = palette
                .iter()
                .filter(|p| (0..3).any(|j| (p[j] - expected[j]).abs() > 1e-6))
                .map(distance)
                .fold(f64::INFINITY, f64::min);
            let total = d_other + d_expected;
            let confidence = if total > 1e-30 && d_other.is_finite() { ((d_other - d_expected) / total).clamp(0.0, 1.0) } else { 0.0 };
            if d_expected.is_nan() || d_expected >= d_other {
                misdecoded += 1;
            }
            DecodedColour {
                expected: timeline.srgb[s],
                observed: [observed[0] as f32, observed[1] as f32, observed[2] as f32],
                confidence: confidence as f32,
            }
        })
        .collect();
    (colours, misdecoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence() -> Vec<DisplayedColour> {
        let c = crate::challenge::PALETTE;
        let steps = [c[0], c[4], c[6], c[2], c[8], c[3], c[7], c[1]];
        let mut v = vec![DisplayedColour { colour: Rgb8::new(255, 255, 255), start_ms: 400.0 }];
        for (i, &colour) in steps.iter().enumerate() {
            v.push(DisplayedColour { colour, start_ms: 1400.0 + 350.0 * i as f64 });
        }
        v
    }

    /// Samples that follow the decoder's own model exactly: per-channel gains, a delay, exposure
    /// changing every frame, a slow white-balance drift.
    fn model_samples(shown: &[DisplayedColour], delay: f64, face_gain: f32, background_gain: f32) -> Vec<ReflectionSample> {
        let timeline = Timeline::from_shown(shown).unwrap();
        (0..150)
            .map(|i| {
                let t = 33.3 * i as f64;
                let s = match timeline.segment(t - delay) {
                    Ok(k) => timeline.colours[k],
                    Err(_) => timeline.colours[0],
                };
                let exposure = 1.0 + 0.3 * ((i * 7919) % 13) as f32 / 13.0;
                let drift = [1.0 + 0.0001 * i as f32, 1.0, 1.0 - 0.0001 * i as f32];
                let region = |g: f32| {
                    let ch = |c: usize, base: f32| exposure * drift[c] * base * (0.5 + g * s[c] as f32);
                    LinearRgb::new(ch(0, 0.6), ch(1, 0.4), ch(2, 0.3))
                };
                ReflectionSample {
                    t_ms: t,
                    face: Some(region(face_gain)),
                    background: Some(region(background_gain)),
                    face_box: Some(FaceBox { x: 0.35, y: 0.25, w: 0.3, h: 0.4, score: 1.0 }),
                }
            })
            .collect()
    }

    #[test]
    fn model_data_passes_with_the_true_delay() {
        let shown = sequence();
        let (v, r) = ReflectionDecoder::default().decode_with_report(&model_samples(&shown, 120.0, 0.2, 0.01), &shown);
        assert!(v.passed, "{r:?}");
        assert!(r.fit > 0.99, "{r:?}");
        assert!((v.delay_ms - 120.0).abs() <= 10.0, "{}", v.delay_ms);
        assert!(v.colours.iter().all(|c| c.confidence > 0.5), "{v:?}");
        assert_eq!(r.misdecoded_steps, 0);
    }

    #[test]
    fn uniform_response_is_refused_as_a_flat_surface() {
        let shown = sequence();
        let (v, r) = ReflectionDecoder::default().decode_with_report(&model_samples(&shown, 120.0, 0.2, 0.2), &shown);
        assert!(!v.passed && v.code == ResultCode::SuspectedNonLive, "{r:?}");
        assert!(r.fit > 0.99 && (r.face_amplitude / r.background_amplitude - 1.0).abs() < 0.05, "{r:?}");
    }

    #[test]
    fn timeline_sorts_skips_non_finite_and_infers_the_last_step() {
        let mut shown = sequence();
        shown.reverse();
        shown.push(DisplayedColour { colour: Rgb8::new(1, 2, 3), start_ms: f64::NAN });
        let t = Timeline::from_shown(&shown).unwrap();
        assert_eq!(t.steps(), 8);
        assert_eq!(t.starts[0], 400.0);
        assert_eq!(t.end, 1400.0 + 350.0 * 8.0);
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
        assert!(log_chroma(Some(LinearRgb::new(0.0, -1.0, 0.2))).unwrap().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn nnls_matches_a_brute_force_search() {
        let nm = [[2.0, 0.5, -0.3], [0.5, 1.5, 0.2], [-0.3, 0.2, 1.0]];
        for b in [[1.0, 1.0, 1.0], [1.0, -2.0, 0.5], [-1.0, -1.0, -1.0], [0.2, 3.0, -4.0]] {
                let k = nnls3(&nm, &b);
            assert!(k.iter().all(|&v| v >= 0.0));
            let obj = |k: &[f64; 3]| quad3(&nm, k) - 2.0 * dot3(k, &b);
            let mut best = f64::MAX;
            for i in 0..=60 {
                for j in 0..=60 {
                    for l in 0..=60 {
                        best = best.min(obj(&[i as f64 * 0.05, j as f64 * 0.05, l as f64 * 0.05]));
                    }
                }
            }
            assert!(obj(&k) <= best + 1e-9, "{b:?}: {k:?} {} vs {best}", obj(&k));
        }
        // Singular systems give a finite answer.
        assert!(nnls3(&[[0.0; 3]; 3], &[1.0, 1.0, 1.0]).iter().all(|v| v.is_finite()));
    }
}
