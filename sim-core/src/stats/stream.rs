//! [`AllanStream`]: OADEV, MDEV, TDEV and MTIE sample by sample.
//!
//! A probe that reads a clock on a regular grid feeds its phase samples here
//! as they occur; the stream never stores the series. For a set of
//! averaging factors `m` with largest `M` it keeps:
//!
//! * a ring of the last `3M + 1` phase samples (rounded up to a power of
//!   two, so indexing is a mask): enough for the newest
//!   second difference `x[k] − 2x[k−m] + x[k−2m]` and for the one that
//!   leaves the MDEV moving sum, `Δ²x(k−3m, m)`;
//! * per `m`, compensated sums of squared second differences (OADEV) and of
//!   squared moving sums (MDEV), the moving sum itself (recomputed from the
//!   ring every `m` windows, exactly as [`mdev`](super::mdev) does in
//!   batch, so both agree to rounding), and
//! * per `m`, two monotone deques of sample indices whose phases decrease
//!   (maxima) or increase (minima) over the current window of `m + 1`
//!   samples: the window's extremes are at the fronts, and each sample
//!   enters and leaves each deque once, so MTIE costs O(1) amortised.
//!
//! Memory is O(M) and a push does no allocation.

use std::collections::VecDeque;

use super::CompensatedSum;

/// One τ of an [`AllanStream`] report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AllanPoint {
    /// Observation interval `τ = m·τ0`, seconds.
    pub tau_s: f64,
    /// Averaging factor.
    pub m: usize,
    /// Overlapping Allan deviation (dimensionless); `None` before `2m + 1`
    /// samples.
    pub oadev: Option<f64>,
    /// Modified Allan deviation (dimensionless); `None` before `3m` samples.
    pub mdev: Option<f64>,
    /// Time deviation, seconds; `None` before `3m` samples.
    pub tdev: Option<f64>,
    /// Maximum time interval error, seconds; `None` before `m + 1` samples.
    pub mtie: Option<f64>,
    /// Number of second differences in the OADEV estimate (`N − 2m`), the
    /// usual measure of its confidence.
    pub n: u64,
}

/// Per-`m` accumulators.
#[derive(Clone, Debug)]
struct Level {
    m: usize,
    adev_sum: CompensatedSum,
    adev_n: u64,
    window: f64,
    mdev_sum: CompensatedSum,
    mdev_n: u64,
    max_q: VecDeque<u64>,
    min_q: VecDeque<u64>,
    mtie: f64,
    mtie_n: u64,
}

/// Streaming overlapping ADEV, MDEV, TDEV and MTIE of phase data at a fixed
/// set of averaging factors, in memory bounded by the largest factor.
///
/// Non-finite samples are counted and skipped: the series is then treated
/// as if the gap did not exist, which is what a probe that lost one reading
/// would most sensibly report. An estimate whose sums overflow `f64`
/// (finite phase beyond about 1e150 s, whose squares do not fit) is `None`
/// from then on, as the batch functions give for the same samples.
///
/// ```
/// use sim_core::stats::{AllanStream, allan};
/// let x: Vec<f64> = (0..200).map(|i| ((i * i) % 17) as f64 * 1e-9).collect();
/// let mut s = AllanStream::new(0.5, 16).unwrap();
/// x.iter().for_each(|&v| s.push(v));
/// let p = s.points();
/// assert_eq!(p.iter().map(|p| p.m).collect::<Vec<_>>(), vec![1, 2, 4, 8, 16]);
/// let batch = allan::mdev(&x, 0.5, 8).unwrap();
/// assert!((p[3].mdev.unwrap() / batch - 1.0).abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
pub struct AllanStream {
    tau0_s: f64,
    ring: Vec<f64>,
    count: u64,
    nonfinite: u64,
    levels: Vec<Level>,
}

