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

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimRng, SimTime};

use algorithms::ConfigError;

use crate::counter::{Counter, CounterConfig, CounterKind, WrapExtender};
use crate::oscillator::{Oscillator, OscillatorConfig};
use crate::xen::pvclock::{
    HostCounters, HpetHypercallConfig, PVCLOCK_TSC_STABLE_BIT, PlatformTimer, XenTimeConfig,
    XenTimekeeper,
};
use crate::xen::{HostOutputs, XenHost, XenHostConfig};

/// The hypervisor of a host: how it schedules domains and keeps time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct XenSetup {
    /// Domains, scheduler and packet path (domain 0 is Dom0, 1.. the guests).
    pub host: XenHostConfig,
    /// System-time calibration and the pvclock records (the Xen clocksource).
    pub time: XenTimeConfig,
    /// The guests' HPET access through a hypercall (VET).
    pub hpet_hypercall: HpetHypercallConfig,
}

/// Where a clock's counter comes from, as a domain sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum CounterSource {
    /// The TSC (read natively).
    #[default]
    Tsc,
    /// The HPET (MMIO on bare metal and in Dom0; a hypercall in a DomU).
    Hpet,
    /// The ACPI PM timer.
    AcpiPm,
    /// The PIT.
    Pit,
    /// The Xen clocksource: guest system time from the pvclock record, a
    /// 1 GHz 64-bit counter interpolated from the TSC.
    XenClocksource,
}

impl CounterSource {
    /// The hardware counter behind the source (the TSC for the Xen clocksource).
    pub fn hardware(self) -> CounterKind {
        match self {
            CounterSource::Tsc | CounterSource::XenClocksource => CounterKind::Tsc,
            CounterSource::Hpet => CounterKind::Hpet,
            CounterSource::AcpiPm => CounterKind::AcpiPm,
            CounterSource::Pit => CounterKind::Pit,
        }
    }
}

/// How narrow counters are extended to 64 bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// The hypervisor, if the host runs Xen (default: bare metal).
    pub xen: Option<XenSetup>,
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
            xen: None,
        }
    }
}

impl HostConfig {
    /// Checks that no counter's count can pass 2⁶³ within a run of
    /// `duration_s`: counts are two's-complement 64-bit numbers (see
    /// `algorithms::ticks_between`), so one past 2⁶³ would read as far
    /// below zero. A count is `⌊f·(t + x(t))⌋` plus its core's offset plus
    /// the ticks a non-invariant TSC gains in faster P-states, so the bound
    /// is `f·(fastest·d + x̂) + largest offset`, with `x̂` the crystal's
    /// time-error bound over the run
    /// ([`OscillatorConfig::time_error_bound_s`]: skew, aging, temperature
    /// and six standard deviations of its noise).
    pub fn validate_count_range(&self, path: &str, duration_s: f64) -> Vec<ConfigError> {
        let mut e = Vec::new();
        for (i, c) in self.counters.iter().enumerate() {
            let crystal = if c.kind == CounterKind::Tsc {
                &self.tsc_crystal
            } else {
                &self.platform_crystal
            };
            let hz = c.effective_hz() as f64;
            let offsets: &[i64] = if c.kind == CounterKind::Tsc {
                &c.tsc.core_offsets_ticks
            } else {
                &[]
            };
            let fastest = if c.kind == CounterKind::Tsc && !c.tsc.invariant {
                c.tsc
                    .pstate
                    .schedule
                    .iter()
                    .map(|p| p.factor)
                    .chain(c.tsc.pstate.random_factors.iter().copied())
                    .fold(1.0, f64::max)
            } else {
                1.0
            };
            let highest = offsets.iter().copied().max().unwrap_or(0).max(0);
            let x_bound_s = crystal.time_error_bound_s(duration_s);
            let end = hz * (fastest * duration_s + x_bound_s) + highest as f64;
            if end >= 2f64.powi(63) {
                e.push(ConfigError::new(
                    format!("{path}.counters[{i}]"),
                    format!(
                        "the {:?} count could reach {end:.3e} ticks within duration_s = {duration_s} s, \
                         past the 2^63 a 64-bit count holds; shorten the run or lower its rate",
                        c.kind
                    ),
                ));
            }
        }
        e
    }

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
        if let Some(x) = &self.xen {
            e.extend(x.host.validate(&format!("{path}.xen.host")));
            e.extend(x.time.validate(&format!("{path}.xen.time")));
            for needed in [CounterKind::Tsc, platform_kind(x.time.platform_timer)] {
                if !self.counters.iter().any(|c| c.kind == needed) {
                    e.push(ConfigError::new(
                        format!("{path}.counters"),
                        format!(
                            "a Xen host needs a {needed:?} counter (the TSC and its platform timer)"
                        ),
                    ));
                }
            }
            let h = &x.hpet_hypercall;
            if !(h.min_latency_ns >= 0.0
                && h.max_latency_ns >= h.min_latency_ns
                && h.max_latency_ns <= 1e6)
            {
                e.push(ConfigError::new(
                    format!("{path}.xen.hpet_hypercall"),
                    "need 0 <= min_latency_ns <= max_latency_ns <= 1e6 ns",
                ));
            }
        }
        e
    }
}

