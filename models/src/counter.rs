//! # Hardware counters: TSC, HPET, ACPI PM timer, PIT
//!
//! A counter is a register that a crystal advances at a nominal rate `f`
//! (integer hertz). If the crystal's time error is `x(t)` (see
//! [`crate::oscillator`]), an ideal counter reads
//!
//! ```text
//! count(t) = ⌊ f·(t + x(t)) ⌋ + core offset + rate pathologies      (64 bit)
//! register(t) = count(t) mod 2^bits
//! ```
//!
//! so its resolution is one tick. The counter does **not** own an
//! oscillator: HPET, ACPI PM and PIT all divide down one 14.31818 MHz
//! reference per host, so the host keeps one crystal for them (and one per
//! TSC package) and passes the crystal's time error at every read
//! (`virt-models.md` §1.1, §1.5).
//!
//! | counter | nominal f | width | wrap period | bare read | emulated read |
//! |---|---|---|---|---|---|
//! | TSC | 3 GHz (default) | 64 | 195 years | 7 ns | 140 ns |
//! | HPET | 14 318 180 Hz | 32 | 299.97 s | 0.7 µs | 3 µs |
//! | ACPI PM | 3 579 545 Hz | 24 | 4.687 s | 0.8 µs | 2.5 µs |
//! | PIT | 1 193 182 Hz | 16 | 54.9 ms | 3 µs | 9 µs |
//!
//! (§1.1, §1.2 and the §7 table; latencies are engineering estimates, \[E\]
//! there, except the TSC's 24 cycles and the 15–20× cost of emulation.)
//!
//! ## Precision
//!
//! At 3 GHz a year is 9.5·10¹⁶ ticks, beyond the 2⁵³ that an `f64` counts
//! exactly. `f·t` is therefore computed in integer arithmetic (`i128`, from
//! integer nanoseconds) and only the small terms (the fraction of a tick,
//! `f·x`, rate pathologies) in floating point, so an ideal crystal gives a
//! count within one tick of `f·t` at any time.
//!
//! ## Narrow counters wrap
//!
//! Kernels extend narrow counters to 64 bits in software: remember the last
//! register value and add `(now − last) mod 2^bits`. This is right only if
//! reads are less than one wrap period apart; after a longer gap whole
//! wraps are silently lost. [`WrapExtender`] is that mechanism, failure mode
//! included.
//!
//! ## TSC pathologies (§1.4)
//!
//! * per-core offsets (TSCs start when each core is powered);
//! * on a non-invariant TSC, the rate follows the core's P-state (a rate
//!   factor, scheduled or random) and the count stops while the core halts
//!   in a deep C-state. Each core has its own rate process.
//!
//! The lost (or gained) ticks of a non-invariant TSC are accumulated per
//! piece of constant rate at the nominal frequency; the crystal's ppm error
//! on these ticks is a second-order effect (ppm of the pathology) and is
//! not modelled.
//!
//! ```
//! use models::counter::{Counter, CounterConfig, CounterKind, WrapExtender};
//! use sim_core::{RngStreams, SimTime};
//! let cfg = CounterConfig { kind: CounterKind::AcpiPm, ..CounterConfig::default() };
//! let mut pm = Counter::new(&cfg, RngStreams::new(1).stream("host0/pm"));
//! assert_eq!(pm.nominal_hz(), 3_579_545);
//! assert!((pm.wrap_period_s() - 4.687).abs() < 1e-3);
//! let t = SimTime::from_secs(10);
//! assert_eq!(pm.count_at(t, 0.0, 0), 35_795_450);
//! assert_eq!(pm.register_at(t, 0.0, 0), 35_795_450 % (1 << 24));
//! ```

use algorithms::{ConfigError, CounterInfo};
use rand::RngExt;
use rand_distr::{Exp1, Gamma};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimRng, SimTime};

/// Which hardware counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum CounterKind {
    /// Time-stamp counter, read with `rdtsc`.
    #[default]
    Tsc,
    /// High Precision Event Timer main counter (MMIO).
    Hpet,
    /// ACPI power-management timer (port I/O).
    AcpiPm,
    /// 8254 programmable interval timer, channel 0.
    Pit,
}

impl CounterKind {
    /// Nominal frequency, Hz: TSC 3 GHz (§7), HPET 14 318 180 Hz, ACPI PM
    /// 3 579 545 Hz, PIT 1 193 182 Hz (§1.1: 14.31818 MHz ÷1, ÷4, ÷12).
    pub const fn default_hz(self) -> u64 {
        match self {
            CounterKind::Tsc => 3_000_000_000,
            CounterKind::Hpet => 14_318_180,
            CounterKind::AcpiPm => 3_579_545,
            CounterKind::Pit => 1_193_182,
        }
    }

    /// Register width, bits, as Linux and Xen read it (§1.1).
    pub const fn default_bits(self) -> u32 {
        match self {
            CounterKind::Tsc => 64,
            CounterKind::Hpet => 32,
            CounterKind::AcpiPm => 24,
            CounterKind::Pit => 16,
        }
    }

    /// Default read latency, bare metal or emulated (§1.2, §7 notes E, F, M).
    pub const fn default_latency(self, emulated: bool) -> LatencyConfig {
        let (mean_ns, min_ns, jitter_ns) = match (self, emulated) {
            // 24 cycles ≈ 7 ns ± 1 (note E); emulated rdtsc 15–20× (note M).
            (CounterKind::Tsc, false) => (7.0, 6.0, 1.0),
            (CounterKind::Tsc, true) => (140.0, 100.0, 20.0),
            // MMIO to the PCH, 0.5–1.5 µs; emulated 1–10 µs (note F).
            (CounterKind::Hpet, false) => (700.0, 500.0, 150.0),
            (CounterKind::Hpet, true) => (3000.0, 1000.0, 1000.0),
            // Port I/O 0.5–1.5 µs; emulated 1–5 µs (note F).
            (CounterKind::AcpiPm, false) => (800.0, 500.0, 150.0),
            (CounterKind::AcpiPm, true) => (2500.0, 1000.0, 700.0),
            // Latch + 2 inb: several µs, plus an exit per port access (§1.2).
            (CounterKind::Pit, false) => (3000.0, 2000.0, 500.0),
            (CounterKind::Pit, true) => (9000.0, 5000.0, 2000.0),
        };
        LatencyConfig {
            mean_ns,
            min_ns,
            jitter_ns,
        }
    }
}

