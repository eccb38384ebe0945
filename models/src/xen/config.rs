//! Configuration of a Xen host: pCPUs, domains and their workloads, the
//! scheduler, the per-packet costs of the I/O path, and the isolation
//! mechanisms (SEDF-DC, ShareGuard).
//!
//! Every duration is in nanoseconds (`_ns`), every rate in packets per second
//! (`_pps`) or as a fraction of one pCPU (`_fraction`). Defaults cite
//! research note `virt-models.md` (§3 for the mechanisms, §7 for the
//! parameter table); values marked `\[E\]` there are engineering estimates that
//! were calibrated here, within their sourced range, against the VET "noise
//! overhead" figure (host RTT: native 30–40 µs, Dom0 30–70 µs, DomU
//! 100–200 µs with 1–4 busy guests).

use algorithms::{ConfigError, Num};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::parametric::ParametricConfig;

/// One host: its pCPUs, its domains (Dom0 first) and how they are scheduled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct XenHostConfig {
    /// Physical CPUs (1..=64; default 2, a 2006-era dual-core testbed).
    pub pcpus: usize,
    /// No hypervisor: domain 0 is the bare-metal OS, interrupts reach its
    /// kernel directly (no event channel, no vCPU context switch) and there
    /// are no guests. Default false.
    pub native: bool,
    /// The CPU scheduler (default: credit1 with Xen's defaults).
    pub scheduler: SchedulerConfig,
    /// Dom0, the privileged domain that owns the NIC and runs netback.
    pub dom0: DomainConfig,
    /// The DomU guests (domains 1..=N). Default: none.
    pub guests: Vec<DomainConfig>,
    /// Per-packet CPU costs and wake-up costs of the packet path.
    pub costs: PathCosts,
    /// ShareGuard: caps each guest's use of Dom0 CPU (default off).
    pub share_guard: ShareGuardConfig,
}

impl Default for XenHostConfig {
    fn default() -> Self {
        XenHostConfig {
            pcpus: 2,
            native: false,
            scheduler: SchedulerConfig::default(),
            dom0: DomainConfig::dom0(),
            guests: Vec::new(),
            costs: PathCosts::default(),
            share_guard: ShareGuardConfig::default(),
        }
    }
}

/// Which scheduler runs the vCPUs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum SchedulerConfig {
    /// Xen's credit scheduler (credit1), explicitly simulated.
    Credit(#[serde(default)] CreditConfig),
    /// Simple EDF (Xen ≤ 4.5), explicitly simulated, optionally with SEDF-DC.
    Sedf(#[serde(default)] SedfConfig),
    /// Fast parametric model: delays sampled from distributions calibrated
    /// against the explicit credit scheduler.
    Parametric(ParametricConfig),
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig::Credit(CreditConfig::default())
    }
}

/// Credit1 parameters (research §3.1, §7 "Credit").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CreditConfig {
    /// Time slice, ns (1 ms..=1 s; default 30 ms, `sched_credit_tslice_ms`).
    pub tslice_ns: u64,
    /// Accounting tick, ns (default 10 ms = tslice/3; 100 µs..=tslice, and
    /// it must divide `tslice_ns` exactly). At each tick the running vCPU
    /// loses BOOST; every `tslice/tick` ticks credits are handed out, one
    /// slice's worth per pCPU. Xen derives the tick from the slice
    /// (`tslice/CSCHED_TICKS_PER_TSLICE`, 3) and accounts once per slice,
    /// so a tick always divides it; a tick that did not would hand out a
    /// slice's credit more often than once per slice.
    pub tick_ns: u64,
    /// Rate limit, ns: a running vCPU is not preempted before it has run this
    /// long (0 = off, else 100 µs..=tslice; default 1 ms,
    /// `SCHED_DEFAULT_RATELIMIT_US`).
    pub ratelimit_ns: u64,
    /// Shortest timer the scheduler arms, ns (default 100 µs, §3.1).
    pub min_timer_ns: u64,
    /// BOOST a vCPU that wakes while UNDER (default true).
    pub boost: bool,
}

impl Default for CreditConfig {
    fn default() -> Self {
        CreditConfig {
            tslice_ns: 30_000_000,
            tick_ns: 10_000_000,
            ratelimit_ns: 1_000_000,
            min_timer_ns: 100_000,
            boost: true,
        }
    }
}

