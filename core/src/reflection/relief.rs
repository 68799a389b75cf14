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
//!   most a smooth falloff of the screen's light across it — inverse square and the cosines of
//!   emission and incidence — whose size grows with the angle the face spans in the view (a big
//!   face close to the camera spans more of the screen's light cone). [`FLAT_BOUNDS`] gives, by
//!   that angle, the most each witness can differ on paper, for prints 20–50 cm away turned up to
//!   30° about either axis (`scripts/physics/flat_print.py` integrates it); the face's angle is
//!   read from its box at the widest front camera ([`tuning::CAMERA_HFOV_MAX_DEG`]), and a camera
//!   tone curve that is not sRGB between cells of different levels adds its own allowance;
//! - **a face responds unevenly**, in a pattern that depends on the room: its cheeks turn 40–65°
//!   from the screen, its forehead up toward the ceiling light, its chin down away from it, its
//!   nose sideways — so k differs by tens of percent or severalfold between cells (a room lit from
//!   right behind the phone is the exception: it flattens a face's response toward paper's, and the
//!   person is asked to turn away from the light);
//! - **a face reflects, an emitter adds**: the added light itself, in absolute terms (the response
//!   times the level), is ρ·E_screen on a reflecting surface — different between parts turned
//!   differently toward the screen, whatever the room's light — but the same everywhere on a
//!   tablet's glass (whose *relative* response is then high wherever its image is dark, as uneven
//!   as a face's);
//! - **yet all of a face responds**: every cell faces the screen within ~65°, so each receives at
//!   least [`tuning::FACE_ADDED_MIN`] of the front's added light whatever the room's light does to
//!   its share (a cheek turned to a window has a tiny share, yet the screen lights it), or — a
//!   dark-skinned or bearded part — at least [`tuning::FACE_CELL_MIN`] of its share. A tablet
//!   emits its own image and responds
//!   only where our screen is mirrored in its glass: the phone's coloured screen minus the page's
//!   oval, a sharp-edged virtual image that cannot cover forehead, chin and both cheeks without its
//!   hole landing on the face — some cell goes dark; and when the hole lands on the face's front
//!   (where the oval is centred), the front is dark against the parts, which a face's front, facing
//!   the screen squarely, never is.
//!
//! Each property is decided by one-sided t tests at the step level at [`tuning::RELIEF_ALPHA`]
//! (Bonferroni-corrected over the witnesses): the relief is a face's when unevenness beyond
//! paper's bounds, of the response and of the added light, and a response in every part are all
//! established; it fails
//! (1002) when a dark cell is established against the front or the front against a part (a
//! mirrored patch), or when the surround responds like the
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
    /// Which series took part, one bit per series in the order of the constants above.
    pub usable: u8,
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
    /// Largest t among the witnesses of the added light (response times level) differing between
    /// parts (positive: reflected by surfaces turned differently, not added evenly by an emitter).
    pub t_screen_dome: f64,
    /// t of "the surround responds like the face" (positive: a print's margin).
    pub t_surround_flat: f64,
    /// Critical t at [`tuning::RELIEF_ALPHA`], and Bonferroni-corrected for the unevenness contrasts
    /// taken (each usable witness, both ways).
    pub t_critical: f64,
    pub t_critical_uneven: f64,
    /// Tangent of the face's half-width angle in the view, which sets paper's bounds.
    #[cfg_attr(feature = "serde", serde(default))]
    pub face_tan: f64,
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
/// its [`FLAT_BOUNDS`] column `bound` (at the face's angle in the view) + [`tuning::FLAT_MODEL_MARGIN`]
/// + [`tuning::FLAT_TONE_SLOPE`] × their level difference (natural-log units).
struct Witness {
    a: Cells,
    b: Cells,
    bound: usize,
}

/// Columns of [`FLAT_BOUNDS`].
const BOUND_OUTER_FRONT: usize = 0;
const BOUND_VERTICAL: usize = 1;
const BOUND_CHIN_FOREHEAD: usize = 2;

