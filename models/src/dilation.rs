//! # Time dilation
//!
//! Time dilation (Gupta et al., NSDI 2006; research note `virt-models.md`
//! §5, seed 001) makes a guest believe time passes `TDF` times slower than
//! it really does. The hypervisor divides every elapsed physical time it
//! shows the guest (system time, wall clock, optionally the TSC) by the
//! time dilation factor, relative to a base taken when the VM was created:
//!
//! ```text
//! t_virt = base_virt + (t_phys − base_phys) / TDF
//! ```
//!
//! Timer interrupts follow the guest's notion of time, so a guest asking
//! for `HZ` ticks per (virtual) second gets `HZ/TDF` per physical second,
//! and a one-shot timeout of `d` virtual ns fires after `d·TDF` physical ns.
//! Device events are *not* dilated: a packet that takes 1 ms on the wire
//! appears to take 1/TDF ms, so the network looks `TDF` times faster
//! (1 Gb/s physical is perceived as `TDF` Gb/s). To emulate a target link
//! one configures the physical emulator with the inverse transform. Paths
//! in the simulator have delays but no link rate, so of this only the
//! delays are modelled: a dilated guest perceives each one `1/TDF` long.
//!
//! ```
//! use models::dilation::Tdf;
//! use sim_core::SimTime;
//! use sim_core::SimDuration;
//! let tdf = Tdf::new(10.0, SimTime::ZERO, 0).unwrap();
//! // Ten physical seconds are one virtual second.
//! assert_eq!(tdf.virt_ns(SimTime::from_secs(10)), 1_000_000_000);
//! // A 16 s (perceived) timeout fires after 160 physical seconds.
//! assert_eq!(tdf.timeout_phys(SimDuration::from_secs(16)), SimDuration::from_secs(160));
//! ```
//!
//! Raw user-level `rdtsc` escapes dilation unless it is trapped
//! ([`TdfConfig::dilate_rdtsc`], default false: the known leak of §5).
//!
//! Counters are dilated about their zero, where one without a phase offset
//! stands at the run's start (the domain's creation): a phase the counter
//! starts with is dilated with it. Counts are two's complement, so one that
//! starts just below zero stays just below it.
//!
//! In the simulator a dilated domain's daemons read a dilated counter and
//! are judged against dilated true time, so their timers (polls, ntpd's
//! per-second tick) run at `1/TDF` of the physical rate without further
//! configuration. A daemon whose TSC reads leak still sleeps on its
//! kernel's dilated timers: its poll waits are stretched by
//! [`Tdf::timeout_phys`]. ntpd in such a domain disciplines the kernel's
//! clock, which reads the dilated TSC, so it is refused on a leaking one. A dilated domain also gets `1/TDF` of its vCPUs' time
//! ([`TdfConfig::dilate_cpu_share`], default on), so that its CPU seems as
//! fast as an undilated one's, as the paper scales CPU through the VMM
//! scheduler: under the credit scheduler this is a cap of `100·vCPUs/TDF`
//! % of one pCPU (`cap_pct`). Under SEDF the same share is a slice of
//! `period/TDF` without extra time, which the scenario states itself
//! (with `dilate_cpu_share: false`). Dependent clocks in a dilated domain
//! are not modelled (a scenario with one is refused).

use algorithms::{ConfigError, Num};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimTime};

/// Largest accepted dilation factor (the paper used 1 to ~100, §5 \[R\]).
pub const TDF_MAX: f64 = 1000.0;

/// Smallest accepted dilation factor: 1, undilated. Dilation slows a
/// guest's perceived time (§5: TDF > 1 makes the outside world appear
/// faster); below 1 it would run faster than true time, which the
/// mechanism does not do, and near 0 a guest's timers would all fall due
/// at the same physical instant, so the run would never advance.
pub const TDF_MIN: f64 = 1.0;