/// A read-latency distribution: `min_ns` plus a gamma-distributed excess
/// whose mean is `mean_ns − min_ns` and standard deviation `jitter_ns`
/// (right-skewed, as access latencies are). `jitter_ns = 0` gives the
/// constant `mean_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyConfig {
    /// Mean latency, ns.
    pub mean_ns: f64,
    /// Minimum latency, ns.
    pub min_ns: f64,
    /// Standard deviation, ns.
    pub jitter_ns: f64,
}

impl Default for LatencyConfig {
    /// The bare-metal TSC latency (7 ± 1 ns, §7 note E).
    fn default() -> Self {
        CounterKind::Tsc.default_latency(false)
    }
}

impl LatencyConfig {
    /// Checks the fields; `path` names this struct.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut e = Vec::new();
        ConfigError::check_range(
            &mut e,
            &format!("{path}.min_ns"),
            self.min_ns,
            0.0,
            1e9,
            "ns",
        );
        ConfigError::check_range(
            &mut e,
            &format!("{path}.mean_ns"),
            self.mean_ns,
            self.min_ns.max(0.0),
            1e9,
            "ns",
        );
        ConfigError::check_range(
            &mut e,
            &format!("{path}.jitter_ns"),
            self.jitter_ns,
            0.0,
            1e9,
            "ns",
        );
        if self.jitter_ns > 0.0 && self.mean_ns <= self.min_ns {
            e.push(ConfigError::new(
                format!("{path}.jitter_ns"),
                format!(
                    "{} ns of jitter needs mean_ns > min_ns (got mean {} ns, min {} ns)",
                    self.jitter_ns, self.mean_ns, self.min_ns
                ),
            ));
        }
        e
    }
}

/// One step of a scheduled P-state rate change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PstateStep {
    /// True time at which the factor takes effect, seconds.
    pub at_s: f64,
    /// TSC rate as a fraction of nominal (e.g. 0.5 at half clock).
    pub factor: f64,
}

impl Default for PstateStep {
    fn default() -> Self {
        PstateStep {
            at_s: 0.0,
            factor: 1.0,
        }
    }
}

/// How a non-invariant TSC's rate follows the core's P-state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PstateConfig {
    /// A fixed schedule of rate factors, applied to every core, sorted by
    /// time (the factor is 1 before the first step). Takes precedence over
    /// `random_factors`.
    pub schedule: Vec<PstateStep>,
    /// Rate factors a core switches between at random (uniformly chosen at
    /// each switch); empty = none.
    pub random_factors: Vec<f64>,
    /// Mean dwell time in one P-state, seconds (exponential; default 1 s,
    /// an engineering estimate of governor decision intervals).
    pub mean_dwell_s: f64,
}

impl Default for PstateConfig {
    fn default() -> Self {
        PstateConfig {
            schedule: Vec::new(),
            random_factors: Vec::new(),
            mean_dwell_s: 1.0,
        }
    }
}

/// Deep C-state halts that stop a non-nonstop TSC (§1.4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CstateHaltConfig {
    /// Rate of halt episodes while running, per second (Poisson; default 0 =
    /// never halts).
    pub halt_rate_per_s: f64,
    /// Mean halt duration, µs (exponential; default 1000 µs, an engineering
    /// estimate of idle residency).
    pub mean_halt_us: f64,
}

impl Default for CstateHaltConfig {
    fn default() -> Self {
        CstateHaltConfig {
            halt_rate_per_s: 0.0,
            mean_halt_us: 1000.0,
        }
    }
}

/// TSC-specific behaviour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TscConfig {
    /// Offset of each core's TSC, ticks; its length is the number of cores
    /// (empty = one core, offset 0). §7: 0 when invariant and synchronised,
    /// up to 10⁶ ticks on legacy parts.
    pub core_offsets_ticks: Vec<i64>,
    /// Invariant (constant and nonstop) TSC: rate independent of P- and
    /// C-states (default true, as on modern parts; §7 `tsc_constant`,
    /// `tsc_nonstop`). When false, `pstate` and `cstate_halt` apply.
    pub invariant: bool,
    /// P-state rate changes of a non-invariant TSC.
    pub pstate: PstateConfig,
    /// C-state halts of a non-invariant TSC.
    pub cstate_halt: CstateHaltConfig,
}

impl Default for TscConfig {
    fn default() -> Self {
        TscConfig {
            core_offsets_ticks: Vec::new(),
            invariant: true,
            pstate: PstateConfig::default(),
            cstate_halt: CstateHaltConfig::default(),
        }
    }
}

/// A counter's configuration. Unset options take the per-kind defaults of
/// [`CounterKind`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CounterConfig {
    /// Which counter.
    pub kind: CounterKind,
    /// Nominal frequency, Hz (default per kind, [`CounterKind::default_hz`]).
    pub nominal_hz: Option<u64>,
    /// Register width, bits, 8..=64 (default per kind).
    pub bits: Option<u32>,
    /// Read latency (default per kind and `emulated`,
    /// [`CounterKind::default_latency`]).
    pub read_latency_ns: Option<LatencyConfig>,
    /// Reads trap to the hypervisor (changes the default latency).
    pub emulated: bool,
    /// TSC behaviour (ignored by the other kinds).
    pub tsc: TscConfig,
}

impl Default for CounterConfig {
    fn default() -> Self {
        CounterConfig {
            kind: CounterKind::Tsc,
            nominal_hz: None,
            bits: None,
            read_latency_ns: None,
            emulated: false,
            tsc: TscConfig::default(),
        }
    }
}

impl CounterConfig {
    /// The nominal frequency in effect, Hz.
    pub fn effective_hz(&self) -> u64 {
        self.nominal_hz.unwrap_or(self.kind.default_hz())
    }

    /// The register width in effect, bits.
    pub fn effective_bits(&self) -> u32 {
        self.bits.unwrap_or(self.kind.default_bits())
    }

    /// The read-latency distribution in effect.
    pub fn effective_latency(&self) -> LatencyConfig {
        self.read_latency_ns
            .unwrap_or(self.kind.default_latency(self.emulated))
    }

