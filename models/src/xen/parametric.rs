//! The fast parametric delay model, and its calibration against the
//! explicit scheduler.
//!
//! Simulating every vCPU dispatch costs events; a sweep over thousands of
//! scenarios does not need them. The parametric model replaces the scheduler
//! by four random delays per packet, drawn independently:
//!
//! | stage | from → to |
//! |---|---|
//! | `rx_backend` | NIC arrival → packet queued at the destination kernel (NIC, coalescing, Dom0 wake-up, netback queue and CPU, event channel) |
//! | `rx_wake` | queued → guest kernel timestamp (vCPU wake-up and scheduling, kernel receive) |
//! | `send_wake` | send request (daemon timer) → kernel send timestamp (vCPU wake-up) |
//! | `tx` | send timestamp → NIC departure (kernel transmit, event channel, Dom0 wake-up, netback, NIC) |
//!
//! Each is held separately for Dom0 and for DomUs, and per *number of busy
//! guests* `k` (guests running with a non-idle workload), since contention is
//! what moves the distributions.
//!
//! ## The fit
//!
//! [`calibrate`] runs the explicit host for each `k = 0..=N`, `N` the
//! guests with a non-idle workload, with the first `k` of them busy, the
//! others idle and churn off, and with probe traffic in every domain, and
//! records every packet's stage delays. Each sample set is summarised
//! twice:
//!
//! * a **point-mass + exponential mixture**, for reading and reporting: the
//!   fraction `p` of samples within 10 % of the minimum (the "no contention"
//!   atom at the minimum `d₀`), and the mean excess of the rest over `d₀`;
//! * **empirical quantiles** at `Q` evenly spaced probabilities (default 201,
//!   so every half percentile), which the sampler uses by inverse transform
//!   with linear interpolation. The mixture is used only when no quantile
//!   table is given.
//!
//! The quantile table reproduces the median exactly and the mean to within
//! the error of trapezoidal integration of the tail, a few percent for the
//! heavy 30 ms-multiple tails a credit scheduler produces (checked in the
//! tests below against an independent explicit run).

use algorithms::ConfigError;
use rand::RngExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimRng, SimTime};

use super::config::{SchedulerConfig, XenHostConfig};
use super::{HostEvent, HostOutputs, XenHost};

/// A fitted delay distribution, ns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DelayDist {
    /// Mixture: probability of the point mass (0..=1).
    pub point_mass_fraction: f64,
    /// Mixture: location of the point mass, ns (≥ 0).
    pub point_ns: f64,
    /// Mixture: mean excess over `point_ns` of the exponential part, ns.
    pub exp_mean_ns: f64,
    /// Empirical quantiles at evenly spaced probabilities `i/(Q−1)`, ns,
    /// non-decreasing. Used for sampling when non-empty.
    pub quantiles_ns: Vec<f64>,
}

impl DelayDist {
    /// Fits both representations to `samples_ns` with `q` quantiles.
    pub fn fit(samples_ns: &mut [u64], q: usize) -> DelayDist {
        if samples_ns.is_empty() {
            return DelayDist::default();
        }
        samples_ns.sort_unstable();
        let n = samples_ns.len();
        let min = samples_ns[0] as f64;
        let atom_hi = min * 1.1 + 1.0;
        let in_atom = samples_ns
            .iter()
            .take_while(|&&s| (s as f64) <= atom_hi)
            .count();
        let rest = &samples_ns[in_atom..];
        let exp_mean_ns = if rest.is_empty() {
            0.0
        } else {
            rest.iter().map(|&s| s as f64 - min).sum::<f64>() / rest.len() as f64
        };
        let q = q.max(2);
        let quantiles_ns = (0..q)
            .map(|i| {
                let pos = i as f64 / (q - 1) as f64 * (n - 1) as f64;
                let lo = pos.floor() as usize;
                let hi = (lo + 1).min(n - 1);
                let w = pos - lo as f64;
                samples_ns[lo] as f64 * (1.0 - w) + samples_ns[hi] as f64 * w
            })
            .collect();
        DelayDist {
            point_mass_fraction: in_atom as f64 / n as f64,
            point_ns: min,
            exp_mean_ns,
            quantiles_ns,
        }
    }

    /// Draws one delay, ns.
    pub fn sample(&self, rng: &mut SimRng) -> u64 {
        let u: f64 = rng.random();
        if self.quantiles_ns.len() >= 2 {
            let pos = u * (self.quantiles_ns.len() - 1) as f64;
            let lo = (pos.floor() as usize).min(self.quantiles_ns.len() - 2);
            let w = pos - lo as f64;
            let v = self.quantiles_ns[lo] * (1.0 - w) + self.quantiles_ns[lo + 1] * w;
            return v.max(0.0).round() as u64;
        }
        if u < self.point_mass_fraction {
            return self.point_ns.max(0.0).round() as u64;
        }
        let e: f64 = rng.random();
        (self.point_ns - self.exp_mean_ns * (1.0 - e).ln())
            .max(0.0)
            .round() as u64
    }

