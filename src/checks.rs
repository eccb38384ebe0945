//! Cross-field checks of a scenario.
//!
//! Each component validates its own fields ([`crate::scenario::Scenario::validate`]
//! calls them); some mistakes only show when two fields are read together:
//! a daemon polling faster than its path can answer, a probe grid coarser
//! than the whole run, a convergence period that leaves no sample to
//! measure, an `errors.csv` interval that the probe grid cannot hit, two
//! daemons whose output folders would be the same folder. None of these is
//! out of range on its own, so a range check passes them; the run would
//! then produce an empty, misleading or clobbered result instead of an
//! error. [`cross_checks`] reports each, naming the field and what would be
//! valid, in the same form as the per-field checks.
//!
//! ```
//! let mut s = vtsim::scenario::default_scenario();
//! s.probes.interval_s = 2.0 * s.duration_s;
//! let errors = vtsim::checks::cross_checks(&s);
//! assert_eq!(errors[0].field, "probes.interval_s");
//! ```

use algorithms::{AlgorithmConfig, ConfigError, Num};
use models::counter::CounterKind;
use models::host::CounterSource;

use sim_core::{SimDuration, SimTime};

use crate::scenario::{DURATION_RANGE_S, MAX_STABILITY_FACTOR, PROBE_INTERVAL_RANGE_S, Scenario};

/// Most probe samples one clock may take in a run. A year at 1 s is
/// 3.2·10⁷ samples and a day at 1 ms 8.6·10⁷; 10⁹ samples per clock is
/// minutes of simulation, beyond which a typo (a probe interval in ms
/// written as s, a duration in ms written as s) is far likelier than
/// intent, and the run would look like a hang.
pub const MAX_PROBE_SAMPLES: f64 = 1e9;

/// Relative tolerance when checking that one interval is a whole multiple
/// of another: intervals are written in decimal seconds (0.1 is not exact
/// in binary), so an exact test would reject `0.3` over `0.1`.
const MULTIPLE_TOLERANCE: f64 = 1e-9;

/// Files a run writes at the top of its output directory; a daemon folder
/// of the same name would collide with them.
const RESERVED_OUTPUT_NAMES: [&str; 5] = [
    "summary.json",
    "errors.csv",
    "errors.png",
    "errors.svg",
    "scenario.ron",
];

