//! Streaming statistics of clock-error series.
//!
//! A run produces millions of clock-error samples (`error = clock(counter(t))
//! − t`, in seconds) per clock. The statistics that characterise a clock
//! fall into two families, and this module provides both with memory that
//! does not grow with the run length:
//!
//! * **Distribution** ([`Summary`]): count, mean, RMS, standard deviation,
//!   extremes, and quantiles (median, IQR, percentiles). Exact quantiles
//!   need every sample; instead a log-bucketed histogram (a DDSketch) keeps
//!   quantiles within a *guaranteed relative accuracy* (0.1 % by default)
//!   whatever the number of samples. Moments and extremes are exact to
//!   rounding.
//! * **Stability** (the Allan family in [`allan`]): how the error wanders as
//!   a function of the observation interval τ. Given phase (time-error) data
//!   `x[i]` sampled every `τ0`:
//!   - the Allan deviation (ADEV, non-overlapping, and OADEV, overlapping)
//!     from second differences `x[i+2m] − 2x[i+m] + x[i]` at `τ = m·τ0`;
//!   - the modified Allan deviation (MDEV), which first averages `m`
//!     adjacent phase points and so separates white from flicker phase
//!     noise;
//!   - the time deviation `TDEV = τ/√3 · MDEV`, the telecom measure of
//!     phase wander;
//!   - the maximum time interval error (MTIE): the largest peak-to-peak
//!     excursion of `x` over any window of length τ.
//!
//!   Batch functions take a slice; [`AllanStream`] computes the same
//!   estimators sample by sample at octave spaced τ, with memory bounded by
//!   the largest τ (a ring buffer plus monotone deques for MTIE).
//!
//! Definitions follow NIST SP 1065 (Riley, *Handbook of Frequency Stability
//! Analysis*, 2008) §5.2 and ITU-T G.810 Appendix II, and the results match
//! Python `allantools` to 1e-9 relative on the vectors in
//! `sim-core/tests/data/`.
//!
//! ```
//! use sim_core::stats::{AllanStream, Summary, allan};
//!
//! // a clock error that alternates ±1 µs around a 5 µs offset
//! let x: Vec<f64> = (0..1000).map(|i| 5e-6 + if i % 2 == 0 { 1e-6 } else { -1e-6 }).collect();
//!
//! let mut s = Summary::new();
//! let mut a = AllanStream::new(1.0, 64).unwrap();
//! for &e in &x {
//!     s.push(e);
//!     a.push(e);
//! }
//! assert!((s.median().unwrap() - 4e-6).abs() <= 4e-6 * 1e-3);
//! assert!((s.max_abs().unwrap() - 6e-6).abs() < 1e-18);
//! // MTIE over one sample interval is the 2 µs peak-to-peak swing
//! assert!((allan::mtie(&x, 1).unwrap() - 2e-6).abs() < 1e-18);
//! let p = &a.points()[0];
//! assert_eq!(p.m, 1);
//! assert!((p.oadev.unwrap() - allan::oadev(&x, 1.0, 1).unwrap()).abs() < 1e-18);
//! ```

pub mod allan;
mod stream;
mod summary;

pub use allan::{adev, mdev, mtie, oadev, octave_taus, tdev};
pub use stream::{AllanPoint, AllanStream};
pub use summary::{
    DEFAULT_MAX_BINS_PER_SIGN, DEFAULT_RELATIVE_ACCURACY, DEFAULT_ZERO_FLOOR_S, Summary,
};

/// A compensated (Neumaier) sum: long series of squared errors are summed
/// without the O(n·ε) drift of naive accumulation, so batch and streaming
/// estimators agree to a few ulps however many samples they see.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct CompensatedSum {
    sum: f64,
    comp: f64,
}

impl CompensatedSum {
    /// Adds `x`.
    #[inline]
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// Adds another compensated sum.
    pub(crate) fn merge(&mut self, other: &CompensatedSum) {
        self.add(other.sum);
        self.add(other.comp);
    }

    /// The sum.
    #[inline]
    pub(crate) fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

#[cfg(test)]
mod tests {
    use super::CompensatedSum;

    #[test]
    fn compensation_keeps_what_rounding_drops() {
        // 1e16 + 1 rounds back to 1e16 (the f64 spacing there is 2); the
        // compensation term keeps the 1, so after −1e16 the sum is exactly
        // 1, where plain summation gives 0.
        let mut s = CompensatedSum::default();
        for x in [1e16, 1.0, -1e16] {
            s.add(x);
        }
        assert_eq!(s.value(), 1.0);
    }

    #[test]
    fn a_merge_carries_the_other_sums_compensation() {
        // `b` holds 1e16 + 1 as sum 1e16 and compensation 1: merged into
        // −1e16, the total is exactly 1, not the 0 of its rounded sum.
        let mut a = CompensatedSum::default();
        a.add(-1e16);
        let mut b = CompensatedSum::default();
        b.add(1e16);
        b.add(1.0);
        a.merge(&b);
        assert_eq!(a.value(), 1.0);
    }
}