/// The most paper's response can differ (|ln ratio|) between the cells each witness compares, by
/// the tangent of the face box's half-width angle in the view: outer cheeks against the front
/// (a second difference: only the falloff's curvature), forehead and chin against the nose or
/// the front (a second difference, not symmetric about the nose), chin against forehead (a first
/// difference: the whole vertical falloff). Worst cases over prints 20–50 cm from the camera,
/// turned up to 30° about either axis, under a 6.5 × 14 cm Lambertian screen below the camera, at
/// the decoder's own cells ([`crate::analysis::RELIEF_LANDMARK_CELLS`], read by the script) — generated by
/// `python3 scripts/physics/flat_print.py --rust`.
const FLAT_BOUNDS: [(f64, [f64; 3]); 11] = [
    (0.1405, [0.024, 0.066, 0.529]), // 8°
    (0.1763, [0.034, 0.092, 0.663]), // 10°
    (0.2126, [0.046, 0.122, 0.796]), // 12°
    (0.2493, [0.060, 0.156, 0.930]), // 14°
    (0.2867, [0.075, 0.193, 1.065]), // 16°
    (0.3249, [0.093, 0.233, 1.200]), // 18°
    (0.3640, [0.112, 0.276, 1.336]), // 20°
    (0.4040, [0.133, 0.322, 1.472]), // 22°
    (0.4452, [0.157, 0.370, 1.609]), // 24°
    (0.4877, [0.182, 0.420, 1.746]), // 26°
    (0.5317, [0.210, 0.471, 1.884]), // 28°
];

/// Paper's bounds at a face angle (tangent of the half-width angle): linear between the rows of
/// [`FLAT_BOUNDS`], the first row below it, the last segment extended above it.
pub(super) fn flat_bounds(face_tan: f64) -> [f64; 3] {
    let rows = &FLAT_BOUNDS;
    if !face_tan.is_finite() {
        return rows[rows.len() - 1].1;
    }
    if face_tan <= rows[0].0 {
        return rows[0].1;
    }
    let i = rows
        .iter()
        .position(|&(t, _)| t >= face_tan)
        .unwrap_or(rows.len() - 1);
    let ((t0, b0), (t1, b1)) = (rows[i - 1], rows[i]);
    let f = (face_tan - t0) / (t1 - t0);
    std::array::from_fn(|k| b0[k] + f * (b1[k] - b0[k]))
}

/// The outer cheeks together.
const OUTER: Cells = &[(OUTER_LEFT, 0.5), (OUTER_RIGHT, 0.5)];

/// The front: the inner cheeks (the nose's ridge joins the witnesses when it is not saturated —
/// a shiny nose often is).
const FRONT: Cells = &[(INNER_LEFT, 0.5), (INNER_RIGHT, 0.5)];

const UNEVEN: [Witness; 5] = [
    // Outer cheeks against the front: a face's turn away (or, lit from above, catch less room light).
    Witness {
        a: OUTER,
        b: FRONT,
        bound: BOUND_OUTER_FRONT,
    },
    // The nose's ridge against the inner cheeks beside it: the ridge turns up and sideways.
    Witness {
        a: &[(NOSE, 1.0)],
        b: FRONT,
        bound: BOUND_OUTER_FRONT,
    },
    // Forehead and chin against the nose: turned up toward the room's light and down from it …
    Witness {
        a: &[(FOREHEAD, 0.5), (CHIN, 0.5)],
        b: &[(NOSE, 1.0)],
        bound: BOUND_VERTICAL,
    },
    // … or against the inner cheeks, when the nose is not measured.
    Witness {
        a: &[(FOREHEAD, 0.5), (CHIN, 0.5)],
        b: FRONT,
        bound: BOUND_VERTICAL,
    },
    // The chin (turned down toward a screen held below the eyes) against the forehead (turned up):
    // paper pitched toward or away from the screen allows them far apart when the face is big.
    Witness {
        a: &[(CHIN, 1.0)],
        b: &[(FOREHEAD, 1.0)],
        bound: BOUND_CHIN_FOREHEAD,
    },
];

/// The parts that must respond: forehead, chin, each outer cheek.
const PARTS: [Cells; 4] = [
    &[(FOREHEAD, 1.0)],
    &[(CHIN, 1.0)],
    &[(OUTER_LEFT, 1.0)],
    &[(OUTER_RIGHT, 1.0)],
];

/// The nose's ridge must respond too, when it is measured (not saturated — a shiny nose often
/// is): it faces the screen as the front does. It is not among [`PARTS`], which decide whether the
/// relief can be measured at all.
const NOSE_RIDGE: Cells = &[(NOSE, 1.0)];