/// SEDF parameters common to the host (research §3.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SedfConfig {
    /// Extra-time quantum, ns (default 500 µs, `EXTRA_QUANTUM`; 5 µs..=100 ms).
    pub extra_quantum_ns: u64,
    /// SEDF-DC: charge Dom0 CPU spent on a guest's packets to the guest's
    /// next allocations (Gupta et al., Middleware 2006). Default off. The
    /// debt is taken from the slices of the guest's vCPUs as their periods
    /// renew, at most one slice per period from each vCPU (a guest with
    /// several vCPUs pays off that many slices per period); debt charged to
    /// a guest with slice 0 (best effort) is never collected, and its
    /// extra time is not reduced.
    pub debt_collector: bool,
    /// SEDF-DC accounting interval, ns (default 100 ms, XenMon's aggregation
    /// interval, research §3.4; 1 ms..=10 s).
    pub dc_interval_ns: u64,
    /// Weight of one sent packet relative to one received packet when Dom0
    /// CPU is partitioned among guests (default 0.5, research §7 note N;
    /// 0..=10).
    pub send_to_recv_cost_ratio: f64,
}

impl Default for SedfConfig {
    fn default() -> Self {
        SedfConfig {
            extra_quantum_ns: 500_000,
            debt_collector: false,
            dc_interval_ns: 100_000_000,
            send_to_recv_cost_ratio: 0.5,
        }
    }
}

/// Per-domain SEDF reservation (research §3.3, §7 "SEDF").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SedfParams {
    /// Period, ns (10 µs..=10 s; default 100 ms, `WEIGHT_PERIOD`).
    pub period_ns: u64,
    /// Guaranteed CPU per period, ns (0 or ≥ 5 µs, ≤ period; default 0:
    /// best effort).
    pub slice_ns: u64,
    /// May run in slack time beyond its slice (default true).
    pub extratime: bool,
}

impl Default for SedfParams {
    fn default() -> Self {
        SedfParams {
            period_ns: 100_000_000,
            slice_ns: 0,
            extratime: true,
        }
    }
}

/// One domain: vCPUs, scheduling parameters and workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DomainConfig {
    /// Virtual CPUs (1..=64; default 1).
    pub vcpus: usize,
    /// Credit weight (1..=65535; default 256, research §3.1).
    pub weight: u32,
    /// Credit cap: the most CPU the domain may use, in percent of one pCPU
    /// (0 = no cap, the default; at most 100 per vCPU). Enforced as Xen's
    /// `csched_acct` does: the domain earns at most the cap's credit per
    /// period, and a vCPU whose credit falls below minus its share of the
    /// cap is parked (not runnable) until an accounting finds its credit
    /// non-negative again (research §3.1). Also how a dilated guest is given 1/TDF of a CPU.
    pub cap_pct: u32,
    /// pCPUs this domain's vCPUs may run on; empty = any (default).
    pub affinity: Vec<usize>,
    /// SEDF reservation (used only by the SEDF scheduler).
    pub sedf: SedfParams,
    /// What the domain does.
    pub workload: Workload,
}

impl Default for DomainConfig {
    fn default() -> Self {
        DomainConfig {
            vcpus: 1,
            weight: 256,
            cap_pct: 0,
            affinity: Vec::new(),
            sedf: SedfParams::default(),
            workload: Workload::default(),
        }
    }
}

impl DomainConfig {
    /// Dom0's defaults: one vCPU, SEDF period 20 ms / slice 15 ms (§3.3).
    pub fn dom0() -> Self {
        DomainConfig {
            sedf: SedfParams {
                period_ns: 20_000_000,
                slice_ns: 15_000_000,
                extratime: true,
            },
            ..DomainConfig::default()
        }
    }

    /// A CPU hog guest (busy fraction 1, no I/O).
    pub fn cpu_hog() -> Self {
        DomainConfig {
            workload: Workload {
                busy_fraction: 1.0,
                ..Workload::default()
            },
            ..DomainConfig::default()
        }
    }
}