fn platform_kind(p: PlatformTimer) -> CounterKind {
    match p {
        PlatformTimer::Hpet => CounterKind::Hpet,
        PlatformTimer::AcpiPm => CounterKind::AcpiPm,
    }
}

/// A counter value as a reader obtained it, with the true time it was latched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The 64-bit counter value the reader sees.
    pub counter: u64,
    /// The true time at which the value was latched.
    pub at: SimTime,
    /// The true time at which the read returns and the reader goes on
    /// (a packet being stamped can leave only then).
    pub done: SimTime,
}

/// A host's crystals and counters: everything that ticks.
pub struct Hardware {
    tsc_crystal: Oscillator,
    platform_crystal: Oscillator,
    counters: Vec<Counter>,
    kinds: Vec<CounterKind>,
    platform_idx: usize,
}

impl Hardware {
    /// Index of the counter of `kind`, if present.
    pub fn counter_index(&self, kind: CounterKind) -> Option<usize> {
        self.kinds.iter().position(|k| *k == kind)
    }

    /// The time error of the crystal driving counter `idx` at `t`, seconds.
    pub fn crystal_error_s(&mut self, idx: usize, t: SimTime) -> f64 {
        match self.kinds[idx] {
            CounterKind::Tsc => self.tsc_crystal.time_error_s(t),
            _ => self.platform_crystal.time_error_s(t),
        }
    }

    /// Generates both crystals' noise on helper threads from now on
    /// ([`Oscillator::generate_noise_ahead`]).
    pub fn generate_noise_ahead(&mut self) {
        self.tsc_crystal.generate_noise_ahead();
        self.platform_crystal.generate_noise_ahead();
    }

    /// The exact 64-bit count of counter `idx` at true time `t` on `core`.
    pub fn count_at(&mut self, idx: usize, t: SimTime, core: usize) -> u64 {
        let x = self.crystal_error_s(idx, t);
        self.counters[idx].count_at(t, x, core)
    }
}

impl HostCounters for Hardware {
    fn tsc(&mut self, cpu: usize, t: SimTime) -> u64 {
        // Validation guarantees a TSC on Xen hosts.
        let idx = self.counter_index(CounterKind::Tsc).unwrap_or(0);
        self.count_at(idx, t, cpu)
    }

    fn platform(&mut self, t: SimTime) -> u64 {
        self.count_at(self.platform_idx, t, 0)
    }
}

/// The hypervisor's run-time state on a host.
pub struct Hypervisor {
    /// Domains, scheduling and the packet path.
    pub sched: XenHost,
    /// System time and the pvclock records.
    pub time: XenTimekeeper,
    /// The guests' HPET hypercall.
    pub hpet_hypercall: HpetHypercallConfig,
    /// Reusable output buffer of the scheduler.
    pub out: HostOutputs,
    /// A guest kernel's whole pvclock read (`XenTimeConfig::pvclock_read_ns`).
    pvclock_read: SimDuration,
    /// Each domain kernel's pvclock "last value" (Linux's monotonic clamp).
    pvclock_last: Vec<u64>,
}

impl Hypervisor {
    /// What `domain`'s kernel returns for a pvclock read of `value` on
    /// `cpu`: never less than its last value, unless that CPU's record is
    /// TSC-stable or the clamp is off (Linux `pvclock_clocksource_read`).
    fn pvclock_monotonic(&mut self, domain: usize, cpu: usize, value: u64) -> u64 {
        // A CPU beyond the last record reads the last one, as the read did.
        let cpu = cpu.min(self.time.config().n_cpus.saturating_sub(1));
        let stable = self
            .time
            .record(cpu)
            .is_some_and(|r| r.flags & PVCLOCK_TSC_STABLE_BIT != 0);
        if !self.time.config().enforce_global_monotonic || stable {
            return value;
        }
        match self.pvclock_last.get_mut(domain) {
            Some(last) => {
                *last = value.max(*last);
                *last
            }
            None => value,
        }
    }
}