/// Weights of `a − f · b`.
fn minus(a: Cells, f: f64, b: Cells) -> Vec<(usize, f64)> {
    a.iter()
        .copied()
        .chain(b.iter().map(|&(r, w)| (r, -f * w)))
        .collect()
}

/// Weighted mean of a per-series figure (ln luminance, saturated share) over some cells.
fn level(levels: &[f64], cells: Cells) -> f64 {
    cells
        .iter()
        .map(|&(r, w)| w * levels.get(r).copied().unwrap_or(0.0))
        .sum::<f64>()
        / cells.iter().map(|&(_, w)| w).sum::<f64>().max(1e-12)
}

/// The relief cells' measurements over the frames where all were measured.
pub(super) struct ReliefInput {
    pub times: Vec<f64>,
    /// Each frame's time mapped to −1..1 over the analysis window (for the drift polynomial).
    pub tau: Vec<f64>,
    /// Per series (in the order of the constants above), per frame: log-chromaticity.
    pub series: Vec<Vec<[f64; 3]>>,
    /// Per series: mean ln luminance, and mean share of saturated pixels.
    pub levels: [f64; SERIES],
    pub saturated: [f64; SERIES],
    /// Which series take part (measured in most frames; see [`tuning::RELIEF_MIN_MEASURED`]).
    pub usable: [bool; SERIES],
    /// Tangent of the largest half-width angle the face box spanned in the view (at
    /// [`tuning::CAMERA_HFOV_MAX_DEG`]).
    pub face_tan: f64,
}

/// Whether all of `cells` take part.
fn usable(input: &ReliefInput, cells: Cells) -> bool {
    cells
        .iter()
        .all(|&(r, _)| input.usable.get(r).copied().unwrap_or(false))
}

