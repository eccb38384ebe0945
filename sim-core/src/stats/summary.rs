//! [`Summary`]: moments, extremes and quantiles of a stream in bounded memory.
//!
//! Moments (mean, RMS, standard deviation) and extremes are kept exactly:
//! compensated sums for `Σx` and `Σx²`, Welford's recurrence for the
//! variance, and running min/max.
//!
//! Quantiles come from a DDSketch (Masson, Rim & Lee, "DDSketch: a fast and
//! fully-mergeable quantile sketch with relative-error guarantees", VLDB
//! 2019). With `γ = (1+α)/(1−α)`, a magnitude `|x|` falls in bucket
//! `i = ⌈log_γ |x|⌉`, which covers `(γ^(i−1), γ^i]`; reporting the bucket as
//! `2γ^i/(γ+1)` is within relative error `α` of *every* value in it. Signed
//! errors use two stores (positive and negative magnitudes) and a zero
//! bucket for `|x|` below a floor, so a clock error of 3 ns and one of 3 ms
//! are both resolved to 0.1 %. A store is a run of counters over a range
//! of buckets, kept in pages of 512 that are allocated when a sample first
//! lands in them; at α = 1e-3 a decade takes about 1151 buckets, so the
//! default cap of 20 000 buckets per sign spans 17 decades (1e-12 s to
//! 1e5 s). Should a run exceed that span, the buckets nearest
//! zero are merged into the lowest kept bucket: quantiles of magnitude
//! inside the kept span stay guaranteed, smaller ones are reported too large
//! in magnitude. [`Summary::merge`] adds two sketches bucket by bucket, so
//! merging is exact.
//!
//! The quantile of level `q` is defined as the sorted sample of 0-based
//! rank `⌊q·(n−1)⌋` (numpy's `method="lower"`); the sketch returns a value
//! within relative `α` of it (absolute `zero_floor` for values inside the
//! zero bucket), clamped to the exact `[min, max]`.

use super::CompensatedSum;

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Default relative accuracy of [`Summary`] quantiles: 0.1 %, the value the
/// DDSketch paper (§4) uses, and finer than any error figure the simulator
/// reports to three significant digits.
pub const DEFAULT_RELATIVE_ACCURACY: f64 = 1e-3;

/// Default zero floor, seconds: errors with `|x|` below 1 ps are counted as
/// zero. A picosecond is three orders below the nanosecond-level read
/// latencies of the fastest counters modelled (TSC ~7 ns, DESIGN.md §4).
pub const DEFAULT_ZERO_FLOOR_S: f64 = 1e-12;

/// Default cap on buckets per sign: 20 000 buckets at α = 1e-3 span 17
/// decades above the zero floor (1e-12 s to 1e5 s), i.e. at most 160 KiB
/// per sign.
pub const DEFAULT_MAX_BINS_PER_SIGN: usize = 20_000;

/// Maps magnitudes to logarithmic bucket indices and back.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Mapping {
    alpha: f64,
    gamma: f64,
    ln_gamma: f64,
    zero_floor: f64,
}

impl Mapping {
    fn new(alpha: f64, zero_floor: f64) -> Self {
        let gamma = (1.0 + alpha) / (1.0 - alpha);
        Mapping {
            alpha,
            gamma,
            ln_gamma: gamma.ln(),
            zero_floor,
        }
    }

    /// Bucket of a magnitude `m ≥ zero_floor` (finite).
    #[inline]
    fn index(&self, m: f64) -> i32 {
        // |ln m| ≤ 710 for finite f64, so the index fits i32 for any α ≥ 1e-5.
        // `ceil` by hand: the truncating cast is exact here and, unlike
        // `f64::ceil` on baseline x86-64, is not a library call.
        let v = table_ln(m) / self.ln_gamma;
        let i = v as i32;
        if v > f64::from(i) { i + 1 } else { i }
    }

    /// The value reported for bucket `i`: within relative α of `(γ^(i−1), γ^i]`.
    #[inline]
    fn value(&self, i: i32) -> f64 {
        2.0 * (f64::from(i) * self.ln_gamma).exp() / (1.0 + self.gamma)
    }
}

/// The walk of [`Summary::quantiles`] through the buckets in ascending
/// order of value, answering each level when its rank is reached.
struct RankScan<'a, const N: usize> {
    /// `(rank, index of the level)`, ascending.
    ranks: &'a [(u64, usize)],
    /// The first rank not reached yet.
    next: usize,
    /// Samples in the buckets walked so far.
    seen: u64,
    out: [Option<f64>; N],
}

impl<const N: usize> RankScan<'_, N> {
    /// Walks a bucket of `count` samples, of value `value()`; true once
    /// every rank is answered.
    #[inline]
    fn take(&mut self, count: u64, value: impl Fn() -> f64) -> bool {
        self.seen += count;
        while let Some(&(rank, j)) = self.ranks.get(self.next) {
            if self.seen <= rank {
                return false;
            }
            self.out[j] = Some(value());
            self.next += 1;
        }
        true
    }
}

/// Mantissa intervals of [`table_ln`]: `[1 + k/128, 1 + (k+1)/128)`.
const LN_TABLE_BITS: u32 = 7;