/// A domain's workload. CPU demand, packet traffic and on/off churn are
/// independent processes; the clock daemons' own packets come on top of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    /// Long-run fraction of time each vCPU wants the CPU (0..=1; 1 = CPU hog
    /// that never blocks; default 0 = idle). Bursts and blocking periods are
    /// exponential with the means below.
    pub busy_fraction: f64,
    /// Mean CPU burst, ns (10 µs..=10 s; default 10 ms \[E\]). The mean
    /// blocking time is `burst·(1−f)/f`.
    pub burst_mean_ns: u64,
    /// Background packets received per second (Poisson; 0..=1e6; default 0).
    pub rx_pps: f64,
    /// Background packets sent per second (Poisson; 0..=1e6; default 0).
    pub tx_pps: f64,
    /// Starting and stopping over time (default: always on).
    pub churn: Option<Churn>,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            busy_fraction: 0.0,
            burst_mean_ns: 10_000_000,
            rx_pps: 0.0,
            tx_pps: 0.0,
            churn: None,
        }
    }
}

impl Workload {
    /// Whether the workload generates any CPU or I/O load.
    pub fn is_busy(&self) -> bool {
        self.busy_fraction > 0.0 || self.rx_pps > 0.0 || self.tx_pps > 0.0
    }
}

/// On/off periods of a guest (exponentially distributed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Churn {
    /// Mean time running, s (0.001..=1e6; default 60 s).
    pub on_mean_s: f64,
    /// Mean time stopped, s (0.001..=1e6; default 60 s).
    pub off_mean_s: f64,
    /// Whether the guest runs at time zero (default true).
    pub start_on: bool,
}

impl Default for Churn {
    fn default() -> Self {
        Churn {
            on_mean_s: 60.0,
            off_mean_s: 60.0,
            start_on: true,
        }
    }
}

/// CPU costs and latencies of the packet path (research §3.2, §3.4, §7
/// "Wake path" and "Dom0 netback").
///
/// Calibration: the research values marked \[E\] were placed inside their
/// ranges so that an idle host reproduces the VET figure's floors. Native
/// ping-pong = `nic_rx + ipi + cstate + kernel_rx` (receive) +
/// `kernel_tx + nic_tx` (send) ≈ 4 + 5 + 11 + 5 + 5 + 6 = 36 µs (target
/// 30–40 µs); Dom0 adds an event channel and a vCPU context switch (≈41 µs,
/// target 30–70 µs); a DomU adds a netback hop each way and a second wake-up
/// (≈110 µs idle, target 100–200 µs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PathCosts {
    /// NIC receive: DMA of the frame and interrupt assertion, ns (default
    /// 4 µs \[E\]; 0..=1 ms).
    pub nic_rx_ns: u64,
    /// NIC transmit: doorbell, descriptor and frame DMA, serialisation, ns
    /// (default 6 µs \[E\]; 0..=1 ms).
    pub nic_tx_ns: u64,
    /// Interrupt moderation: each received frame waits U(0, this), ns
    /// (default 0 = off; research §7 gives up to 125 µs for ITR; 0..=1 ms).
    pub nic_coalesce_max_ns: u64,
    /// IPI / interrupt delivery to a halted pCPU, ns (default 5 µs, §7).
    pub ipi_wake_ns: u64,
    /// C-state exit of an idle pCPU: U(min, max), ns (default 2–20 µs, a
    /// shallow-C-state sub-range of §7's 1–100 µs, chosen so native RTT is
    /// 30–40 µs).
    pub cstate_exit_min_ns: u64,
    /// Upper end of the C-state exit range, ns (default 20 µs; ≤ 1 ms).
    pub cstate_exit_max_ns: u64,
    /// vCPU context switch, ns (default 3 µs, §7; 0..=1 ms).
    pub ctx_switch_ns: u64,
    /// Event-channel notification (hypervisor work between a sender's
    /// notify and the receiver's pending upcall), ns (default 2 µs \[E\];
    /// 0..=1 ms).
    pub evtchn_ns: u64,
    /// Guest/Dom0 kernel receive processing before the packet is
    /// timestamped, ns (default 5 µs, §3.4 "guest ≈5 µs"; 0..=1 ms).
    pub kernel_rx_ns: u64,
    /// Kernel transmit processing after the send timestamp, ns (default
    /// 5 µs \[E\], symmetric with receive; 0..=1 ms).
    pub kernel_tx_ns: u64,
    /// Guest-side paravirtual driver (netfront) CPU per packet and
    /// direction, on top of the kernel's: event-channel upcall, grant and
    /// ring handling, ns (default 8 µs \[E\]: Menon et al. 2006 find guest
    /// receive trailing native by 61 % after optimisation, research §3.4, so
    /// the guest pays well over the native stack cost; 0..=1 ms).
    pub netfront_ns: u64,
    /// Dom0 CPU per received packet forwarded to a guest (driver, bridge,
    /// netback), ns (default 10 µs, §3.4/§7; 0..=1 ms).
    pub netback_rx_ns: u64,
    /// Dom0 CPU per packet a guest sends, ns (default 5 µs, §3.4/§7 so the
    /// send:receive ratio is 0.5; 0..=1 ms).
    pub netback_tx_ns: u64,
}