    /// The distribution's mean, ns (from the quantiles when present).
    pub fn mean_ns(&self) -> f64 {
        let q = &self.quantiles_ns;
        if q.len() >= 2 {
            let m = q.len() - 1;
            q.windows(2).map(|w| 0.5 * (w[0] + w[1])).sum::<f64>() / m as f64
        } else {
            self.point_ns + (1.0 - self.point_mass_fraction) * self.exp_mean_ns
        }
    }

    fn validate(&self, path: &str, e: &mut Vec<ConfigError>) {
        ConfigError::check_range(
            e,
            &format!("{path}.point_mass_fraction"),
            self.point_mass_fraction,
            0.0,
            1.0,
            "(probability)",
        );
        ConfigError::check_range(
            e,
            &format!("{path}.point_ns"),
            self.point_ns,
            0.0,
            1e10,
            "ns",
        );
        ConfigError::check_range(
            e,
            &format!("{path}.exp_mean_ns"),
            self.exp_mean_ns,
            0.0,
            1e10,
            "ns",
        );
        if self
            .quantiles_ns
            .windows(2)
            .any(|w| w[1].partial_cmp(&w[0]).is_none_or(|o| o.is_lt()))
            || self.quantiles_ns.iter().any(|q| q.is_nan() || *q < 0.0)
        {
            e.push(ConfigError::new(
                format!("{path}.quantiles_ns"),
                "quantiles must be non-negative and non-decreasing (ns)",
            ));
        }
    }
}

/// The four stage delays for one kind of domain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StageDelays {
    /// NIC arrival → queued at the receiving kernel.
    pub rx_backend: DelayDist,
    /// Queued → receive timestamp.
    pub rx_wake: DelayDist,
    /// Send request → send timestamp.
    pub send_wake: DelayDist,
    /// Send timestamp → NIC departure.
    pub tx: DelayDist,
}

/// Delays for Dom0 and for DomUs with a given number of busy guests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DelayTable {
    /// Dom0's own packets (no netback hop).
    pub dom0: StageDelays,
    /// Guest packets.
    pub domu: StageDelays,
}

/// Parameters of the parametric model: one [`DelayTable`] per number of
/// busy guests (index `k`; beyond the last, the last applies). Produced by
/// [`calibrate`] (in a scenario file, by `vtsim calibrate`); an empty table
/// is invalid.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ParametricConfig {
    /// Tables indexed by the number of busy guests.
    pub by_busy_guests: Vec<DelayTable>,
}

impl ParametricConfig {
    /// Checks the tables; `path` prefixes field names.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut e = Vec::new();
        if self.by_busy_guests.is_empty() {
            e.push(ConfigError::new(
                format!("{path}.by_busy_guests"),
                "needs at least one table (produce it with xen::parametric::calibrate)",
            ));
        }
        for (k, t) in self.by_busy_guests.iter().enumerate() {
            for (who, s) in [("dom0", &t.dom0), ("domu", &t.domu)] {
                for (stage, d) in [
                    ("rx_backend", &s.rx_backend),
                    ("rx_wake", &s.rx_wake),
                    ("send_wake", &s.send_wake),
                    ("tx", &s.tx),
                ] {
                    d.validate(&format!("{path}.by_busy_guests[{k}].{who}.{stage}"), &mut e);
                }
            }
        }
        e
    }

    /// The table for `busy` busy guests.
    pub fn table(&self, busy: usize) -> &DelayTable {
        &self.by_busy_guests[busy.min(self.by_busy_guests.len() - 1)]
    }
}

/// Stage delays recorded by the explicit host for one domain, ns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageLog {
    /// NIC arrival → queued at the receiving kernel.
    pub rx_backend_ns: Vec<u64>,
    /// Queued → receive timestamp.
    pub rx_wake_ns: Vec<u64>,
    /// Send request → send timestamp.
    pub send_wake_ns: Vec<u64>,
    /// Send timestamp → NIC departure.
    pub tx_ns: Vec<u64>,
}

/// How [`calibrate`] runs the explicit model.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationRun {
    /// Simulated time per busy-guest count, s.
    pub duration_s: f64,
    /// Initial time whose samples are discarded (start-up transients such as
    /// every vCPU waking BOOSTed at once), s.
    pub warmup_s: f64,
    /// Probe packets per second per domain and direction (Poisson).
    pub probe_pps: f64,
    /// Quantiles in each fitted table.
    pub quantiles: usize,
}

