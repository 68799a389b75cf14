//! Is what responds a face — near, convex, reflecting — rather than paper or a screen?
//!
//! Each relief cell's response is measured in units of the face's fitted response (the slope of
//! its per-step chromatic levels on the model's predicted levels, see
//! [`super::design::SegmentDesign::slope_on`]). What a cell shows is k(x) = E_screen(x) / E_room(x),
//! the ratio of the screen's to the room's light on it: albedo cancels (the log-chromaticity change
//! of reflected light is the same on dark and light surfaces). So:
//!
//! - **paper, however held, responds evenly**: every point faces the screen and the room alike.
//!   Over the face (±12° of the view) a tilt of up to 30° and the inverse-square falloff make at
//!   most a linear gradient of ±25 % (cos 42° / cos 30° = 0.86, distance ±7 %); the falloff's
//!   curvature (cos³ 12° ≈ 0.94) and a camera tone curve that is not sRGB between cells of
//!   different levels add at most ~6 % each. Bounds: [`tuning::FLAT_CURVATURE`] on second
//!   differences (which a gradient cannot produce) and [`tuning::FLAT_GRADIENT`] on differences
//!   across the face;
//! - **a face responds unevenly**, in a pattern that depends on the room: its cheeks turn 40–65°
//!   from the screen, its forehead up toward the ceiling light, its chin down away from it, its
//!   nose sideways — so k differs by tens of percent or severalfold between cells (a room lit from
//!   right behind the phone is the exception: it flattens a face's response toward paper's, and the
//!   person is asked to turn away from the light);
//! - **a face reflects, an emitter adds**: the added light itself, in absolute terms (the response
//!   times the level), is ρ·E_screen on a reflecting surface — lower on the outer cheeks, turned
//!   away from the screen, whatever the room's light — but the same everywhere on a tablet's glass
//!   (whose response is high where its image is dark);
//! - **yet all of a face responds**: every cell faces the screen within ~65°, so each receives at
//!   least [`tuning::FACE_CELL_MIN`] of the front's share. A tablet emits its own image and responds
//!   only where our screen is mirrored in its glass: the phone's coloured screen minus the page's
//!   oval, a sharp-edged virtual image that cannot cover forehead, chin and both cheeks without its
//!   hole landing on the face — some cell goes dark.
//!
//! Each property is decided by one-sided t tests at the step level at [`tuning::RELIEF_ALPHA`]
//! (Bonferroni-corrected over the unevenness contrasts): the relief is a face's when some
//! unevenness beyond paper's bounds and a response in every cell are both established; it fails
//! (1002) when a dark cell is established (a mirrored patch), or when the surround responds like the
//! face while no unevenness is seen (a print with its margin); anything else is too weak to decide
//! (1202).
use super::design::{Fit, SegmentDesign, Slope};
use super::stats::t_critical;
use super::timeline::Timeline;
use super::tuning;

/// Series order in the relief design: the cells of [`crate::analysis::RELIEF_CELLS`], then the surround.
pub(super) const NOSE: usize = 0;
pub(super) const INNER_LEFT: usize = 1;
pub(super) const INNER_RIGHT: usize = 2;
pub(super) const OUTER_LEFT: usize = 3;
pub(super) const OUTER_RIGHT: usize = 4;
pub(super) const FOREHEAD: usize = 5;
pub(super) const CHIN: usize = 6;
pub(super) const SURROUND: usize = 7;
pub(super) const SERIES: usize = 8;