impl AllanStream {
    /// A stream at octave factors `m = 1, 2, 4, …, ≤ max_m`, for samples
    /// every `tau0_s` seconds. `None` unless `tau0_s` is finite and positive
    /// and `max_m ≥ 1`.
    pub fn new(tau0_s: f64, max_m: usize) -> Option<Self> {
        let ms: Vec<usize> = std::iter::successors(Some(1usize), |m| m.checked_mul(2))
            .take_while(|&m| m <= max_m)
            .collect();
        Self::with_factors(tau0_s, &ms)
    }

    /// A stream at the given averaging factors (sorted and de-duplicated
    /// here). `None` unless `tau0_s` is finite and positive, `ms` is not
    /// empty and every factor is ≥ 1 and small enough for a `3m + 1` ring
    /// to be addressable.
    pub fn with_factors(tau0_s: f64, ms: &[usize]) -> Option<Self> {
        let mut ms = ms.to_vec();
        ms.sort_unstable();
        ms.dedup();
        let max_m = *ms.last()?;
        // a power of two, so indexing the ring is a mask, not a division
        let cap = max_m
            .checked_mul(3)?
            .checked_add(1)?
            .checked_next_power_of_two()?;
        if !(tau0_s.is_finite() && tau0_s > 0.0) || ms[0] == 0 {
            return None;
        }
        let levels = ms
            .iter()
            .map(|&m| Level {
                m,
                adev_sum: CompensatedSum::default(),
                adev_n: 0,
                window: 0.0,
                mdev_sum: CompensatedSum::default(),
                mdev_n: 0,
                max_q: VecDeque::with_capacity(m + 2),
                min_q: VecDeque::with_capacity(m + 2),
                mtie: 0.0,
                mtie_n: 0,
            })
            .collect();
        Some(AllanStream {
            tau0_s,
            ring: vec![0.0; cap],
            count: 0,
            nonfinite: 0,
            levels,
        })
    }

    /// Sample interval τ0, seconds.
    pub fn tau0_s(&self) -> f64 {
        self.tau0_s
    }

    /// Finite samples accepted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Non-finite samples skipped.
    pub fn nonfinite_count(&self) -> u64 {
        self.nonfinite
    }

    /// Adds the next phase sample `x_s` (seconds).
    pub fn push(&mut self, x_s: f64) {
        if !x_s.is_finite() {
            self.nonfinite += 1;
            return;
        }
        let k = self.count;
        let mask = self.ring.len() as u64 - 1;
        self.ring[(k & mask) as usize] = x_s;
        self.count += 1;
        // Sample j, valid while k − j < ring length.
        let ring = &self.ring;
        let at = |j: u64| ring[(j & mask) as usize];
        for lv in &mut self.levels {
            let m = lv.m as u64;

            // MTIE over the window k−m ..= k
            while lv.max_q.back().is_some_and(|&j| at(j) <= x_s) {
                lv.max_q.pop_back();
            }
            lv.max_q.push_back(k);
            while lv.min_q.back().is_some_and(|&j| at(j) >= x_s) {
                lv.min_q.pop_back();
            }
            lv.min_q.push_back(k);
            if k >= m {
                let first = k - m;
                while lv.max_q.front().is_some_and(|&j| j < first) {
                    lv.max_q.pop_front();
                }
                while lv.min_q.front().is_some_and(|&j| j < first) {
                    lv.min_q.pop_front();
                }
                if let (Some(&hi), Some(&lo)) = (lv.max_q.front(), lv.min_q.front()) {
                    lv.mtie = lv.mtie.max(at(hi) - at(lo));
                    lv.mtie_n += 1;
                }
            }

            if k < 2 * m {
                continue;
            }
            let d2 = |i: u64| at(i + 2 * m) - 2.0 * at(i + m) + at(i);
            let newest = d2(k - 2 * m);
            lv.adev_sum.add(newest * newest);
            lv.adev_n += 1;

            // MDEV window j covers differences j ..= j+m−1; the newest
            // complete window ends at k − 2m.
            if k + 1 < 3 * m {
                lv.window += newest;
                continue;
            }
            let j = k + 1 - 3 * m;
            if j.is_multiple_of(m) {
                lv.window = (j..j + m).map(d2).sum();
            } else {
                lv.window += newest - d2(j - 1);
            }
            lv.mdev_sum.add(lv.window * lv.window);
            lv.mdev_n += 1;
        }
    }