/// `(1/c_k, ln c_k)` for `c_k = 1 + k/2^LN_TABLE_BITS`.
static LN_TABLE: std::sync::LazyLock<[(f64, f64); 1 << LN_TABLE_BITS]> =
    std::sync::LazyLock::new(|| {
        std::array::from_fn(|k| {
            let c = 1.0 + k as f64 / f64::from(1u32 << LN_TABLE_BITS);
            (1.0 / c, c.ln())
        })
    });

/// Natural logarithm of a positive finite `m`, within a few 1e-16 of
/// `m.ln()` and about four times cheaper: every sample pushed into a
/// [`Summary`] needs one (16 per simulated second in a Xen host with eight
/// guests), and the library call was the largest part of a push.
///
/// With `m = 2^e·f`, `f ∈ [1, 2)`: `ln m = e·ln 2 + ln c_k + ln(f/c_k)`,
/// `c_k` the tabulated left end of `f`'s interval, and `r = f/c_k − 1 <
/// 2⁻⁷`, so six terms of the `log1p` series leave a remainder below
/// `r⁷/7 < 3e-16`. Subnormals (only reachable with a zero floor below
/// 2.2e-308) take the library call.
#[inline]
fn table_ln(m: f64) -> f64 {
    const MANTISSA_BITS: u32 = 52;
    let bits = m.to_bits();
    let biased_exp = (bits >> MANTISSA_BITS) as i32;
    if biased_exp == 0 {
        return m.ln();
    }
    let mantissa = bits & ((1 << MANTISSA_BITS) - 1);
    let k = (mantissa >> (MANTISSA_BITS - LN_TABLE_BITS)) as usize;
    let f = f64::from_bits(mantissa | 1.0f64.to_bits());
    let (inv_c, ln_c) = LN_TABLE[k];
    let r = f * inv_c - 1.0;
    let series = r
        * (1.0
            - r * (1.0 / 2.0
                - r * (1.0 / 3.0 - r * (1.0 / 4.0 - r * (1.0 / 5.0 - r * (1.0 / 6.0))))));
    f64::from(biased_exp - 1023) * std::f64::consts::LN_2 + (ln_c + series)
}

/// Counts per bucket index over a capped range of indices.
///
/// The counts are kept in pages of [`PAGE_BINS`], each allocated when a
/// sample first reaches it: a store costs the pages its samples reach, and
/// its first range already spans the default cap. A contiguous buffer
/// grown by doubling zeroed and copied about twice the final span, and
/// the page faults of that were the largest cost outside instructions on
/// the main thread of a day of one ntpd client; one allocated whole at
/// 160 KiB was a mapping of its own that the end of every run unmapped.
#[derive(Clone, Debug, PartialEq)]
struct Store {
    /// Pages of counters; bucket `offset + k` is `pages[k / PAGE_BINS][k %
    /// PAGE_BINS]`, and a page never reached is `None` (all zero).
    pages: Vec<Option<Box<[u64; PAGE_BINS]>>>,
    offset: i32,
    /// A bucket at or below that of the zero floor: no sample of this
    /// store has a lower one.
    floor: i32,
    /// Lowest and highest non-empty bucket (meaningful when `total > 0`).
    lo: i32,
    hi: i32,
    total: u64,
    max_bins: usize,
    /// Whether buckets near zero were ever merged to respect `max_bins`.
    collapsed: bool,
}

/// Buckets per page of a [`Store`]: 4 KiB of counts.
const PAGE_BINS: usize = 512;

impl Store {
    fn new(max_bins: usize, floor: i32) -> Self {
        Store {
            pages: Vec::new(),
            offset: 0,
            floor,
            lo: 0,
            hi: 0,
            total: 0,
            max_bins,
            collapsed: false,
        }
    }

    /// Buckets the pages can address.
    fn len(&self) -> usize {
        self.pages.len() * PAGE_BINS
    }

    /// The counter of bucket `offset + k`, its page allocated if need be.
    #[inline]
    fn count_mut(&mut self, k: usize) -> &mut u64 {
        let page = self.pages[k / PAGE_BINS].get_or_insert_with(|| Box::new([0; PAGE_BINS]));
        &mut page[k % PAGE_BINS]
    }

    #[inline]
    fn add(&mut self, idx: i32, n: u64) {
        if self.total > 0 && (self.lo..=self.hi).contains(&idx) {
            // The common case once the span has settled: no reshaping.
            *self.count_mut((idx - self.offset) as usize) += n;
            self.total += n;
        } else if n > 0 {
            self.add_outside_span(idx, n);
        }
    }

    /// [`Store::add`] for a bucket outside the span seen so far (or the
    /// first one): out of line, so that the common case stays small enough
    /// to inline into every push.
    #[inline(never)]
    fn add_outside_span(&mut self, idx: i32, n: u64) {
        let (mut lo, hi) = if self.total == 0 {
            (idx, idx)
        } else {
            (self.lo.min(idx), self.hi.max(idx))
        };
        let max = self.max_bins as i64;
        if i64::from(hi) - i64::from(lo) + 1 > max {
            // Keep the largest magnitudes: they carry the tails that matter.
            lo = (i64::from(hi) - max + 1) as i32;
            self.collapsed = true;
        }
        self.reshape(lo, hi);
        let k = (idx.max(lo) - self.offset) as usize;
        *self.count_mut(k) += n;
        self.total += n;
    }