/// Per-domain dilation settings (§5, §7 "Time dilation").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TdfConfig {
    /// Time dilation factor: physical seconds per perceived second
    /// (default 1.0 = undilated, §7; valid [1, 1000]).
    pub factor: f64,
    /// Dilate raw counter (TSC) reads too, as when RDTSC is trapped
    /// (default false: the leak of the paper's prototype, §5). The paper's
    /// guest kernel reads a scaled TSC (`get_offset_tsc`); what leaks is an
    /// RDTSC issued outside it, so `false` has a TSC daemon read as such a
    /// user-level reader would, and `true` as a kernel-stamping one.
    pub dilate_rdtsc: bool,
    /// Give the domain 1/TDF of its vCPUs' time, so that its CPU seems as
    /// fast as an undilated one's (default true, §5 and §7
    /// `dilate_cpu_share`): on a Xen host with the credit scheduler the
    /// domain gets the cap [`TdfConfig::cpu_cap_pct`], and so does every
    /// slot its migrations or failover take it to. Off, the domain runs as
    /// configured and its CPU seems `TDF` times faster.
    pub dilate_cpu_share: bool,
}

impl Default for TdfConfig {
    fn default() -> Self {
        TdfConfig {
            factor: 1.0,
            dilate_rdtsc: false,
            dilate_cpu_share: true,
        }
    }
}

impl TdfConfig {
    /// Checks the factor: within [[`TDF_MIN`], [`TDF_MAX`]].
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut e = Vec::new();
        if !(TDF_MIN..=TDF_MAX).contains(&self.factor) {
            e.push(ConfigError::new(
                format!("{path}.factor"),
                format!(
                    "{} is outside the valid range [{TDF_MIN}, {TDF_MAX}] (physical s per perceived s)",
                    Num(self.factor)
                ),
            ));
        }
        e
    }

    /// The credit cap, % of one pCPU, that gives a domain of `vcpus` vCPUs
    /// 1/TDF of their time: `⌈100·vcpus/TDF⌉`; `None` when its CPU share
    /// is not dilated, or the domain is undilated (`TDF = 1`).
    ///
    /// ```
    /// use models::dilation::TdfConfig;
    /// let tdf = TdfConfig { factor: 10.0, ..TdfConfig::default() };
    /// assert_eq!(tdf.cpu_cap_pct(1), Some(10));
    /// assert_eq!(tdf.cpu_cap_pct(4), Some(40));
    /// let off = TdfConfig { dilate_cpu_share: false, ..tdf };
    /// assert_eq!(off.cpu_cap_pct(1), None);
    /// ```
    pub fn cpu_cap_pct(&self, vcpus: usize) -> Option<u32> {
        (self.dilate_cpu_share && self.factor > 1.0)
            .then(|| ((100.0 * vcpus as f64 / self.factor).ceil() as u32).max(1))
    }

    /// The transform for a domain created at physical time `base_phys`
    /// whose perceived time then read `base_virt_ns`.
    pub fn at(&self, base_phys: SimTime, base_virt_ns: u64) -> Result<Tdf, ConfigError> {
        Tdf::new(self.factor, base_phys, base_virt_ns)
    }
}

/// A domain's dilation transform between physical and perceived time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tdf {
    /// Physical seconds per perceived second (> 0).
    pub factor: f64,
    /// Physical instant at which the dilation started (VM creation).
    pub base_phys: SimTime,
    /// Perceived time at `base_phys`, ns.
    pub base_virt_ns: u64,
}

impl Tdf {
    /// A transform; `factor` must be within [[`TDF_MIN`], [`TDF_MAX`]].
    pub fn new(factor: f64, base_phys: SimTime, base_virt_ns: u64) -> Result<Self, ConfigError> {
        let cfg = TdfConfig {
            factor,
            ..TdfConfig::default()
        };
        match cfg.validate("tdf").into_iter().next() {
            Some(err) => Err(err),
            None => Ok(Tdf {
                factor,
                base_phys,
                base_virt_ns,
            }),
        }
    }