/// Characters that cannot appear in a file name on some supported
/// platforms (Windows forbids these; every platform forbids control
/// characters in practice). Names become directory names.
fn has_unportable_char(name: &str) -> bool {
    name.chars()
        .any(|c| c.is_control() || matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|'))
}

/// Why a clock's name may hold neither a comma nor a character no folder
/// may hold.
const COLUMN_NAME: &str = "heads CSV columns (<name>_error_us in errors.csv, <name>.<metric> in results.csv) and names a folder: no ',' and none of : * ? \" < > | or control characters";

/// Every cross-field problem of `s`, each naming its field and what would
/// be valid. Checks that depend on a value the per-field validation
/// rejects (a NaN duration, a dangling path index) are skipped, so a
/// mistake is reported once, by the check that names it best.
pub fn cross_checks(s: &Scenario) -> Vec<ConfigError> {
    let mut e = Vec::new();
    let in_range = |v: f64, (lo, hi): (f64, f64)| v >= lo && v <= hi;
    let duration_ok = in_range(s.duration_s, DURATION_RANGE_S);
    let probe_s = s.probes.interval_s;
    let probe_ok = in_range(probe_s, PROBE_INTERVAL_RANGE_S);

    if has_unportable_char(&s.name) {
        e.push(ConfigError::new(
            "name",
            "names the output directory: no control characters or any of : * ? \" < > |",
        ));
    }
    for (i, c) in s.clocks.iter().enumerate() {
        if has_unportable_char(&c.name) || c.name.contains(',') {
            e.push(ConfigError::new(format!("clocks[{i}].name"), COLUMN_NAME));
        }
    }
    if duration_ok && probe_ok {
        if probe_s > s.duration_s {
            e.push(ConfigError::new(
                "probes.interval_s",
                format!(
                    "{probe_s} s is longer than duration_s ({} s): no error would be sampled; \
                     use at most {} s",
                    s.duration_s, s.duration_s
                ),
            ));
        } else {
            let samples = s.duration_s / probe_s;
            if samples > MAX_PROBE_SAMPLES {
                e.push(ConfigError::new(
                    "probes.interval_s",
                    format!(
                        "{probe_s} s over duration_s {} s is {samples:.3e} samples per clock; \
                         at most {MAX_PROBE_SAMPLES:e} (use an interval of at least {} s)",
                        s.duration_s,
                        s.duration_s / MAX_PROBE_SAMPLES
                    ),
                ));
            }
            // The last probe, in the run's nanoseconds: probes fall on whole
            // multiples of the interval, the end of the run included.
            let interval_ns = SimDuration::from_secs_f64(probe_s).as_nanos().max(1);
            let end_ns = SimTime::from_secs_f64(s.duration_s).as_nanos();
            let last = SimTime::from_nanos(end_ns / interval_ns * interval_ns);
            let from = s.probes.metrics_from_s;
            if from.is_finite()
                && from >= 0.0
                && from <= s.duration_s
                && SimTime::from_secs_f64(from) > last
            {
                e.push(ConfigError::new(
                    "probes.metrics_from_s",
                    format!(
                        "{from} s leaves no probe sample before the end of the run; \
                         use 0..={} s (the last probe)",
                        Num(last.as_secs_f64())
                    ),
                ));
            }
        }
    }

    let stability_range = (
        PROBE_INTERVAL_RANGE_S.0,
        PROBE_INTERVAL_RANGE_S.1 * MAX_STABILITY_FACTOR as f64,
    );
    if let Some(tau) = s.probes.stability_max_tau_s
        && probe_ok
        && in_range(tau, stability_range)
    {
        let most = probe_s * MAX_STABILITY_FACTOR as f64;
        if tau < probe_s || tau > most * (1.0 + MULTIPLE_TOLERANCE) {
            e.push(ConfigError::new(
                "probes.stability_max_tau_s",
                format!(
                    "{} s is outside the valid range {}..={} s: from one probe interval \
                     (probes.interval_s) to {MAX_STABILITY_FACTOR} of them",
                    Num(tau),
                    Num(probe_s),
                    Num(most)
                ),
            ));
        }
    }

    let csv_s = s.output.errors_csv_interval_s;
    if probe_ok && csv_s.is_finite() && csv_s >= probe_s {
        let ratio = csv_s / probe_s;
        if (ratio - ratio.round()).abs() > MULTIPLE_TOLERANCE * ratio {
            e.push(ConfigError::new(
                "output.errors_csv_interval_s",
                format!(
                    "{} s is not a whole multiple of probes.interval_s ({} s); \
                     use e.g. {} s",
                    Num(csv_s),
                    Num(probe_s),
                    // Rounded to the nanosecond, so that 0.9 does not print as 0.8999999999999999.
                    Num((ratio.floor().max(1.0) * probe_s * 1e9).round() / 1e9)
                ),
            ));
        }
    }

    for (i, d) in s.daemons.iter().enumerate() {
        let at = format!("daemons[{i}]");
        if has_unportable_char(&d.name) || d.name.contains(',') {
            e.push(ConfigError::new(format!("{at}.name"), COLUMN_NAME));
        }
        if RESERVED_OUTPUT_NAMES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&d.name))
        {
            e.push(ConfigError::new(
                format!("{at}.name"),
                format!(
                    "\"{}\" is a file every run writes ({}); choose another name",
                    d.name,
                    RESERVED_OUTPUT_NAMES.join(", ")
                ),
            ));
        }
        // Exact duplicates are reported by Scenario::validate; names that
        // differ only by case share a folder on case-insensitive disks.
        if let Some(j) = s.daemons[..i]
            .iter()
            .position(|o| o.name != d.name && o.name.eq_ignore_ascii_case(&d.name))
        {
            e.push(ConfigError::new(
                format!("{at}.name"),
                format!(
                    "\"{}\" differs from daemons[{j}].name \"{}\" only by case: their output \
                     folders collide on case-insensitive file systems",
                    d.name, s.daemons[j].name
                ),
            ));
        }

        // A TSC has one core per configured offset (at least one); a daemon
        // on a core beyond them would silently read the last core.
        if let Some(host) = s.hosts.iter().find(|h| h.name == d.host)
            && d.counter == CounterSource::Tsc
            && let Some(tsc) = host.counters.iter().find(|c| c.kind == CounterKind::Tsc)
        {
            let cores = tsc.tsc.core_offsets_ticks.len().max(1);
            if d.core >= cores {
                e.push(ConfigError::new(
                    format!("{at}.core"),
                    format!(
                        "{} is not a core of host \"{}\" (0..{cores}: one per entry of its \
                         TSC's core_offsets_ticks)",
                        d.core, host.name
                    ),
                ));
            }
        }

        for (j, r) in d.servers.iter().enumerate() {
            if d.servers[..j]
                .iter()
                .any(|o| o.server == r.server && o.path == r.path)
            {
                e.push(ConfigError::new(
                    format!("{at}.servers[{j}]"),
                    format!(
                        "server \"{}\" over path {} is listed twice",
                        r.server, r.path
                    ),
                ));
            }
        }

        if matches!(d.algorithm, AlgorithmConfig::FreeRunning(_)) {
            continue;
        }
        let poll_s = d.algorithm.poll_period_s();
        if !poll_s.is_finite() || poll_s <= 0.0 || !d.algorithm.validate().is_empty() {
            continue;
        }
        if duration_ok && poll_s >= s.duration_s {
            e.push(ConfigError::new(
                format!("{at}.algorithm.{}", d.algorithm.poll_period_field()),
                format!(
                    "{poll_s} s is not shorter than duration_s ({} s): the daemon would \
                     exchange at most once; poll faster or run longer",
                    s.duration_s
                ),
            ));
        }
        for (j, r) in d.servers.iter().enumerate() {
            let Some(path) = s.paths.get(r.path) else {
                continue;
            };
            if !path.validate("").is_empty() {
                continue;
            }
            let (fwd_us, bwd_us) = path.base_min_delays_us();
            let rtt_us = fwd_us + bwd_us;
            if poll_s * 1e6 <= rtt_us {
                e.push(ConfigError::new(
                    format!("{at}.algorithm.{}", d.algorithm.poll_period_field()),
                    format!(
                        "{poll_s} s is not longer than the minimum round trip of paths[{}] \
                         ({} s, used by servers[{j}]): each reply would arrive after the next \
                         poll; poll more slowly than {} s",
                        r.path,
                        rtt_us * 1e-6,
                        rtt_us * 1e-6
                    ),
                ));
            }
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::default_scenario;
    use models::network::PathConfig;

    fn fields(s: &Scenario) -> Vec<String> {
        cross_checks(s).into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn defaults_and_bundled_scenarios_pass() {
        assert!(cross_checks(&default_scenario()).is_empty());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|x| x != "ron") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let s = Scenario::parse(&text, &path.display().to_string()).unwrap();
            let e = cross_checks(&s);
            assert!(e.is_empty(), "{}: {e:?}", path.display());
            n += 1;
        }
        assert!(n >= 2, "bundled scenarios found: {n}");
    }

    #[test]
    fn probe_grid_against_duration() {
        let mut s = default_scenario();
        s.probes.interval_s = s.duration_s * 2.0;
        assert_eq!(fields(&s), ["probes.interval_s"]);
        let mut s = default_scenario();
        s.probes.interval_s = 1.0;
        s.duration_s = s.duration_s.floor() + 0.5;
        s.probes.metrics_from_s = s.duration_s - 0.25;
        assert_eq!(fields(&s), ["probes.metrics_from_s"]);
        // The last probe of 10.5 s at 1 s is at 10 s: from 10 s has a sample.
        let mut s = default_scenario();
        s.daemons.clear();
        s.duration_s = 10.5;
        s.probes.interval_s = 1.0;
        s.probes.metrics_from_s = 10.0;
        assert!(fields(&s).is_empty(), "{:?}", cross_checks(&s));
        s.probes.metrics_from_s = 10.000_000_001;
        let e = cross_checks(&s);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "probes.metrics_from_s");
        assert!(
            e[0].message.ends_with("use 0..=10 s (the last probe)"),
            "{e:?}"
        );
        // The run's end is a probe when the interval divides it.
        s.probes.metrics_from_s = 10.5;
        s.probes.interval_s = 0.5;
        assert!(fields(&s).is_empty(), "{:?}", cross_checks(&s));
        // Probes of 0.1 s, which no f64 holds exactly: the 30th is at 3 s.
        s.duration_s = 3.0;
        s.probes.interval_s = 0.1;
        s.probes.metrics_from_s = 3.0;
        assert!(fields(&s).is_empty(), "{:?}", cross_checks(&s));
        let mut s = default_scenario();
        s.duration_s = 20.0 * 365.25 * 86_400.0;
        s.probes.interval_s = 0.1;
        let e = cross_checks(&s);
        assert_eq!(e[0].field, "probes.interval_s");
        assert!(e[0].message.contains("6.312e9"), "{}", e[0].message);
    }

    #[test]
    fn stability_spans_one_probe_interval_to_two_to_the_eighteen() {
        let mut s = default_scenario();
        s.probes.interval_s = 0.5;
        s.probes.stability_max_tau_s = Some(0.5);
        assert!(cross_checks(&s).is_empty());
        assert_eq!(s.probes.stability_max_m(s.duration_s), 1);
        // Octaves up to the largest one within the asked τ.
        s.probes.stability_max_tau_s = Some(1000.0);
        assert_eq!(
            s.probes.stability_max_m(s.duration_s),
            1024,
            "1024 × 0.5 s ≤ 1000 s < 2048 × 0.5 s"
        );
        s.probes.stability_max_tau_s = Some(512.0);
        assert_eq!(
            s.probes.stability_max_m(s.duration_s),
            1024,
            "exactly 1024 intervals"
        );
        // Never longer than the run.
        assert_eq!(s.probes.stability_max_m(100.0), 128, "128 × 0.5 s ≤ 100 s");
        s.probes.stability_max_tau_s = Some(0.25);
        assert_eq!(fields(&s), ["probes.stability_max_tau_s"]);
        s.probes.stability_max_tau_s = Some(0.5 * f64::from(1 << 18) * 1.01);
        let e = cross_checks(&s);
        assert_eq!(e[0].field, "probes.stability_max_tau_s");
        assert!(e[0].message.contains("0.5..=131072 s"), "{}", e[0].message);
        s.probes.stability_max_tau_s = None;
        assert_eq!(s.probes.stability_max_m(s.duration_s), 0);
        // Per-field validation refuses what no probe interval could make
        // valid, and the cross-check does not repeat it.
        for bad in [f64::NAN, -1.0, 1e300] {
            let mut s = default_scenario();
            s.probes.stability_max_tau_s = Some(bad);
            let per_field = s.validate();
            assert_eq!(per_field.len(), 1, "{bad}: {per_field:?}");
            assert_eq!(per_field[0].field, "probes.stability_max_tau_s");
            assert!(cross_checks(&s).is_empty(), "{bad}");
        }
    }

    #[test]
    fn csv_interval_must_be_a_multiple_of_the_probe() {
        let mut s = default_scenario();
        s.probes.interval_s = 0.1;
        s.output.errors_csv_interval_s = 0.3;
        assert!(cross_checks(&s).is_empty(), "0.3 s is 3 × 0.1 s");
        s.output.errors_csv_interval_s = 0.25;
        let e = cross_checks(&s);
        assert_eq!(e[0].field, "output.errors_csv_interval_s");
        assert!(e[0].message.contains("e.g. 0.2 s"), "{}", e[0].message);
        // Shorter than the grid means every grid sample: not an error.
        s.output.errors_csv_interval_s = 0.05;
        assert!(cross_checks(&s).is_empty());
    }

    #[test]
    fn poll_against_rtt_and_duration() {
        let mut s = default_scenario();
        s.paths[0] = PathConfig::from_rtt(3e6, 0.0);
        s.daemons[0].algorithm = AlgorithmConfig::default_for("naive").unwrap();
        if let AlgorithmConfig::Naive(c) = &mut s.daemons[0].algorithm {
            c.poll_period_s = 2.0;
        }
        let e = cross_checks(&s);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "daemons[0].algorithm.poll_period_s");
        assert!(e[0].message.contains("paths[0] (3 s"), "{}", e[0].message);
        // A free-running clock never waits for a reply.
        s.daemons[0].algorithm = AlgorithmConfig::default_for("free-running").unwrap();
        assert!(cross_checks(&s).is_empty());
        let mut s = default_scenario();
        s.duration_s = 10.0;
        assert_eq!(fields(&s), ["daemons[0].algorithm.poll_period_s"]);
    }

    #[test]
    fn names_that_collide_as_folders() {
        let mut s = default_scenario();
        let mut d = s.daemons[0].clone();
        d.name = "NAIVE".into();
        s.daemons.push(d.clone());
        d.name = "Summary.json".into();
        s.daemons.push(d.clone());
        d.name = "a:b".into();
        s.daemons.push(d.clone());
        d.name = "naive,v2".into();
        s.daemons.push(d);
        assert_eq!(
            fields(&s),
            [
                "daemons[1].name",
                "daemons[2].name",
                "daemons[3].name",
                "daemons[4].name"
            ]
        );
        // A dependent clock's name heads columns too.
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/vet-migration.ron");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut s = Scenario::parse(&text, "vet-migration.ron").unwrap();
        s.clocks[0].name = "dependent,radclock".into();
        assert_eq!(fields(&s), ["clocks[0].name"]);
        // A scenario without clocks is legitimate (Xen CPU accounting only).
        let mut s = default_scenario();
        s.daemons.clear();
        assert!(cross_checks(&s).is_empty());
    }

    #[test]
    fn duplicate_server_refs_and_missing_cores() {
        let mut s = default_scenario();
        let r = s.daemons[0].servers[0].clone();
        s.daemons[0].servers.push(r);
        s.daemons[0].core = 3;
        assert_eq!(fields(&s), ["daemons[0].core", "daemons[0].servers[1]"]);
        s.hosts[0].counters[0].tsc.core_offsets_ticks = vec![0, 5, 9, 12];
        assert_eq!(fields(&s), ["daemons[0].servers[1]"]);
    }

    #[test]
    fn edges_of_the_cross_checks() {
        // A probe interval as long as the run still samples its start and
        // end: accepted.
        let mut s = default_scenario();
        s.daemons.clear();
        s.probes.interval_s = s.duration_s;
        assert!(cross_checks(&s).is_empty(), "{:?}", cross_checks(&s));

        // Polling exactly once per run is "not shorter than duration_s".
        let mut s = default_scenario();
        s.duration_s = 16.0;
        if let AlgorithmConfig::Naive(c) = &mut s.daemons[0].algorithm {
            c.poll_period_s = 16.0;
        }
        assert_eq!(fields(&s), ["daemons[0].algorithm.poll_period_s"]);

        // A poll period equal to the minimum round trip: each reply would
        // arrive just as the next poll leaves.
        let mut s = default_scenario();
        s.paths[0] = PathConfig::from_rtt(2e6, 0.0);
        if let AlgorithmConfig::Naive(c) = &mut s.daemons[0].algorithm {
            c.poll_period_s = 2.0;
        }
        assert_eq!(fields(&s), ["daemons[0].algorithm.poll_period_s"]);
        if let AlgorithmConfig::Naive(c) = &mut s.daemons[0].algorithm {
            c.poll_period_s = 2.5;
        }
        assert!(fields(&s).is_empty(), "{:?}", cross_checks(&s));
    }
}