    /// Makes buckets `lo..=hi` addressable, folding any count below `lo`
    /// into `lo`. The first range runs from the zero floor up, over
    /// [`DEFAULT_MAX_BINS_PER_SIGN`] buckets (or `max_bins`, if fewer)
    /// when the first sample falls in them; a range outgrown is doubled,
    /// so a long run re-lays its pages O(log span) times.
    fn reshape(&mut self, lo: i32, hi: i32) {
        let mut folded = 0u64;
        if self.total > 0 && self.lo < lo {
            for i in self.lo..=self.hi.min(lo - 1) {
                let k = (i - self.offset) as usize;
                if let Some(page) = &mut self.pages[k / PAGE_BINS] {
                    folded += std::mem::take(&mut page[k % PAGE_BINS]);
                }
            }
        }
        let len = self.len() as i64;
        let fits = len > 0 && lo >= self.offset && i64::from(hi) < i64::from(self.offset) + len;
        if !fits {
            let span = (i64::from(hi) - i64::from(lo) + 1) as usize;
            let first = DEFAULT_MAX_BINS_PER_SIGN.min(self.max_bins);
            let from_floor = self.pages.is_empty()
                && lo >= self.floor
                && i64::from(hi) - i64::from(self.floor) < first as i64;
            let (new_len, new_offset) = if from_floor {
                (first, self.floor)
            } else {
                let len = (2 * self.len()).max(span + 64).min(self.max_bins).max(span);
                (len, lo - ((len - span) / 2) as i32)
            };
            let old = std::mem::replace(
                self,
                Store {
                    pages: vec![None; new_len.div_ceil(PAGE_BINS)],
                    offset: new_offset,
                    ..*self
                },
            );
            if old.total > 0 {
                for (i, c) in old.buckets().filter(|&(i, _)| i >= lo) {
                    *self.count_mut((i - new_offset) as usize) = c;
                }
            }
        }
        if folded > 0 {
            *self.count_mut((lo - self.offset) as usize) += folded;
        }
        self.lo = lo;
        self.hi = hi;
    }

    /// Non-empty buckets in ascending index order.
    fn buckets(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        let span = if self.total == 0 {
            0..0
        } else {
            (self.lo - self.offset) as usize..(self.hi - self.offset) as usize + 1
        };
        let offset = self.offset;
        let first_page = span.start / PAGE_BINS;
        self.pages[first_page..span.end.div_ceil(PAGE_BINS)]
            .iter()
            .enumerate()
            .filter_map(move |(j, page)| page.as_ref().map(|p| (first_page + j, p)))
            .flat_map(move |(pi, page)| {
                let base = pi * PAGE_BINS;
                let from = span.start.max(base);
                let to = span.end.min(base + PAGE_BINS);
                page[from - base..to - base]
                    .iter()
                    .enumerate()
                    .filter(|&(_, &c)| c > 0)
                    .map(move |(k, &c)| (offset + (from + k) as i32, c))
            })
    }
}

/// Streaming summary of a series of `f64` (clock errors, seconds): count,
/// mean, RMS, standard deviation, min/max, and quantiles to a guaranteed
/// relative accuracy, in memory independent of the number of samples.
///
/// Non-finite inputs (NaN, ±∞) are counted by [`Summary::nonfinite_count`]
/// and otherwise ignored, so one bad sample cannot poison the statistics.
/// Every statistic of an empty summary is `None`, and so is one whose
/// arithmetic overflowed `f64` (a moment of samples beyond about 1e154):
/// a statistic is never `NaN` or ∞.
///
/// ```
/// use sim_core::stats::Summary;
/// let mut s = Summary::new();
/// for x in [-3e-6, 1e-6, 2e-6, 4e-6, f64::NAN] {
///     s.push(x);
/// }
/// assert_eq!(s.count(), 4);
/// assert_eq!(s.nonfinite_count(), 1);
/// assert_eq!(s.max_abs(), Some(4e-6));
/// let med = s.median().unwrap(); // lower median: 1e-6
/// assert!((med - 1e-6).abs() <= 1e-6 * s.relative_accuracy());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    n: u64,
    nonfinite: u64,
    sum: CompensatedSum,
    sum_sq: CompensatedSum,
    /// The mean after the latest push (or merge).
    last_mean: f64,
    welford_m2: f64,
    min: f64,
    max: f64,
    mapping: Mapping,
    neg: Store,
    zero: u64,
    pos: Store,
}

impl Default for Summary {
    fn default() -> Self {
        Self::new()
    }
}

impl Summary {
    /// An empty summary with the default sketch: relative accuracy
    /// [`DEFAULT_RELATIVE_ACCURACY`], zero floor [`DEFAULT_ZERO_FLOOR_S`],
    /// at most [`DEFAULT_MAX_BINS_PER_SIGN`] buckets per sign.
    pub fn new() -> Self {
        Self::build(
            DEFAULT_RELATIVE_ACCURACY,
            DEFAULT_ZERO_FLOOR_S,
            DEFAULT_MAX_BINS_PER_SIGN,
        )
    }

    /// An empty summary with a custom sketch. Returns `None` unless
    /// `1e-5 ≤ relative_accuracy < 1`, `zero_floor` is finite and positive
    /// (in the unit of the data, seconds for clock errors) and
    /// `max_bins_per_sign ≥ 1`.
    pub fn with_sketch(
        relative_accuracy: f64,
        zero_floor: f64,
        max_bins_per_sign: usize,
    ) -> Option<Self> {
        let ok = (1e-5..1.0).contains(&relative_accuracy)
            && zero_floor.is_finite()
            && zero_floor > 0.0
            && max_bins_per_sign >= 1;
        ok.then(|| Self::build(relative_accuracy, zero_floor, max_bins_per_sign))
    }