    /// Checks every field; `path` prefixes the field names.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut e = Vec::new();
        // Up to 10 GHz (real TSCs run below 6 GHz): a 64-bit count then
        // stays below 2⁶³ for 29 years at the nominal rate, so counts
        // subtract and order right (see `algorithms::ticks_between`);
        // `HostConfig::validate_count_range` bounds a run's counts with its
        // P-states and core offsets.
        if let Some(hz) = self.nominal_hz
            && !(1_000..=10_000_000_000).contains(&hz)
        {
            e.push(ConfigError::new(
                format!("{path}.nominal_hz"),
                format!("{hz} is outside the valid range 1000..=10000000000 Hz"),
            ));
        }
        if let Some(bits) = self.bits
            && !(8..=64).contains(&bits)
        {
            e.push(ConfigError::new(
                format!("{path}.bits"),
                format!("{bits} is outside the valid range 8..=64 bits"),
            ));
        }
        if let Some(l) = &self.read_latency_ns {
            e.extend(l.validate(&format!("{path}.read_latency_ns")));
        }
        let t = &self.tsc;
        for (i, off) in t.core_offsets_ticks.iter().enumerate() {
            if off.unsigned_abs() > 1 << 62 {
                e.push(ConfigError::new(
                    format!("{path}.tsc.core_offsets_ticks[{i}]"),
                    format!("{off} is outside the valid range ±2^62 ticks"),
                ));
            }
        }
        let mut last_at_s = f64::NEG_INFINITY;
        for (i, s) in t.pstate.schedule.iter().enumerate() {
            let p = format!("{path}.tsc.pstate.schedule[{i}]");
            ConfigError::check_range(&mut e, &format!("{p}.at_s"), s.at_s, 0.0, 1e10, "s");
            ConfigError::check_range(
                &mut e,
                &format!("{p}.factor"),
                s.factor,
                0.0,
                10.0,
                "(rate / nominal)",
            );
            if s.at_s < last_at_s {
                e.push(ConfigError::new(
                    format!("{p}.at_s"),
                    "schedule steps must be sorted by time",
                ));
            }
            last_at_s = s.at_s;
        }
        for (i, f) in t.pstate.random_factors.iter().enumerate() {
            ConfigError::check_range(
                &mut e,
                &format!("{path}.tsc.pstate.random_factors[{i}]"),
                *f,
                0.0,
                10.0,
                "(rate / nominal)",
            );
        }
        ConfigError::check_range(
            &mut e,
            &format!("{path}.tsc.pstate.mean_dwell_s"),
            t.pstate.mean_dwell_s,
            1e-6,
            1e9,
            "s",
        );
        ConfigError::check_range(
            &mut e,
            &format!("{path}.tsc.cstate_halt.halt_rate_per_s"),
            t.cstate_halt.halt_rate_per_s,
            0.0,
            1e6,
            "1/s",
        );
        ConfigError::check_range(
            &mut e,
            &format!("{path}.tsc.cstate_halt.mean_halt_us"),
            t.cstate_halt.mean_halt_us,
            1e-3,
            1e9,
            "µs",
        );
        e
    }
}

/// Read-latency sampler.
#[derive(Clone, Debug)]
enum Latency {
    Constant(SimDuration),
    Gamma { min_ns: f64, excess: Gamma<f64> },
}

impl Latency {
    fn new(cfg: &LatencyConfig) -> Self {
        let excess_ns = cfg.mean_ns - cfg.min_ns;
        if cfg.jitter_ns <= 0.0 || excess_ns <= 0.0 {
            return Latency::Constant(SimDuration::from_secs_f64(cfg.mean_ns.max(0.0) * 1e-9));
        }
        // Gamma with mean m and sd s: shape (m/s)², scale s²/m.
        let shape = (excess_ns / cfg.jitter_ns).powi(2);
        let scale = cfg.jitter_ns * cfg.jitter_ns / excess_ns;
        match Gamma::new(shape, scale) {
            Ok(excess) => Latency::Gamma {
                min_ns: cfg.min_ns,
                excess,
            },
            Err(_) => Latency::Constant(SimDuration::from_secs_f64(cfg.mean_ns.max(0.0) * 1e-9)),
        }
    }
}

/// The piecewise-constant rate process of one non-invariant TSC core.
#[derive(Clone, Debug)]
struct CoreRate {
    rng: SimRng,
    /// Start of the current piece of constant rate, ns.
    piece_start_ns: u64,
    /// P-state factor in effect.
    factor: f64,
    halted: bool,
    /// Next P-state change (ns; `u64::MAX` = never) and the schedule cursor.
    next_pstate_ns: u64,
    schedule_idx: usize,
    /// Next halt start or end, ns (`u64::MAX` = never).
    next_halt_ns: u64,
    /// Ticks gained (negative: lost) relative to nominal over closed pieces.
    closed_excess: ExcessTicks,
}

/// A tick count too large for an `f64` to hold to a tick: whole ticks,
/// plus a fraction in `[0, 1)`. A TSC that runs at half rate for a year
/// at 3 GHz is 4.7·10¹⁶ ticks behind nominal, where one `f64` ulp is 8
/// ticks; held in one `f64`, its count would step backwards and its sum
/// over many pieces drift by rounding.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct ExcessTicks {
    whole: i128,
    frac: f64,
}

impl ExcessTicks {
    /// The excess of `dur_ns` at `ticks_per_s` beyond nominal. The whole
    /// seconds' product is split exactly (`mul_add` gives its rounding
    /// error), so the result is good to ~10⁻⁶ tick at any duration.
    fn of(ticks_per_s: f64, dur_ns: u64) -> Self {
        const NS_PER_S: u64 = 1_000_000_000;
        let secs = (dur_ns / NS_PER_S) as f64;
        let whole_s = ticks_per_s * secs;
        let rounding = ticks_per_s.mul_add(secs, -whole_s);
        // Divided rather than scaled by 1e-9, so whole results stay whole.
        let sub_s = ticks_per_s * (dur_ns % NS_PER_S) as f64 / NS_PER_S as f64;
        let floor = whole_s.floor();
        ExcessTicks {
            whole: floor as i128,
            frac: 0.0,
        }
        .plus_frac((whole_s - floor) + rounding + sub_s)
    }

    /// Adds `x` ticks (|x| far below 2⁵³), keeping the fraction in `[0, 1)`.
    fn plus_frac(self, x: f64) -> Self {
        let frac = self.frac + x;
        let carry = frac.floor();
        ExcessTicks {
            whole: self.whole + carry as i128,
            frac: frac - carry,
        }
    }

    fn plus(self, other: Self) -> Self {
        ExcessTicks {
            whole: self.whole + other.whole,
            ..self
        }
        .plus_frac(other.frac)
    }
}

/// A counter at run time.
#[derive(Clone, Debug)]
pub struct Counter {
    kind: CounterKind,
    hz: u64,
    bits: u32,
    mask: u64,
    latency: Latency,
    offsets_ticks: Vec<i64>,
    /// Rate state per core; empty for an invariant TSC and for other kinds.
    cores: Vec<CoreRate>,
    schedule: Vec<PstateStep>,
    random_factors: Vec<f64>,
    mean_dwell_s: f64,
    halt_rate_per_s: f64,
    mean_halt_s: f64,
    /// The last [`Counter::count_at`] as `(t, core, crystal error bits,
    /// count)`: every clock probed at one instant reads the same counter.
    last_count: Option<(SimTime, usize, u64, u64)>,
}