    /// Perceived time at physical instant `phys`, ns. Instants before the
    /// base map to the base.
    pub fn virt_ns(&self, phys: SimTime) -> u64 {
        let d = phys.saturating_since(self.base_phys).as_nanos();
        self.base_virt_ns.wrapping_add(self.divide(d as i64) as u64)
    }

    /// Dilates any physical-time quantity the hypervisor publishes (Xen
    /// system time, wall-clock UTC), ns: `base + (x − x_base)/TDF`, where
    /// `x_base` is its value at VM creation.
    pub fn dilate_ns(&self, x_ns: u64, x_base_ns: u64) -> u64 {
        self.counter(x_ns, x_base_ns, true)
    }

    /// A counter read as the guest sees it: dilated about `base_count` if
    /// `dilate` (trapped RDTSC), raw otherwise (the leak). Counts are
    /// two's complement, so one just below the base (a counter whose phase
    /// starts negative) stays just below it.
    pub fn counter(&self, count: u64, base_count: u64, dilate: bool) -> u64 {
        if dilate {
            let elapsed = count.wrapping_sub(base_count) as i64;
            base_count.wrapping_add(self.divide(elapsed) as u64)
        } else {
            count
        }
    }

    /// `x / TDF` rounded to the nearest integer (halves away from zero),
    /// exactly: a TSC count passes 2⁵³, where an `f64` quotient would move
    /// in steps of many ticks, after 35 days at 3 GHz. The factor, an
    /// `f64` in [1, 1000], is the fraction `m / 2^k` of two integers.
    fn divide(&self, x: i64) -> i64 {
        let bits = self.factor.to_bits();
        let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
        // factor = mantissa · 2^exp, exp in [−52, −43] over the valid range.
        let exp = ((bits >> 52) & 0x7ff) as i32 - 1075;
        let k = (-exp).clamp(0, 52) as u32;
        let shift = mantissa.trailing_zeros().min(k);
        let (m, k) = (i128::from(mantissa >> shift), k - shift);
        // |x|·2^k < 2^115 and the quotient is at most |x|: no overflow.
        let n = i128::from(x).unsigned_abs() << k;
        let q = ((2 * n + m as u128) / (2 * m as u128)) as i64;
        if x < 0 { -q } else { q }
    }