    fn build(alpha: f64, zero_floor: f64, max_bins: usize) -> Self {
        let mapping = Mapping::new(alpha, zero_floor);
        // One below the floor's bucket, in case the table logarithm puts a
        // magnitude just above the floor one bucket lower.
        let floor = mapping.index(zero_floor) - 1;
        Summary {
            n: 0,
            nonfinite: 0,
            sum: CompensatedSum::default(),
            sum_sq: CompensatedSum::default(),
            last_mean: 0.0,
            welford_m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            mapping,
            neg: Store::new(max_bins, floor),
            zero: 0,
            pos: Store::new(max_bins, floor),
        }
    }

    /// Adds one sample. Non-finite samples are counted and dropped.
    pub fn push(&mut self, x: f64) {
        if !x.is_finite() {
            self.nonfinite += 1;
            return;
        }
        self.n += 1;
        self.sum.add(x);
        self.sum_sq.add(x * x);
        // Welford's update `M2 += (x − mean₍ₙ₋₁₎)(x − meanₙ)` with the mean
        // taken from the compensated sum: the division then feeds only this
        // product instead of the next push's mean (chained from one push to
        // the next, it was a third of a push in `cargo bench -p sim-core`).
        let mean = self.sum.value() / self.n as f64;
        self.welford_m2 += (x - self.last_mean) * (x - mean);
        self.last_mean = mean;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        self.sketch_add(x, 1);
    }

    // Always inlined: as a call it cost a tenth of a push in frame set-up.
    #[inline(always)]
    fn sketch_add(&mut self, x: f64, count: u64) {
        let m = x.abs();
        if m < self.mapping.zero_floor {
            self.zero += count;
        } else {
            // The sign picks the store, not the code path: errors around zero
            // change sign at random, and a branch on it mispredicted half
            // the time.
            let i = self.mapping.index(m);
            let store = if x > 0.0 {
                &mut self.pos
            } else {
                &mut self.neg
            };
            store.add(i, count);
        }
    }

