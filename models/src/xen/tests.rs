//! Scenario tests of the Xen host, run inside the sim-core engine.

use rand::SeedableRng;
use sim_core::{Engine, Model, Scheduler, SimDuration, SimRng, SimTime};

use super::parametric::{CalibrationRun, StageLog, calibrated_config, run_explicit};
use super::*;

/// Fixed one-way delay of the wire and the echoing server, ns.
const WIRE_NS: u64 = 50_000;

/// A minimal world: one host, and a ping-pong probe per watched domain. The
/// domain sends (timestamp `Ta`), the frame leaves the NIC, an echo comes
/// back after `WIRE_NS`, and the domain timestamps it (`Tf`). The host's share
/// of `Tf − Ta` is the host RTT overhead.
struct World {
    host: XenHost,
    out: HostOutputs,
    probe_period_ns: u64,
    ta: Vec<u64>,
    rtts_ns: Vec<Vec<u64>>,
    next_token: u64,
}

#[derive(Clone, Copy, Debug)]
enum WorldEvent {
    Host(HostEvent),
    Probe(usize),
    Echo(usize, u64),
}

impl World {
    fn new(cfg: XenHostConfig, seed: u64, probe_period_ns: u64) -> Self {
        let n = cfg.guests.len() + 1;
        World {
            host: XenHost::new(cfg, SimRng::seed_from_u64(seed)),
            out: HostOutputs::default(),
            probe_period_ns,
            ta: vec![0; n],
            rtts_ns: vec![Vec::new(); n],
            next_token: 0,
        }
    }

    fn flush(&mut self, s: &mut Scheduler<WorldEvent>) {
        for (t, e) in self.out.events.drain(..) {
            s.schedule(t, WorldEvent::Host(e));
        }
        for n in self.out.notes.drain(..) {
            match n {
                HostNote::SendStamped { domain, at, .. } => self.ta[domain] = at.as_nanos(),
                HostNote::ToNic { domain, token, at } => {
                    s.schedule(
                        at + SimDuration::from_nanos(WIRE_NS),
                        WorldEvent::Echo(domain, token),
                    );
                }
                HostNote::Delivered { domain, at, .. } => {
                    let rtt = at.as_nanos() - self.ta[domain];
                    self.rtts_ns[domain].push(rtt - WIRE_NS);
                }
                HostNote::Dropped { .. } => {}
            }
        }
    }
}

impl Model for World {
    type Event = WorldEvent;
    fn handle(&mut self, now: SimTime, ev: WorldEvent, s: &mut Scheduler<WorldEvent>) {
        match ev {
            WorldEvent::Host(e) => self.host.handle(now, e, &mut self.out),
            WorldEvent::Probe(d) => {
                self.next_token += 1;
                self.host
                    .packet_from_guest(now, d, self.next_token, &mut self.out);
                s.schedule(
                    now + SimDuration::from_nanos(self.probe_period_ns),
                    WorldEvent::Probe(d),
                );
            }
            WorldEvent::Echo(d, token) => self.host.packet_from_nic(now, d, token, &mut self.out),
        }
        self.flush(s);
    }
}

fn run_world(cfg: XenHostConfig, seed: u64, watched: Vec<usize>, secs: u64) -> World {
    let mut w = World::new(cfg, seed, 10_000_000);
    w.host.start(SimTime::ZERO, &mut w.out);
    let initial: Vec<_> = w.out.events.drain(..).collect();
    let mut e = Engine::new(w);
    for (t, ev) in initial {
        e.schedule(t, WorldEvent::Host(ev));
    }
    for (i, &d) in watched.iter().enumerate() {
        // Stagger the probes so they do not collide.
        e.schedule(
            SimTime::from_nanos(100_000_000 + i as u64 * 1_700_000),
            WorldEvent::Probe(d),
        );
    }
    e.run_until(SimTime::from_secs(secs));
    e.into_model()
}

fn mean(v: &[u64]) -> f64 {
    v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64
}