/// Runs the relief test at the delay the sequence test chose, against the face's fitted response.
pub(super) fn test(
    timeline: &Timeline,
    input: &ReliefInput,
    delay: f64,
    fit: &Fit,
) -> (Relief, ReliefReport) {
    let ReliefInput {
        times,
        tau,
        series,
        levels,
        ..
    } = input;
    let usable_bits = input
        .usable
        .iter()
        .enumerate()
        .fold(0u8, |b, (i, &u)| b | (u8::from(u) << i));
    let mut report = ReliefReport {
        frames: times.len(),
        usable: usable_bits,
        face_tan: input.face_tan,
        ..ReliefReport::default()
    };
    let paper = flat_bounds(input.face_tan);
    // The front and both outer cheeks must take part (the dome is measured there), and the
    // forehead or the chin.
    let parts = PARTS.iter().filter(|p| usable(input, p)).count();
    if series.len() < SERIES
        || times.len() < tuning::MIN_SAMPLES
        || !usable(input, FRONT)
        || !usable(input, OUTER)
        || parts < 3
    {
        return (Relief::Undecided, report);
    }
    let refs: Vec<&[[f64; 3]]> = series.iter().map(Vec::as_slice).collect();
    let design = SegmentDesign::build(timeline, tau, times, &refs, delay);
    let predicted = design.predicted(&timeline.colours, fit);
    let slope = |weights: &[(usize, f64)]| -> Slope {
        design.slope_on(&design.combined_cross(weights), &predicted)
    };
    let t = |s: Slope| {
        if s.se.is_finite() && s.se > 0.0 {
            s.slope / s.se
        } else {
            0.0
        }
    };
    let front = slope(FRONT);
    report.front = front.slope;
    let relative = |r: usize| slope(&[(r, 1.0)]).slope / front.slope;
    report.nose = if usable(input, &[(NOSE, 1.0)]) {
        relative(NOSE)
    } else {
        f64::NAN
    };
    report.inner = 0.5 * (relative(INNER_LEFT) + relative(INNER_RIGHT));
    report.outer_left = relative(OUTER_LEFT);
    report.outer_right = relative(OUTER_RIGHT);
    report.forehead = relative(FOREHEAD);
    report.chin = relative(CHIN);
    report.surround = relative(SURROUND);

    // The largest t among the witnesses, each both ways: the response (or, `added`, the response
    // times the level — the added light) of `a` beyond e^±allow times that of `b`.
    // The witnesses whose parts are all usable: the only ones tested, and the ones the critical t
    // is corrected for. Which they are is settled by saturation and coverage, not by any response.
    let taken: Vec<&Witness> = UNEVEN
        .iter()
        .filter(|w| usable(input, w.a) && usable(input, w.b))
        .collect();
    let witnesses = |added: bool| {
        taken
            .iter()
            .flat_map(|w| {
                // A channel clipped in some of a part's pixels bends its chromatic response as well
                // as shrinking it, which can push a witness either way: both parts' shares widen
                // both bounds.
                let saturation = level(&input.saturated, w.a) + level(&input.saturated, w.b);
                let level_gap = level(levels, w.a) - level(levels, w.b);
                // The added light also carries the levels themselves through the tone curve.
                let tone = tuning::FLAT_TONE_SLOPE
                    + if added {
                        tuning::FLAT_GAMMA_DEVIATION
                    } else {
                        0.0
                    };
                let allow = paper[w.bound]
                    + tuning::FLAT_MODEL_MARGIN
                    + tone * level_gap.abs()
                    + tuning::FLAT_SATURATION_LOSS * saturation;
                // In added light, a's response counts e^level_gap times b's.
                let scale = if added { level_gap.exp() } else { 1.0 };
                let above = t(slope(&minus(w.a, allow.exp() / scale, w.b)));
                let below = -t(slope(&minus(w.a, (-allow).exp() / scale, w.b)));
                [above, below]
            })
            .fold(f64::NEG_INFINITY, f64::max)
    };
    report.t_uneven = witnesses(false);
    report.t_screen_dome = witnesses(true);
    // Each part against the front by both bounds: its response (share of screen to room light)
    // against FACE_CELL_MIN of the front's, and its added light (response × level) against
    // FACE_ADDED_MIN of the front's, i.e. its response against FACE_ADDED_MIN · e^(level(front) −
    // level(part)) of the front's. A part is alive when either is established (a cheek turned to a
    // window has a tiny share but its added light; a dark-skinned or bearded part the reverse), dark
    // only when both fall short (outside a mirrored patch there is neither).
    // And the front against each part by the same bounds: the front faces the screen squarely, so
    // it receives at least about as much of its light as any part (a chin nearer a screen held low
    // takes up to ~1.5×), and a part in deep shadow has at most some ten times the front's share —
    // a front established dark against a part is the page's uncoloured oval mirrored on a
    // tablet's glass, centred where the face is.
    let against = |x: Cells, reference: Cells| {
        let added = tuning::FACE_ADDED_MIN * (level(levels, reference) - level(levels, x)).exp();
        let share = t(slope(&minus(x, tuning::FACE_CELL_MIN, reference)));
        (share, t(slope(&minus(x, added, reference))))
    };
    let pairs: Vec<(Cells, Cells)> = PARTS
        .iter()
        .chain(std::iter::once(&NOSE_RIDGE))
        .filter(|p| usable(input, p))
        .flat_map(|&p| [(p, FRONT), (FRONT, p)])
        .collect();
    report.t_alive = pairs
        .iter()
        .map(|&(x, reference)| {
            let (share, added) = against(x, reference);
            share.max(added)
        })
        .fold(f64::INFINITY, f64::min);
    report.t_dark = pairs
        .iter()
        .map(|&(x, reference)| {
            let (share, added) = against(x, reference);
            (-share).min(-added)
        })
        .fold(f64::NEG_INFINITY, f64::max);
    let surround: Cells = &[(SURROUND, 1.0)];
    let margin = tuning::PRINT_SURROUND_MIN
        * (-tuning::FLAT_TONE_SLOPE * (level(levels, surround) - level(levels, FRONT)).abs()).exp();
    // Without a surround (a saturated wall beside the head) there is no margin to see.
    report.t_surround_flat = if usable(input, surround) {
        t(slope(&minus(surround, margin, FRONT)))
    } else {
        f64::NEG_INFINITY
    };
    let dof = front.dof as f64;
    report.t_critical = t_critical(tuning::RELIEF_ALPHA, dof);
    // Bonferroni over the contrasts taken: each witness taken, both ways.
    let contrasts = (2 * taken.len()).max(1);
    report.t_critical_uneven = t_critical(tuning::RELIEF_ALPHA / contrasts as f64, dof);
    let uneven = report.t_uneven >= report.t_critical_uneven;
    let relief = if uneven
        && report.t_screen_dome >= report.t_critical_uneven
        && report.t_alive >= report.t_critical
    {
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