impl Default for PathCosts {
    fn default() -> Self {
        PathCosts {
            nic_rx_ns: 4_000,
            nic_tx_ns: 6_000,
            nic_coalesce_max_ns: 0,
            ipi_wake_ns: 5_000,
            cstate_exit_min_ns: 2_000,
            cstate_exit_max_ns: 20_000,
            ctx_switch_ns: 3_000,
            evtchn_ns: 2_000,
            kernel_rx_ns: 5_000,
            kernel_tx_ns: 5_000,
            netfront_ns: 8_000,
            netback_rx_ns: 10_000,
            netback_tx_ns: 5_000,
        }
    }
}

/// ShareGuard: limits the Dom0 CPU each guest may cause, by dropping its
/// traffic at netback while it is over its limit (Gupta et al. 2006).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ShareGuardConfig {
    /// Enabled (default false).
    pub enabled: bool,
    /// Per-guest cap on Dom0 CPU, as a fraction of one pCPU, indexed like
    /// `guests`; missing or negative entries mean no cap (each 0..=1; the
    /// paper's example caps a file-transfer guest at 0.05).
    pub cap_fraction: Vec<f64>,
    /// How often usage is checked, ns (default 100 ms, XenMon's interval
    /// \[E\]; 1 ms..=10 s).
    pub interval_ns: u64,
}

impl Default for ShareGuardConfig {
    fn default() -> Self {
        ShareGuardConfig {
            enabled: false,
            cap_fraction: Vec::new(),
            interval_ns: 100_000_000,
        }
    }
}

fn check_u64(errs: &mut Vec<ConfigError>, field: String, v: u64, lo: u64, hi: u64, unit: &str) {
    if v < lo || v > hi {
        errs.push(ConfigError::new(
            field,
            format!("{v} is outside the valid range {lo}..={hi} {unit}"),
        ));
    }
}

impl XenHostConfig {
    /// All domains, Dom0 first.
    pub fn domains(&self) -> impl Iterator<Item = &DomainConfig> {
        std::iter::once(&self.dom0).chain(self.guests.iter())
    }

    /// Domain `i` (0 = Dom0, 1.. the guests), to change.
    pub fn domain_mut(&mut self, i: usize) -> Option<&mut DomainConfig> {
        match i {
            0 => Some(&mut self.dom0),
            g => self.guests.get_mut(g - 1),
        }
    }

