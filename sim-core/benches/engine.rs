//! Throughput of the engine's hot loop (DESIGN.md §7): pop an event, do a
//! little model work, push a follow-up, update streaming statistics.
//!
//! * `queue`: [`EventQueue`] push + pop with a steady pending population;
//!   each pop pushes one event at a pseudo-random later time.
//! * `engine`: the [`Engine`] run loop driving periodic timers, each of
//!   which draws one random number per event and re-arms itself.
//! * `stats`: [`Summary::push`] and [`AllanStream::push`] per sample.
//! * `normal`: standard normal draws from [`NormalStream`] (the crystal
//!   noise grid's sampler) and, for reference, `rand_distr`'s
//!   `StandardNormal` on the same generator.
//!
//! Every group reports elements (events or samples) per second. Run with
//! `cargo bench -p sim-core` (add `-- --warm-up-time 1 --measurement-time 3`
//! for a quick look).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{RngExt, SeedableRng};
use sim_core::stats::{AllanStream, Summary};
use sim_core::{
    Engine, EventQueue, Model, NormalStream, RngStreams, Scheduler, SimDuration, SimRng, SimTime,
};

/// Operations per measured iteration, so timer overhead is negligible.
const BATCH: u64 = 10_000;

fn queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue");
    g.throughput(Throughput::Elements(BATCH));
    for pending in [10u64, 1_000, 100_000] {
        let mut rng = SimRng::seed_from_u64(1);
        let mut q = EventQueue::with_capacity(pending as usize + 1);
        for i in 0..pending {
            q.push(SimTime::from_nanos(rng.random_range(0..1_000_000)), i);
        }
        g.bench_function(format!("push_pop/pending={pending}"), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    let (t, ev) = q.pop().expect("population is steady");
                    let delay = SimDuration::from_nanos(rng.random_range(1..1_000_000));
                    q.push(t + delay, black_box(ev));
                }
            })
        });
    }
    g.finish();
}

/// `timers` periodic timers of 1 ms with distinct phases; each event draws
/// one random number, as a lazily evaluated model would.
struct Timers {
    rng: SimRng,
    acc: u64,
}

impl Model for Timers {
    type Event = u32;
    fn handle(&mut self, now: SimTime, timer: u32, s: &mut Scheduler<u32>) {
        self.acc = self
            .acc
            .wrapping_add(self.rng.random::<u64>() ^ u64::from(timer));
        s.schedule(now + SimDuration::from_millis(1), timer);
    }
}

fn engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    for timers in [10u32, 1_000] {
        let mut e = Engine::new(Timers {
            rng: SimRng::seed_from_u64(2),
            acc: 0,
        });
        for i in 0..timers {
            // distinct phases in (0, 1 ms), so a span (t, t + k ms] holds
            // exactly k firings of every timer
            let phase_ns = 1 + u64::from(i) * 1_000_000 / u64::from(timers);
            e.schedule(SimTime::from_nanos(phase_ns), i);
        }
        // a span of `ms` milliseconds handles exactly `timers × ms` events
        let ms = (BATCH / u64::from(timers)).max(1);
        g.throughput(Throughput::Elements(ms * u64::from(timers)));
        g.bench_function(format!("run_until/timers={timers}"), |b| {
            b.iter(|| {
                let stop = e.now() + SimDuration::from_millis(ms);
                black_box(e.run_until(stop))
            })
        });
        assert_eq!(
            e.events() % u64::from(timers),
            0,
            "every span handles whole periods"
        );
    }
    g.finish();
}

fn stats(c: &mut Criterion) {
    let mut g = c.benchmark_group("stats");
    g.throughput(Throughput::Elements(BATCH));
    let mut rng = SimRng::seed_from_u64(3);
    let samples: Vec<f64> = (0..BATCH)
        .map(|_| (rng.random::<f64>() - 0.5) * 1e-5)
        .collect();
    let mut summary = Summary::new();
    g.bench_function("summary_push", |b| {
        b.iter(|| samples.iter().for_each(|&x| summary.push(black_box(x))))
    });
    // octaves up to m = 4096: τ up to ~68 min at a 1 s probe grid
    let mut allan = AllanStream::new(1.0, 4096).expect("valid parameters");
    g.bench_function("allan_stream_push/13_octaves", |b| {
        b.iter(|| samples.iter().for_each(|&x| allan.push(black_box(x))))
    });
    g.finish();
}

fn normal(c: &mut Criterion) {
    let mut g = c.benchmark_group("normal");
    g.throughput(Throughput::Elements(BATCH));
    let mut stream = NormalStream::new(RngStreams::new(4).stream("bench"));
    g.bench_function("normal_stream", |b| {
        b.iter(|| (0..BATCH).map(|_| stream.next_normal()).sum::<f64>())
    });
    let mut rng = SimRng::seed_from_u64(4);
    g.bench_function("rand_distr_standard_normal", |b| {
        b.iter(|| {
            (0..BATCH)
                .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal))
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, queue, engine, stats, normal);
criterion_main!(benches);
