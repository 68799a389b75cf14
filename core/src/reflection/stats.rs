//! The few distribution functions the decision needs: Student's t (one-sided critical values).

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error below 1e-13).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction of the regularised incomplete beta function (Numerical Recipes' betacf).
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-14 {
            break;
        }
    }
    h
}

/// Regularised incomplete beta function I_x(a, b).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

/// P(T > t) for Student's t with `dof` degrees of freedom (dof ≥ 1).
pub fn t_upper_tail(t: f64, dof: f64) -> f64 {
    if t.is_nan() || dof.is_nan() || dof <= 0.0 {
        return f64::NAN;
    }
    let x = dof / (dof + t * t);
    let tail = 0.5 * incomplete_beta(dof / 2.0, 0.5, x);
    if t >= 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// The one-sided critical value t with P(T > t) = `alpha` (0 < alpha < 0.5), by bisection.
pub fn t_critical(alpha: f64, dof: f64) -> f64 {
    if !(alpha > 0.0 && alpha < 0.5) || dof.is_nan() || dof <= 0.0 {
        return f64::INFINITY;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while t_upper_tail(hi, dof) > alpha {
        hi *= 2.0;
        if hi > 1e7 {
            return f64::INFINITY;
        }
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if t_upper_tail(mid, dof) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The order that sorts `keys` ascending under `f64::total_cmp`, ties kept in input order (what a
/// stable `sort_by(f64::total_cmp)` gives). Every f64-keyed sort of the decoder goes through this
/// one non-generic sort: each `sort_by` instantiation costs ~5 KB of the page's wasm (issue #10).
pub fn total_order(keys: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
    order
}

/// `values` sorted ascending under `f64::total_cmp`, in place.
pub fn sort_values(values: &mut Vec<f64>) {
    let sorted: Vec<f64> = total_order(values).into_iter().map(|i| values[i]).collect();
    *values = sorted;
}

/// `items` stably sorted by `key` ascending under `f64::total_cmp`.
pub fn sorted_by_key<T>(items: Vec<T>, key: impl Fn(&T) -> f64) -> Vec<T> {
    let order = total_order(&items.iter().map(key).collect::<Vec<_>>());
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_published_tables() {
        // Student's t table (one-sided): t_{0.999}(15) = 3.733, t_{0.99}(10) = 2.764,
        // t_{0.95}(1) = 6.314, t_{0.999}(1000) ≈ 3.098 (normal 3.090).
        for (alpha, dof, table) in [
            (0.001, 15.0, 3.733),
            (0.01, 10.0, 2.764),
            (0.05, 1.0, 6.314),
            (0.001, 1000.0, 3.098),
        ] {
            let t = t_critical(alpha, dof);
            assert!(
                (t - table).abs() < 2e-3,
                "t({alpha}, {dof}) = {t}, table {table}"
            );
        }
        assert!((t_upper_tail(0.0, 7.0) - 0.5).abs() < 1e-12);
        assert!((t_upper_tail(-2.0, 7.0) + t_upper_tail(2.0, 7.0) - 1.0).abs() < 1e-12);
        assert!(t_critical(0.0, 5.0).is_infinite() && t_critical(0.01, 0.0).is_infinite());
    }

    #[test]
    fn the_shared_sorts_order_as_a_stable_sort_by_total_cmp() {
        // Ties (records with equal keys), both zeros, both infinities and NaNs of either sign.
        let keys = [
            3.0,
            -0.0,
            f64::NAN,
            0.0,
            1.5,
            -f64::NAN,
            f64::NEG_INFINITY,
            1.5,
            f64::INFINITY,
            -0.0,
            3.0,
        ];
        let records: Vec<(f64, usize)> = keys.iter().copied().zip(0..).collect();
        let mut want = records.clone();
        want.sort_by(|a, b| a.0.total_cmp(&b.0));
        let got = sorted_by_key(records, |r| r.0);
        let bits = |v: &[(f64, usize)]| v.iter().map(|r| (r.0.to_bits(), r.1)).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want));
        // The records that tie came out in input order: 4 before 7, 0 before 10, 1 before 9.
        assert_eq!(
            got.iter().map(|r| r.1).collect::<Vec<_>>(),
            [5, 6, 1, 9, 3, 4, 7, 0, 10, 8, 2]
        );

        let mut values = keys.to_vec();
        sort_values(&mut values);
        let mut want = keys.to_vec();
        want.sort_by(f64::total_cmp);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&values), bits(&want));
    }
}