/// A host at run time.
pub struct Host {
    name: String,
    hw: Hardware,
    xen: Option<Hypervisor>,
    extension: CounterExtension,
    stamp_latency_mean_s: f64,
    /// Whether the hypervisor places vCPUs on pCPUs (an explicit
    /// scheduler): a probe asks every clock's reading core each second.
    places_vcpus: bool,
}

impl Host {
    /// Builds a host; `stream` derives one RNG stream per component.
    pub fn new(cfg: &HostConfig, stream: &dyn Fn(&str) -> SimRng) -> Result<Self, ConfigError> {
        let n = &cfg.name;
        let kinds: Vec<CounterKind> = cfg.counters.iter().map(|c| c.kind).collect();
        let platform_kind_wanted = cfg
            .xen
            .as_ref()
            .map_or(CounterKind::Hpet, |x| platform_kind(x.time.platform_timer));
        let platform_idx = kinds
            .iter()
            .position(|k| *k == platform_kind_wanted)
            .unwrap_or(0);
        let mut hw = Hardware {
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
            kinds,
            platform_idx,
        };
        let xen = match &cfg.xen {
            None => None,
            Some(x) => {
                let time = XenTimekeeper::new(
                    x.time.clone(),
                    SimTime::ZERO,
                    &mut hw,
                    stream(&format!("host/{n}/xen-time")),
                )
                .map_err(|errs| {
                    let first = errs.into_iter().next();
                    first.unwrap_or_else(|| ConfigError::new(format!("{n}.xen.time"), "invalid"))
                })?;
                let sched = XenHost::new(x.host.clone(), stream(&format!("host/{n}/xen-sched")));
                Some(Hypervisor {
                    pvclock_read: SimDuration::from_secs_f64(x.time.pvclock_read_ns * 1e-9),
                    pvclock_last: vec![0; sched.domains()],
                    sched,
                    time,
                    hpet_hypercall: x.hpet_hypercall.clone(),
                    out: HostOutputs::default(),
                })
            }
        };
        let places_vcpus = xen.as_ref().is_some_and(|x| x.sched.vcpu_pcpu(0).is_some());
        Ok(Host {
            name: cfg.name.clone(),
            hw,
            xen,
            extension: cfg.counter_extension,
            stamp_latency_mean_s: cfg.stamp_latency_mean_us * 1e-6,
            places_vcpus,
        })
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `source` can be read on this host.
    pub fn has_source(&self, source: CounterSource) -> bool {
        self.hw.counter_index(source.hardware()).is_some()
            && (source != CounterSource::XenClocksource || self.xen.is_some())
    }

    /// Nominal frequency and width of `source` on this host.
    pub fn source_info(&self, source: CounterSource) -> (u64, u32) {
        match source {
            CounterSource::XenClocksource => (1_000_000_000, 64),
            other => {
                let c = &self.hw.counters[self.hw.counter_index(other.hardware()).unwrap_or(0)];
                (c.nominal_hz(), c.bits())
            }
        }
    }

    /// How narrow counters are extended.
    pub fn extension(&self) -> CounterExtension {
        self.extension
    }

    /// The hardware.
    pub fn hardware(&mut self) -> &mut Hardware {
        &mut self.hw
    }

    /// The hypervisor, if any.
    pub fn hypervisor(&mut self) -> Option<&mut Hypervisor> {
        self.xen.as_mut()
    }

    /// Whether the host runs Xen.
    pub fn is_xen(&self) -> bool {
        self.xen.is_some()
    }

    /// The exact 64-bit value of `source` at true time `t` (no read latency):
    /// what an ideal observer would see.
    pub fn value_at(&mut self, source: CounterSource, t: SimTime, core: usize) -> u64 {
        match source {
            // The records exist once the boot calibration has run: an
            // earlier read sees the first record's origin (the world reads
            // none before, so counters are read in time order).
            CounterSource::XenClocksource => match self.xen.as_mut() {
                Some(x) => x.time.guest_system_time_ns(core, t, &mut self.hw),
                None => 0,
            },
            other => {
                // The hypervisor calibrates lazily, reading the shared
                // counters at each epoch boundary: it must do so before any
                // read moves them past the boundary, since counters and
                // crystals are exact only for reads that come (nearly) in
                // time order.
                if let Some(x) = self.xen.as_mut() {
                    x.time.advance_to(t, &mut self.hw);
                }
                let idx = self.hw.counter_index(other.hardware()).unwrap_or(0);
                self.hw.count_at(idx, t, core)
            }
        }
    }

    /// The CPU whose counter a read of `source` by `domain` sees. On a Xen
    /// host whose scheduler places vCPUs, a TSC or Xen clocksource read
    /// runs on the physical CPU of the domain's first vCPU (where it runs,
    /// waits or last ran) and sees that CPU's TSC and time record, as Xen
    /// rewrites a vCPU's record from the CPU it is switched in on; on bare
    /// metal, for shared devices (HPET, ACPI PM) and under the parametric
    /// scheduler model, the read is on `core`.
    pub fn reading_core(&self, source: CounterSource, domain: usize, core: usize) -> usize {
        match (source, &self.xen) {
            (CounterSource::Tsc | CounterSource::XenClocksource, Some(x)) if self.places_vcpus => {
                x.sched.vcpu_pcpu(domain).unwrap_or(core)
            }
            _ => core,
        }
    }

    /// The error of a perfect inversion of `source` at `t` (the oracle's
    /// error): minus the fraction of a tick not yet counted, seconds.
    pub fn oracle_error_s(&mut self, source: CounterSource, t: SimTime) -> f64 {
        let idx = self.hw.counter_index(source.hardware()).unwrap_or(0);
        let x = self.hw.crystal_error_s(idx, t);
        let f = self.hw.counters[idx].nominal_hz();
        // frac(f·t) exactly from integers, then add f·x.
        let ticks_frac = ((u128::from(t.as_nanos()) * u128::from(f)) % 1_000_000_000) as f64 * 1e-9;
        let total = ticks_frac + x * f as f64;
        -(total - total.floor()) / f as f64
    }

    /// A read of `source` by a domain's kernel, requested at `t`. A counter
    /// access latches its value as it returns; the HPET in a DomU is a
    /// hypercall, which samples the HPET at an instant uniform within the
    /// call and returns at its end (research/virt-models.md §1.5).
    /// `extender` is the reader's own software extension, used in
    /// [`CounterExtension::ReadsOnly`] mode; latencies are drawn from the
    /// reader's own stream `rng`, so one reader's draws do not depend on
    /// how many others share the counter.
    pub fn read(
        &mut self,
        source: CounterSource,
        domain: usize,
        t: SimTime,
        core: usize,
        extender: &mut WrapExtender,
        rng: &mut SimRng,
    ) -> Stamp {
        let (latch, duration) = match (source, self.xen.as_ref()) {
            (CounterSource::Hpet, Some(x)) if domain > 0 => {
                let call = x.hpet_hypercall.sample(rng);
                (call.sample_after, call.duration)
            }
            (CounterSource::XenClocksource, x) => {
                let idx = self.hw.counter_index(CounterKind::Tsc).unwrap_or(0);
                let l = self.hw.counters[idx].sample_read_latency(rng);
                (l, x.map_or(l, |x| l.max(x.pvclock_read)))
            }
            (other, _) => {
                let idx = self.hw.counter_index(other.hardware()).unwrap_or(0);
                let l = self.hw.counters[idx].sample_read_latency(rng);
                (l, l)
            }
        };
        let at = t + latch;
        let mut value = self.value_at(source, at, core);
        if source == CounterSource::XenClocksource
            && let Some(x) = self.xen.as_mut()
        {
            value = x.pvclock_monotonic(domain, core, value);
        }
        let counter = match (self.extension, source) {
            (CounterExtension::ReadsOnly, s) if s != CounterSource::XenClocksource => {
                let idx = self.hw.counter_index(s.hardware()).unwrap_or(0);
                extender.extend(self.hw.counters[idx].register_of(value))
            }
            _ => value,
        };
        Stamp {
            counter,
            at,
            done: t + duration,
        }
    }

    /// A guest resumes in `domain` (after a migration): Linux's
    /// `pvclock_resume` forgets the kernel's last pvclock value, which
    /// belonged to another host's system time.
    pub fn pvclock_resume(&mut self, domain: usize) {
        self.set_pvclock_last(domain, 0);
    }

    /// `domain`'s kernel reads `value_ns` from its Xen clocksource on
    /// `cpu` (a timer tick's read, clamped as in [`Host::read`]); returns
    /// its pvclock last value then, `None` without Xen.
    pub fn pvclock_tick(&mut self, domain: usize, cpu: usize, value_ns: u64) -> Option<u64> {
        let x = self.xen.as_mut()?;
        x.pvclock_monotonic(domain, cpu, value_ns);
        x.pvclock_last.get(domain).copied()
    }

    /// Sets `domain`'s kernel's pvclock last value to `last_ns`.
    pub fn set_pvclock_last(&mut self, domain: usize, last_ns: u64) {
        if let Some(last) = self
            .xen
            .as_mut()
            .and_then(|x| x.pvclock_last.get_mut(domain))
        {
            *last = last_ns;
        }
    }

    /// What a reader whose extender is `extender` would make of the full
    /// count `value` of `source` if it read now, without updating the
    /// extender: `Some` only under [`CounterExtension::ReadsOnly`] for a
    /// narrow hardware counter, where a reader that last looked more than a
    /// wrap ago has lost every whole wrap since.
    pub fn peek_extended(
        &self,
        source: CounterSource,
        value: u64,
        extender: &WrapExtender,
    ) -> Option<u64> {
        match (self.extension, source) {
            (CounterExtension::ReadsOnly, s) if s != CounterSource::XenClocksource => {
                let idx = self.hw.counter_index(s.hardware()).unwrap_or(0);
                let mut peek = *extender;
                Some(peek.extend(self.hw.counters[idx].register_of(value)))
            }
            _ => None,
        }
    }

    /// Dom0 pushes `utc_ns` as the wall clock at `t`; returns when the next
    /// push is due (`None` on bare metal).
    pub fn push_wallclock(&mut self, t: SimTime, utc_ns: u64) -> Option<SimTime> {
        let x = self.xen.as_mut()?;
        x.time.push_wallclock(t, utc_ns, &mut self.hw);
        Some(x.time.next_wallclock_push())
    }

    /// The kernel's latency between a packet event and its stamping read
    /// on bare metal (on Xen the scheduler decides).
    /// `rng` is the stamping reader's own stream.
    pub fn sample_stamp_latency(&self, rng: &mut SimRng) -> SimDuration {
        use rand::RngExt;
        if self.stamp_latency_mean_s <= 0.0 {
            return SimDuration::ZERO;
        }
        let u: f64 = rng.random();
        SimDuration::from_secs_f64(-self.stamp_latency_mean_s * (1.0 - u).ln())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use sim_core::{SimRng, SimTime};

    use super::{CounterExtension, CounterSource, Host, HostConfig, WrapExtender, XenSetup};
    use crate::counter::{CounterConfig, CounterKind, PstateConfig, TscConfig};
    use crate::oscillator::OscillatorConfig;
    use crate::xen::pvclock::{CalibPolicy, XenTimeConfig};

    /// A Xen host with two CPUs whose non-invariant TSCs change rate with
    /// their own P-states (80 % or full speed, ~0.3 s dwell): between
    /// epochs Xen3's per-CPU records extrapolate each CPU at its last
    /// measured rate, so their system times drift apart by up to ~100 ms.
    fn two_cpu_host(enforce: bool) -> Host {
        let cfg = HostConfig {
            tsc_crystal: OscillatorConfig {
                skew_ppm: 25.0,
                ..OscillatorConfig::default()
            },
            counters: vec![
                CounterConfig {
                    kind: CounterKind::Tsc,
                    tsc: TscConfig {
                        core_offsets_ticks: vec![0, 90_000],
                        invariant: false,
                        pstate: PstateConfig {
                            random_factors: vec![0.8, 1.0],
                            mean_dwell_s: 0.3,
                            ..PstateConfig::default()
                        },
                        ..TscConfig::default()
                    },
                    ..CounterConfig::default()
                },
                CounterConfig {
                    kind: CounterKind::Hpet,
                    ..CounterConfig::default()
                },
            ],
            xen: Some(XenSetup {
                time: XenTimeConfig {
                    n_cpus: 2,
                    calib_policy: CalibPolicy::Xen3Recal,
                    enforce_global_monotonic: enforce,
                    ..XenTimeConfig::default()
                },
                ..XenSetup::default()
            }),
            ..HostConfig::default()
        };
        Host::new(&cfg, &|n: &str| SimRng::seed_from_u64(n.len() as u64)).unwrap()
    }

    /// Dom0 reads on CPU 0 then on CPU 1 (resuming, as after a migration,
    /// in between if `resume`); returns the largest step back it saw.
    fn worst_step_back_ns(enforce: bool, resume: bool) -> i64 {
        let mut host = two_cpu_host(enforce);
        let mut ext = WrapExtender::new(64);
        let mut rng = SimRng::seed_from_u64(1);
        let mut worst = 0i64;
        for k in 1..2000u64 {
            let t = SimTime::from_nanos(k * 7_777_777);
            let a = host.read(CounterSource::XenClocksource, 0, t, 0, &mut ext, &mut rng);
            if resume {
                host.pvclock_resume(0);
            }
            let b = host.read(
                CounterSource::XenClocksource,
                0,
                a.done,
                1,
                &mut ext,
                &mut rng,
            );
            worst = worst.max(a.counter as i64 - b.counter as i64);
        }
        worst
    }

    /// A bare-metal host whose TSC crystal runs 50 ppm fast and whose
    /// platform crystal (driving the HPET) runs 20 ppm slow.
    fn bare_metal_host() -> Host {
        let cfg = HostConfig {
            tsc_crystal: OscillatorConfig {
                skew_ppm: 50.0,
                ..OscillatorConfig::default()
            },
            platform_crystal: OscillatorConfig {
                skew_ppm: -20.0,
                ..OscillatorConfig::default()
            },
            counters: vec![
                CounterConfig::default(),
                CounterConfig {
                    kind: CounterKind::Hpet,
                    ..CounterConfig::default()
                },
            ],
            ..HostConfig::default()
        };
        Host::new(&cfg, &|n: &str| SimRng::seed_from_u64(n.len() as u64)).unwrap()
    }

    #[test]
    fn each_counter_follows_its_own_crystal() {
        // ⌊f·(t + x)⌋ at t = 100 s: the 3 GHz TSC with x = +50 ppm·t, the
        // 14.31818 MHz HPET with x = −20 ppm·t (within a tick of rounding).
        let mut host = bare_metal_host();
        let t = SimTime::from_secs(100);
        let tsc = host.value_at(CounterSource::Tsc, t, 0) as f64;
        assert!((tsc - 3e9 * 100.005).abs() <= 1.0, "{tsc}");
        let hpet = host.value_at(CounterSource::Hpet, t, 0) as f64;
        assert!((hpet - 14_318_180.0 * 99.998).abs() <= 1.0, "{hpet}");
        // Present hardware only; no Xen clocksource without Xen.
        assert!(host.has_source(CounterSource::Tsc) && host.has_source(CounterSource::Hpet));
        assert!(!host.has_source(CounterSource::AcpiPm));
        assert!(!host.has_source(CounterSource::XenClocksource));
    }

    #[test]
    fn the_oracle_error_is_the_uncounted_fraction_of_a_tick() {
        // Inverting the count exactly, knowing the crystal: count/f − (t + x),
        // in (−1/f, 0] since the count truncates.
        let mut host = bare_metal_host();
        for ns in [100_000_000_123u64, 7_777_777_777, 3_600_000_000_001] {
            let t = SimTime::from_nanos(ns);
            for (source, hz) in [
                (CounterSource::Tsc, 3_000_000_000u64),
                (CounterSource::Hpet, 14_318_180),
            ] {
                let idx = host.hardware().counter_index(source.hardware()).unwrap();
                let x = host.hardware().crystal_error_s(idx, t);
                let count = host.value_at(source, t, 0);
                let behind_s = (i128::from(count) * 1_000_000_000 - i128::from(hz) * i128::from(ns))
                    as f64
                    / (hz as f64 * 1e9);
                let oracle = host.oracle_error_s(source, t);
                assert!(
                    oracle <= 0.0 && oracle > -1.0 / hz as f64,
                    "{source:?}: {oracle:e}"
                );
                assert!(
                    (oracle - (behind_s - x)).abs() < 1e-15,
                    "{source:?} at {ns} ns"
                );
            }
        }
    }

    #[test]
    fn a_read_latches_the_counter_after_its_latency() {
        // A bare-metal HPET read latches and returns after one latency draw
        // (mean 700 ns, at least 500 ns), and shows the count of that
        // instant. Standard error of the mean latency: 150 ns/√2000 ≈ 3.4 ns.
        let mut host = bare_metal_host();
        let mut ext = WrapExtender::new(64);
        let mut rng = SimRng::seed_from_u64(3);
        let n = 2000u64;
        let mut total_ns = 0;
        for k in 1..=n {
            let t = SimTime::from_nanos(k * 1_000_003);
            let s = host.read(CounterSource::Hpet, 0, t, 0, &mut ext, &mut rng);
            let latency_ns = s.at.as_nanos() - t.as_nanos();
            assert!(latency_ns >= 500, "{latency_ns} ns");
            assert_eq!(s.done, s.at);
            assert_eq!(s.counter, host.value_at(CounterSource::Hpet, s.at, 0));
            total_ns += latency_ns;
        }
        let mean_ns = total_ns as f64 / n as f64;
        assert!((mean_ns - 700.0).abs() < 15.0, "{mean_ns} ns");
    }

    #[test]
    fn reads_only_extension_loses_the_wraps_between_reads() {
        // The 24-bit ACPI PM timer wraps every 4.69 s. A reader extending
        // from its own reads only, reading again 3 wraps and 1 s later,
        // misses exactly those 3 wraps; with the kernel's tick extension
        // it sees the whole count.
        let cfg = |extension| HostConfig {
            counters: vec![CounterConfig {
                kind: CounterKind::AcpiPm,
                ..CounterConfig::default()
            }],
            counter_extension: extension,
            ..HostConfig::default()
        };
        for (extension, lost) in [
            (CounterExtension::ReadsOnly, 3u64 << 24),
            (CounterExtension::KernelTick, 0),
        ] {
            let mut host = Host::new(&cfg(extension), &|n: &str| {
                SimRng::seed_from_u64(n.len() as u64)
            })
            .unwrap();
            let mut ext = WrapExtender::new(24);
            let mut rng = SimRng::seed_from_u64(6);
            let t0 = SimTime::from_secs(1);
            let gap =
                sim_core::SimDuration::from_secs_f64(3.0 * (1u64 << 24) as f64 / 3_579_545.0 + 1.0);
            let a = host.read(CounterSource::AcpiPm, 0, t0, 0, &mut ext, &mut rng);
            let b = host.read(CounterSource::AcpiPm, 0, t0 + gap, 0, &mut ext, &mut rng);
            let true_delta = host.value_at(CounterSource::AcpiPm, b.at, 0)
                - host.value_at(CounterSource::AcpiPm, a.at, 0);
            assert_eq!(true_delta - (b.counter - a.counter), lost, "{extension:?}");
        }
    }

    #[test]
    fn stamp_latency_has_its_configured_mean() {
        // Exponential with mean 2 µs (the default): 20 000 draws give the
        // mean to a standard error of 2 µs/√20 000 ≈ 0.7 %.
        let host = bare_metal_host();
        let mut rng = SimRng::seed_from_u64(4);
        let n = 20_000;
        let total_s: f64 = (0..n)
            .map(|_| host.sample_stamp_latency(&mut rng).as_secs_f64())
            .sum();
        let mean_us = total_s / f64::from(n) * 1e6;
        assert!((mean_us - 2.0).abs() < 0.06, "{mean_us} µs");
    }

    #[test]
    fn a_xen_clocksource_read_lasts_at_least_the_pvclock_read() {
        // The kernel's whole pvclock read (40 ns by default) outlasts the
        // TSC access inside it (~7 ns): the reader goes on only after it.
        let mut host = two_cpu_host(true);
        let mut ext = WrapExtender::new(64);
        let mut rng = SimRng::seed_from_u64(5);
        for k in 1..100u64 {
            let t = SimTime::from_nanos(k * 10_000_000);
            let s = host.read(CounterSource::XenClocksource, 0, t, 0, &mut ext, &mut rng);
            assert!(s.at < s.done, "latched at {}, done at {}", s.at, s.done);
            assert_eq!(s.done.as_nanos() - t.as_nanos(), 40);
        }
    }

    /// A domain of a Xen host reads the TSC and the Xen clocksource on the
    /// pCPU its vCPU is placed on (Dom0's, pCPU 0, before any scheduling),
    /// whatever core is configured; a shared device on the configured core.
    #[test]
    fn xen_domains_read_per_cpu_sources_where_their_vcpu_is() {
        let host = two_cpu_host(true);
        for core in [0, 1] {
            assert_eq!(host.reading_core(CounterSource::XenClocksource, 0, core), 0);
            assert_eq!(host.reading_core(CounterSource::Tsc, 0, core), 0);
            assert_eq!(host.reading_core(CounterSource::Hpet, 0, core), core);
        }
    }

    /// A 10 GHz TSC starting at 2⁶² ticks: 4.5·10⁸ s (14 years) of run fit
    /// below 2⁶³ at the nominal rate, but not with the crystal's aging at
    /// its 100 ppm/day limit (½·D·t² adds 1.2·10⁸ s); 4.6·10⁸ s fit, but
    /// not with a slow temperature cycle of 1 % or a room process of
    /// 0.1 % (six standard deviations: 0.6 %).
    #[test]
    fn count_range_allows_for_aging_and_temperature() {
        use crate::oscillator::{Oscillator, TemperatureConfig};
        let host = |crystal: OscillatorConfig| HostConfig {
            tsc_crystal: crystal,
            counters: vec![CounterConfig {
                nominal_hz: Some(10_000_000_000),
                tsc: TscConfig {
                    core_offsets_ticks: vec![1 << 62],
                    ..TscConfig::default()
                },
                ..CounterConfig::default()
            }],
            ..HostConfig::default()
        };
        // The count at the end of the run, from the crystal's time error.
        let reaches = |h: &HostConfig, duration_s: f64| {
            let mut crystal = Oscillator::new(&h.tsc_crystal, SimRng::seed_from_u64(0));
            let x = crystal.time_error_s(SimTime::from_secs_f64(duration_s));
            1e10 * (duration_s + x) + 2f64.powi(62)
        };
        let refused = |h: &HostConfig, duration_s: f64| {
            assert!(h.validate("h").is_empty());
            let errs = h.validate_count_range("h", duration_s);
            assert!(errs.len() <= 1);
            errs.first().map(|e| {
                assert_eq!(e.field, "h.counters[0]");
                assert!(e.message.contains("past the 2^63"), "{}", e.message);
            })
        };
        let skew = host(OscillatorConfig {
            skew_ppm: 100.0,
            ..OscillatorConfig::default()
        });
        assert!(refused(&skew, 4.5e8).is_none());
        let aging = host(OscillatorConfig {
            aging_ppm_per_day: 100.0,
            ..OscillatorConfig::default()
        });
        assert!(reaches(&aging, 4.5e8) > 2f64.powi(63));
        assert!(refused(&aging, 4.5e8).is_some());

        assert!(refused(&host(OscillatorConfig::default()), 4.6e8).is_none());
        let cycle = host(OscillatorConfig {
            temperature: TemperatureConfig {
                coeff_ppm_per_c: 100.0,
                diurnal_amplitude_c: 100.0,
                diurnal_period_s: 1e9,
                ..TemperatureConfig::default()
            },
            ..OscillatorConfig::default()
        });
        assert!(reaches(&cycle, 4.6e8) > 2f64.powi(63));
        assert!(refused(&cycle, 4.6e8).is_some());
        // The same cycle over 30 minutes swings by 2 ms at most: no refusal.
        let fast_cycle = host(OscillatorConfig {
            temperature: TemperatureConfig {
                diurnal_period_s: 1800.0,
                ..cycle.tsc_crystal.temperature.clone()
            },
            ..OscillatorConfig::default()
        });
        assert!(refused(&fast_cycle, 4.6e8).is_none());
        let room = host(OscillatorConfig {
            temperature: TemperatureConfig {
                coeff_ppm_per_c: 100.0,
                room_sigma_c: 10.0,
                ..TemperatureConfig::default()
            },
            ..OscillatorConfig::default()
        });
        assert!(refused(&room, 4.6e8).is_some());
    }

    /// Linux's pvclock "last value": without it a kernel reading its two
    /// vCPUs' records in turn sees time go back; with it, never.
    #[test]
    fn the_guest_kernel_keeps_the_xen_clocksource_monotonic() {
        let unclamped = worst_step_back_ns(false, false);
        assert!(
            unclamped > 1_000_000,
            "per-CPU records disagree: {unclamped} ns"
        );
        assert_eq!(worst_step_back_ns(true, false), 0);
        // A resume forgets the last value, which belonged to the host the
        // guest left: the next read is not clamped to it.
        assert!(worst_step_back_ns(true, true) > 1_000_000);
    }
}
