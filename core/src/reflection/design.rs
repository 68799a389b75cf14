//! The sufficient statistics of one or more region series on the display timeline at one delay.
//!
//! Model (per region, in natural-log linear light, per frame i and channel c, channel-centred):
//! `y_c(i) = drift_c(t_i) + Σ_s x_{s,c} · I_s(t_i − d) + noise`, where `I_s` indicates the segment
//! (hold or step) the frame's delayed time falls in and `drift` is a cubic (auto white balance and
//! slow exposure). Everything a decision needs is a function of the drift-free indicator Gram
//! matrix and the series' projections on the indicators, so a sequence's fit costs O(segments²).

use super::timeline::Timeline;
use super::{tuning, undecoded, DecodedColour};

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

/// One region's statistics at one delay.
#[derive(Clone, Debug, Default)]
pub(super) struct SeriesStats {
    /// ⟨u_c, I_s⟩ per segment, channel-centred (u = the drift-free series).
    pub cross: Vec<[f64; 3]>,
    /// Drift-free, channel-centred total sum of squares.
    pub total: f64,
}

/// The statistics of several region series sharing one set of frames, at one delay.
pub(super) struct SegmentDesign {
    /// Gram matrix of the drift-free segment indicators, (n+1)², row-major (segment 0 = hold).
    pub gram: Vec<f64>,
    /// Per segment: the number of kept frames.
    pub counts: Vec<usize>,
    pub samples: usize,
    pub series: Vec<SeriesStats>,
    /// Steps (segments 1..) that have frames, and the Cholesky factor of their Gram block.
    present: Vec<usize>,
    chol: Vec<f64>,
    /// Each kept frame's segment and series 0's drift-free values (for per-step readings).
    pub seg: Vec<usize>,
    pub residuals: Vec<[f64; 3]>,
}

