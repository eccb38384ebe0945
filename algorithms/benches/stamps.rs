//! Per-stamp cost of the synchronization algorithms.
//!
//! One day of synthetic exchanges at a 16 s poll period (5400 stamps) is
//! generated once: a 1 GHz counter running 20 ppm fast, a 300 µs minimum
//! RTT with 20 µs of asymmetry and exponential queueing of mean 30 µs each
//! way, one lost packet in a hundred. Each measured iteration builds a fresh
//! algorithm and feeds it the whole day as a daemon would (`advance`,
//! `on_transmit`, `advance`, `on_exchange`, then one clock `read`), so the
//! reported throughput is stamps per second including the algorithm's own
//! internal timers (ntpd's one-second adjustments). Run with
//! `cargo bench -p algorithms` (add `-- --warm-up-time 1 --measurement-time 3`
//! for a quick look).

use std::hint::black_box;

use algorithms::{AlgorithmConfig, CounterInfo, Exchange};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Counter nominal frequency, Hz.
const COUNTER_HZ: f64 = 1e9;
/// True counter rate error (20 ppm fast).
const SKEW: f64 = 20e-6;
/// Poll period, s.
const POLL_S: f64 = 16.0;
/// One day of polls.
const STAMPS: usize = 5400;

/// A synthetic exchange: `None` for a lost reply (only `ta` is sent).
#[derive(Clone, Copy)]
struct Stamp {
    ta: u64,
    reply: Option<Exchange>,
}

fn synthetic_day(seed: u64) -> Vec<Stamp> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let counter = |t_s: f64| (t_s * (1.0 + SKEW) * COUNTER_HZ) as u64;
    let mut exp = |mean_s: f64| -mean_s * (1.0 - rng.random::<f64>()).ln();
    (0..STAMPS)
        .map(|i| {
            let t_send = 1.0 + i as f64 * POLL_S;
            let forward = 160e-6 + exp(30e-6);
            let backward = 140e-6 + exp(30e-6);
            let tb = t_send + forward;
            let te = tb + 10e-6;
            let tf = te + backward;
            let ta = counter(t_send);
            let reply = (i % 100 != 99).then(|| Exchange {
                server: 0,
                ta,
                tb,
                te,
                tf: counter(tf),
                stratum: 1,
                server_changed: false,
            });
            Stamp { ta, reply }
        })
        .collect()
}

fn feed(cfg: &AlgorithmConfig, day: &[Stamp]) -> f64 {
    let mut alg = cfg
        .build(
            CounterInfo {
                nominal_hz: COUNTER_HZ,
            },
            1,
            7,
        )
        .expect("not the oracle");
    let mut last = 0;
    for s in day {
        alg.advance(s.ta);
        alg.on_transmit(0, s.ta);
        if let Some(ex) = &s.reply {
            alg.advance(ex.tf);
            alg.on_exchange(black_box(ex));
            last = ex.tf;
        }
    }
    alg.read(last).as_secs_f64()
}

fn stamps(c: &mut Criterion) {
    let day = synthetic_day(1);
    let mut g = c.benchmark_group("per_stamp");
    g.throughput(Throughput::Elements(STAMPS as u64));
    for name in ["radclock", "ntpd"] {
        let mut cfg = AlgorithmConfig::default_for(name).expect("registered");
        if let AlgorithmConfig::Ntpd(n) = &mut cfg {
            // Fixed 16 s polling, as the synthetic day is.
            n.minpoll = 4;
            n.maxpoll = 4;
        }
        // The algorithm must actually track the synthetic clock, or the
        // benchmark would time an error path.
        let last_tf = day
            .iter()
            .rev()
            .find_map(|s| s.reply.map(|e| e.tf))
            .expect("some replies");
        let err_s = feed(&cfg, &day) - last_tf as f64 / COUNTER_HZ / (1.0 + SKEW);
        assert!(err_s.abs() < 1e-3, "{name} does not track: error {err_s} s");
        g.bench_function(format!("{name}/16s_poll_one_day"), |b| {
            b.iter(|| black_box(feed(&cfg, &day)))
        });
    }
    g.finish();
}

criterion_group!(benches, stamps);
criterion_main!(benches);
