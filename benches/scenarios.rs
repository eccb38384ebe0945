//! Whole bundled scenarios, shortened, in simulated seconds per wall second.
//!
//! Each iteration builds the world and runs it in memory (records drained
//! and discarded, as `vtsim sweep` does), so the throughput criterion
//! reports, in "elements per second", is **simulated seconds per wall
//! second**. The scenarios are read from `scenarios/` and cut to the
//! durations of [`CASES`] so an iteration takes well under a second. Run with
//! `cargo bench -p vtsim --bench scenarios` (add
//! `-- --warm-up-time 1 --measurement-time 3` for a quick look);
//! `vtsim bench` measures longer fixed workloads with peak memory.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vtsim::scenario::Scenario;
use vtsim::sweep::run_in_memory;

/// Bundled scenarios and the simulated time of one iteration, s: an hour
/// for bare-metal hosts, two minutes for the explicitly scheduled Xen host
/// (its credit scheduler handles thousands of events per simulated second).
const CASES: [(&str, f64); 4] = [
    ("lan-basics", 3600.0),
    ("radclock-lan", 3600.0),
    ("ntpd-ideal-lan", 3600.0),
    ("vet-independent-radclock", 120.0),
];

fn scenarios(c: &mut Criterion) {
    let mut g = c.benchmark_group("scenario");
    g.sample_size(10);
    for (name, simulated_s) in CASES {
        g.throughput(Throughput::Elements(simulated_s as u64));
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(format!("{name}.ron"));
        let mut s = match Scenario::load(&file) {
            Ok(s) => s,
            Err(e) => panic!("bundled scenario {name}: {e}"),
        };
        s.duration_s = simulated_s;
        s.probes.metrics_from_s = 0.0;
        let events = run_in_memory(&s).expect("runs").events;
        assert!(events > 0, "{name} handles events");
        g.bench_function(format!("{name}/{simulated_s}s"), |b| {
            b.iter(|| black_box(run_in_memory(black_box(&s)).expect("runs").events))
        });
    }
    g.finish();
}

criterion_group!(benches, scenarios);
criterion_main!(benches);