impl Default for CalibrationRun {
    fn default() -> Self {
        CalibrationRun {
            duration_s: 60.0,
            warmup_s: 1.0,
            probe_pps: 20.0,
            quantiles: 201,
        }
    }
}

/// Runs `host` (an explicit scheduler) with probe traffic in every domain
/// until `stop`, and returns the stage delays of every packet by domain.
/// A small self-contained event loop, so calibration needs no world.
pub fn run_explicit(
    cfg: &XenHostConfig,
    run: &CalibrationRun,
    rng: SimRng,
    probe_rng: &mut SimRng,
) -> Vec<StageLog> {
    let mut host = XenHost::new(cfg.clone(), rng);
    host.record_delays(true);
    let mut q: sim_core::EventQueue<Ev> = sim_core::EventQueue::with_capacity(1024);
    let stop = SimTime::from_secs_f64(run.duration_s);
    let mut out = HostOutputs::default();
    host.start(SimTime::ZERO, &mut out);
    let ndom = cfg.guests.len() + 1;
    if run.probe_pps > 0.0 {
        for d in 0..ndom {
            for tx in [false, true] {
                q.push(
                    SimTime::ZERO + exp_ns(probe_rng, 1e9 / run.probe_pps),
                    Ev::Probe { dom: d, tx },
                );
            }
        }
    }
    let mut token = 0u64;
    let warmup = SimTime::from_secs_f64(run.warmup_s);
    let mut warm = run.warmup_s <= 0.0;
    loop {
        for (t, e) in out.events.drain(..) {
            q.push(t, Ev::Host(e));
        }
        out.notes.clear();
        let Some((now, ev)) = q.pop() else { break };
        if now > stop {
            break;
        }
        if !warm && now >= warmup {
            warm = true;
            host.take_delay_log();
        }
        match ev {
            Ev::Host(e) => host.handle(now, e, &mut out),
            Ev::Probe { dom, tx } => {
                token += 1;
                if tx {
                    host.packet_from_guest(now, dom, token, &mut out);
                } else {
                    host.packet_from_nic(now, dom, token, &mut out);
                }
                q.push(
                    now + exp_ns(probe_rng, 1e9 / run.probe_pps),
                    Ev::Probe { dom, tx },
                );
            }
        }
    }
    host.take_delay_log()
}

enum Ev {
    Host(HostEvent),
    Probe { dom: usize, tx: bool },
}

fn exp_ns(rng: &mut SimRng, mean_ns: f64) -> SimDuration {
    let u: f64 = rng.random();
    SimDuration::from_nanos((-mean_ns * (1.0 - u).ln()).round() as u64)
}

/// Calibrates the parametric model from the explicit scheduler in `cfg`:
/// for `k` from 0 to the number of guests with a non-idle workload, the
/// first `k` such guests keep their workloads and all others are idle, so
/// that table `k` is fitted with exactly the `k` busy guests the model
/// looks it up by at run time. Churn is off (every guest runs throughout,
/// keeping the count), probe traffic runs for `run.duration_s`, and the
/// stage delays of Dom0's and of all guests' packets are fitted.
pub fn calibrate(cfg: &XenHostConfig, run: &CalibrationRun, rng: &mut SimRng) -> ParametricConfig {
    let busy = cfg.guests.iter().filter(|g| g.workload.is_busy()).count();
    let mut tables = Vec::with_capacity(busy + 1);
    for k in 0..=busy {
        let mut c = cfg.clone();
        let mut kept = 0;
        for g in &mut c.guests {
            if g.workload.is_busy() && kept < k {
                kept += 1;
                g.workload.churn = None;
            } else {
                g.workload = super::config::Workload::default();
            }
        }
        let host_rng: SimRng = rand::SeedableRng::seed_from_u64(rng.random());
        let logs = run_explicit(&c, run, host_rng, rng);
        let mut it = logs.into_iter();
        let mut dom0 = it.next().unwrap_or_default();
        let mut domu = StageLog::default();
        for l in it {
            domu.rx_backend_ns.extend(l.rx_backend_ns);
            domu.rx_wake_ns.extend(l.rx_wake_ns);
            domu.send_wake_ns.extend(l.send_wake_ns);
            domu.tx_ns.extend(l.tx_ns);
        }
        let fit = |l: &mut StageLog| StageDelays {
            rx_backend: DelayDist::fit(&mut l.rx_backend_ns, run.quantiles),
            rx_wake: DelayDist::fit(&mut l.rx_wake_ns, run.quantiles),
            send_wake: DelayDist::fit(&mut l.send_wake_ns, run.quantiles),
            tx: DelayDist::fit(&mut l.tx_ns, run.quantiles),
        };
        tables.push(DelayTable {
            dom0: fit(&mut dom0),
            domu: fit(&mut domu),
        });
    }
    ParametricConfig {
        by_busy_guests: tables,
    }
}

