//! Clock readings and the feedforward clock-read function.
//!
//! A *clock* maps a raw counter value to a time of day. Readings are kept as
//! whole seconds plus an `f64` fraction ([`ClockTime`]) so that the error of
//! a clock a year into a run can still be computed to well under a
//! nanosecond: an `f64` count of seconds alone would round to ~4 ns there.

use serde::{Deserialize, Serialize};

/// A time-of-day reading: seconds since the simulation epoch, split into an
/// integer part and a fraction in `[0, 1)` so precision does not decay with
/// the run's length.
///
/// ```
/// use algorithms::ClockTime;
/// let a = ClockTime::from_nanos(31_536_000_000_000_001); // a year and 1 ns
/// let b = a.add_secs(2.5e-10);
/// assert!(((b - a) - 2.5e-10).abs() < 1e-18);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct ClockTime {
    secs: i64,
    frac: f64,
}

impl ClockTime {
    /// Time zero.
    pub const ZERO: ClockTime = ClockTime { secs: 0, frac: 0.0 };

    /// Saturates at the ends of the `i64` seconds range (about 2.9e11
    /// years) rather than overflowing on absurd inputs.
    fn normalized(secs: i64, frac: f64) -> Self {
        let whole = frac.floor();
        ClockTime {
            secs: secs.saturating_add(whole as i64),
            frac: frac - whole,
        }
    }

    /// A reading from floating-point seconds.
    pub fn from_secs_f64(s: f64) -> Self {
        Self::normalized(0, s)
    }

    /// A reading from integer nanoseconds (exact).
    #[inline]
    pub fn from_nanos(ns: i128) -> Self {
        // Readings of a run are non-negative and fit 64 bits, where the
        // unsigned division by a constant is a multiply and a shift (the
        // same quotient and remainder as the Euclidean ones for ns ≥ 0).
        if let Ok(ns) = u64::try_from(ns) {
            let secs = ns / 1_000_000_000;
            let rem = ns - secs * 1_000_000_000;
            return ClockTime {
                secs: secs as i64,
                frac: (rem as u32) as f64 * 1e-9,
            };
        }
        Self::from_nanos_signed(ns)
    }

    /// [`Self::from_nanos`] for negative or huge `ns`.
    #[cold]
    #[inline(never)]
    fn from_nanos_signed(ns: i128) -> Self {
        if let Ok(ns) = i64::try_from(ns) {
            return ClockTime {
                secs: ns.div_euclid(1_000_000_000),
                frac: ns.rem_euclid(1_000_000_000) as f64 * 1e-9,
            };
        }
        let secs = ns.div_euclid(1_000_000_000);
        let rem = ns.rem_euclid(1_000_000_000);
        ClockTime {
            secs: secs as i64,
            frac: rem as f64 * 1e-9,
        }
    }

    /// This reading plus `ds` seconds.
    pub fn add_secs(self, ds: f64) -> Self {
        Self::normalized(self.secs, self.frac + ds)
    }

    /// The reading as floating-point seconds (loses precision for long runs;
    /// use subtraction of two readings for errors).
    pub fn as_secs_f64(self) -> f64 {
        self.secs as f64 + self.frac
    }

    /// The whole-second part.
    pub fn whole_secs(self) -> i64 {
        self.secs
    }
}

impl std::ops::Sub for ClockTime {
    type Output = f64;
    /// The difference of two readings in seconds.
    fn sub(self, other: ClockTime) -> f64 {
        let whole = match self.secs.checked_sub(other.secs) {
            Some(d) => d as f64,
            None => self.secs as f64 - other.secs as f64,
        };
        whole + (self.frac - other.frac)
    }
}