    /// Checks every field; `path` prefixes the field names.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut e = Vec::new();
        let f = |name: &str| format!("{path}.{name}");
        check_u64(&mut e, f("pcpus"), self.pcpus as u64, 1, 64, "pCPUs");
        if self.native && !self.guests.is_empty() {
            e.push(ConfigError::new(
                f("guests"),
                "a native host (no hypervisor) has no guests",
            ));
        }
        match &self.scheduler {
            SchedulerConfig::Credit(c) => {
                check_u64(
                    &mut e,
                    f("scheduler.tslice_ns"),
                    c.tslice_ns,
                    1_000_000,
                    1_000_000_000,
                    "ns",
                );
                let tick_errs = e.len();
                check_u64(
                    &mut e,
                    f("scheduler.tick_ns"),
                    c.tick_ns,
                    100_000,
                    c.tslice_ns.max(100_000),
                    "ns (≤ tslice)",
                );
                if e.len() == tick_errs && c.tslice_ns % c.tick_ns != 0 {
                    // Credit for a whole slice is handed out every
                    // `tslice/tick` ticks: a tick that does not divide the
                    // slice over-issues it.
                    let divisors: Vec<String> = (1..=6)
                        .filter(|&k| c.tslice_ns % k == 0 && c.tslice_ns / k >= 100_000)
                        .map(|k| (c.tslice_ns / k).to_string())
                        .collect();
                    e.push(ConfigError::new(
                        f("scheduler.tick_ns"),
                        format!(
                            "{} does not divide tslice_ns ({}): the tick must be tslice_ns/n \
                             for a whole n, at least 100000 ns (e.g. {} ns; Xen uses \
                             tslice/3)",
                            c.tick_ns,
                            c.tslice_ns,
                            divisors.join(", ")
                        ),
                    ));
                }
                if c.ratelimit_ns != 0 {
                    check_u64(
                        &mut e,
                        f("scheduler.ratelimit_ns"),
                        c.ratelimit_ns,
                        100_000,
                        c.tslice_ns.min(500_000_000),
                        "ns (0 = off, ≤ tslice)",
                    );
                }
                check_u64(
                    &mut e,
                    f("scheduler.min_timer_ns"),
                    c.min_timer_ns,
                    1_000,
                    10_000_000,
                    "ns",
                );
            }
            SchedulerConfig::Sedf(s) => {
                check_u64(
                    &mut e,
                    f("scheduler.extra_quantum_ns"),
                    s.extra_quantum_ns,
                    5_000,
                    100_000_000,
                    "ns",
                );
                check_u64(
                    &mut e,
                    f("scheduler.dc_interval_ns"),
                    s.dc_interval_ns,
                    1_000_000,
                    10_000_000_000,
                    "ns",
                );
                ConfigError::check_range(
                    &mut e,
                    &f("scheduler.send_to_recv_cost_ratio"),
                    s.send_to_recv_cost_ratio,
                    0.0,
                    10.0,
                    "(dimensionless)",
                );
            }
            SchedulerConfig::Parametric(p) => e.extend(p.validate(&f("scheduler"))),
        }
        for (i, d) in self.domains().enumerate() {
            let dp = if i == 0 {
                f("dom0")
            } else {
                f(&format!("guests[{}]", i - 1))
            };
            d.validate(&dp, self.pcpus, &mut e);
            if d.cap_pct != 0 && matches!(self.scheduler, SchedulerConfig::Sedf(_)) {
                e.push(ConfigError::new(
                    format!("{dp}.cap_pct"),
                    "a cap is a credit scheduler setting; under SEDF a domain's CPU is \
                     limited by sedf.slice_ns with extratime: false",
                ));
            }
        }
        let c = &self.costs;
        let cf = |n: &str| f(&format!("costs.{n}"));
        for (name, v) in [
            ("nic_rx_ns", c.nic_rx_ns),
            ("nic_tx_ns", c.nic_tx_ns),
            ("nic_coalesce_max_ns", c.nic_coalesce_max_ns),
            ("ipi_wake_ns", c.ipi_wake_ns),
            ("cstate_exit_max_ns", c.cstate_exit_max_ns),
            ("ctx_switch_ns", c.ctx_switch_ns),
            ("evtchn_ns", c.evtchn_ns),
            ("kernel_rx_ns", c.kernel_rx_ns),
            ("kernel_tx_ns", c.kernel_tx_ns),
            ("netfront_ns", c.netfront_ns),
            ("netback_rx_ns", c.netback_rx_ns),
            ("netback_tx_ns", c.netback_tx_ns),
        ] {
            check_u64(&mut e, cf(name), v, 0, 1_000_000, "ns");
        }
        check_u64(
            &mut e,
            cf("cstate_exit_min_ns"),
            c.cstate_exit_min_ns,
            0,
            c.cstate_exit_max_ns,
            "ns (≤ cstate_exit_max_ns)",
        );
        let g = &self.share_guard;
        check_u64(
            &mut e,
            f("share_guard.interval_ns"),
            g.interval_ns,
            1_000_000,
            10_000_000_000,
            "ns",
        );
        for (i, cap) in g.cap_fraction.iter().enumerate() {
            if cap.is_nan() || *cap > 1.0 {
                e.push(ConfigError::new(
                    f(&format!("share_guard.cap_fraction[{i}]")),
                    format!(
                        "{} must be ≤ 1 (fraction of one pCPU; negative = no cap)",
                        Num(*cap)
                    ),
                ));
            }
        }
        if g.cap_fraction.len() > self.guests.len() {
            e.push(ConfigError::new(
                f("share_guard.cap_fraction"),
                "more caps than guests",
            ));
        }
        e
    }
}