    /// Physical duration of a one-shot timeout of `virt` perceived time.
    pub fn timeout_phys(&self, virt: SimDuration) -> SimDuration {
        SimDuration::from_nanos((virt.as_nanos() as f64 * self.factor).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn exact_transforms_for_integer_and_fractional_factors() {
        for f in [1.0, 2.0, 10.0, 2.5] {
            let t = Tdf::new(f, SimTime::from_secs(100), 7 * MS).unwrap();
            // A 1 s virtual timeout takes TDF s physical.
            assert_eq!(
                t.timeout_phys(SimDuration::from_secs(1)).as_nanos(),
                (1e9 * f) as u64
            );
            // Perceived time runs at 1/TDF from its base.
            let p = SimTime::from_secs(100) + SimDuration::from_secs(20);
            assert_eq!(t.virt_ns(p), 7 * MS + (20e9 / f).round() as u64);
            assert_eq!(t.virt_ns(SimTime::from_secs(50)), 7 * MS);
        }
    }

    #[test]
    fn rdtsc_leaks_unless_trapped() {
        let t = Tdf::new(4.0, SimTime::ZERO, 0).unwrap();
        assert_eq!(t.counter(1_000_400, 1_000_000, false), 1_000_400);
        assert_eq!(t.counter(1_000_400, 1_000_000, true), 1_000_100);
        // Wall clock and system time are dilated about their creation values.
        assert_eq!(t.dilate_ns(5_000 + 8_000, 5_000), 7_000);
    }

    #[test]
    fn counts_below_the_base_and_beyond_2_53_dilate_exactly() {
        // A phase 1000 ticks below zero reads 500 below it (it read near
        // 2^63, and jumped to 0 as the count crossed zero).
        let half = Tdf::new(2.0, SimTime::ZERO, 0).unwrap();
        assert_eq!(half.counter(u64::MAX - 999, 0, true), u64::MAX - 499);
        assert_eq!(half.counter(998, 1000, true), 999);
        // Far above 2^53 every tick still counts (an f64 quotient moved in
        // steps of hundreds of ticks at 2^62).
        let third = Tdf::new(3.0, SimTime::ZERO, 0).unwrap();
        let big = 1u64 << 62;
        for i in 0..3000 {
            // round(n/3) = ⌊(n + 1)/3⌋: a third is never a half.
            assert_eq!(
                third.counter(big + i, 0, true),
                (big + i + 1) / 3,
                "2^62 + {i}"
            );
        }
        // A factor with a fraction: round(2x/5), halves up.
        let f = Tdf::new(2.5, SimTime::ZERO, 0).unwrap();
        for x in [0u64, 1, 2, 5, 1 << 60, (1 << 62) + 7, i64::MAX as u64] {
            let exact = ((4 * u128::from(x) + 5) / 10) as u64;
            assert_eq!(f.counter(x, 0, true), exact, "{x}");
        }
        // Perceived time past 2^53 ns (104 days) to the nanosecond.
        let ns = (1u64 << 60) + 1;
        assert_eq!(third.virt_ns(SimTime::from_nanos(ns)), (ns + 1) / 3);
    }

    #[test]
    fn factor_outside_one_to_tdf_max_is_rejected_with_field_and_range() {
        for bad in [0.0, -1.0, f64::NAN, 1e6, 0.5, 1e-300, f64::INFINITY] {
            let errs = TdfConfig {
                factor: bad,
                ..TdfConfig::default()
            }
            .validate("domains[0].tdf");
            assert_eq!(errs.len(), 1, "factor {bad}");
            assert_eq!(errs[0].field, "domains[0].tdf.factor");
            assert!(errs[0].message.contains("[1, 1000]"), "{}", errs[0].message);
            assert!(Tdf::new(bad, SimTime::ZERO, 0).is_err());
        }
        for good in [TDF_MIN, 2.0, TDF_MAX] {
            assert!(Tdf::new(good, SimTime::ZERO, 0).is_ok(), "factor {good}");
        }
        assert!(TdfConfig::default().validate("x").is_empty());
    }

    #[test]
    fn halves_round_away_from_zero() {
        // 3/2 = 1.5 → 2 and −3/2 → −2, about the base; 6/4 = 1.5 → 2.
        let half = Tdf::new(2.0, SimTime::ZERO, 0).unwrap();
        assert_eq!(half.counter(1_003, 1_000, true), 1_002);
        assert_eq!(half.counter(997, 1_000, true), 998);
        assert_eq!(half.virt_ns(SimTime::from_nanos(3)), 2);
        let quarter = Tdf::new(4.0, SimTime::ZERO, 0).unwrap();
        assert_eq!(quarter.counter(1_006, 1_000, true), 1_002);
        assert_eq!(quarter.counter(994, 1_000, true), 998);
    }

    #[test]
    fn the_cpu_cap_gives_at_least_one_over_tdf_of_the_vcpus() {
        // ⌈100·vCPUs/TDF⌉: never below the share, less than 1 % above it.
        for (factor, vcpus, cap) in [(3.0, 1, 34), (3.0, 2, 67), (7.0, 4, 58), (1000.0, 1, 1)] {
            let cfg = TdfConfig {
                factor,
                ..TdfConfig::default()
            };
            assert_eq!(
                cfg.cpu_cap_pct(vcpus),
                Some(cap),
                "TDF {factor}, {vcpus} vCPUs"
            );
            let share_pct = 100.0 * vcpus as f64 / factor;
            assert!(f64::from(cap) >= share_pct && f64::from(cap) < share_pct + 1.0);
        }
        // Undilated: no cap, the domain runs as configured.
        assert_eq!(TdfConfig::default().cpu_cap_pct(4), None);
    }
}