fn secs_to_ns(s: f64) -> u64 {
    if s.is_finite() && s >= 0.0 {
        (s * 1e9).round().min(u64::MAX as f64) as u64
    } else {
        u64::MAX
    }
}

impl Counter {
    /// Builds the counter. Each TSC core's rate process draws from its own
    /// sub-stream of `rng`, so the pathologies do not depend on how reads
    /// interleave across cores. The configuration
    /// should have passed [`CounterConfig::validate`].
    pub fn new(cfg: &CounterConfig, rng: SimRng) -> Self {
        let bits = cfg.effective_bits().clamp(1, 64);
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let t = &cfg.tsc;
        let is_tsc = cfg.kind == CounterKind::Tsc;
        let mut counter = Counter {
            kind: cfg.kind,
            hz: cfg.effective_hz().max(1),
            bits,
            mask,
            latency: Latency::new(&cfg.effective_latency()),
            offsets_ticks: if is_tsc {
                t.core_offsets_ticks.clone()
            } else {
                Vec::new()
            },
            cores: Vec::new(),
            schedule: t.pstate.schedule.clone(),
            random_factors: t.pstate.random_factors.clone(),
            mean_dwell_s: t.pstate.mean_dwell_s,
            halt_rate_per_s: t.cstate_halt.halt_rate_per_s,
            mean_halt_s: t.cstate_halt.mean_halt_us * 1e-6,
            last_count: None,
        };
        let pathological = !counter.schedule.is_empty()
            || !counter.random_factors.is_empty()
            || counter.halt_rate_per_s > 0.0;
        if is_tsc && !t.invariant && pathological {
            let n = t.core_offsets_ticks.len().max(1);
            counter.cores = (0..n)
                .map(|i| {
                    let mut r = rng.clone();
                    r.set_stream(1 + i as u64);
                    counter.new_core_rate(r)
                })
                .collect();
        }
        counter
    }

    fn new_core_rate(&self, mut rng: SimRng) -> CoreRate {
        let (factor, next_pstate_ns) = if !self.schedule.is_empty() {
            (1.0, secs_to_ns(self.schedule[0].at_s))
        } else if !self.random_factors.is_empty() {
            let i = rng.random_range(0..self.random_factors.len());
            let dwell: f64 = rng.sample(Exp1);
            (
                self.random_factors[i],
                secs_to_ns(dwell * self.mean_dwell_s),
            )
        } else {
            (1.0, u64::MAX)
        };
        let next_halt_ns = if self.halt_rate_per_s > 0.0 {
            let w: f64 = rng.sample(Exp1);
            secs_to_ns(w / self.halt_rate_per_s)
        } else {
            u64::MAX
        };
        CoreRate {
            rng,
            piece_start_ns: 0,
            factor,
            halted: false,
            next_pstate_ns,
            schedule_idx: 0,
            next_halt_ns,
            closed_excess: ExcessTicks::default(),
        }
    }

    /// Which counter this is.
    pub fn kind(&self) -> CounterKind {
        self.kind
    }

    /// Nominal frequency, Hz.
    pub fn nominal_hz(&self) -> u64 {
        self.hz
    }

    /// Register width, bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// What a kernel knows of this counter at boot.
    pub fn info(&self) -> CounterInfo {
        CounterInfo {
            nominal_hz: self.hz as f64,
        }
    }

    /// Time for the register to wrap at the nominal rate, seconds
    /// (`2^bits / f`).
    pub fn wrap_period_s(&self) -> f64 {
        2f64.powi(self.bits as i32) / self.hz as f64
    }

    /// Draws one read latency from the reader's stream `rng`.
    pub fn sample_read_latency(&self, rng: &mut SimRng) -> SimDuration {
        match &self.latency {
            Latency::Constant(d) => *d,
            Latency::Gamma { min_ns, excess } => {
                let ns = min_ns + rng.sample(excess);
                SimDuration::from_nanos(ns.round().max(0.0) as u64)
            }
        }
    }

    /// The full (unwrapped) 64-bit count at true time `t` on `core`, given
    /// the time error of the counter's crystal at `t`, seconds:
    /// `⌊f·(t + x)⌋ + offset + pathology ticks`, modulo 2⁶⁴ (a negative
    /// phase reads as the counter just below its 64-bit wrap, so differences
    /// in wrapping arithmetic stay right). Cores beyond the configured ones
    /// read as the last configured core.
    ///
    /// Reads of a non-invariant TSC advance its rate process and should be
    /// nearly monotone in time per core: a read earlier than the start of
    /// the current piece of constant rate is not exact, as it gets the
    /// ticks gained or lost up to that start (no time open in the piece),
    /// not those up to its own time.
    ///
    /// The count is exact in `t`; `x` comes as an `f64` of seconds worked
    /// out from `t` in seconds, whose unit in the last place is 119 ns
    /// twenty years in. Counts stay monotone while that quantum times the
    /// skew, plus x's own, stays below a nanosecond: for every skew up to
    /// ~4 000 ppm (the valid range is ±10 000) over twenty years.
    #[inline]
    pub fn count_at(&mut self, t: SimTime, crystal_time_error_s: f64, core: usize) -> u64 {
        let key = (t, core, crystal_time_error_s.to_bits());
        if let Some((at, c, x, count)) = self.last_count
            && (at, c, x) == key
        {
            return count;
        }
        let count = self.count_at_uncached(t, crystal_time_error_s, core);
        self.last_count = Some((key.0, key.1, key.2, count));
        count
    }

    #[inline(never)]
    fn count_at_uncached(&mut self, t: SimTime, crystal_time_error_s: f64, core: usize) -> u64 {
        let t_ns = t.as_nanos();
        let f = self.hz as f64;
        let (whole, frac_ticks) = whole_and_fraction_of_ticks(self.hz, t_ns);
        let mut small = frac_ticks + crystal_time_error_s * f;
        let mut big: i128 = whole;
        if let Some(offset) = self
            .offsets_ticks
            .get(core.min(self.offsets_ticks.len().saturating_sub(1)))
        {
            big += i128::from(*offset);
        }
        if !self.cores.is_empty() {
            let c = core.min(self.cores.len() - 1);
            let excess = self.excess_ticks(c, t_ns);
            big += excess.whole;
            small += excess.frac;
        }
        // Keep the float part small before flooring, so its ulp stays far below a tick.
        let small_floor = small.floor();
        (big + i128::from(small_floor as i64)) as u64
    }