/// What the relief test found (responses relative to the face's fitted response).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct ReliefReport {
    pub frames: usize,
    /// The front (nose and inner cheeks), and each part relative to it.
    pub front: f64,
    pub nose: f64,
    pub inner: f64,
    pub outer_left: f64,
    pub outer_right: f64,
    pub forehead: f64,
    pub chin: f64,
    pub surround: f64,
    /// Largest t among the unevenness contrasts beyond paper's bounds (positive: face-like).
    pub t_uneven: f64,
    /// Smallest t among "this part responds at least as a face's does" (positive: all alive).
    pub t_alive: f64,
    /// Largest t among "this part is dark" (positive: a mirrored patch).
    pub t_dark: f64,
    /// t of "the outer cheeks receive less of the screen's light, in absolute terms, than the front"
    /// (positive: lit like a convex surface, not like an emitter that adds the same light everywhere).
    pub t_screen_dome: f64,
    /// t of "the surround responds like the face" (positive: a print's margin).
    pub t_surround_flat: f64,
    /// Critical t at [`tuning::RELIEF_ALPHA`], and Bonferroni-corrected for the unevenness contrasts.
    pub t_critical: f64,
    pub t_critical_uneven: f64,
}

/// The relief test's conclusion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Relief {
    Face,
    Flat,
    Patch,
    Undecided,
}

/// Cells as a weighted mean: `(series, weight)`.
type Cells = &'static [(usize, f64)];

/// An unevenness witness: the response of cells `a` against cells `b`, which paper keeps within
/// [`tuning::FLAT_GEOMETRY`] + `extra` + [`tuning::FLAT_TONE_SLOPE`] × their level difference
/// (natural-log units). Placed symmetrically, so a gradient of light cannot produce them.
struct Witness {
    a: Cells,
    b: Cells,
    extra: f64,
}

/// The front: nose and inner cheeks.
const FRONT: Cells = &[(NOSE, 1.0 / 3.0), (INNER_LEFT, 1.0 / 3.0), (INNER_RIGHT, 1.0 / 3.0)];

const UNEVEN: [Witness; 3] = [
    // Outer cheeks against the front: a face's turn away (or, lit from above, catch less room light).
    Witness { a: &[(OUTER_LEFT, 0.5), (OUTER_RIGHT, 0.5)], b: FRONT, extra: 0.0 },
    // Inner cheeks against the nose: the nose's sides turn sideways.
    Witness { a: &[(INNER_LEFT, 0.5), (INNER_RIGHT, 0.5)], b: &[(NOSE, 1.0)], extra: 0.0 },
    // Forehead and chin against the nose: turned up toward the room's light and down from it.
    Witness { a: &[(FOREHEAD, 0.5), (CHIN, 0.5)], b: &[(NOSE, 1.0)], extra: tuning::FLAT_VERTICAL_ASYMMETRY },
];

/// The parts that must respond: forehead, chin, each outer cheek, the inner cheeks together.
const PARTS: [Cells; 5] = [&[(FOREHEAD, 1.0)], &[(CHIN, 1.0)], &[(OUTER_LEFT, 1.0)], &[(OUTER_RIGHT, 1.0)], &[(INNER_LEFT, 0.5), (INNER_RIGHT, 0.5)]];

/// Weights of `a − f · b`.
fn minus(a: Cells, f: f64, b: Cells) -> Vec<(usize, f64)> {
    a.iter().copied().chain(b.iter().map(|&(r, w)| (r, -f * w))).collect()
}

/// Weighted mean level (ln luminance) of some cells.
fn level(levels: &[f64], cells: Cells) -> f64 {
    cells.iter().map(|&(r, w)| w * levels.get(r).copied().unwrap_or(0.0)).sum::<f64>() / cells.iter().map(|&(_, w)| w).sum::<f64>().max(1e-12)
}