fn median(v: &[u64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    s.get(s.len() / 2).copied().unwrap_or(0) as f64
}

/// The VET testbed as modelled here: 4 pCPUs, Dom0 pinned to pCPU 0 (the
/// usual `dom0_vcpus_pin` set-up), guests sharing pCPUs 1–3. A "busy" guest
/// runs a service: 30 % CPU in 2 ms bursts and 2000 packets/s each way.
fn vet_host(busy_guests: usize) -> XenHostConfig {
    let mut cfg = XenHostConfig {
        pcpus: 4,
        ..XenHostConfig::default()
    };
    cfg.dom0.affinity = vec![0];
    for i in 0..4 {
        let mut g = DomainConfig {
            affinity: vec![1, 2, 3],
            ..DomainConfig::default()
        };
        if i < busy_guests {
            g.workload = Workload {
                busy_fraction: 0.3,
                burst_mean_ns: 2_000_000,
                rx_pps: 2000.0,
                tx_pps: 2000.0,
                churn: None,
            };
        }
        if i < busy_guests.max(1) {
            cfg.guests.push(g);
        }
    }
    cfg
}

#[test]
fn host_rtt_matches_vet_noise_overhead() {
    // Native: one domain, no hypervisor.
    let native = XenHostConfig {
        native: true,
        pcpus: 1,
        ..XenHostConfig::default()
    };
    let w = run_world(native, 1, vec![0], 20);
    let native_us = mean(&w.rtts_ns[0]) / 1e3;
    eprintln!(
        "native host RTT mean {native_us:.1} µs (n = {})",
        w.rtts_ns[0].len()
    );
    assert!((30.0..=40.0).contains(&native_us), "native {native_us}");

    let mut prev_domu = 0.0;
    for k in 1..=4 {
        let cfg = vet_host(k);
        assert!(cfg.validate("host").is_empty());
        let w = run_world(cfg, 10 + k as u64, vec![0, 1], 20);
        let dom0_us = mean(&w.rtts_ns[0]) / 1e3;
        let domu_us = mean(&w.rtts_ns[1]) / 1e3;
        let domu_med = median(&w.rtts_ns[1]) / 1e3;
        eprintln!(
            "{k} busy guests: Dom0 RTT mean {dom0_us:.1} µs; DomU #1 mean {domu_us:.1} µs median {domu_med:.1} µs"
        );
        assert!(
            (30.0..=70.0).contains(&dom0_us),
            "dom0 {dom0_us} with {k} guests"
        );
        assert!(
            (100.0..=200.0).contains(&domu_us),
            "domU {domu_us} with {k} guests"
        );
        assert!(
            domu_us > prev_domu,
            "domU RTT must grow with guests: {domu_us} after {prev_domu}"
        );
        prev_domu = domu_us;
    }
}

/// Validation check 2 of research §7: one I/O vCPU against N CPU hogs on a
/// single pCPU.
fn io_vs_hogs(n: usize, boost: bool, seed: u64) -> StageLog {
    let mut cfg = XenHostConfig {
        pcpus: 1,
        ..XenHostConfig::default()
    };
    cfg.scheduler = SchedulerConfig::Credit(CreditConfig {
        boost,
        ..CreditConfig::default()
    });
    for _ in 0..n {
        cfg.guests.push(DomainConfig::cpu_hog());
    }
    cfg.guests.push(DomainConfig::default());
    let run = CalibrationRun {
        duration_s: 120.0,
        probe_pps: 5.0,
        quantiles: 201,
    };
    let mut probe = SimRng::seed_from_u64(seed + 1);
    let mut logs = run_explicit(&cfg, &run, SimRng::seed_from_u64(seed), &mut probe);
    logs.pop().expect("the I/O guest")
}

#[test]
fn boost_bounds_wake_latency_and_its_absence_costs_slices() {
    for n in [2usize, 3] {
        let with = io_vs_hogs(n, true, 5);
        let without = io_vs_hogs(n, false, 5);
        let m_with = mean(&with.rx_wake_ns) / 1e6;
        let max_with = *with.rx_wake_ns.iter().max().unwrap() as f64 / 1e6;
        let m_without = mean(&without.rx_wake_ns) / 1e6;
        let expect = (n as f64 - 0.5) * 30.0;
        eprintln!(
            "N = {n} hogs: BOOST mean {m_with:.3} ms (max {max_with:.3} ms, n = {}); no BOOST mean {m_without:.1} ms (n = {}), (N−½)·30 = {expect} ms",
            with.rx_wake_ns.len(),
            without.rx_wake_ns.len()
        );
        assert!(m_with <= 1.0, "boosted mean {m_with} ms");
        assert!(max_with <= 1.2, "boosted max {max_with} ms");
        assert!(
            (m_without - expect).abs() / expect < 0.25,
            "unboosted mean {m_without} ms vs {expect} ms"
        );
    }
}