    /// The estimates so far, one point per factor in ascending `m`.
    pub fn points(&self) -> Vec<AllanPoint> {
        self.levels
            .iter()
            .map(|lv| {
                let mf = lv.m as f64;
                let tau = mf * self.tau0_s;
                // A sum that overflowed (phase beyond about 1e150 s) is no
                // estimate: `None`, as the batch functions give.
                let finite = |v: f64| v.is_finite().then_some(v);
                let oadev = (lv.adev_n > 0)
                    .then(|| (lv.adev_sum.value() / (2.0 * tau * tau * lv.adev_n as f64)).sqrt())
                    .and_then(finite);
                let mdev = (lv.mdev_n > 0)
                    .then(|| {
                        (lv.mdev_sum.value() / (2.0 * mf * mf * tau * tau * lv.mdev_n as f64))
                            .sqrt()
                    })
                    .and_then(finite);
                AllanPoint {
                    tau_s: tau,
                    m: lv.m,
                    oadev,
                    mdev,
                    tdev: mdev.map(|d| tau / 3f64.sqrt() * d).and_then(finite),
                    mtie: (lv.mtie_n > 0).then_some(lv.mtie).and_then(finite),
                    n: lv.adev_n,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimRng;
    use crate::stats::allan;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn rel_close(a: Option<f64>, b: Option<f64>, tol: f64) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= tol * b.abs().max(1e-300),
            (None, None) => true,
            _ => false,
        }
    }

    /// White FM plus white PM, with a large constant offset so the ring's
    /// differences must cancel it.
    fn series(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = SimRng::seed_from_u64(seed);
        let mut phase = 3e-3;
        (0..n)
            .map(|_| {
                let y: f64 = StandardNormal.sample(&mut rng);
                let w: f64 = StandardNormal.sample(&mut rng);
                phase += 1e-9 * y;
                phase + 5e-9 * w
            })
            .collect()
    }

    #[test]
    fn stream_agrees_with_batch_at_every_length() {
        let x = series(400, 5);
        let mut s = AllanStream::with_factors(0.25, &[1, 2, 3, 4, 8, 16, 32, 64, 100]).unwrap();
        for (n, &v) in x.iter().enumerate() {
            s.push(v);
            // check at lengths that straddle every threshold
            if n < 320 && n % 7 != 0 {
                continue;
            }
            let prefix = &x[..=n];
            for p in s.points() {
                assert!(
                    rel_close(p.oadev, allan::oadev(prefix, 0.25, p.m), 1e-12),
                    "n={n} m={}",
                    p.m
                );
                assert!(
                    rel_close(p.mdev, allan::mdev(prefix, 0.25, p.m), 1e-12),
                    "n={n} m={}",
                    p.m
                );
                assert!(
                    rel_close(p.tdev, allan::tdev(prefix, 0.25, p.m), 1e-12),
                    "n={n} m={}",
                    p.m
                );
                assert_eq!(p.mtie, allan::mtie(prefix, p.m), "n={n} m={}", p.m);
                assert_eq!(p.n, (prefix.len() as u64).saturating_sub(2 * p.m as u64));
                assert_eq!(p.tau_s, 0.25 * p.m as f64);
            }
        }
    }

    #[test]
    fn long_stream_agrees_with_batch() {
        let x = series(200_000, 6);
        let mut s = AllanStream::new(1.0, 4096).unwrap();
        x.iter().for_each(|&v| s.push(v));
        assert_eq!(s.ring.len(), 16384); // 3·4096 + 1 rounded up to a power of two
        for p in s.points() {
            assert!(
                rel_close(p.oadev, allan::oadev(&x, 1.0, p.m), 1e-11),
                "m={}",
                p.m
            );
            assert!(
                rel_close(p.mdev, allan::mdev(&x, 1.0, p.m), 1e-11),
                "m={}",
                p.m
            );
            assert_eq!(p.mtie, allan::mtie(&x, p.m), "m={}", p.m);
        }
    }

    #[test]
    fn stream_matches_golden_vectors() {
        let (tau0, x, rows) = allan::tests::golden();
        let ms: Vec<usize> = rows.iter().map(|r| r[0] as usize).collect();
        let mut s = AllanStream::with_factors(tau0, &ms).unwrap();
        x.iter().for_each(|&v| s.push(v));
        for (p, r) in s.points().iter().zip(&rows) {
            assert_eq!(p.m, r[0] as usize);
            assert!(
                allan::tests::matches_golden(p.oadev, r[2]),
                "oadev m={}",
                p.m
            );
            assert!(allan::tests::matches_golden(p.mdev, r[4]), "mdev m={}", p.m);
            assert!(allan::tests::matches_golden(p.tdev, r[5]), "tdev m={}", p.m);
            assert!(allan::tests::matches_golden(p.mtie, r[6]), "mtie m={}", p.m);
        }
    }

    #[test]
    fn nonfinite_samples_are_skipped() {
        let x = series(100, 7);
        let mut clean = AllanStream::new(1.0, 8).unwrap();
        let mut dirty = AllanStream::new(1.0, 8).unwrap();
        for (i, &v) in x.iter().enumerate() {
            clean.push(v);
            if i % 10 == 3 {
                dirty.push(f64::NAN);
            }
            dirty.push(v);
        }
        assert_eq!(dirty.nonfinite_count(), 10);
        assert_eq!(dirty.count(), 100);
        assert_eq!(clean.points(), dirty.points());
    }

    #[test]
    fn sums_that_overflow_give_none_as_in_batch() {
        // Finite samples of ±1e160: every square overflows. The batch
        // functions give None; so must the stream, never Some(NaN).
        let x: Vec<f64> = (0..40)
            .map(|i| if i % 3 == 0 { 1e160 } else { -1e160 })
            .collect();
        let mut s = AllanStream::new(1.0, 8).unwrap();
        x.iter().for_each(|&v| s.push(v));
        for p in s.points() {
            assert_eq!(p.oadev, allan::oadev(&x, 1.0, p.m), "m={}", p.m);
            assert_eq!(p.mdev, allan::mdev(&x, 1.0, p.m), "m={}", p.m);
            assert_eq!(p.tdev, allan::tdev(&x, 1.0, p.m), "m={}", p.m);
            assert_eq!(p.mtie, allan::mtie(&x, p.m), "m={}", p.m);
            assert_eq!((p.oadev, p.mdev, p.tdev), (None, None, None));
            assert_eq!(p.mtie, Some(2e160));
        }
        // Extremes whose difference overflows: MTIE too.
        let mut s = AllanStream::new(1.0, 1).unwrap();
        [f64::MAX, -f64::MAX].iter().for_each(|&v| s.push(v));
        assert_eq!(s.points()[0].mtie, None);
        assert_eq!(allan::mtie(&[f64::MAX, -f64::MAX], 1), None);
    }

    #[test]
    fn construction_rejects_bad_parameters() {
        assert!(AllanStream::new(0.0, 4).is_none());
        assert!(AllanStream::new(f64::INFINITY, 4).is_none());
        assert!(AllanStream::new(1.0, 0).is_none());
        assert!(AllanStream::with_factors(1.0, &[]).is_none());
        assert!(AllanStream::with_factors(1.0, &[0, 2]).is_none());
        assert!(AllanStream::with_factors(1.0, &[usize::MAX]).is_none());
        let s = AllanStream::with_factors(2.0, &[4, 1, 4]).unwrap();
        assert_eq!(
            s.points().iter().map(|p| p.m).collect::<Vec<_>>(),
            vec![1, 4]
        );
        assert!(
            s.points()
                .iter()
                .all(|p| p.oadev.is_none() && p.mtie.is_none())
        );
    }
}
