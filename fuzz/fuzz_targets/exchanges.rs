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

/// Longest span replayed through ntpd here, seconds (about 12 days).
const NTPD_MAX_SPAN_S: f64 = 1e6;

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
    let first = rows.iter().map(|r| r.ta).min().unwrap_or(0);
    let last = rows.iter().map(|r| r.tf.unwrap_or(r.ta)).max().unwrap_or(0);
    let span_s = (last - first) as f64 / rows[0].counter_hz;
    for name in ["naive", "radclock", "ntpd"] {
        // ntpd runs its timer once per second of counter time: a file
        // spanning years (accepted up to 20) is minutes of honest work
        // under the sanitizer, not a hang.
        if name == "ntpd" && span_s > NTPD_MAX_SPAN_S {
            continue;
        }
        let cfg = AlgorithmConfig::default_for(name).expect("registered");
        if let Ok(r) = replay(&rows, &cfg, 1, 0) {
            let stats = ErrorStats::from_summary(&r.at_exchange);
            let json = serde_json::to_value(&stats).expect("serialise");
            // Without samples every value is null (no median of nothing).
            let ok = |v: &serde_json::Value| v.is_number() || (stats.count == 0 && v.is_null());
            assert!(
                json.as_object().expect("struct").values().all(ok),
                "{name}: non-finite metric {json}"
            );
        }
    }
});