    /// The register value (count masked to `bits`) at `t`.
    pub fn register_at(&mut self, t: SimTime, crystal_time_error_s: f64, core: usize) -> u64 {
        let c = self.count_at(t, crystal_time_error_s, core);
        self.register_of(c)
    }

    /// The register value a full count shows.
    pub fn register_of(&self, count: u64) -> u64 {
        count & self.mask
    }

    /// Ticks gained relative to nominal on `core` up to `t_ns` (negative when
    /// the TSC ran slow or halted).
    fn excess_ticks(&mut self, core: usize, t_ns: u64) -> ExcessTicks {
        let hz = self.hz as f64;
        loop {
            let c = &self.cores[core];
            let next = c.next_pstate_ns.min(c.next_halt_ns);
            if next > t_ns {
                break;
            }
            self.close_piece(core, next, hz);
        }
        let c = &self.cores[core];
        let rate = if c.halted { 0.0 } else { c.factor };
        let open = ExcessTicks::of((rate - 1.0) * hz, t_ns.saturating_sub(c.piece_start_ns));
        c.closed_excess.plus(open)
    }

    /// Closes the current constant-rate piece at `at_ns` and applies the
    /// state change(s) due then.
    fn close_piece(&mut self, core: usize, at_ns: u64, hz: f64) {
        let schedule = &self.schedule;
        let random_factors = &self.random_factors;
        let (mean_dwell_s, halt_rate_per_s, mean_halt_s) =
            (self.mean_dwell_s, self.halt_rate_per_s, self.mean_halt_s);
        let c = &mut self.cores[core];
        let rate = if c.halted { 0.0 } else { c.factor };
        let piece = ExcessTicks::of((rate - 1.0) * hz, at_ns.saturating_sub(c.piece_start_ns));
        c.closed_excess = c.closed_excess.plus(piece);
        c.piece_start_ns = at_ns;
        if c.next_pstate_ns == at_ns {
            if !schedule.is_empty() {
                c.factor = schedule[c.schedule_idx].factor;
                c.schedule_idx += 1;
                c.next_pstate_ns = schedule
                    .get(c.schedule_idx)
                    .map_or(u64::MAX, |s| secs_to_ns(s.at_s).max(at_ns));
            } else {
                let i = c.rng.random_range(0..random_factors.len());
                c.factor = random_factors[i];
                let w: f64 = c.rng.sample(Exp1);
                c.next_pstate_ns = at_ns.saturating_add(secs_to_ns(w * mean_dwell_s).max(1));
            }
        }
        if c.next_halt_ns == at_ns {
            c.halted = !c.halted;
            let w: f64 = c.rng.sample(Exp1);
            let mean_s = if c.halted {
                mean_halt_s
            } else {
                1.0 / halt_rate_per_s
            };
            c.next_halt_ns = at_ns.saturating_add(secs_to_ns(w * mean_s).max(1));
        }
    }
}

/// The kernel's software extension of a narrow counter to 64 bits: keep the
/// last value and add the masked difference of registers. Monotone and
/// exact while successive reads are less than one wrap period apart; a
/// longer gap loses every whole wrap that happened in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrapExtender {
    mask: u64,
    last: Option<u64>,
}

impl WrapExtender {
    /// An extender for a `bits`-wide register (1..=64; clamped).
    pub fn new(bits: u32) -> Self {
        let bits = bits.clamp(1, 64);
        WrapExtender {
            mask: if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            },
            last: None,
        }
    }

    /// Extends one register read. The first read is taken as is.
    pub fn extend(&mut self, register: u64) -> u64 {
        let register = register & self.mask;
        let value = match self.last {
            None => register,
            Some(last) => last.wrapping_add(register.wrapping_sub(last) & self.mask),
        };
        self.last = Some(value);
        value
    }

    /// The last extended value, if any read happened.
    pub fn last(&self) -> Option<u64> {
        self.last
    }
}