/// `cfg` with its scheduler replaced by a parametric model calibrated from it.
pub fn calibrated_config(
    cfg: &XenHostConfig,
    run: &CalibrationRun,
    rng: &mut SimRng,
) -> XenHostConfig {
    let p = calibrate(cfg, run, rng);
    XenHostConfig {
        scheduler: SchedulerConfig::Parametric(p),
        ..cfg.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fit_recovers_point_mass_and_exponential() {
        let mut rng = SimRng::seed_from_u64(3);
        // 40 % exactly 50 µs, 60 % 50 µs + Exp(200 µs).
        let mut s: Vec<u64> = (0..20_000)
            .map(|_| {
                if rng.random::<f64>() < 0.4 {
                    50_000
                } else {
                    50_000 + (-200_000.0 * (1.0 - rng.random::<f64>()).ln()) as u64
                }
            })
            .collect();
        let d = DelayDist::fit(&mut s, 201);
        assert!((d.point_ns - 50_000.0).abs() < 1.0);
        // The 10 % atom window also catches the first few µs of the exponential.
        assert!(
            (d.point_mass_fraction - 0.4).abs() < 0.03,
            "{}",
            d.point_mass_fraction
        );
        assert!(
            (d.mean_ns() - 170_000.0).abs() / 170_000.0 < 0.03,
            "{}",
            d.mean_ns()
        );
        let mix = DelayDist {
            quantiles_ns: Vec::new(),
            ..d.clone()
        };
        let m: f64 = (0..20_000)
            .map(|_| mix.sample(&mut rng) as f64)
            .sum::<f64>()
            / 20_000.0;
        assert!((m - 170_000.0).abs() / 170_000.0 < 0.05, "{m}");
    }

    /// Table `k` is fitted with `k` busy guests running, whatever their
    /// place in the guest list and their churn: the model looks tables up
    /// by the number of online busy guests. With an idle guest listed first
    /// and a busy one second, table 1 used to be fitted with no busy guest
    /// (the first guest's workload kept, the second's idled); a busy guest
    /// whose churn starts it stopped was not running either.
    #[test]
    fn table_k_is_fitted_with_k_busy_guests() {
        use crate::xen::config::{Churn, DomainConfig, Workload};
        // Dom0 alone on pCPU 0, the guests sharing pCPU 1.
        let host = |guests: Vec<Workload>| {
            let mut cfg = XenHostConfig::default();
            cfg.dom0.affinity = vec![0];
            for workload in guests {
                cfg.guests.push(DomainConfig {
                    affinity: vec![1],
                    workload,
                    ..DomainConfig::default()
                });
            }
            cfg
        };
        let busy = Workload {
            busy_fraction: 0.5,
            burst_mean_ns: 5_000_000,
            rx_pps: 500.0,
            tx_pps: 500.0,
            churn: None,
        };
        let stopped = Workload {
            churn: Some(Churn {
                on_mean_s: 1e6,
                off_mean_s: 1e6,
                start_on: false,
            }),
            ..busy.clone()
        };
        let run = CalibrationRun {
            duration_s: 20.0,
            probe_pps: 100.0,
            ..CalibrationRun::default()
        };
        let rx_wake_us = |guests: Vec<Workload>, seed: u64| {
            let p = calibrate(&host(guests), &run, &mut SimRng::seed_from_u64(seed));
            assert_eq!(p.by_busy_guests.len(), 2, "tables for 0 and 1 busy guests");
            [0, 1].map(|k| p.table(k).domu.rx_wake.mean_ns() / 1e3)
        };
        let first = rx_wake_us(vec![busy.clone(), Workload::default()], 1);
        let second = rx_wake_us(vec![Workload::default(), busy], 2);
        let churning = rx_wake_us(vec![Workload::default(), stopped], 3);
        eprintln!(
            "guest rx_wake mean, µs, tables 0 and 1: busy guest first {first:.1?}, second {second:.1?}, second and churning {churning:.1?}"
        );
        // The busy guest makes the other wait (rate limit, bursts): table 1
        // is well above table 0, and the same wherever the busy guest is.
        assert!(first[1] > 2.0 * first[0], "{first:?}");
        for t in [second, churning] {
            assert!(
                (t[0] - first[0]).abs() / first[0] < 0.25,
                "{t:?} vs {first:?}"
            );
            assert!(
                (t[1] - first[1]).abs() / first[1] < 0.25,
                "{t:?} vs {first:?}"
            );
        }
    }
}
