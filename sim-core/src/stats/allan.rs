//! The Allan family over phase data, in batch.
//!
//! Input is phase (time error) `x[i]`, seconds, sampled every `tau0_s`
//! seconds; results are evaluated at `τ = m·τ0` for an averaging factor
//! `m ≥ 1`. With the second difference `Δ²x(i, m) = x[i+2m] − 2x[i+m] + x[i]`
//! (NIST SP 1065 §5.2.2–5.2.6):
//!
//! | estimator | definition | samples needed |
//! |---|---|---|
//! | [`adev`] | `σ² = Σ Δ²x(i,m)² / (2τ²·n)` over `i = 0, m, 2m, …` | `N ≥ 2m+1` |
//! | [`oadev`] | the same over every `i = 0 … N−2m−1` (overlapping) | `N ≥ 2m+1` |
//! | [`mdev`] | `σ² = Σ_j (Σ_{i=j}^{j+m−1} Δ²x(i,m))² / (2m²τ²·(N−3m+1))` | `N ≥ 3m` |
//! | [`tdev`] | `τ/√3 · mdev` | `N ≥ 3m` |
//! | [`mtie`] | `max_i (max − min of x[i ..= i+m])` (ITU-T G.810 App. II) | `N ≥ m+1` |
//!
//! Every function returns `None` when `m = 0`, when there are too few
//! samples (an `m` so large that `2m + 1`, `3m` or `m + 1` overflows
//! `usize` included), when `tau0_s` is not finite and positive, when the
//! data hold a non-finite value (anywhere in the slice, even a sample that
//! [`adev`]'s stride skips), or when the result itself overflows `f64`
//! (phase of magnitude beyond about 1e150 s, whose squares do). Squares are summed with compensation, and the MDEV
//! moving sum is recomputed from scratch every `m` steps, so rounding does
//! not grow with the series length. These are the conventions of Python
//! `allantools` (`adev`, `oadev`, `mdev`, `tdev`, `mtie`), which the golden
//! tests check.
//!
//! ```
//! use sim_core::stats::allan;
//! // phase 0, 1, 3, 2, 5 s at τ0 = 1 s: second differences 1, −3, 4
//! let x = [0.0, 1.0, 3.0, 2.0, 5.0];
//! let oadev = allan::oadev(&x, 1.0, 1).unwrap();
//! assert!((oadev - (26.0f64 / 6.0).sqrt()).abs() < 1e-15);
//! assert_eq!(allan::mtie(&x, 3), Some(4.0));
//! assert_eq!(allan::oadev(&x, 1.0, 3), None); // needs 7 samples
//! ```

use super::CompensatedSum;