impl SegmentDesign {
    /// Builds the statistics for one delay from the frames whose delayed time falls inside the
    /// timeline (hold to the end of the last step). Frames outside it (before the hold, after the
    /// flash) are left out rather than modelled with free levels: a free level right after the last
    /// step would let the drift absorb that step. `tau` is each frame's time mapped to −1..1 over
    /// the analysis window, for the drift polynomial; `series[r][i]` is region r at frame i.
    pub fn build(
        timeline: &Timeline,
        tau: &[f64],
        times: &[f64],
        series: &[&[[f64; 3]]],
        delay: f64,
    ) -> SegmentDesign {
        let segs = timeline.starts.len();
        let mut seg = Vec::with_capacity(times.len());
        let mut kept = Vec::with_capacity(times.len());
        for (i, &t) in times.iter().enumerate() {
            if let Ok(s) = timeline.segment(t - delay) {
                seg.push(s);
                kept.push(i);
            }
        }
        let n = kept.len();
        // Drift basis on the kept frames: 1, τ, …, τ^DRIFT_DEGREE, orthonormalised.
        let mut basis: Vec<Vec<f64>> = Vec::with_capacity(tuning::DRIFT_DEGREE + 1);
        let mut power = vec![1.0; n];
        for _ in 0..=tuning::DRIFT_DEGREE {
            orthonormalise(&mut basis, power.clone());
            power.iter_mut().zip(&kept).for_each(|(p, &i)| *p *= tau[i]);
        }
        let mut counts = vec![0usize; segs];
        // a[q][s] = Σ_{i in s} Q_iq
        let mut a = vec![vec![0.0; segs]; basis.len()];
        for (k, &s) in seg.iter().enumerate() {
            counts[s] += 1;
            for (aq, q) in a.iter_mut().zip(&basis) {
                aq[s] += q[k];
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
        let mut residuals = Vec::new();
        let stats = series
            .iter()
            .enumerate()
            .map(|(r, ys)| {
                // u = y − Q Qᵀ y per channel.
                let mut u: Vec<[f64; 3]> = kept.iter().map(|&i| ys[i]).collect();
                for q in &basis {
                    let mut d = [0.0; 3];
                    for (qi, ui) in q.iter().zip(&u) {
                        for c in 0..3 {
                            d[c] += qi * ui[c];
                        }
                    }
                    for (qi, ui) in q.iter().zip(u.iter_mut()) {
                        for c in 0..3 {
                            ui[c] -= d[c] * qi;
                        }
                    }
                }
                let total = u
                    .iter()
                    .map(|v| v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
                    .sum();
                let mut sums = vec![[0.0; 3]; segs];
                for (v, &s) in u.iter().zip(&seg) {
                    for c in 0..3 {
                        sums[s][c] += v[c];
                    }
                }
                let cross = sums
                    .iter()
                    .map(|v| {
                        let m = (v[0] + v[1] + v[2]) / 3.0;
                        [v[0] - m, v[1] - m, v[2] - m]
                    })
                    .collect();
                if r == 0 {
                    residuals = u;
                }
                SeriesStats { cross, total }
            })
            .collect();
        let present: Vec<usize> = (1..segs).filter(|&s| counts[s] > 0).collect();
        let chol = cholesky(
            &present
                .iter()
                .flat_map(|&s| present.iter().map(move |&t| (s, t)))
                .map(|(s, t)| gram[s * segs + t])
                .collect::<Vec<_>>(),
            present.len(),
        );
        SegmentDesign {
            gram,
            counts,
            samples: n,
            series: stats,
            present,
            chol,
            seg,
            residuals,
        }
    }

    fn segs(&self) -> usize {
        self.counts.len()
    }

    /// Number of steps (segments after the hold) with frames.
    pub fn steps_present(&self) -> usize {
        self.present.len()
    }

    /// Σ_c bᵀ G⁻¹ b over the present steps for per-segment cross terms `b` (the sum of squares a
    /// free level per step explains, relative to the hold), and G⁻¹ b itself.
    fn solve(&self, b: &[[f64; 3]]) -> (f64, Vec<[f64; 3]>) {
        let m = self.present.len();
        let mut ss = 0.0;
        let mut effects = vec![[0.0; 3]; m];
        for c in 0..3 {
            let rhs: Vec<f64> = self.present.iter().map(|&s| b[s][c]).collect();
            let x = cholesky_solve(&self.chol, m, &rhs);
            ss += rhs.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>();
            for (e, v) in effects.iter_mut().zip(x) {
                e[c] = v;
            }
        }
        (ss, effects)
    }

    /// Sum of squares of series `r` explained by a free level per step (relative to the hold).
    pub fn segment_ss(&self, r: usize) -> f64 {
        self.series.get(r).map_or(0.0, |s| self.solve(&s.cross).0)
    }

    /// The per-step cross terms of the linear combination Σ w_r · series_r.
    pub fn combined_cross(&self, weights: &[(usize, f64)]) -> Vec<[f64; 3]> {
        let mut b = vec![[0.0; 3]; self.segs()];
        for &(r, w) in weights {
            if let Some(s) = self.series.get(r) {
                for (bs, cs) in b.iter_mut().zip(&s.cross) {
                    for c in 0..3 {
                        bs[c] += w * cs[c];
                    }
                }
            }
        }
        b
    }

    /// Regression at the step level of a series (given by its cross terms `b`) on a predicted
    /// per-segment response `p` (one channel-centred value per segment, hold included): the slope,
    /// its standard error from the steps' scatter around the fit (every noise that acts on whole
    /// steps — compression, motion, exposure steps — shows there), and the residual degrees of freedom.
    pub fn slope_on(&self, b: &[[f64; 3]], p: &[[f64; 3]]) -> Slope {
        let segs = self.segs();
        if p.len() < segs || b.len() < segs || self.present.is_empty() {
            return Slope::default();
        }
        // Predicted effects relative to the hold, for the present steps.
        let pe: Vec<[f64; 3]> = self
            .present
            .iter()
            .map(|&s| std::array::from_fn(|c| p[s][c] - p[0][c]))
            .collect();
        // ⟨v, v⟩ = Σ_c peᵀ G pe over the present block; ⟨u, v⟩ = Σ_c bᵀ pe.
        let mut vv = 0.0;
        let mut uv = 0.0;
        for (i, &s) in self.present.iter().enumerate() {
            for (j, &t) in self.present.iter().enumerate() {
                let g = self.gram[s * segs + t];
                vv += g * (0..3).map(|c| pe[i][c] * pe[j][c]).sum::<f64>();
            }
            uv += (0..3).map(|c| b[s][c] * pe[i][c]).sum::<f64>();
        }
        if vv <= 1e-30 {
            return Slope::default();
        }
        let slope = uv / vv;
        let (ss, _) = self.solve(b);
        let residual = (ss - uv * uv / vv).max(0.0);
        // Channel-centred values carry two degrees of freedom per step; one goes to the slope.
        let dof = (2 * self.present.len()).saturating_sub(1);
        let se = if dof > 0 {
            (residual / dof as f64 / vv).sqrt()
        } else {
            f64::INFINITY
        };
        Slope { slope, se, dof }
    }

    /// Least-squares fit of per-channel gains `k >= 0` of series 0 to the sequence `colours` (one
    /// linear RGB per segment), pulled toward equal gains ([`tuning::GAIN_RIDGE`]).
    pub fn fit(&self, colours: &[[f64; 3]]) -> Fit {
        let Some(face) = self.series.first() else {
            return Fit::default();
        };
        let segs = colours.len().min(face.cross.len());
        // ⟨v_j, v_l⟩ = S_jᵀ G S_l and b_j, accumulated row by row of the Gram matrix.
        let mut vv = [[0.0f64; 3]; 3];
        let mut b = [0.0f64; 3];
        for (s, row) in self
            .gram
            .chunks_exact(face.cross.len())
            .take(segs)
            .enumerate()
        {
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
            b[0] += cs[0] * face.cross[s][0];
            b[1] += cs[1] * face.cross[s][1];
            b[2] += cs[2] * face.cross[s][2];
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
        let explained = (2.0 * dot3(&k, &b) - quad3(&nm, &k)).max(0.0);
        let r2 = if face.total > 1e-12 {
            (explained / face.total).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let amplitude = (quad3(&nm, &k).max(0.0) / self.samples.max(1) as f64).sqrt();
        Fit {
            k,
            r2,
            explained,
            amplitude,
        }
    }

    /// The fitted model's predicted channel-centred response per segment (hold included).
    pub fn predicted(&self, colours: &[[f64; 3]], fit: &Fit) -> Vec<[f64; 3]> {
        colours
            .iter()
            .map(|s| {
                let v: [f64; 3] = std::array::from_fn(|c| fit.k[c] * s[c]);
                let m = (v[0] + v[1] + v[2]) / 3.0;
                [v[0] - m, v[1] - m, v[2] - m]
            })
            .collect()
    }
}

/// A step-level regression's result (see [`SegmentDesign::slope_on`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Slope {
    pub slope: f64,
    pub se: f64,
    pub dof: usize,
}

impl Default for Slope {
    fn default() -> Self {
        Slope {
            slope: 0.0,
            se: f64::INFINITY,
            dof: 0,
        }
    }
}

/// Cholesky factor (lower, row-major m×m) of a symmetric positive semi-definite matrix, with a
/// tiny ridge so a near-singular block (a step with one frame) stays solvable.
fn cholesky(a: &[f64], m: usize) -> Vec<f64> {
    let mean_diag = (0..m).map(|i| a[i * m + i]).sum::<f64>() / m.max(1) as f64;
    let ridge = 1e-9 * mean_diag.max(1e-12);
    let mut l = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..=i {
            let mut s = a[i * m + j];
            for k in 0..j {
                s -= l[i * m + k] * l[j * m + k];
            }
            if i == j {
                l[i * m + i] = (s + ridge).max(ridge).sqrt();
            } else {
                l[i * m + j] = s / l[j * m + j];
            }
        }
    }
    l
}

fn cholesky_solve(l: &[f64], m: usize, b: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; m];
    for i in 0..m {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * m + k] * y[k];
        }
        y[i] = s / l[i * m + i];
    }
    let mut x = vec![0.0; m];
    for i in (0..m).rev() {
        let mut s = y[i];
        for k in i + 1..m {
            s -= l[k * m + i] * x[k];
        }
        x[i] = s / l[i * m + i];
    }
    x
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Fit {
    pub k: [f64; 3],
    pub r2: f64,
    /// Sum of squares the fit explains.
    pub explained: f64,
    pub amplitude: f64,
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
        let Some(k) = solve_subset(nm, b, mask) else {
            continue;
        };
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
            vals = [
                det3(r, col(1), col(2)) / det,
                det3(col(0), r, col(2)) / det,
                det3(col(0), col(1), r) / det,
            ];
        }
        _ => return None,
    }
    for i in 0..n {
        sol[idx[i]] = vals[i];
    }
    sol.iter().all(|v| v.is_finite()).then_some(sol)
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
pub(super) fn per_colour(
    design: &SegmentDesign,
    timeline: &Timeline,
    fit: &Fit,
) -> (Vec<DecodedColour>, usize) {
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
                values.extend(
                    design
                        .seg
                        .iter()
                        .zip(&design.residuals)
                        .filter(|(&g, _)| g == s)
                        .map(|(_, r)| r[c]),
                );
                super::stats::sort_values(&mut values);
                let m = values.len();
                *o = if m == 0 {
                    0.0
                } else if m % 2 == 1 {
                    values[m / 2]
                } else {
                    (values[m / 2 - 1] + values[m / 2]) / 2.0
                };
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
                let w: [f64; 3] = std::array::from_fn(|j| {
                    fit.k[j] * (gs[j] + gss * (p[j] - expected[j])) / n as f64
                });
                let m = (w[0] + w[1] + w[2]) / 3.0;
                (0..3)
                    .map(|j| (observed[j] - (w[j] - m)).powi(2))
                    .sum::<f64>()
            };
            let d_expected = distance(&expected);
            let d_other = palette
                .iter()
                .filter(|p| (0..3).any(|j| (p[j] - expected[j]).abs() > 1e-6))
                .map(distance)
                .fold(f64::INFINITY, f64::min);
            let total = d_other + d_expected;
            let confidence = if total > 1e-30 && d_other.is_finite() {
                ((d_other - d_expected) / total).clamp(0.0, 1.0)
            } else {
                0.0
            };
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

    #[test]
    fn nnls_matches_a_brute_force_search() {
        let nm = [[2.0, 0.5, -0.3], [0.5, 1.5, 0.2], [-0.3, 0.2, 1.0]];
        for b in [
            [1.0, 1.0, 1.0],
            [1.0, -2.0, 0.5],
            [-1.0, -1.0, -1.0],
            [0.2, 3.0, -4.0],
        ] {
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
        assert!(nnls3(&[[0.0; 3]; 3], &[1.0, 1.0, 1.0])
            .iter()
            .all(|v| v.is_finite()));
    }

    #[test]
    fn cholesky_solves_a_positive_definite_system() {
        let a = [4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let l = cholesky(&a, 3);
        let x = cholesky_solve(&l, 3, &[1.0, 2.0, 3.0]);
        for i in 0..3 {
            let row: f64 = (0..3).map(|j| a[i * 3 + j] * x[j]).sum();
            assert!((row - [1.0, 2.0, 3.0][i]).abs() < 1e-6, "{x:?}");
        }
    }
}