/// Parameters of a feedforward (RADclock-style) clock, as a daemon publishes
/// them for readers: `Ca(T) = T·p̂ + K − θ̂`, optionally refined by the local
/// rate, and the difference clock `Cd(T1, T2) = (T2 − T1)·p̂`.
///
/// libradclock publishes the origin `ca = K − θ̂`, the time the clock gives
/// counter 0, and readers add `T·p̂`. Here the parameters carry the clock's
/// reading at the last stamp instead, and readers add `(T − T_last)·p̂`: the
/// same clock, but a year into a run `T·p̂` is ~3·10⁷ s, whose `f64` rounds
/// to ~4 ns, while the span since the last stamp is seconds.
///
/// Reading is stateless: any domain that sees the same counter and these
/// parameters reads the same time.
///
/// ```
/// use algorithms::{ClockTime, FfClockParams};
/// // A 1 GHz counter, 1 ppm slow, read 2 s after the last stamp.
/// let p = FfClockParams {
///     period_s: 1.000001e-9,
///     at_last_changed: ClockTime::from_secs_f64(100.0),
///     local_period_s: 1.000001e-9,
///     last_changed: 5_000_000_000,
///     valid_till: 0,
///     ca_err_s: 0.0,
///     local_rate: false,
/// };
/// let t = p.read(7_000_000_000) - ClockTime::from_secs_f64(100.0);
/// assert!((t - 2.000002).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FfClockParams {
    /// Estimated counter period p̂, seconds per tick.
    pub period_s: f64,
    /// The absolute clock's reading at `last_changed`, `Ca(T_last)`. Kept as
    /// a [`ClockTime`]: near the epoch time of a boot an `f64` of seconds
    /// resolves only 0.24 µs (2³⁰ s < 1.7·10⁹ s < 2³¹ s: ulp 2⁻²² s).
    pub at_last_changed: ClockTime,
    /// Local-rate period estimate p̂_local, seconds per tick.
    pub local_period_s: f64,
    /// Counter value of the last processed stamp (Tf).
    pub last_changed: u64,
    /// Counter value after which these parameters are stale (next expected stamp).
    pub valid_till: u64,
    /// The algorithm's own error bound on the clock's origin, seconds.
    pub ca_err_s: f64,
    /// Whether readers apply the local-rate refinement (libradclock's
    /// `local_period_mode`): the publishing daemon's read mode, which the
    /// readers of its parameters share.
    pub local_rate: bool,
}

impl FfClockParams {
    /// The absolute clock `Ca(T) = Ca(T_last) + (T − T_last)·p̂`.
    pub fn absolute(&self, counter: u64) -> ClockTime {
        self.at_last_changed
            .add_secs(ticks_between(self.last_changed, counter) * self.period_s)
    }

    /// The absolute clock as readers read it: [`FfClockParams::absolute_local`]
    /// if `local_rate`, else [`FfClockParams::absolute`].
    pub fn read(&self, counter: u64) -> ClockTime {
        if self.local_rate {
            self.absolute_local(counter)
        } else {
            self.absolute(counter)
        }
    }

    /// The absolute clock with the local-rate refinement
    /// `Ca(T) + (T − T_last)·(p̂_local − p̂)`.
    pub fn absolute_local(&self, counter: u64) -> ClockTime {
        let dt = ticks_between(self.last_changed, counter);
        self.absolute(counter)
            .add_secs(dt * (self.local_period_s - self.period_s))
    }

    /// The difference clock: the interval from counter `t1` to `t2`,
    /// seconds, at p̂_local if `local_rate`, else at p̂, as libradclock's
    /// `ffcounter_to_difftime` computes it in either mode (research/radclock.md
    /// §1.3). No offset enters. The library trusts it only for intervals
    /// shorter than the SKM scale (`in_SKMwin`, 1024 s); beyond that the
    /// absolute clock is the better measure, and this does not refuse.
    pub fn difference(&self, t1: u64, t2: u64) -> f64 {
        let period_s = if self.local_rate {
            self.local_period_s
        } else {
            self.period_s
        };
        ticks_between(t1, t2) * period_s
    }
}

/// `to − from` in ticks as `f64`, negative if `to` is earlier.
///
/// Counts are 64-bit two's-complement integers: a counter whose phase is
/// still negative just after the run starts (a crystal that begins behind
/// true time, or white phase noise at `t = 0`) reads just below the 64-bit
/// wrap, and a 64-bit register wraps after 2⁶⁴ ticks. Both subtract right
/// in wrapping arithmetic as long as the two readings are less than 2⁶³
/// ticks apart (decades for any real counter).
#[inline]
pub fn ticks_between(from: u64, to: u64) -> f64 {
    to.wrapping_sub(from) as i64 as f64
}