fn valid_tau0(tau0_s: f64) -> bool {
    tau0_s.is_finite() && tau0_s > 0.0
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn all_finite(x: &[f64]) -> bool {
    x.iter().all(|v| v.is_finite())
}

/// `Δ²x(i, m)`.
#[inline]
fn d2(x: &[f64], i: usize, m: usize) -> f64 {
    x[i + 2 * m] - 2.0 * x[i + m] + x[i]
}

/// Allan deviation from second differences taken every `stride` samples.
fn allan_strided(x: &[f64], tau0_s: f64, m: usize, stride: usize) -> Option<f64> {
    let needed = m.checked_mul(2)?.checked_add(1)?;
    if m == 0 || !valid_tau0(tau0_s) || x.len() < needed || !all_finite(x) {
        return None;
    }
    let mut sum = CompensatedSum::default();
    let mut n = 0u64;
    for i in (0..x.len() - 2 * m).step_by(stride) {
        let d = d2(x, i, m);
        sum.add(d * d);
        n += 1;
    }
    let tau = m as f64 * tau0_s;
    finite((sum.value() / (2.0 * tau * tau * n as f64)).sqrt())
}

/// Overlapping Allan deviation at `τ = m·tau0_s` (NIST SP 1065 eq. 11):
/// the estimator of choice for frequency stability, using every second
/// difference. `None` unless `x.len() ≥ 2m + 1`.
pub fn oadev(x: &[f64], tau0_s: f64, m: usize) -> Option<f64> {
    allan_strided(x, tau0_s, m, 1)
}

/// Non-overlapping Allan deviation at `τ = m·tau0_s` (NIST SP 1065 eq. 7):
/// second differences at `i = 0, m, 2m, …`. `None` unless
/// `x.len() ≥ 2m + 1`.
pub fn adev(x: &[f64], tau0_s: f64, m: usize) -> Option<f64> {
    allan_strided(x, tau0_s, m, m.max(1))
}

/// Modified Allan deviation at `τ = m·tau0_s` (NIST SP 1065 eq. 14): the
/// phase is averaged over `m` samples before differencing, which makes the
/// τ slope tell white from flicker phase noise (−3/2 vs −1). `None` unless
/// `x.len() ≥ 3m`.
pub fn mdev(x: &[f64], tau0_s: f64, m: usize) -> Option<f64> {
    let needed = m.checked_mul(3)?;
    if m == 0 || !valid_tau0(tau0_s) || x.len() < needed || !all_finite(x) {
        return None;
    }
    let windows = x.len() - 3 * m + 1;
    let mut sum = CompensatedSum::default();
    let mut window = 0.0;
    for j in 0..windows {
        if j.is_multiple_of(m) {
            // fresh sum: bounds the rounding of the moving sum below
            window = (j..j + m).map(|i| d2(x, i, m)).sum();
        } else {
            window += d2(x, j + m - 1, m) - d2(x, j - 1, m);
        }
        sum.add(window * window);
    }
    let tau = m as f64 * tau0_s;
    let mf = m as f64;
    finite((sum.value() / (2.0 * mf * mf * tau * tau * windows as f64)).sqrt())
}

/// Time deviation at `τ = m·tau0_s`: `τ/√3 · MDEV` (NIST SP 1065 eq. 15),
/// in seconds. `None` unless `x.len() ≥ 3m`.
pub fn tdev(x: &[f64], tau0_s: f64, m: usize) -> Option<f64> {
    let tau = m as f64 * tau0_s;
    finite(tau / 3f64.sqrt() * mdev(x, tau0_s, m)?)
}

/// Maximum time interval error over windows of `m + 1` samples (an
/// observation interval `τ = m·τ0`): the largest peak-to-peak excursion of
/// `x`, in the unit of `x`. `None` unless `x.len() ≥ m + 1` and `m ≥ 1`.
///
/// Computed in O(N) with van Herk/Gil–Werman block extremes: within blocks
/// of `w = m + 1` samples, prefix and suffix extremes give any window's
/// extreme as the combination of one suffix and one prefix.
pub fn mtie(x: &[f64], m: usize) -> Option<f64> {
    let w = m.checked_add(1)?;
    if m == 0 || x.len() < w || !all_finite(x) {
        return None;
    }
    let n = x.len();
    let mut prefix = vec![0.0; n];
    let mut suffix = vec![0.0; n];
    block_extremes(x, w, f64::max, &mut prefix, &mut suffix);
    let window_max: Vec<f64> = (0..n - m).map(|i| suffix[i].max(prefix[i + m])).collect();
    block_extremes(x, w, f64::min, &mut prefix, &mut suffix);
    let worst = window_max
        .iter()
        .enumerate()
        .map(|(i, hi)| hi - suffix[i].min(prefix[i + m]))
        .fold(0.0, f64::max);
    finite(worst)
}

/// Fills running extremes (by `pick`) within consecutive blocks of `w`
/// samples: `prefix[i]` from the block start to `i`, `suffix[i]` from `i` to
/// the block end. A window `i ..= i+w−1` spans at most two blocks, so its
/// extreme is `pick(suffix[i], prefix[i+w−1])`.
fn block_extremes(
    x: &[f64],
    w: usize,
    pick: fn(f64, f64) -> f64,
    prefix: &mut [f64],
    suffix: &mut [f64],
) {
    for start in (0..x.len()).step_by(w) {
        let end = (start + w).min(x.len());
        prefix[start] = x[start];
        for i in start + 1..end {
            prefix[i] = pick(prefix[i - 1], x[i]);
        }
        suffix[end - 1] = x[end - 1];
        for i in (start..end - 1).rev() {
            suffix[i] = pick(suffix[i + 1], x[i]);
        }
    }
}

/// Octave-spaced averaging factors `m = 1, 2, 4, …` usable with `n` phase
/// samples: every `m` with `3m ≤ n`, so all of [`oadev`], [`mdev`],
/// [`tdev`] and [`mtie`] are defined (`τ = m·τ0`). Empty when `n < 3`.
///
/// ```
/// assert_eq!(sim_core::stats::octave_taus(100), vec![1, 2, 4, 8, 16, 32]);
/// ```
pub fn octave_taus(n: usize) -> Vec<usize> {
    std::iter::successors(Some(1usize), |m| m.checked_mul(2))
        .take_while(|m| m.checked_mul(3).is_some_and(|needed| needed <= n))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::SimRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    const X5: [f64; 5] = [0.0, 1.0, 3.0, 2.0, 5.0];

    #[test]
    fn tiny_example_by_hand() {
        // Δ²x(·,1) = 1, −3, 4 → Σ = 26 over 3 terms
        let v1: f64 = 26.0 / (2.0 * 3.0);
        assert!((oadev(&X5, 1.0, 1).unwrap() - v1.sqrt()).abs() < 1e-15);
        assert!((adev(&X5, 1.0, 1).unwrap() - v1.sqrt()).abs() < 1e-15);
        // m = 1: MDEV has N − 2 windows of one difference each, so equals OADEV
        assert!((mdev(&X5, 1.0, 1).unwrap() - v1.sqrt()).abs() < 1e-15);
        // τ0 = 2 s halves the deviation (σ ∝ 1/τ for fixed phase)
        assert!((oadev(&X5, 2.0, 1).unwrap() - v1.sqrt() / 2.0).abs() < 1e-15);
        // m = 2: one difference x4 − 2x2 + x0 = −1 → σ² = 1/(2·4·1)
        assert!((oadev(&X5, 1.0, 2).unwrap() - (1.0f64 / 8.0).sqrt()).abs() < 1e-15);
        // windows of 2, 3, 4 samples
        assert_eq!(mtie(&X5, 1), Some(3.0));
        assert_eq!(mtie(&X5, 2), Some(3.0));
        assert_eq!(mtie(&X5, 3), Some(4.0));
        assert_eq!(mtie(&X5, 4), Some(5.0));
        assert_eq!(mtie(&X5, 5), None);
    }

    #[test]
    fn adev_differs_from_oadev_by_stride() {
        // N = 7, m = 2: overlapping uses i = 0, 1, 2; non-overlapping i = 0, 2
        let x = [0.0, 1.0, 3.0, 2.0, 5.0, 7.0, 4.0];
        let d: Vec<f64> = (0..3).map(|i| d2(&x, i, 2)).collect();
        assert_eq!(d, vec![-1.0, 4.0, -3.0]);
        let o = (d.iter().map(|v| v * v).sum::<f64>() / (2.0 * 4.0 * 3.0)).sqrt();
        let a = ((1.0f64 + 9.0) / (2.0 * 4.0 * 2.0)).sqrt();
        assert!((oadev(&x, 1.0, 2).unwrap() - o).abs() < 1e-15);
        assert!((adev(&x, 1.0, 2).unwrap() - a).abs() < 1e-15);
    }

    #[test]
    fn mdev_and_tdev_by_hand() {
        // m = 2, N = 6: one window, S = Δ²x(0,2) + Δ²x(1,2) = −1 + 4 = 3
        let x = [0.0, 1.0, 3.0, 2.0, 5.0, 7.0];
        let md = (9.0f64 / (2.0 * 4.0 * 4.0)).sqrt();
        assert!((mdev(&x, 1.0, 2).unwrap() - md).abs() < 1e-15);
        assert!((tdev(&x, 1.0, 2).unwrap() - 2.0 / 3f64.sqrt() * md).abs() < 1e-15);
        assert_eq!(mdev(&x[..5], 1.0, 2), None);
    }

    #[test]
    fn degenerate_inputs_give_none() {
        assert_eq!(oadev(&X5, 1.0, 0), None);
        assert_eq!(oadev(&X5, 0.0, 1), None);
        assert_eq!(oadev(&X5, f64::NAN, 1), None);
        assert_eq!(oadev(&[1.0, f64::NAN, 2.0], 1.0, 1), None);
        assert_eq!(mtie(&[1.0, f64::INFINITY], 1), None);
        assert_eq!(mtie(&X5, 0), None);
        assert_eq!(tdev(&[], 1.0, 1), None);
        assert!(octave_taus(2).is_empty());
        assert_eq!(octave_taus(3), vec![1]);
    }

    #[test]
    fn a_nonfinite_sample_anywhere_gives_none() {
        // m = 2 over 7 samples: ADEV's stride reads x0, x2, x4, x6 only,
        // yet a NaN (or ∞) in x1, x3 or x5 is non-finite data all the same.
        let x = [0.0, 1.0, 3.0, 2.0, 5.0, 7.0, 4.0];
        assert!(adev(&x, 1.0, 2).is_some());
        for i in 0..x.len() {
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let mut y = x;
                y[i] = bad;
                assert_eq!(adev(&y, 1.0, 2), None, "x[{i}] = {bad}");
                assert_eq!(oadev(&y, 1.0, 2), None, "x[{i}] = {bad}");
                assert_eq!(mdev(&y, 1.0, 2), None, "x[{i}] = {bad}");
                assert_eq!(tdev(&y, 1.0, 2), None, "x[{i}] = {bad}");
                assert_eq!(mtie(&y, 2), None, "x[{i}] = {bad}");
            }
        }
    }

    #[test]
    fn factors_too_large_for_usize_give_none() {
        // 2m + 1, 3m and m + 1 overflow: no panic, no wrapped bound.
        for m in [
            usize::MAX / 3 + 1,
            usize::MAX / 2,
            usize::MAX / 2 + 1,
            usize::MAX,
        ] {
            assert_eq!(oadev(&X5, 1.0, m), None, "m = {m}");
            assert_eq!(adev(&X5, 1.0, m), None, "m = {m}");
            assert_eq!(mdev(&X5, 1.0, m), None, "m = {m}");
            assert_eq!(tdev(&X5, 1.0, m), None, "m = {m}");
            assert_eq!(mtie(&X5, m), None, "m = {m}");
        }
        assert_eq!(
            octave_taus(usize::MAX).last(),
            Some(&(1usize << (usize::BITS - 2)))
        );
    }

    #[test]
    fn results_that_overflow_give_none() {
        // Finite phase whose squares (or extremes' difference) overflow.
        let huge = [1e160, -1e160, 1e160, -1e160, 1e160, -1e160];
        assert_eq!(oadev(&huge, 1.0, 1), None);
        assert_eq!(adev(&huge, 1.0, 1), None);
        assert_eq!(mdev(&huge, 1.0, 1), None);
        assert_eq!(tdev(&huge, 1.0, 1), None);
        // At m = 2 this alternation cancels exactly: no overflow, no None.
        assert_eq!(tdev(&huge, 1.0, 2), Some(0.0));
        assert_eq!(mtie(&huge, 1), Some(2e160));
        assert_eq!(mtie(&[f64::MAX, -f64::MAX], 1), None);
        // τ0 so large that τ = m·τ0 is infinite: TDEV would be ∞ · 0.
        assert_eq!(tdev(&X5[..3], f64::MAX, 1).map(f64::is_finite), Some(true));
        assert_eq!(tdev(&[0.0; 6], f64::MAX, 2), None);
    }

    #[test]
    fn mtie_matches_brute_force() {
        let mut rng = SimRng::seed_from_u64(11);
        let x: Vec<f64> = (0..500).map(|_| StandardNormal.sample(&mut rng)).collect();
        for m in [1, 2, 3, 7, 64, 100, 499] {
            let brute = x
                .windows(m + 1)
                .map(|w| {
                    let hi = w.iter().copied().fold(f64::MIN, f64::max);
                    let lo = w.iter().copied().fold(f64::MAX, f64::min);
                    hi - lo
                })
                .fold(0.0, f64::max);
            assert_eq!(mtie(&x, m), Some(brute), "m={m}");
        }
    }

    /// The golden data: (τ0, phase) and rows of
    /// (m, τ, oadev, adev, mdev, tdev, mtie) computed by allantools.
    pub(crate) fn golden() -> (f64, Vec<f64>, Vec<[f64; 7]>) {
        let parse = |line: &str| -> Vec<f64> {
            line.split_whitespace()
                .map(|t| t.parse().unwrap())
                .collect()
        };
        let data = |text: &'static str| text.lines().filter(|l| !l.starts_with('#'));
        let x: Vec<f64> = data(include_str!("../../tests/data/allan_phase.txt"))
            .map(|l| parse(l)[0])
            .collect();
        let rows: Vec<[f64; 7]> = data(include_str!("../../tests/data/allan_expected.txt"))
            .map(|l| parse(l).try_into().unwrap())
            .collect();
        (0.5, x, rows)
    }

    /// Relative agreement to 1e-9; a `nan` row (allantools declines a
    /// one-term estimate) only requires that we give some value.
    pub(crate) fn matches_golden(ours: Option<f64>, expected: f64) -> bool {
        match ours {
            Some(v) if expected.is_nan() => v.is_finite(),
            Some(v) => (v - expected).abs() <= 1e-9 * expected.abs(),
            None => false,
        }
    }

    #[test]
    fn golden_vectors_from_allantools() {
        let (tau0, x, rows) = golden();
        assert_eq!(x.len(), 1500);
        assert_eq!(rows.len(), 12);
        for r in rows {
            let m = r[0] as usize;
            assert_eq!(r[1], m as f64 * tau0);
            assert!(matches_golden(oadev(&x, tau0, m), r[2]), "oadev m={m}");
            assert!(matches_golden(adev(&x, tau0, m), r[3]), "adev m={m}");
            assert!(matches_golden(mdev(&x, tau0, m), r[4]), "mdev m={m}");
            assert!(matches_golden(tdev(&x, tau0, m), r[5]), "tdev m={m}");
            assert!(matches_golden(mtie(&x, m), r[6]), "mtie m={m}");
        }
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// Phase samples: mostly ordinary, some of any bit pattern (NaN,
        /// ±∞, subnormal), some finite ones whose squares overflow.
        fn phase() -> impl Strategy<Value = f64> {
            prop_oneof![
                6 => -1e-3f64..1e-3,
                1 => any::<f64>(),
                1 => prop_oneof![Just(1e160), Just(-1e160), Just(f64::MAX)],
            ]
        }

        proptest! {
            /// Whatever the data, factor and τ0: no panic, and an estimate
            /// is either `None` or a finite number ≥ 0, `None` whenever
            /// the data hold a non-finite value.
            #[test]
            fn estimates_are_none_or_finite(
                x in proptest::collection::vec(phase(), 0..40),
                m in prop_oneof![1usize..16, any::<usize>()],
                tau0 in prop_oneof![1e-3f64..10.0, any::<f64>()],
            ) {
                let ok = |v: Option<f64>| v.is_none_or(|v| v.is_finite() && v >= 0.0);
                let all = [
                    adev(&x, tau0, m),
                    oadev(&x, tau0, m),
                    mdev(&x, tau0, m),
                    tdev(&x, tau0, m),
                    mtie(&x, m),
                ];
                prop_assert!(all.iter().all(|&v| ok(v)), "{:?}", all);
                if !x.iter().all(|v| v.is_finite()) {
                    prop_assert_eq!(all, [None; 5]);
                }
            }
        }
    }

    /// Least-squares slope of log σ against log τ.
    fn loglog_slope(points: &[(f64, f64)]) -> f64 {
        let n = points.len() as f64;
        let (lx, ly): (Vec<f64>, Vec<f64>) = points.iter().map(|(t, s)| (t.ln(), s.ln())).unzip();
        let mx = lx.iter().sum::<f64>() / n;
        let my = ly.iter().sum::<f64>() / n;
        let sxy: f64 = lx.iter().zip(&ly).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = lx.iter().map(|a| (a - mx) * (a - mx)).sum();
        sxy / sxx
    }

    fn slope_of(x: &[f64], f: fn(&[f64], f64, usize) -> Option<f64>, ms: &[usize]) -> f64 {
        let pts: Vec<(f64, f64)> = ms
            .iter()
            .map(|&m| (m as f64, f(x, 1.0, m).unwrap()))
            .collect();
        loglog_slope(&pts)
    }

    /// Phase from integrating white frequency noise of 1e-9 per sample.
    fn white_fm(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = SimRng::seed_from_u64(seed);
        let mut x = 0.0;
        (0..n)
            .map(|_| {
                let y: f64 = StandardNormal.sample(&mut rng);
                x += 1e-9 * y;
                x
            })
            .collect()
    }

    #[test]
    fn textbook_slopes() {
        const N: usize = 1 << 16;
        let ms = [1, 2, 4, 8, 16, 32, 64, 128];
        // white PM: ADEV ∝ τ^−1, MDEV ∝ τ^−3/2
        let mut rng = SimRng::seed_from_u64(1);
        let wpm: Vec<f64> = (0..N)
            .map(|_| -> f64 { 1e-9 * Distribution::<f64>::sample(&StandardNormal, &mut rng) })
            .collect();
        let s = slope_of(&wpm, oadev, &ms);
        assert!((s + 1.0).abs() < 0.1, "white PM ADEV slope {s}");
        let s = slope_of(&wpm, mdev, &ms);
        assert!((s + 1.5).abs() < 0.1, "white PM MDEV slope {s}");
        // white FM: ADEV ∝ τ^−1/2, TDEV ∝ τ^+1/2
        let wfm = white_fm(N, 2);
        let s = slope_of(&wfm, oadev, &ms);
        assert!((s + 0.5).abs() < 0.1, "white FM ADEV slope {s}");
        let s = slope_of(&wfm, tdev, &ms);
        assert!((s - 0.5).abs() < 0.1, "white FM TDEV slope {s}");
        // random-walk FM: ADEV ∝ τ^+1/2
        let rwfm: Vec<f64> = {
            let steps = white_fm(N, 3); // the frequency is itself a random walk
            let mut x = 0.0;
            steps
                .iter()
                .map(|y| {
                    x += y;
                    x
                })
                .collect()
        };
        let s = slope_of(&rwfm, oadev, &[4, 8, 16, 32, 64, 128, 256]);
        assert!((s - 0.5).abs() < 0.1, "random-walk FM ADEV slope {s}");
    }

    #[test]
    fn white_fm_level_matches_theory() {
        // white frequency noise of std σ_y per τ0 has ADEV(τ0) = σ_y and
        // ADEV(mτ0) = σ_y/√m (NIST SP 1065 Table 5).
        let x = white_fm(1 << 16, 4);
        for m in [1usize, 16] {
            let expect = 1e-9 / (m as f64).sqrt();
            let got = oadev(&x, 1.0, m).unwrap();
            assert!(
                (got / expect - 1.0).abs() < 0.05,
                "m={m}: {got} vs {expect}"
            );
        }
    }
}