/// `hz · t_ns / 1e9` exactly, as whole ticks and the fraction of a tick.
///
/// Splitting `t` into seconds and nanoseconds keeps the division by 1e9 in
/// 64 bits (a 128-bit division costs tens of cycles on every counter read);
/// 128-bit arithmetic is the fallback for rates above about 18 GHz.
#[inline]
fn whole_and_fraction_of_ticks(hz: u64, t_ns: u64) -> (i128, f64) {
    const NS_PER_S: u64 = 1_000_000_000;
    let (secs, sub_ns) = (t_ns / NS_PER_S, t_ns % NS_PER_S);
    match hz.checked_mul(sub_ns) {
        Some(sub) => (
            i128::from(hz) * i128::from(secs) + i128::from(sub / NS_PER_S),
            (sub % NS_PER_S) as f64 * 1e-9,
        ),
        None => {
            let ft = i128::from(hz) * i128::from(t_ns);
            (
                ft / i128::from(NS_PER_S),
                (ft % i128::from(NS_PER_S)) as f64 * 1e-9,
            )
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn tick_split_matches_128_bit_arithmetic() {
        for &hz in &[
            1u64,
            3_579_545,
            14_318_180,
            1_193_182,
            2_400_000_000,
            30_000_000_000,
        ] {
            for &t in &[
                0u64,
                1,
                999_999_999,
                1_000_000_000,
                86_400_123_456_789,
                u64::MAX,
            ] {
                let ft = i128::from(hz) * i128::from(t);
                let (w, f) = whole_and_fraction_of_ticks(hz, t);
                assert_eq!(w, ft / 1_000_000_000, "hz {hz} t {t}");
                assert_eq!(f, (ft % 1_000_000_000) as f64 * 1e-9, "hz {hz} t {t}");
            }
        }
    }
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn counter(kind: CounterKind) -> Counter {
        Counter::new(
            &CounterConfig {
                kind,
                ..CounterConfig::default()
            },
            SimRng::seed_from_u64(9),
        )
    }

    /// `count/f − t` in seconds, computed exactly in integers.
    fn count_time_error_s(count: u64, hz: u64, t: SimTime) -> f64 {
        let num = i128::from(count) * 1_000_000_000 - i128::from(hz) * i128::from(t.as_nanos());
        num as f64 / (hz as f64 * 1e9)
    }

    #[test]
    fn nominal_rates_widths_and_wrap_periods() {
        let hpet = counter(CounterKind::Hpet);
        assert_eq!((hpet.nominal_hz(), hpet.bits()), (14_318_180, 32));
        assert!(
            (hpet.wrap_period_s() - 299.97).abs() < 0.01,
            "{}",
            hpet.wrap_period_s()
        );
        let pm = counter(CounterKind::AcpiPm);
        assert_eq!((pm.nominal_hz(), pm.bits()), (3_579_545, 24));
        assert!(
            (pm.wrap_period_s() - 4.687).abs() < 0.001,
            "{}",
            pm.wrap_period_s()
        );
        let pit = counter(CounterKind::Pit);
        assert_eq!((pit.nominal_hz(), pit.bits()), (1_193_182, 16));
        assert!((pit.wrap_period_s() - 0.0549).abs() < 1e-4);
        let tsc = counter(CounterKind::Tsc);
        assert_eq!((tsc.nominal_hz(), tsc.bits()), (3_000_000_000, 64));
        assert!((tsc.wrap_period_s() / (365.25 * 86_400.0) - 194.9).abs() < 0.1);
    }

    #[test]
    fn ideal_crystal_over_one_year_keeps_sub_nanosecond_time() {
        let year = SimTime::from_secs(365 * 86_400);
        for kind in [CounterKind::Tsc, CounterKind::Hpet] {
            let mut c = counter(kind);
            for t in [
                year,
                year + SimDuration::from_nanos(1),
                year + SimDuration::from_nanos(333_333_333),
                SimTime::from_nanos(31_536_000_123_456_789),
            ] {
                let count = c.count_at(t, 0.0, 0);
                let err = count_time_error_s(count, c.nominal_hz(), t);
                // Truncation to whole ticks: −1 tick < error ≤ 0.
                assert!(
                    err <= 0.0 && err > -1.0 / c.nominal_hz() as f64,
                    "{kind:?} at {t}: {err:e} s"
                );
                if kind == CounterKind::Tsc {
                    assert!(err.abs() < 1e-9);
                }
            }
        }
        // The exact value at the year mark, well past 2^53 ticks.
        assert_eq!(
            counter(CounterKind::Tsc).count_at(year, 0.0, 0),
            94_608_000_000_000_000
        );
    }

    #[test]
    fn crystal_time_error_shifts_the_count() {
        let mut c = counter(CounterKind::Tsc);
        let t = SimTime::from_secs(365 * 86_400);
        let x = 1.5e-3 + 0.2e-9;
        let count = c.count_at(t, x, 0);
        let err = count_time_error_s(count, c.nominal_hz(), t);
        assert!((err - x).abs() < 1.0 / 3e9, "{err:e}");
        // A negative phase wraps modulo 2^64 and differences still work.
        let neg = c.count_at(SimTime::ZERO, -1e-6, 0);
        assert_eq!(neg, (-3000i64) as u64);
        assert_eq!(
            c.count_at(SimTime::from_nanos(2_000), -1e-6, 0)
                .wrapping_sub(neg),
            6000
        );
    }

    #[test]
    fn registers_are_masked_counts() {
        let mut pm = counter(CounterKind::AcpiPm);
        let t = SimTime::from_secs(100);
        let count = pm.count_at(t, 0.0, 0);
        assert_eq!(count, 357_954_500);
        assert_eq!(pm.register_at(t, 0.0, 0), count % (1 << 24));
        assert_eq!(pm.register_of(count), count & 0xff_ffff);
    }

    #[test]
    fn per_core_offsets_apply() {
        let cfg = CounterConfig {
            tsc: TscConfig {
                core_offsets_ticks: vec![0, 1_000_000, -500],
                ..TscConfig::default()
            },
            ..CounterConfig::default()
        };
        let mut c = Counter::new(&cfg, SimRng::seed_from_u64(1));
        let t = SimTime::from_secs(3600);
        let base = c.count_at(t, 0.0, 0);
        assert_eq!(c.count_at(t, 0.0, 1) - base, 1_000_000);
        assert_eq!(base - c.count_at(t, 0.0, 2), 500);
        // Out-of-range cores read as the last configured one.
        assert_eq!(c.count_at(t, 0.0, 7), c.count_at(t, 0.0, 2));
    }

    #[test]
    fn a_count_depends_on_the_crystal_error_given_at_the_same_instant() {
        // The count is ⌊f·(t + x)⌋ for the x given with each read, even at
        // an instant just read: 1 µs more time error is 3000 more ticks of
        // a 3 GHz TSC, and going back to x = 0 gives the first count.
        let mut c = counter(CounterKind::Tsc);
        let t = SimTime::from_secs(10);
        let first = c.count_at(t, 0.0, 0);
        assert_eq!(c.count_at(t, 1e-6, 0) - first, 3000);
        assert_eq!(c.count_at(t, 0.0, 0), first);
    }

    #[test]
    fn a_latency_without_jitter_is_its_mean() {
        // `jitter_ns = 0` gives the constant `mean_ns`, not its minimum.
        let cfg = CounterConfig {
            kind: CounterKind::Hpet,
            read_latency_ns: Some(LatencyConfig {
                mean_ns: 650.0,
                min_ns: 400.0,
                jitter_ns: 0.0,
            }),
            ..CounterConfig::default()
        };
        let c = Counter::new(&cfg, SimRng::seed_from_u64(1));
        let mut rng = SimRng::seed_from_u64(2);
        for _ in 0..10 {
            assert_eq!(
                c.sample_read_latency(&mut rng),
                SimDuration::from_nanos(650)
            );
        }
    }

    /// A non-invariant TSC whose P-state halves its rate at 10 s and sets
    /// it to `factor_at_20_s` at 20 s.
    fn non_invariant_tsc(nominal_hz: Option<u64>, factor_at_20_s: f64) -> CounterConfig {
        CounterConfig {
            nominal_hz,
            tsc: TscConfig {
                invariant: false,
                pstate: PstateConfig {
                    schedule: vec![
                        PstateStep {
                            at_s: 10.0,
                            factor: 0.5,
                        },
                        PstateStep {
                            at_s: 20.0,
                            factor: factor_at_20_s,
                        },
                    ],
                    ..PstateConfig::default()
                },
                ..TscConfig::default()
            },
            ..CounterConfig::default()
        }
    }

    #[test]
    fn scheduled_pstates_change_a_non_invariant_tsc_rate() {
        let cfg = non_invariant_tsc(None, 1.0);
        let mut c = Counter::new(&cfg, SimRng::seed_from_u64(1));
        assert_eq!(c.count_at(SimTime::from_secs(5), 0.0, 0), 15_000_000_000);
        assert_eq!(
            c.count_at(SimTime::from_secs(15), 0.0, 0),
            3_000_000_000 * 125 / 10
        );
        // 30 s of true time, 5 s of them lost at half rate.
        assert_eq!(c.count_at(SimTime::from_secs(30), 0.0, 0), 75_000_000_000);
        // An invariant TSC ignores the schedule.
        let inv = CounterConfig {
            tsc: TscConfig {
                invariant: true,
                ..cfg.tsc.clone()
            },
            ..cfg
        };
        assert_eq!(
            Counter::new(&inv, SimRng::seed_from_u64(1)).count_at(SimTime::from_secs(30), 0.0, 0),
            90_000_000_000
        );
    }

    #[test]
    fn a_read_before_the_current_pstate_piece_gets_the_excess_at_its_start() {
        // Half rate over [10 s, 20 s), double rate from 20 s. After a read at
        // 30 s, the piece from 20 s is open; a read at 15 s then gets the
        // 5 s lost by 20 s (not the 2.5 s lost by 15 s, nor the piece's
        // double rate run back from 20 s).
        let cfg = non_invariant_tsc(Some(1_000_000), 2.0);
        let mut c = Counter::new(&cfg, SimRng::seed_from_u64(1));
        assert_eq!(c.count_at(SimTime::from_secs(30), 0.0, 0), 35_000_000);
        assert_eq!(c.count_at(SimTime::from_secs(15), 0.0, 0), 10_000_000);
        let mut fresh = Counter::new(&cfg, SimRng::seed_from_u64(1));
        assert_eq!(fresh.count_at(SimTime::from_secs(15), 0.0, 0), 12_500_000);
    }

    /// A 3 GHz TSC whose P-state alternates between half and full rate
    /// every `step_s`, over `steps` steps.
    fn alternating_pstates(step_s: u64, steps: u64) -> CounterConfig {
        let mut cfg = non_invariant_tsc(None, 1.0);
        cfg.tsc.pstate.schedule = (0..steps)
            .map(|k| PstateStep {
                at_s: (k * step_s) as f64,
                factor: if k % 2 == 0 { 0.5 } else { 1.0 },
            })
            .collect();
        cfg
    }

    #[test]
    fn a_slowed_tsc_counts_exactly_and_monotonically_a_year_on() {
        // Half rate from 0: the count is ⌊1.5·t_ns⌋ at every nanosecond,
        // though the ticks lost (4.7·10¹⁶ a year in) are far beyond what an
        // f64 holds to a tick.
        let cfg = alternating_pstates(1, 1);
        for days in [40u64, 100, 365, 3650] {
            let mut c = Counter::new(&cfg, SimRng::seed_from_u64(1));
            let t0_ns = days * 86_400 * 1_000_000_000;
            let mut last = 0;
            for k in 0..2000 {
                let t_ns = t0_ns + k;
                let count = c.count_at(SimTime::from_nanos(t_ns), 0.0, 0);
                assert_eq!(
                    u128::from(count),
                    u128::from(t_ns) * 3 / 2,
                    "{days} d + {k} ns"
                );
                assert!(count >= last, "{days} d + {k} ns: {count} after {last}");
                last = count;
            }
        }
    }

    #[test]
    fn many_pstate_pieces_sum_without_rounding_drift() {
        // 31 536 pieces of 1000 s over a year, half of them at half rate:
        // 1.5·10⁹ ticks lost per second at half rate, an exact integer sum.
        let (step_s, steps) = (1000, 31_536);
        let cfg = alternating_pstates(step_s, steps);
        let mut c = Counter::new(&cfg, SimRng::seed_from_u64(1));
        let end_s = step_s * steps + 7;
        let mut t_s = 0;
        while t_s < end_s {
            // Reads as a run makes them, so every piece is closed in turn.
            c.count_at(SimTime::from_secs(t_s), 0.0, 0);
            t_s += 997;
        }
        let half_rate_s = step_s * steps.div_ceil(2);
        let exact = 3_000_000_000u128 * u128::from(end_s) - 1_500_000_000 * u128::from(half_rate_s);
        assert_eq!(
            u128::from(c.count_at(SimTime::from_secs(end_s), 0.0, 0)),
            exact
        );
    }

    #[test]
    fn cstate_halts_stop_a_non_invariant_tsc_for_the_expected_fraction() {
        // Halts at 10/s lasting 20 ms on average: alternating renewal process,
        // halted fraction = 0.02 / (0.1 + 0.02) = 1/6.
        let cfg = CounterConfig {
            tsc: TscConfig {
                invariant: false,
                cstate_halt: CstateHaltConfig {
                    halt_rate_per_s: 10.0,
                    mean_halt_us: 20_000.0,
                },
                ..TscConfig::default()
            },
            ..CounterConfig::default()
        };
        let mut c = Counter::new(&cfg, SimRng::seed_from_u64(3));
        let mut last = 0;
        for s in 1..=2000 {
            let v = c.count_at(SimTime::from_nanos(s * 50_000_000), 0.0, 0);
            assert!(v >= last, "a halting TSC never runs backwards");
            last = v;
        }
        let t = SimTime::from_secs(100);
        let lost_fraction = 1.0 - c.count_at(t, 0.0, 0) as f64 / 3e11;
        // ~830 cycles, each contributing an exponential halt: relative sd ≈ 5 %.
        assert!(
            (lost_fraction / (1.0 / 6.0) - 1.0).abs() < 0.2,
            "lost fraction {lost_fraction}"
        );
    }

    #[test]
    fn random_pstates_average_their_factors() {
        let cfg = CounterConfig {
            tsc: TscConfig {
                invariant: false,
                core_offsets_ticks: vec![0, 0],
                pstate: PstateConfig {
                    random_factors: vec![0.5, 1.0],
                    mean_dwell_s: 0.1,
                    ..PstateConfig::default()
                },
                ..TscConfig::default()
            },
            ..CounterConfig::default()
        };
        let mut c = Counter::new(&cfg, SimRng::seed_from_u64(4));
        let t = SimTime::from_secs(1000);
        let rate0 = c.count_at(t, 0.0, 0) as f64 / 3e12;
        let rate1 = c.count_at(t, 0.0, 1) as f64 / 3e12;
        // 10 000 dwells: mean factor 0.75 within ~0.4 %.
        assert!(
            (rate0 - 0.75).abs() < 0.02 && (rate1 - 0.75).abs() < 0.02,
            "{rate0} {rate1}"
        );
        assert_ne!(rate0, rate1, "cores follow independent P-states");
    }

    #[test]
    fn a_core_starts_in_a_random_pstate() {
        // With factors 0.5 and 1.0 and a 1000 s mean dwell, the rate over
        // the first 0.1 s is the initial P-state's (a switch by then has
        // probability 1e-4), drawn uniformly: half the seeds start at half
        // rate. Binomial standard error over 400 seeds: 0.025.
        let cfg = CounterConfig {
            tsc: TscConfig {
                invariant: false,
                pstate: PstateConfig {
                    random_factors: vec![0.5, 1.0],
                    mean_dwell_s: 1000.0,
                    ..PstateConfig::default()
                },
                ..TscConfig::default()
            },
            ..CounterConfig::default()
        };
        let t = SimTime::from_nanos(100_000_000);
        let seeds = 400;
        let slow = (0..seeds)
            .filter(|&seed| {
                let count = Counter::new(&cfg, SimRng::seed_from_u64(seed)).count_at(t, 0.0, 0);
                count < 3 * 100_000_000 * 3 / 4
            })
            .count();
        let fraction = slow as f64 / seeds as f64;
        assert!((fraction - 0.5).abs() < 0.1, "{fraction}");
    }

    #[test]
    fn latency_means_match_configuration() {
        for (kind, emulated) in [
            (CounterKind::Tsc, false),
            (CounterKind::Hpet, false),
            (CounterKind::Hpet, true),
            (CounterKind::AcpiPm, false),
            (CounterKind::AcpiPm, true),
            (CounterKind::Pit, false),
        ] {
            let cfg = CounterConfig {
                kind,
                emulated,
                ..CounterConfig::default()
            };
            let want = cfg.effective_latency();
            let c = Counter::new(&cfg, SimRng::seed_from_u64(5));
            let mut rng = SimRng::seed_from_u64(6);
            let n = 100_000;
            let (mut sum, mut sum2, mut min) = (0.0, 0.0, f64::MAX);
            for _ in 0..n {
                let ns = c.sample_read_latency(&mut rng).as_nanos() as f64;
                sum += ns;
                sum2 += ns * ns;
                min = min.min(ns);
            }
            let mean = sum / n as f64;
            // The spread is the configured jitter (rounding to whole
            // nanoseconds hides it for the TSC's 1 ns).
            let sd = (sum2 / n as f64 - mean * mean).sqrt();
            if want.jitter_ns >= 10.0 {
                assert!(
                    (sd / want.jitter_ns - 1.0).abs() < 0.03,
                    "{kind:?} emulated={emulated}: sd {sd} ns vs jitter {}",
                    want.jitter_ns
                );
            }
            // Standard error jitter/√n, plus 0.5 ns rounding to whole nanoseconds.
            let tol = 4.0 * want.jitter_ns / (n as f64).sqrt() + 0.5;
            assert!(
                (mean - want.mean_ns).abs() < tol,
                "{kind:?} emulated={emulated}: mean {mean} ns vs {}",
                want.mean_ns
            );
            assert!(min >= want.min_ns - 0.5, "{kind:?}: min {min}");
        }
        assert_eq!(CounterKind::Hpet.default_latency(false).mean_ns, 700.0);
        assert_eq!(CounterKind::Hpet.default_latency(true).mean_ns, 3000.0);
        assert_eq!(CounterKind::AcpiPm.default_latency(true).mean_ns, 2500.0);
    }

    #[test]
    fn wrap_extender_loses_exactly_the_wraps_of_a_long_gap() {
        let mut pm = counter(CounterKind::AcpiPm);
        let mut ext = WrapExtender::new(pm.bits());
        let t0 = SimTime::from_secs(1);
        let first_true = pm.count_at(t0, 0.0, 0);
        let first = ext.extend(pm.register_at(t0, 0.0, 0));
        // 3 wrap periods (14.06 s) plus 1 s later: 3 wraps vanish.
        let t1 = t0 + SimDuration::from_secs_f64(3.0 * pm.wrap_period_s() + 1.0);
        let true_delta = pm.count_at(t1, 0.0, 0) - first_true;
        let seen_delta = ext.extend(pm.register_at(t1, 0.0, 0)) - first;
        assert_eq!(true_delta - seen_delta, 3 << 24);
        assert_eq!(seen_delta, true_delta % (1 << 24));
    }

    #[test]
    fn validation_names_fields() {
        assert!(CounterConfig::default().validate("c").is_empty());
        let bad = CounterConfig {
            bits: Some(70),
            read_latency_ns: Some(LatencyConfig {
                mean_ns: 5.0,
                min_ns: 10.0,
                jitter_ns: 1.0,
            }),
            tsc: TscConfig {
                pstate: PstateConfig {
                    random_factors: vec![-1.0],
                    ..PstateConfig::default()
                },
                ..TscConfig::default()
            },
            ..CounterConfig::default()
        };
        let fields: Vec<String> = bad
            .validate("hosts[0].counters[1]")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert!(
            fields.contains(&"hosts[0].counters[1].bits".to_string()),
            "{fields:?}"
        );
        assert!(fields.contains(&"hosts[0].counters[1].read_latency_ns.mean_ns".to_string()));
        assert!(fields.contains(&"hosts[0].counters[1].tsc.pstate.random_factors[0]".to_string()));
    }

    proptest! {
        #[test]
        fn extension_is_exact_and_monotone_for_gaps_below_the_wrap(
            bits in 8u32..=32,
            start in 0u64..(1u64 << 40),
            gaps in proptest::collection::vec(0.0f64..1.0, 1..200),
        ) {
            let wrap = 1u64 << bits;
            let mut ext = WrapExtender::new(bits);
            let mut truth = start;
            let base = ext.extend(truth & (wrap - 1));
            let mut last = base;
            for g in gaps {
                // Any gap strictly shorter than one wrap.
                truth += ((g * wrap as f64) as u64).min(wrap - 1);
                let v = ext.extend(truth & (wrap - 1));
                prop_assert!(v >= last);
                prop_assert_eq!(v - base, truth - start);
                last = v;
            }
        }

        #[test]
        fn extension_miscounts_by_the_lost_wraps(bits in 8u32..=32, start in 0u64..(1u64 << 40), gap in 0u64..(1u64 << 44)) {
            let wrap = 1u64 << bits;
            let mut ext = WrapExtender::new(bits);
            let a = ext.extend(start);
            let b = ext.extend(start + gap);
            prop_assert_eq!(b - a, gap % wrap);
            prop_assert_eq!(gap - (b - a), (gap / wrap) * wrap);
        }
    }
}