/// A count as the signed integer it stands for (see [`ticks_between`]).
#[inline]
pub fn signed_count(count: u64) -> i64 {
    count as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CounterInfo;

    #[test]
    fn counts_below_zero_and_across_the_wrap_subtract_as_integers() {
        let minus_5 = 0u64.wrapping_sub(5);
        assert_eq!(ticks_between(minus_5, 10), 15.0);
        assert_eq!(ticks_between(10, minus_5), -15.0);
        assert_eq!(ticks_between(u64::MAX - 1, 1), 3.0);
        assert_eq!(ticks_between(3, 1_000_003), 1e6);
        assert_eq!(signed_count(minus_5), -5);
        // A free clock on a 1 GHz counter 0.3 s behind zero reads −0.3 s.
        let info = CounterInfo { nominal_hz: 1e9 };
        let t = info.nominal_time(0u64.wrapping_sub(300_000_000));
        assert!((t.as_secs_f64() + 0.3).abs() < 1e-15, "{t:?}");
        let p = FfClockParams {
            period_s: 1e-9,
            at_last_changed: ClockTime::from_nanos(-5),
            local_period_s: 1e-9,
            last_changed: minus_5,
            valid_till: 0,
            ca_err_s: 0.0,
            local_rate: false,
        };
        assert!((p.absolute(5).as_secs_f64() - 5e-9).abs() < 1e-15);
    }

    #[test]
    fn absurd_readings_saturate_instead_of_overflowing() {
        let big = ClockTime::from_secs_f64(1e300).add_secs(1e300);
        let small = ClockTime::from_secs_f64(-1e300).add_secs(-1e300);
        assert!((big - small).is_finite() && big - small > 0.0);
        assert_eq!(
            ClockTime::from_nanos(i128::MAX) - ClockTime::from_nanos(i128::MAX),
            0.0
        );
        let n = -1_500_000_001i128;
        assert_eq!(ClockTime::from_nanos(n).whole_secs(), -2);
        assert!((ClockTime::from_nanos(n) - ClockTime::ZERO + 1.500_000_001).abs() < 1e-15);
    }

    #[test]
    fn clock_time_keeps_sub_ns_precision_after_a_year() {
        let t = ClockTime::from_nanos(365 * 86_400 * 1_000_000_000);
        let u = t.add_secs(3e-10).add_secs(-1e-10);
        assert!(((u - t) - 2e-10).abs() < 1e-17);
        let neg = ClockTime::from_secs_f64(-0.25);
        assert_eq!(neg.whole_secs(), -1);
        assert!((neg.as_secs_f64() + 0.25).abs() < 1e-15);
    }

    #[test]
    fn ff_clock_keeps_nanoseconds_at_epoch_scale() {
        // Booted at 2023-11-14 22:13:20.123456789 UTC, a 1 GHz counter.
        let boot_ns = 1_700_000_000_123_456_789i128;
        let p = FfClockParams {
            period_s: 1e-9,
            at_last_changed: ClockTime::from_nanos(boot_ns + 3_600_000_000_000),
            local_period_s: 1e-9,
            last_changed: 3_600_000_000_000,
            valid_till: 0,
            ca_err_s: 0.0,
            local_rate: false,
        };
        let t = 3_600_000_000_777u64;
        let exact = ClockTime::from_nanos(boot_ns + i128::from(t));
        assert!((p.absolute(t) - exact).abs() < 1e-12, "{:?}", p.absolute(t));
    }

    #[test]
    fn ff_clock_reads() {
        let p = FfClockParams {
            period_s: 1e-9,
            at_last_changed: ClockTime::from_secs_f64(6.0),
            local_period_s: 1.000001e-9,
            last_changed: 1_000_000_000,
            valid_till: 0,
            ca_err_s: 0.0,
            local_rate: false,
        };
        assert!((p.absolute(2_000_000_000).as_secs_f64() - 7.0).abs() < 1e-12);
        assert!((p.absolute_local(2_000_000_000).as_secs_f64() - 7.000001).abs() < 1e-12);
        assert_eq!(p.read(2_000_000_000), p.absolute(2_000_000_000));
        let local = FfClockParams {
            local_rate: true,
            ..p
        };
        assert_eq!(local.read(2_000_000_000), p.absolute_local(2_000_000_000));
        assert!((p.difference(2_000, 1_000) + 1e-6).abs() < 1e-18);
        assert!((local.difference(2_000, 1_000) + 1.000001e-6).abs() < 1e-18);
    }
}