impl DomainConfig {
    fn validate(&self, path: &str, pcpus: usize, e: &mut Vec<ConfigError>) {
        let f = |name: &str| format!("{path}.{name}");
        check_u64(e, f("vcpus"), self.vcpus as u64, 1, 64, "vCPUs");
        check_u64(
            e,
            f("weight"),
            u64::from(self.weight),
            1,
            65_535,
            "(credit weight)",
        );
        check_u64(
            e,
            f("cap_pct"),
            u64::from(self.cap_pct),
            0,
            100 * self.vcpus.clamp(1, 64) as u64,
            "% of one pCPU (0 = no cap; at most 100 per vCPU)",
        );
        for (i, p) in self.affinity.iter().enumerate() {
            if *p >= pcpus {
                e.push(ConfigError::new(
                    f(&format!("affinity[{i}]")),
                    format!("pCPU {p} does not exist (0..{pcpus})"),
                ));
            }
        }
        let s = &self.sedf;
        check_u64(
            e,
            f("sedf.period_ns"),
            s.period_ns,
            10_000,
            10_000_000_000,
            "ns",
        );
        if s.slice_ns != 0 {
            check_u64(
                e,
                f("sedf.slice_ns"),
                s.slice_ns,
                5_000,
                s.period_ns.max(5_000),
                "ns (0, or 5 µs..=period)",
            );
        }
        let w = &self.workload;
        ConfigError::check_range(
            e,
            &f("workload.busy_fraction"),
            w.busy_fraction,
            0.0,
            1.0,
            "(fraction)",
        );
        check_u64(
            e,
            f("workload.burst_mean_ns"),
            w.burst_mean_ns,
            10_000,
            10_000_000_000,
            "ns",
        );
        ConfigError::check_range(e, &f("workload.rx_pps"), w.rx_pps, 0.0, 1e6, "packets/s");
        ConfigError::check_range(e, &f("workload.tx_pps"), w.tx_pps, 0.0, 1e6, "packets/s");
        if let Some(c) = &w.churn {
            ConfigError::check_range(
                e,
                &f("workload.churn.on_mean_s"),
                c.on_mean_s,
                1e-3,
                1e6,
                "s",
            );
            ConfigError::check_range(
                e,
                &f("workload.churn.off_mean_s"),
                c.off_mean_s,
                1e-3,
                1e6,
                "s",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_fields_are_named() {
        assert!(XenHostConfig::default().validate("host").is_empty());
        let mut c = XenHostConfig {
            pcpus: 0,
            ..XenHostConfig::default()
        };
        c.guests.push(DomainConfig {
            affinity: vec![5],
            ..DomainConfig::cpu_hog()
        });
        c.costs.cstate_exit_min_ns = 50_000;
        let errs = c.validate("host");
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"host.pcpus"), "{fields:?}");
        assert!(fields.contains(&"host.guests[0].affinity[0]"), "{fields:?}");
        assert!(
            fields.contains(&"host.costs.cstate_exit_min_ns"),
            "{fields:?}"
        );
    }

    /// Credit for a whole slice is handed out every `tslice/tick` ticks, so
    /// a tick that does not divide the slice over-issues credit (one pCPU,
    /// hogs of weights 1:3: tick 20 ms or 16 ms against a 30 ms slice gave
    /// them 0.5/0.5 instead of 0.29/0.71, and a hog capped at 50 % took
    /// 0.75). Such a tick is refused by name; divisors pass.
    #[test]
    fn a_tick_that_does_not_divide_the_slice_is_refused() {
        let with = |tslice_ns: u64, tick_ns: u64| XenHostConfig {
            scheduler: SchedulerConfig::Credit(CreditConfig {
                tslice_ns,
                tick_ns,
                ..CreditConfig::default()
            }),
            ..XenHostConfig::default()
        };
        for (tslice, tick) in [
            (30_000_000, 10_000_000),
            (30_000_000, 30_000_000),
            (30_000_000, 15_000_000),
            (30_000_000, 100_000),
            (1_000_000, 250_000),
        ] {
            let errs = with(tslice, tick).validate("host");
            assert!(errs.is_empty(), "{tslice}/{tick}: {errs:?}");
        }
        for (tslice, tick) in [(30_000_000, 20_000_000), (30_000_000, 16_000_000)] {
            let errs = with(tslice, tick).validate("host");
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert_eq!(errs[0].field, "host.scheduler.tick_ns");
            let msg = &errs[0].message;
            assert!(
                msg.contains("does not divide tslice_ns")
                    && msg.contains("30000000, 15000000, 10000000"),
                "{msg}"
            );
        }
        // Out of range: one error, the range's.
        let errs = with(30_000_000, 40_000_000).validate("host");
        assert_eq!(errs.len(), 1, "{errs:?}");
    }
}