/// Runs the relief test on the relief series (in the order of the constants above) with their
/// mean levels (ln luminance), at the delay the sequence test chose, against the face's fitted
/// response `fit`.
pub(super) fn test(
    timeline: &Timeline,
    tau: &[f64],
    times: &[f64],
    series: &[Vec<[f64; 3]>],
    levels: &[f64],
    delay: f64,
    fit: &Fit,
) -> (Relief, ReliefReport) {
    let mut report = ReliefReport { frames: times.len(), ..ReliefReport::default() };
    if series.len() < SERIES || levels.len() < SERIES || times.len() < tuning::MIN_SAMPLES {
        return (Relief::Undecided, report);
    }
    let refs: Vec<&[[f64; 3]]> = series.iter().map(Vec::as_slice).collect();
    let design = SegmentDesign::build(timeline, tau, times, &refs, delay);
    let predicted = design.predicted(&timeline.colours, fit);
    let slope = |weights: &[(usize, f64)]| -> Slope { design.slope_on(&design.combined_cross(weights), &predicted) };
    let t = |s: Slope| if s.se.is_finite() && s.se > 0.0 { s.slope / s.se } else { 0.0 };
    let front = slope(FRONT);
    report.front = front.slope;
    let relative = |r: usize| slope(&[(r, 1.0)]).slope / front.slope;
    report.nose = relative(NOSE);
    report.inner = 0.5 * (relative(INNER_LEFT) + relative(INNER_RIGHT));
    report.outer_left = relative(OUTER_LEFT);
    report.outer_right = relative(OUTER_RIGHT);
    report.forehead = relative(FOREHEAD);
    report.chin = relative(CHIN);
    report.surround = relative(SURROUND);

    report.t_uneven = UNEVEN
        .iter()
        .flat_map(|w| {
            let allow = tuning::FLAT_GEOMETRY + w.extra + tuning::FLAT_TONE_SLOPE * (level(levels, w.a) - level(levels, w.b)).abs();
            // a above e^allow · b, or a below e^−allow · b.
            let above = t(slope(&minus(w.a, allow.exp(), w.b)));
            let below = -t(slope(&minus(w.a, (-allow).exp(), w.b)));
            [above, below]
        })
        .fold(f64::NEG_INFINITY, f64::max);
    // The added light in absolute terms is the response times the level: ρ·E_screen on a reflecting
    // surface (lower on the outer cheeks, turned away from the screen, whatever the room's light),
    // the same everywhere on an emitter's glass. Paper's and the tone curve's allowances as above.
    let outer: Cells = &[(OUTER_LEFT, 0.5), (OUTER_RIGHT, 0.5)];
    let (outer_level, front_level) = (level(levels, outer), level(levels, FRONT));
    let allow = tuning::FLAT_GEOMETRY + tuning::FLAT_TONE_SLOPE * (outer_level - front_level).abs();
    // outer·B_o < e^−allow · front·B_f  ⇔  e^−allow · (B_f / B_o) · front − outer > 0.
    report.t_screen_dome = -t(slope(&minus(outer, (-allow + front_level - outer_level).exp(), FRONT)));
    report.t_alive = PARTS.iter().map(|&p| t(slope(&minus(p, tuning::FACE_CELL_MIN, FRONT)))).fold(f64::INFINITY, f64::min);
    report.t_dark = PARTS.iter().map(|&p| -t(slope(&minus(p, tuning::PATCH_CELL_MAX, FRONT)))).fold(f64::NEG_INFINITY, f64::max);
    let surround: Cells = &[(SURROUND, 1.0)];
    let margin = tuning::PRINT_SURROUND_MIN * (-tuning::FLAT_TONE_SLOPE * (level(levels, surround) - level(levels, FRONT)).abs()).exp();
    report.t_surround_flat = t(slope(&minus(surround, margin, FRONT)));
    let dof = front.dof as f64;
    report.t_critical = t_critical(tuning::RELIEF_ALPHA, dof);
    report.t_critical_uneven = t_critical(tuning::RELIEF_ALPHA / (2 * UNEVEN.len()) as f64, dof);
    let uneven = report.t_uneven >= report.t_critical_uneven;
    let relief = if uneven && report.t_screen_dome >= report.t_critical && report.t_alive >= report.t_critical {
        Relief::Face
    } else if report.t_dark >= report.t_critical {
        Relief::Patch
    } else if !uneven && report.t_surround_flat >= report.t_critical {
        Relief::Flat
    } else {
        Relief::Undecided
    };
    (relief, report)
}
