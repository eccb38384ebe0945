//! Sweep text → `vtsim::sweep::load` (with a valid base scenario beside
//! it) → the scenario of every grid point.
//!
//! Invariants: no panic, hang, abort or runaway allocation on any input;
//! every grid point of a loaded plan yields a valid scenario.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// A small valid base scenario, written once per process.
const BASE: &str = r#"Scenario(
    name: "base",
    duration_s: 600,
    hosts: [(name: "h", counters: [(kind: Tsc), (kind: Hpet)])],
    servers: [(name: "s")],
    paths: [(min_rtt_us: 300, asymmetry_us: 20)],
    daemons: [
        (name: "n", host: "h", servers: [(server: "s", path: 0)], algorithm: Naive(poll_period_s: 16)),
        (name: "r", host: "h", servers: [(server: "s", path: 0)], algorithm: Radclock()),
    ],
    output: (plots: false),
)"#;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("vtsim-fuzz-sweep-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        std::fs::write(d.join("base.ron"), BASE).expect("base scenario");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Keep `base` inside the temp dir: the fuzzer must not read arbitrary
    // files (a device like /dev/zero would never end). Reading outside is
    // the user's choice on the command line, not a parser property.
    if let Ok(sweep) = vtsim::scenario::ron_options().from_str::<vtsim::sweep::Sweep>(text)
        && (sweep.base.contains(['/', '\\']) || sweep.base.starts_with('.'))
    {
        return;
    }
    let path = dir().join("sweep.ron");
    std::fs::write(&path, data).expect("write sweep");
    let Ok(plan) = vtsim::sweep::load(&path) else {
        return;
    };
    for (_, p, seed) in plan.runs() {
        let s = plan
            .scenario_for(&plan.points[p], seed)
            .unwrap_or_else(|e| panic!("load accepted a point that does not apply: {e}"));
        assert!(s.validate().is_empty());
    }
});
