//! Exchange CSV bytes → `vtsim::replay::read_rows` → replay through the
//! naive baseline, RADclock and ntpd.
//!
//! Invariants: no panic, hang or abort on any input; a replay's metrics
//! are finite (or absent).

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use algorithms::AlgorithmConfig;
use libfuzzer_sys::fuzz_target;
use vtsim::replay::{read_rows, replay};
use vtsim::run::ErrorStats;

fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("vtsim-fuzz-csv-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d.join("exchanges.csv")
    })
}

fuzz_target!(|data: &[u8]| {
    std::fs::write(file(), data).expect("write csv");
    let rows = match read_rows(file()) {
        Ok(rows) => rows,
        Err(e) => {
            assert!(
                e.to_string().contains("exchanges.csv"),
                "error names the file: {e}"
            );
            return;
        }
    };
    for name in ["naive", "radclock", "ntpd"] {
        let cfg = AlgorithmConfig::default_for(name).expect("registered");
        if let Ok(r) = replay(&rows, &cfg, 1, 0) {
            let stats = ErrorStats::from_summary(&r.at_exchange);
            let json = serde_json::to_value(&stats).expect("serialise");
            assert!(
                json.as_object()
                    .expect("struct")
                    .values()
                    .all(|v| v.is_number()),
                "{name}: non-finite metric {json}"
            );
        }
    }
});