    /// Adds every sample of `other` into `self`, as if they had been pushed
    /// here. With equal sketch parameters the merge is exact (bucket counts
    /// add); otherwise `other`'s buckets are re-inserted at their reported
    /// values, and quantile errors of the two sketches add up.
    pub fn merge(&mut self, other: &Summary) {
        self.nonfinite += other.nonfinite;
        if other.n == 0 {
            return;
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let delta = other.last_mean - self.last_mean;
        self.welford_m2 += other.welford_m2 + delta * delta * na * nb / n;
        self.n += other.n;
        self.sum.merge(&other.sum);
        self.last_mean = self.sum.value() / self.n as f64;
        self.sum_sq.merge(&other.sum_sq);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if self.mapping == other.mapping {
            for (i, c) in other.pos.buckets() {
                self.pos.add(i, c);
            }
            for (i, c) in other.neg.buckets() {
                self.neg.add(i, c);
            }
            self.zero += other.zero;
        } else {
            for (i, c) in other.pos.buckets() {
                self.sketch_add(other.mapping.value(i), c);
            }
            for (i, c) in other.neg.buckets() {
                self.sketch_add(-other.mapping.value(i), c);
            }
            self.sketch_add(0.0, other.zero);
        }
        self.pos.collapsed |= other.pos.collapsed;
        self.neg.collapsed |= other.neg.collapsed;
    }

    /// Number of finite samples pushed.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Number of non-finite samples pushed (and ignored).
    pub fn nonfinite_count(&self) -> u64 {
        self.nonfinite
    }

    /// The relative accuracy α guaranteed for quantiles.
    pub fn relative_accuracy(&self) -> f64 {
        self.mapping.alpha
    }

    /// Magnitudes below this value are counted as zero by the sketch.
    pub fn zero_floor(&self) -> f64 {
        self.mapping.zero_floor
    }

    /// Whether the sketch ever merged its smallest-magnitude buckets to stay
    /// within its bucket cap (quantiles near zero then lose the guarantee).
    pub fn collapsed(&self) -> bool {
        self.pos.collapsed || self.neg.collapsed
    }

    /// Arithmetic mean, from a compensated sum; `None` when the sum
    /// overflowed `f64` (samples near `f64::MAX`).
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0)
            .then(|| self.sum.value() / self.n as f64)
            .and_then(finite)
    }

    /// Root mean square `√(Σx²/n)`: the error figure that penalises both
    /// bias and spread. `None` when `Σx²` overflowed `f64` (a sample of
    /// magnitude beyond about 1e154).
    pub fn rms(&self) -> Option<f64> {
        (self.n > 0)
            .then(|| (self.sum_sq.value() / self.n as f64).sqrt())
            .and_then(finite)
    }

    /// Sample standard deviation (divisor `n − 1`); `None` below two
    /// samples, and when the sum of squared deviations overflowed `f64`
    /// (a spread beyond about 1e154).
    pub fn std_dev(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        // Checked before `max`, which would turn a NaN into 0.
        let m2 = finite(self.welford_m2)?;
        finite((m2.max(0.0) / (self.n - 1) as f64).sqrt())
    }

    /// Smallest sample.
    pub fn min(&self) -> Option<f64> {
        (self.n > 0).then_some(self.min)
    }

    /// Largest sample.
    pub fn max(&self) -> Option<f64> {
        (self.n > 0).then_some(self.max)
    }

    /// Largest magnitude, `max |x|`.
    pub fn max_abs(&self) -> Option<f64> {
        (self.n > 0).then(|| self.min.abs().max(self.max.abs()))
    }

    /// Quantile of level `q ∈ [0, 1]`: the sorted sample of rank
    /// `⌊q·(n−1)⌋`, to relative accuracy α. `None` when empty or when `q` is
    /// outside `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles([q])[0]
    }

    /// [`Summary::quantile`] at each level of `qs`, in one pass over the
    /// sketch (a run's summary asks for five).
    ///
    /// ```
    /// use sim_core::stats::Summary;
    /// let mut s = Summary::default();
    /// for x in 1..=100 {
    ///     s.push(f64::from(x));
    /// }
    /// let [lo, mid, hi] = s.quantiles([0.25, 0.5, 2.0]);
    /// assert_eq!((lo, mid, hi), (s.quantile(0.25), s.quantile(0.5), None));
    /// assert!((mid.unwrap() - 50.0).abs() <= 50.0 * 1e-3);
    /// ```
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [Option<f64>; N] {
        let mut out = [None; N];
        if self.n == 0 {
            return out;
        }
        // (rank, index in `qs`) of the levels strictly inside (0, 1).
        let mut ranks = [(0u64, 0usize); N];
        let mut m = 0;
        for (j, &q) in qs.iter().enumerate() {
            if q == 0.0 {
                out[j] = Some(self.min);
            } else if q == 1.0 {
                out[j] = Some(self.max);
            } else if q > 0.0 && q < 1.0 {
                let rank = ((q * (self.n - 1) as f64).floor() as u64).min(self.n - 1);
                ranks[m] = (rank, j);
                m += 1;
            }
        }
        let ranks = &mut ranks[..m];
        ranks.sort_unstable();
        let mut scan = RankScan {
            ranks,
            next: 0,
            seen: 0,
            out,
        };
        // Ascending order of value: negatives from the largest magnitude
        // down, then zero, then positives from the smallest magnitude up.
        // A bucket's value is worked out only where a rank falls in it.
        let (min, max) = (self.min, self.max);
        // Clamping to the exact extremes can only move the estimate towards
        // the true sample, which lies within them.
        let value = |v: f64| v.clamp(min, max);
        for (i, c) in self.neg.buckets().rev() {
            if scan.take(c, || value(-self.mapping.value(i))) {
                return scan.out;
            }
        }
        if scan.take(self.zero, || value(0.0)) {
            return scan.out;
        }
        for (i, c) in self.pos.buckets() {
            if scan.take(c, || value(self.mapping.value(i))) {
                break;
            }
        }
        scan.out
    }

    /// Median (lower median for an even count), to relative accuracy α.
    pub fn median(&self) -> Option<f64> {
        self.quantile(0.5)
    }

    /// Interquartile range `q(0.75) − q(0.25)`; `None` when the difference
    /// overflows `f64` (quartiles near `∓f64::MAX`).
    pub fn iqr(&self) -> Option<f64> {
        let [q25, q75] = self.quantiles([0.25, 0.75]);
        finite(q75? - q25?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn table_ln_matches_the_library_log(mantissa in 1.0f64..2.0, exp in -1030i32..1024) {
            let m = mantissa * 2f64.powi(exp);
            prop_assume!(m.is_finite() && m > 0.0);
            let (got, want) = (table_ln(m), m.ln());
            prop_assert!(
                (got - want).abs() <= 4e-16 * want.abs().max(1.0),
                "ln {m:e}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn table_ln_is_exact_where_the_log_is_trivial() {
        assert_eq!(table_ln(1.0), 0.0);
        assert_eq!(table_ln(2.0), std::f64::consts::LN_2);
        assert_eq!(
            table_ln(f64::MIN_POSITIVE / 4.0),
            (f64::MIN_POSITIVE / 4.0).ln()
        );
    }

    /// The exact statistic the sketch approximates: numpy `method="lower"`.
    fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    /// The sketch's guarantee: relative α (plus float slack), or absolute
    /// zero_floor for samples inside the zero bucket.
    fn within_guarantee(est: f64, exact: f64, s: &Summary) -> bool {
        let tol = s.relative_accuracy() * exact.abs() * (1.0 + 1e-9) + 1e-300;
        let tol = if exact.abs() < s.zero_floor() {
            s.zero_floor()
        } else {
            tol
        };
        (est - exact).abs() <= tol
    }

    #[test]
    fn bucket_index_is_the_ceiling_of_the_log() {
        let m = Mapping::new(DEFAULT_RELATIVE_ACCURACY, DEFAULT_ZERO_FLOOR_S);
        for x in [
            1e-12,
            3.7e-9,
            1.0,
            1.001,
            0.5,
            2.0,
            12345.678,
            1e300,
            f64::MIN_POSITIVE,
        ] {
            let v = x.ln() / m.ln_gamma;
            assert_eq!(m.index(x), v.ceil() as i32, "x = {x}");
        }
    }

    #[test]
    fn empty_summary_reports_nothing() {
        let s = Summary::new();
        assert_eq!(s.count(), 0);
        assert_eq!(s.mean(), None);
        assert_eq!(s.rms(), None);
        assert_eq!(s.std_dev(), None);
        assert_eq!(s.min(), None);
        assert_eq!(s.max_abs(), None);
        assert_eq!(s.quantile(0.5), None);
        assert_eq!(s.iqr(), None);
    }

    #[test]
    fn nonfinite_samples_are_counted_not_used() {
        let mut s = Summary::new();
        for x in [1.0, f64::NAN, 3.0, f64::INFINITY, f64::NEG_INFINITY] {
            s.push(x);
        }
        assert_eq!(s.count(), 2);
        assert_eq!(s.nonfinite_count(), 3);
        assert_eq!(s.mean(), Some(2.0));
        assert_eq!(s.max(), Some(3.0));
        assert_eq!(s.quantile(f64::NAN), None);
        assert_eq!(s.quantile(1.5), None);
    }

    #[test]
    fn moments_that_overflow_are_none_not_nan() {
        // ±1e160: every square overflows, so Σx² (compensated: ∞ − ∞) is
        // NaN. The mean (0) and the extremes are still exact.
        let mut s = Summary::new();
        for x in [1e160, -1e160, 1e160, -1e160] {
            s.push(x);
        }
        assert_eq!(s.rms(), None);
        assert_eq!(s.std_dev(), None);
        assert_eq!(s.mean(), Some(0.0));
        assert_eq!(s.max_abs(), Some(1e160));
        let mut merged = Summary::new();
        merged.push(1.0);
        merged.merge(&s);
        assert_eq!((merged.rms(), merged.std_dev()), (None, None));
        // Samples near f64::MAX: Σx overflows too.
        let mut s = Summary::new();
        for _ in 0..3 {
            s.push(f64::MAX);
        }
        assert_eq!((s.mean(), s.rms(), s.std_dev()), (None, None, None));
        assert_eq!(s.max(), Some(f64::MAX));
        assert_eq!(s.median(), Some(f64::MAX));
        // Quartiles at ∓f64::MAX: their difference overflows.
        let mut s = Summary::new();
        for x in [-f64::MAX, -f64::MAX, f64::MAX, f64::MAX] {
            s.push(x);
        }
        assert_eq!(s.iqr(), None);
    }

    #[test]
    fn spread_far_below_the_mean_keeps_its_digits() {
        // A clock 1 s off with 1 ns of jitter: Σx² − (Σx)²/n would cancel
        // every digit of the variance; Welford's update keeps them.
        let xs: Vec<f64> = (0..10_000)
            .map(|k| 1.0 + 1e-9 * f64::from(k % 7 - 3))
            .collect();
        let mut s = Summary::new();
        xs.iter().for_each(|&x| s.push(x));
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let two_pass = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let sd = s.std_dev().unwrap();
        assert!((sd / two_pass - 1.0).abs() < 1e-6, "{sd:e} vs {two_pass:e}");
    }

    #[test]
    fn small_example_by_hand() {
        // x = -2, -1, 0, 1, 2, 6: mean 1, Σx² = 46, sample variance (46 − 6)/5 = 8
        let mut s = Summary::new();
        for x in [2.0, -1.0, 6.0, 0.0, -2.0, 1.0] {
            s.push(x);
        }
        assert_eq!(s.mean(), Some(1.0));
        assert!((s.rms().unwrap() - (46.0f64 / 6.0).sqrt()).abs() < 1e-15);
        assert!((s.std_dev().unwrap() - 8.0f64.sqrt()).abs() < 1e-15);
        assert_eq!(s.min(), Some(-2.0));
        assert_eq!(s.max_abs(), Some(6.0));
        // ranks ⌊q·5⌋: q=0.5 → 2 (value 0), q=0.25 → 1 (−1), q=0.75 → 3 (1)
        assert_eq!(s.median(), Some(0.0));
        assert!((s.quantile(0.25).unwrap() + 1.0).abs() <= 1.001e-3);
        assert!((s.quantile(0.75).unwrap() - 1.0).abs() <= 1.001e-3);
        assert!((s.iqr().unwrap() - 2.0).abs() <= 2.001e-3);
        assert_eq!(s.quantile(1.0), Some(6.0));
        assert_eq!(s.quantile(0.0), Some(-2.0));
    }

    #[test]
    fn pushes_after_a_merge_keep_the_exact_variance() {
        // Halves with means 1 and 101, merged, then three more samples:
        // Welford's update of each later push needs the merged mean (51),
        // so the standard deviation must be that of all nine samples.
        let (first, second, later) = ([0.0, 1.0, 2.0], [100.0, 101.0, 102.0], [50.0, 51.0, -7.0]);
        let mut a = Summary::new();
        let mut b = Summary::new();
        first.iter().for_each(|&x| a.push(x));
        second.iter().for_each(|&x| b.push(x));
        a.merge(&b);
        later.iter().for_each(|&x| a.push(x));
        let all: Vec<f64> = first.iter().chain(&second).chain(&later).copied().collect();
        let n = all.len() as f64;
        let mean = all.iter().sum::<f64>() / n;
        let two_pass = (all.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let sd = a.std_dev().unwrap();
        assert!((sd / two_pass - 1.0).abs() < 1e-12, "{sd} vs {two_pass}");
        assert!((a.mean().unwrap() - mean).abs() < 1e-12);
    }

    #[test]
    fn a_sample_at_the_zero_floor_is_resolved_not_zeroed() {
        // Only magnitudes below the floor count as zero: a sample of
        // exactly 1 ps (the default floor) is resolved to relative α like
        // any other. It is the median of the three.
        let mut s = Summary::new();
        for x in [-1.0, DEFAULT_ZERO_FLOOR_S, 1.0] {
            s.push(x);
        }
        let med = s.median().unwrap();
        let tol = DEFAULT_ZERO_FLOOR_S * s.relative_accuracy() * (1.0 + 1e-9);
        assert!((med - DEFAULT_ZERO_FLOOR_S).abs() <= tol, "{med:e}");
    }

    #[test]
    fn memory_is_bounded_over_a_million_samples() {
        // a log-uniform spread over 6 decades, both signs
        let mut s = Summary::new();
        let mut state = 0x1234_5678_u64;
        for _ in 0..1_000_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            let sign = if state & 1 == 0 { 1.0 } else { -1.0 };
            s.push(sign * 10f64.powf(-9.0 + 6.0 * u));
        }
        // 6 decades ≈ 6 × 1151 buckets per sign, and only their pages
        for store in [&s.pos, &s.neg] {
            let span = (store.hi - store.lo + 1) as usize;
            assert!((6 * 1150..=6 * 1152).contains(&span), "{span}");
            let allocated = store.pages.iter().flatten().count();
            assert!(allocated <= span / PAGE_BINS + 2, "{allocated} pages");
            assert_eq!(
                store.len(),
                DEFAULT_MAX_BINS_PER_SIGN.div_ceil(PAGE_BINS) * PAGE_BINS
            );
        }
        assert!(!s.collapsed());
        let med = s.median().unwrap().abs();
        assert!(
            med < 1e-8,
            "median of a symmetric spread is near the low end: {med}"
        );
    }

    #[test]
    fn a_store_allocates_only_the_pages_its_samples_reach() {
        // Two samples 18 decades apart: the default store collapses its
        // low end, folding the small one into the lowest bucket kept.
        let mut s = Summary::new();
        s.push(1e-11);
        s.push(3e-11);
        // ~550 buckets apart: two pages of the 40 the range spans.
        assert_eq!(s.pos.pages.len(), 40);
        assert_eq!(s.pos.pages.iter().flatten().count(), 2);
        s.push(1e7);
        assert!(s.collapsed());
        assert_eq!(s.count(), 3);
        assert_eq!(s.pos.total, 3);
        let pages = s.pos.pages.iter().flatten().count();
        assert!(pages <= 2, "{pages} pages for two buckets");
        assert_eq!(s.quantile(1.0), Some(1e7));
    }

    #[test]
    fn collapsing_keeps_large_quantiles_accurate() {
        // 500 buckets at α = 1e-2 (115 per decade) span ~4.3 decades; feed 1e-10..1e0.
        let mut s = Summary::with_sketch(1e-2, 1e-12, 500).unwrap();
        let xs: Vec<f64> = (0..=1000)
            .map(|i| 10f64.powf(-10.0 + i as f64 / 100.0))
            .collect();
        for &x in &xs {
            s.push(x);
        }
        assert!(s.collapsed());
        assert!(s.pos.hi - s.pos.lo < 500);
        for q in [0.6, 0.9, 0.99] {
            let exact = exact_quantile(&xs, q);
            assert!(within_guarantee(s.quantile(q).unwrap(), exact, &s), "q={q}");
        }
        // the folded low end is reported too large, never below the floor
        assert!(s.quantile(0.1).unwrap() > exact_quantile(&xs, 0.1));
    }

    #[test]
    fn bad_sketch_parameters_are_refused() {
        assert!(Summary::with_sketch(0.0, 1e-12, 10).is_none());
        assert!(Summary::with_sketch(1.0, 1e-12, 10).is_none());
        assert!(Summary::with_sketch(1e-3, 0.0, 10).is_none());
        assert!(Summary::with_sketch(1e-3, f64::NAN, 10).is_none());
        assert!(Summary::with_sketch(1e-3, 1e-12, 0).is_none());
    }

    #[test]
    fn merge_with_different_sketches_adds_errors() {
        let xs: Vec<f64> = (1..=2000).map(|i| (i as f64) * 1e-7 - 1e-4).collect();
        let mut a = Summary::new();
        let mut b = Summary::with_sketch(2e-3, 1e-12, 5000).unwrap();
        for (k, &x) in xs.iter().enumerate() {
            if k % 3 == 0 { a.push(x) } else { b.push(x) }
        }
        a.merge(&b);
        assert_eq!(a.count(), 2000);
        let mut sorted = xs.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.05, 0.25, 0.5, 0.75, 0.95] {
            let exact = exact_quantile(&sorted, q);
            let est = a.quantile(q).unwrap();
            assert!((est - exact).abs() <= 3.1e-3 * exact.abs() + 1e-12, "q={q}");
        }
    }

    #[test]
    fn merging_another_sketch_keeps_its_zeros() {
        // Three exact zeros from a sketch of other parameters: of the five
        // samples 0, 0, 0, 1, 2 the median (rank 2) and lower quartile are 0.
        let mut a = Summary::new();
        a.push(1.0);
        a.push(2.0);
        let mut b = Summary::with_sketch(2e-3, 1e-9, 5000).unwrap();
        (0..3).for_each(|_| b.push(0.0));
        a.merge(&b);
        assert_eq!(a.count(), 5);
        assert_eq!(a.median(), Some(0.0));
        assert_eq!(a.quantile(0.25), Some(0.0));
    }

    #[test]
    fn merging_a_collapsed_sketch_reports_the_collapse() {
        // 50 buckets at α = 1e-2 span ~0.4 decades: 1e-10 and 1 cannot both
        // be kept, so `b` folds its low end. Merged into a sketch that never
        // collapsed, its buckets fit, but its lost resolution near zero is
        // still there: the merge must say so.
        let mut a = Summary::with_sketch(1e-2, 1e-12, 50).unwrap();
        a.push(0.9);
        let mut b = Summary::with_sketch(1e-2, 1e-12, 50).unwrap();
        b.push(1e-10);
        b.push(1.0);
        assert!(b.collapsed() && !a.collapsed());
        a.merge(&b);
        assert!(a.collapsed());
    }

    fn series() -> impl Strategy<Value = Vec<f64>> {
        // signed values spanning 1e-13..1e3 (inside the default 17 decades),
        // with exact zeros and repeats
        let mag = (-13.0f64..3.0).prop_map(|e| 10f64.powf(e));
        let val = prop_oneof![
            8 => (mag.clone(), any::<bool>()).prop_map(|(m, neg)| if neg { -m } else { m }),
            1 => Just(0.0),
            1 => Just(1.5e-6),
        ];
        proptest::collection::vec(val, 1..400)
    }

    proptest! {
        #[test]
        fn quantiles_within_relative_accuracy(xs in series(), qs in proptest::collection::vec(0.0f64..=1.0, 1..8)) {
            let mut s = Summary::new();
            for &x in &xs { s.push(x); }
            let mut sorted = xs.clone();
            sorted.sort_by(f64::total_cmp);
            for q in qs {
                let est = s.quantile(q).unwrap();
                let exact = exact_quantile(&sorted, q);
                prop_assert!(within_guarantee(est, exact, &s), "q={} est={} exact={}", q, est, exact);
            }
        }

        #[test]
        fn quantiles_in_one_pass_equal_each_alone(
            xs in series(),
            qs in proptest::array::uniform6(prop_oneof![
                6 => 0.0f64..=1.0,
                1 => Just(0.0),
                1 => Just(1.0),
                1 => Just(1.5),
            ]),
        ) {
            // Levels in any order, repeated, at the extremes and outside.
            let mut s = Summary::new();
            for &x in &xs { s.push(x); }
            let each = qs.map(|q| s.quantile(q));
            prop_assert_eq!(s.quantiles(qs), each);
            for (q, v) in qs.iter().zip(each) {
                prop_assert_eq!(v.is_some(), (0.0..=1.0).contains(q));
            }
        }

        #[test]
        fn moments_exact_to_rounding(xs in series()) {
            let mut s = Summary::new();
            for &x in &xs { s.push(x); }
            let n = xs.len() as f64;
            // references in extended care: sort by magnitude before summing
            let mut mags: Vec<f64> = xs.clone();
            mags.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
            let sum: f64 = mags.iter().sum();
            let sum_sq: f64 = mags.iter().map(|x| x * x).sum();
            let scale = mags.iter().map(|x| x.abs()).fold(0.0, f64::max);
            prop_assert!((s.mean().unwrap() - sum / n).abs() <= 1e-13 * scale);
            let rms = (sum_sq / n).sqrt();
            prop_assert!((s.rms().unwrap() - rms).abs() <= 1e-13 * rms);
            prop_assert_eq!(s.max_abs().unwrap(), scale);
            prop_assert_eq!(s.count(), xs.len() as u64);
        }

        #[test]
        fn moments_are_none_or_finite(
            xs in proptest::collection::vec(
                prop_oneof![
                    4 => -1.0f64..1.0,
                    1 => any::<f64>(),
                    1 => prop_oneof![Just(1e160), Just(-1e160), Just(f64::MAX), Just(-f64::MAX)],
                ],
                0..50,
            ),
        ) {
            let mut s = Summary::new();
            for &x in &xs { s.push(x); }
            for v in [s.mean(), s.rms(), s.std_dev(), s.min(), s.max(), s.max_abs(), s.median(), s.iqr()] {
                prop_assert!(v.is_none_or(f64::is_finite), "{:?} from {:?}", v, xs);
            }
        }

        #[test]
        fn merge_equals_pushing_everything(xs in series(), split in 0usize..400) {
            let split = split.min(xs.len());
            let mut all = Summary::new();
            let mut a = Summary::new();
            let mut b = Summary::new();
            for (k, &x) in xs.iter().enumerate() {
                all.push(x);
                if k < split { a.push(x) } else { b.push(x) }
            }
            a.merge(&b);
            for q in [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0] {
                prop_assert_eq!(a.quantile(q), all.quantile(q));
            }
            prop_assert_eq!(a.count(), all.count());
            let scale = all.max_abs().unwrap();
            prop_assert!((a.mean().unwrap() - all.mean().unwrap()).abs() <= 1e-13 * scale);
            if xs.len() > 1 {
                let sd = all.std_dev().unwrap();
                prop_assert!((a.std_dev().unwrap() - sd).abs() <= 1e-9 * sd + 1e-12 * scale);
            }
        }
    }
}
