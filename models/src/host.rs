//! A physical host: its crystals, its counters, and how its kernel stamps
//! packets.
//!
//! A PC has (at least) two crystals: one drives each TSC package, one drives
//! the legacy platform timers (HPET, ACPI PM and PIT all divide the same
//! 14.31818 MHz reference, research/virt-models.md §1.1), so those share one
//! time-error process. A counter's value at true time `t` is
//! `floor(f·(t + x(t)))` for its crystal's time error `x`.
//!
//! Narrow counters (HPET 32 bit, ACPI PM 24 bit) must be extended to 64 bits
//! in software. A kernel does this from its periodic tick, so it never
//! misses a wrap ([`CounterExtension::KernelTick`]); a reader that only
//! extends on its own reads ([`CounterExtension::ReadsOnly`]) miscounts
//! whenever two reads are further apart than the wrap period, the real
//! failure mode.

use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimRng, SimTime};

use algorithms::ConfigError;

use crate::counter::{Counter, CounterConfig, CounterKind, WrapExtender};
use crate::oscillator::{Oscillator, OscillatorConfig};

/// How narrow counters are extended to 64 bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CounterExtension {
    /// The kernel extends on every timer tick (10 ms), far below any wrap
    /// period: readers see the exact 64-bit count.
    #[default]
    KernelTick,
    /// Each reader extends from its own reads only; reads spaced by more
    /// than a wrap period miscount.
    ReadsOnly,
}

fn default_stamp_latency_us() -> f64 {
    2.0
}

/// A physical host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// Name, unique in the scenario.
    pub name: String,
    /// The crystal driving the TSC.
    pub tsc_crystal: OscillatorConfig,
    /// The platform crystal shared by HPET, ACPI PM and PIT.
    pub platform_crystal: OscillatorConfig,
    /// Counters present on the host (at most one of each kind).
    pub counters: Vec<CounterConfig>,
    /// How narrow counters are extended to 64 bits.
    pub counter_extension: CounterExtension,
    /// Mean kernel latency between a packet event (NIC arrival, send call)
    /// and the counter read that stamps it, µs; exponentially distributed.
    /// Default 2 µs: interrupt plus softirq on an idle host [E: within the
    /// 15 µs host noise bound RADclock assumes, research/radclock.md §2.1].
    #[serde(default = "default_stamp_latency_us")]
    pub stamp_latency_mean_us: f64,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            name: "host".into(),
            tsc_crystal: OscillatorConfig::default(),
            platform_crystal: OscillatorConfig::default(),
            counters: vec![CounterConfig::default()],
            counter_extension: CounterExtension::default(),
            stamp_latency_mean_us: default_stamp_latency_us(),
        }
    }
}

impl HostConfig {
    /// All problems, each naming its field (prefixed by `path`) and range.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut e = Vec::new();
        if self.name.is_empty() {
            e.push(ConfigError::new(
                format!("{path}.name"),
                "must not be empty",
            ));
        }
        e.extend(self.tsc_crystal.validate(&format!("{path}.tsc_crystal")));
        e.extend(
            self.platform_crystal
                .validate(&format!("{path}.platform_crystal")),
        );
        if self.counters.is_empty() {
            e.push(ConfigError::new(
                format!("{path}.counters"),
                "a host needs at least one counter",
            ));
        }
        for (i, c) in self.counters.iter().enumerate() {
            e.extend(c.validate(&format!("{path}.counters[{i}]")));
            if self.counters[..i].iter().any(|o| o.kind == c.kind) {
                e.push(ConfigError::new(
                    format!("{path}.counters[{i}].kind"),
                    format!("{:?} is listed twice", c.kind),
                ));
            }
        }
        ConfigError::check_range(
            &mut e,
            &format!("{path}.stamp_latency_mean_us"),
            self.stamp_latency_mean_us,
            0.0,
            1e6,
            "µs",
        );
        e
    }
}

/// A counter value as a reader obtained it, with the true time it was latched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The 64-bit counter value the reader sees.
    pub counter: u64,
    /// The true time at which the value was latched.
    pub at: SimTime,
}

/// A host at run time.
pub struct Host {
    name: String,
    tsc_crystal: Oscillator,
    platform_crystal: Oscillator,
    counters: Vec<Counter>,
    kinds: Vec<CounterKind>,
    extension: CounterExtension,
    stamp_latency_mean_s: f64,
    rng: SimRng,
}

impl Host {
    /// Builds a host; `stream` derives one RNG stream per component.
    pub fn new(cfg: &HostConfig, stream: &dyn Fn(&str) -> SimRng) -> Self {
        let n = &cfg.name;
        Host {
            name: cfg.name.clone(),
            tsc_crystal: Oscillator::new(
                &cfg.tsc_crystal,
                stream(&format!("host/{n}/tsc-crystal")),
            ),
            platform_crystal: Oscillator::new(
                &cfg.platform_crystal,
                stream(&format!("host/{n}/platform-crystal")),
            ),
            counters: cfg
                .counters
                .iter()
                .map(|c| Counter::new(c, stream(&format!("host/{n}/counter/{:?}", c.kind))))
                .collect(),
            kinds: cfg.counters.iter().map(|c| c.kind).collect(),
            extension: cfg.counter_extension,
            stamp_latency_mean_s: cfg.stamp_latency_mean_us * 1e-6,
            rng: stream(&format!("host/{n}/stamping")),
        }
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Index of the counter of `kind`, if the host has one.
    pub fn counter_index(&self, kind: CounterKind) -> Option<usize> {
        self.kinds.iter().position(|k| *k == kind)
    }

    /// The counter at `idx`.
    pub fn counter(&self, idx: usize) -> &Counter {
        &self.counters[idx]
    }

    /// How narrow counters are extended.
    pub fn extension(&self) -> CounterExtension {
        self.extension
    }

    /// The time error of the crystal driving counter `idx` at `t`, seconds.
    pub fn crystal_error_s(&mut self, idx: usize, t: SimTime) -> f64 {
        match self.kinds[idx] {
            CounterKind::Tsc => self.tsc_crystal.time_error_s(t),
            _ => self.platform_crystal.time_error_s(t),
        }
    }

    /// The exact 64-bit count of counter `idx` at true time `t` on `core`.
    pub fn count_at(&mut self, idx: usize, t: SimTime, core: usize) -> u64 {
        let x = self.crystal_error_s(idx, t);
        self.counters[idx].count_at(t, x, core)
    }

    /// A kernel read of counter `idx` requested at `t`: the value is latched
    /// after the counter's read latency. `extender` is the reader's own
    /// software extension, used in [`CounterExtension::ReadsOnly`] mode.
    pub fn read(
        &mut self,
        idx: usize,
        t: SimTime,
        core: usize,
        extender: &mut WrapExtender,
    ) -> Stamp {
        let at = t + self.counters[idx].sample_read_latency();
        let count = self.count_at(idx, at, core);
        let counter = match self.extension {
            CounterExtension::KernelTick => count,
            CounterExtension::ReadsOnly => extender.extend(self.counters[idx].register_of(count)),
        };
        Stamp { counter, at }
    }

    /// The kernel's latency between a packet event and its stamping read.
    pub fn sample_stamp_latency(&mut self) -> SimDuration {
        use rand::RngExt;
        if self.stamp_latency_mean_s <= 0.0 {
            return SimDuration::ZERO;
        }
        let u: f64 = self.rng.random();
        SimDuration::from_secs_f64(-self.stamp_latency_mean_s * (1.0 - u).ln())
    }
}
