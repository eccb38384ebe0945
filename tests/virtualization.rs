//! End-to-end checks of the virtualization scenarios: the bands the seed
//! papers report must emerge from the Xen, migration, replication and
//! dilation models (scenarios shortened where that keeps the mechanism).

use std::path::Path;

use vtsim::run::RunSummary;
use vtsim::scenario::Scenario;
use vtsim::sweep::run_in_memory;

fn load(name: &str) -> Scenario {
    Scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name),
    )
    .unwrap()
}

fn clock<'a>(s: &'a RunSummary, name: &str) -> &'a vtsim::run::ClockSummary {
    s.clocks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no clock {name}"))
}

/// Every file under `dir`, by its path relative to `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn hosts_run_in_parts_write_the_bytes_of_one_world() {
    // Five hosts polling one server over one path: with two cores or more
    // the run goes in parts, each simulating the path's and server's
    // processes again and its own hosts' daemons.
    let mut s = load("vet-noise-overhead.ron");
    s.duration_s = 300.0;
    s.output.exchanges = true;
    s.output.trace = true;
    assert_eq!(vtsim::partition::groups(&s).len(), 5);
    let run = |parallel: bool| {
        let dir = std::env::temp_dir().join(format!(
            "vtsim-virt-parts-{}-{parallel}",
            std::process::id()
        ));
        let opts = vtsim::run::RunOptions {
            out: Some(dir.clone()),
            force: true,
            parallel,
            ..Default::default()
        };
        vtsim::run::run_scenario(&s, &opts).unwrap();
        let written = files(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        written
    };
    let one = run(false);
    assert!(one.len() > 20, "{} files", one.len());
    let parts = run(true);
    assert_eq!(
        one.iter().map(|f| &f.0).collect::<Vec<_>>(),
        parts.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, a), (_, b)) in one.iter().zip(&parts) {
        assert!(a == b, "{} differs", name.display());
    }
}

#[test]
fn noise_overhead_rises_with_guest_count() {
    let mut s = load("vet-noise-overhead.ron");
    s.duration_s = 300.0;
    let r = run_in_memory(&s).unwrap();
    let native = clock(&r, "native").host_rtt_us.mean;
    assert!((25.0..=45.0).contains(&native), "native {native}");
    let mut previous = 0.0;
    for n in 1..=4 {
        let dom0 = clock(&r, &format!("xen{n}-dom0")).host_rtt_us.mean;
        assert!(
            (30.0..=70.0).contains(&dom0),
            "Dom0 with {n} guests: {dom0} µs"
        );
        // The mean over the host's DomUs, as the fidelity table reports it:
        // one guest's mean over 150 exchanges still carries the scheduler's
        // slice-length tail.
        let domu = (1..=n)
            .map(|k| clock(&r, &format!("xen{n}-domu{k}")).host_rtt_us.mean)
            .sum::<f64>()
            / n as f64;
        assert!(
            (90.0..=230.0).contains(&domu),
            "DomU with {n} guests: {domu} µs"
        );
        assert!(
            domu > previous,
            "DomU overhead rises with guests: {domu} after {previous}"
        );
        previous = domu;
    }
}

#[test]
fn dependent_ntpd_guests_err_by_milliseconds() {
    let r = run_in_memory(&load("vet-dependent-ntpd.ron")).unwrap();
    let dom0 = clock(&r, "dom0-ntpd").error_us.max_abs;
    let guest = clock(&r, "domu1-dependent-ntpd").error_us.max_abs;
    assert!(dom0 < 200.0, "Dom0's ntpd itself is good: {dom0} µs");
    assert!(
        (1000.0..=10_000.0).contains(&guest),
        "guest saw-tooth of ms: {guest} µs"
    );
}

#[test]
fn sedf_dc_and_shareguard_hold_their_limits() {
    let r = run_in_memory(&load("isolation-sedf-dc.ron")).unwrap();
    let dom = |h: &str, d: usize| {
        r.domains
            .iter()
            .find(|x| x.host == h && x.domain == d)
            .unwrap()
            .clone()
    };
    assert!(
        dom("sedf", 1).aggregate_cpu_fraction > 0.65,
        "{:?}",
        dom("sedf", 1)
    );
    assert!(
        (dom("sedf-dc", 1).aggregate_cpu_fraction - 0.60).abs() < 0.03,
        "{:?}",
        dom("sedf-dc", 1)
    );
    let off = dom("shareguard-off", 3).dom0_on_behalf_fraction;
    let on = dom("shareguard", 3).dom0_on_behalf_fraction;
    assert!(
        off > 0.1 && (0.04..=0.06).contains(&on),
        "file transfer Dom0 share {off} -> {on}"
    );
}

#[test]
fn migration_shocks_ntpd_but_not_the_dependent_radclock() {
    let (out, r) = run_to_files(&load("vet-migration.ron"), "dependent-jump");
    let dep = clock(&r, "guest-dependent-radclock").error_us.max_abs;
    let ntpd = clock(&r, "guest-ntpd").error_us.max_abs;
    assert!(dep < 30.0, "dependent RADclock stays continuous: {dep} µs");
    // The guest composes its clock from its host's Dom0 RADclock: its
    // error is that Dom0's before the move and the other's after, so the
    // jump is the Dom0s' difference.
    let m = &r.migrations[0];
    let end_s = m.start_s + m.total_s;
    let text = std::fs::read_to_string(out.join("errors.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (tastiger, kultarr, guest) = (
        col("dom0-tastiger-radclock_error_us"),
        col("dom0-kultarr-radclock_error_us"),
        col("guest-dependent-radclock_error_us"),
    );
    let (mut before, mut after) = (0, 0);
    for line in lines {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        // No value before the guest's first parameters arrive.
        let host = if v[guest].is_nan() {
            continue;
        } else if v[0] < m.start_s {
            before += 1;
            tastiger
        } else if v[0] > end_s {
            after += 1;
            kultarr
        } else {
            continue;
        };
        assert!(
            (v[guest] - v[host]).abs() < 0.5,
            "t {} s: guest {} µs, its Dom0 {} µs",
            v[0],
            v[guest],
            v[host]
        );
    }
    assert!(
        before > 100 && after > 100,
        "{before} rows before, {after} after"
    );
    std::fs::remove_dir_all(&out).unwrap();
    assert!(
        ntpd > 100.0 * dep && ntpd > 1e6,
        "ntpd migration shock: {ntpd} µs"
    );
    let m = &r.migrations[0];
    assert!(
        m.downtime_ms > 10.0 && m.downtime_ms < 1000.0 && !m.pages_per_round.is_empty(),
        "{m:?}"
    );
    assert!(m.completed, "{m:?}");
}

/// A migration that starts 10 s before the run ends (it takes ~46 s) is
/// reported as not completed.
#[test]
fn a_migration_cut_short_by_the_run_says_so() {
    let late = load("vet-migration.ron")
        .set("vet-migration.ron", &["events[0].at_s=17990".to_string()])
        .unwrap();
    let r = run_in_memory(&late).unwrap();
    let m = &r.migrations[0];
    assert!(!m.completed, "{m:?}");
    let table = vtsim::run::moves_table(&r).unwrap();
    assert!(table.contains("(not completed)"), "{table}");
    assert!(
        table.contains("did not complete before the run ended"),
        "{table}"
    );
}

/// VET's dependent clock needs the guest to read the counter Dom0's
/// RADclock reads. With an emulated TSC the guest's `rdtsc` resumes where
/// it paused on tastiger, while kultarr's Dom0 publishes parameters for
/// kultarr's own TSC, 20 s of ticks ahead: the dependent clock is then off
/// by about those 20 s.
#[test]
fn an_emulated_tsc_breaks_the_dependent_clock() {
    let mut s = load("vet-migration.ron");
    s.duration_s = 5400.0;
    let vtsim::scenario::ScenarioEvent::Migrate { tsc_mode, .. } = &mut s.events[0] else {
        panic!("vet-migration migrates");
    };
    *tsc_mode = models::migration::TscMode::Emulated;
    let r = run_in_memory(&s).unwrap();
    let dep = clock(&r, "guest-dependent-radclock").error_us.max_abs;
    assert!(
        (19.0e6..21.0e6).contains(&dep),
        "dependent clock on an emulated TSC: {dep} µs"
    );
}

/// A migrating guest takes its load with it: it runs on the source until it
/// pauses and in the destination slot (offline until then) after it
/// resumes. Both slots carry the guest's workload, busy half the time.
#[test]
fn a_migrated_guest_moves_its_load() {
    let host = |name: &str| {
        format!(
            "(name: {name:?}, counters: [(kind: Tsc)], xen: (host: (pcpus: 2, dom0: (affinity: [0]), \
             guests: [(affinity: [1], workload: (busy_fraction: 0.5, burst_mean_ns: 1000000))])))"
        )
    };
    let text = format!(
        "Scenario(name: \"load\", seed: 5, duration_s: 600, hosts: [{}, {}], \
         daemons: [(name: \"guest\", host: \"a\", domain: 1, counter: Tsc, servers: [], \
                    algorithm: FreeRunning())], \
         events: [Migrate(at_s: 200, from: (host: \"a\", domain: 1), to: (host: \"b\", domain: 1), \
                          migration: (memory_mib: 256, wws_mib: 8))], \
         probes: (interval_s: 1))",
        host("a"),
        host("b"),
    );
    let r = run_in_memory(&Scenario::parse(&text, "load.ron").unwrap()).unwrap();
    let m = &r.migrations[0];
    let paused_s = 200.0 + m.precopy_s;
    let own = |h: &str| {
        r.domains
            .iter()
            .find(|d| d.host == h && d.domain == 1)
            .unwrap()
            .own_cpu_fraction
    };
    let (on_a, on_b) = (own("a"), own("b"));
    let cpu = vtsim::run::domains_table(&r).expect("busy domains are shown");
    assert!(cpu.lines().any(|l| l.starts_with("a/dom1 ")), "{cpu}");
    let expect_a = 0.5 * paused_s / 600.0;
    let expect_b = 0.5 * (600.0 - paused_s - m.downtime_ms * 1e-3) / 600.0;
    assert!(
        (on_a - expect_a).abs() < 0.03,
        "source: {on_a} (expected {expect_a})"
    );
    assert!(
        (on_b - expect_b).abs() < 0.03,
        "destination: {on_b} (expected {expect_b})"
    );
}

/// A post-copy migration pauses the guest only to move its CPU state, then
/// leaves it to fault its working set over the network: the summary reports
/// those faults and the stall they add up to.
#[test]
fn post_copy_reports_its_faults() {
    let host = |name: &str| {
        format!(
            "(name: {name:?}, counters: [(kind: Tsc)], xen: (host: (pcpus: 2, dom0: (affinity: [0]), \
             guests: [(affinity: [1])])))"
        )
    };
    let text = format!(
        "Scenario(name: \"postcopy\", seed: 3, duration_s: 300, hosts: [{}, {}], \
         daemons: [(name: \"guest\", host: \"a\", domain: 1, counter: Tsc, servers: [], \
                    algorithm: FreeRunning())], \
         events: [Migrate(at_s: 100, from: (host: \"a\", domain: 1), to: (host: \"b\", domain: 1), \
                          migration: (method: PostCopy, memory_mib: 256, wws_mib: 8))])",
        host("a"),
        host("b"),
    );
    let r = run_in_memory(&Scenario::parse(&text, "postcopy.ron").unwrap()).unwrap();
    let m = &r.migrations[0];
    assert_eq!(
        (m.method.as_str(), m.start_s, m.precopy_s),
        ("PostCopy", 100.0, 0.0)
    );
    let pc = m.post_copy.as_ref().expect("post-copy statistics");
    assert!(pc.wws_faults > 0 && pc.faults >= pc.wws_faults, "{pc:?}");
    let stall_ms = pc.faults as f64 * pc.fault_cost_us * 1e-3;
    assert!(
        (pc.stall_total_ms - stall_ms).abs() < 1e-3 * stall_ms,
        "{pc:?}"
    );
    assert!(
        pc.degradation_window_s > 0.0 && m.downtime_ms < 100.0,
        "{m:?}"
    );
    let table = vtsim::run::moves_table(&r).unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("a/dom1 → b/dom1 ") && l.contains(" PostCopy ")),
        "{table}"
    );
}

/// Post-copy faults stall the guest's counter reads: a daemon's stamps
/// after resume wait out the working-set faults, and a reply read while a
/// later fault is being served counts that stall in its round trip. With a
/// 20 ms link each fault costs ~20 ms; pre-copy's stamps see none of it.
#[test]
fn post_copy_stalls_reach_the_guest_stamps() {
    let host_rtt_max_us = |method: &str| {
        let host = |name: &str| {
            format!(
                "(name: {name:?}, counters: [(kind: Tsc)], xen: (host: (pcpus: 2, dom0: (affinity: [0]), \
                 guests: [(affinity: [1])])))"
            )
        };
        let text = format!(
            "Scenario(name: \"postcopy-stamps\", seed: 3, duration_s: 300, hosts: [{}, {}], \
             servers: [(name: \"s\")], paths: [(min_rtt_us: 300)], \
             daemons: [(name: \"guest\", host: \"a\", domain: 1, counter: Tsc, \
                        servers: [(server: \"s\", path: 0)], algorithm: Naive(poll_period_s: 1))], \
             events: [Migrate(at_s: 100, from: (host: \"a\", domain: 1), to: (host: \"b\", domain: 1), \
                              migration: (method: {method}, memory_mib: 4096, wws_mib: 8, link_rtt_us: 20000))])",
            host("a"),
            host("b"),
        );
        let r = run_in_memory(&Scenario::parse(&text, "postcopy-stamps.ron").unwrap()).unwrap();
        if let Some(pc) = &r.migrations[0].post_copy {
            eprintln!("{method}: {pc:?}");
        }
        clock(&r, "guest").host_rtt_us.max_abs
    };
    let pre = host_rtt_max_us("PreCopy");
    let post = host_rtt_max_us("PostCopy");
    eprintln!("host RTT max: pre-copy {pre} µs, post-copy {post} µs");
    assert!(pre < 1_000.0, "pre-copy {pre} µs");
    assert!(post > 2_000.0 && post < 21_000.0, "post-copy {post} µs");
}

#[test]
fn clark_downtimes_emerge_from_precopy() {
    let r = run_in_memory(&load("migration-downtime.ron")).unwrap();
    // Guests that only keep time use no CPU worth a table.
    assert!(vtsim::run::domains_table(&r).is_none());
    let quake = r.migrations[0].downtime_ms;
    let specweb = r.migrations[1].downtime_ms;
    let who: Vec<_> = r
        .migrations
        .iter()
        .map(|m| {
            (
                m.from.as_str(),
                m.to.as_str(),
                m.start_s,
                m.post_copy.is_none(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            ("source/dom1", "destination/dom1", 60.0, true),
            ("source/dom2", "destination/dom2", 120.0, true)
        ]
    );
    assert!(
        (42.0..=78.0).contains(&quake),
        "Quake 3: {quake} ms (60 ms ±30 %)"
    );
    assert!(
        (147.0..=273.0).contains(&specweb),
        "SPECweb99: {specweb} ms (210 ms ±30 %)"
    );
    assert!(r.migrations[1].pages_per_round.len() > r.migrations[0].pages_per_round.len());
}

/// A guest's clocks have no value while it is paused for its migration's
/// stop-and-copy: those probes are `NaN` and left out of the statistics.
#[test]
fn a_migrating_guest_has_no_clock_while_paused() {
    let mut s = load("migration-downtime.ron");
    s.probes.interval_s = 0.001;
    s.probes.metrics_from_s = 0.0;
    s.duration_s = 300.0;
    let r = run_in_memory(&s).unwrap();
    // The grid's samples, both ends included.
    let probes = s.duration_s / s.probes.interval_s + 1.0;
    for (m, name) in r.migrations.iter().zip(["quake-naive", "specweb-naive"]) {
        assert!(m.completed, "{m:?}");
        let missing = probes - clock(&r, name).error_us.count as f64;
        let expected = m.downtime_ms;
        assert!(
            (missing - expected).abs() <= 2.0,
            "{name}: {missing} probes missing for {expected} ms of downtime"
        );
    }
}

#[test]
fn failover_keeps_the_dependent_clock_and_shocks_the_independent_one() {
    let r = run_in_memory(&load("replication-failover.ron")).unwrap();
    let dep = clock(&r, "guest-dependent-radclock").error_us.max_abs;
    let ind = clock(&r, "guest-radclock").error_us.max_abs;
    assert!(dep < 30.0, "dependent: {dep} µs");
    assert!(ind > 1000.0 * dep, "independent: {ind} µs");
    // The summary explains the shock: the backup's TSC is 5 s of ticks
    // ahead, less 30 ppm (+8 vs −22 ppm) of the 9000 s before failover.
    let f = &r.failovers[0];
    assert_eq!(
        (f.leader.as_str(), f.follower.as_str(), f.at_s),
        ("primary/dom1", "backup/dom1", 9000.0)
    );
    let expect_s = 5.0 - 30e-6 * 9000.0;
    assert!(
        (f.tsc_jump_s - expect_s).abs() < 1e-3,
        "TSC jump {} s",
        f.tsc_jump_s
    );
    assert!(!f.clamped);
    assert!(
        (ind * 1e-6 - f.tsc_jump_s).abs() < 1e-4,
        "independent {ind} µs vs jump"
    );
    // Log lag: the 50 µs link plus one entry's serialisation, not the
    // 16 s between the leader's reads.
    assert!(
        (50.0..60.0).contains(&f.max_log_lag_us),
        "log lag {} µs",
        f.max_log_lag_us
    );
}

/// A leader guest reading both its TSC and the Xen clocksource logs both
/// as TSC values, so at failover onto a backup whose TSC is 5 s behind,
/// `failover_monotone` continues the guest's TSC from its last replayed
/// value: the independent clock loses only the time since that read (the
/// clocksource daemon reads every second), not 5 s. (Had the clocksource
/// reads been logged as nanoseconds, the last replayed "TSC" would look far
/// behind the backup's and the clamp would not engage.)
#[test]
fn failover_onto_a_lagging_backup_keeps_the_guest_tsc_monotone() {
    let mut s = load("replication-failover.ron");
    s.duration_s = 10_800.0;
    s.hosts[1].counters[0].tsc.core_offsets_ticks = vec![-15_000_000_000];
    let r = run_in_memory(&s).unwrap();
    // Clamped: the guest's TSC resumes just past the last tick its kernel
    // read and the follower replayed (a log latency ago), not 5 s back, nor
    // back to its daemon's last read (up to a 16 s poll old).
    let f = &r.failovers[0];
    assert!(f.clamped);
    assert!(
        (-1e-3..0.0).contains(&f.tsc_jump_s),
        "TSC jump {} s",
        f.tsc_jump_s
    );
    // The independent clock then only relearns the backup crystal's rate
    // (7.6 ms at worst), instead of erring by seconds.
    let ind = clock(&r, "guest-radclock").error_us.max_abs;
    assert!(ind < 2e4, "independent TSC clock across failover: {ind} µs");
}

/// A CPU-bound guest at TDF 10 migrating from host a to host b at 100 s.
const DILATED_MIGRATION: &str = r#"Scenario(
    name: "dilated-migration",
    seed: 1,
    duration_s: 600,
    hosts: [
        (name: "a", tsc_crystal: (skew_ppm: 10.0), counters: [(kind: Tsc), (kind: Hpet)],
         xen: (host: (pcpus: 2, dom0: (affinity: [0]), guests: [(affinity: [1], workload: (busy_fraction: 1.0))]))),
        (name: "b", tsc_crystal: (skew_ppm: -10.0), counters: [(kind: Tsc), (kind: Hpet)],
         xen: (host: (pcpus: 2, dom0: (affinity: [0]), guests: [(affinity: [1], workload: (busy_fraction: 1.0))]))),
    ],
    servers: [(name: "s")],
    paths: [(min_rtt_us: 250)],
    daemons: [(name: "g", host: "a", domain: 1, counter: XenClocksource, servers: [(server: "s", path: 0)], algorithm: Naive(poll_period_s: 16))],
    dilation: [(host: "a", domain: 1, tdf: (factor: 10.0))],
    events: [Migrate(at_s: 100, from: (host: "a", domain: 1), to: (host: "b", domain: 1), migration: (memory_mib: 64))],
    probes: (interval_s: 1),
)"#;

/// A dilated guest takes its 1/TDF share of the CPU with it when it
/// migrates: the destination slot is capped as its source was.
#[test]
fn a_migrated_dilated_guest_keeps_one_tdf_of_its_cpu() {
    let s = Scenario::parse(DILATED_MIGRATION, "dilated-migration").unwrap();
    let r = run_in_memory(&s).unwrap();
    let own = |host: &str| {
        r.domains
            .iter()
            .find(|d| d.host == host && d.domain == 1)
            .unwrap()
            .own_cpu_fraction
    };
    // A CPU-bound guest at 10 % of a pCPU: ~105 s on "a", ~495 s on "b".
    assert!((0.012..0.022).contains(&own("a")), "a: {}", own("a"));
    assert!((0.07..0.095).contains(&own("b")), "b: {}", own("b"));
}

/// The carried cap must be enforceable where it goes and must cap no one
/// else: a destination under SEDF or with its own cap, and another guest
/// moving into a capped slot, are refused.
#[test]
fn a_carried_dilation_cap_is_refused_where_it_cannot_hold() {
    let errors = |text: String| {
        Scenario::parse(&text, "t")
            .unwrap()
            .validate()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert_eq!(errors(DILATED_MIGRATION.to_string()), "");
    let b_guest = "(affinity: [1], workload: (busy_fraction: 1.0))]))),\n    ],";
    assert!(DILATED_MIGRATION.contains(b_guest));
    let sedf = DILATED_MIGRATION.replacen(
        "xen: (host: (pcpus: 2, dom0: (affinity: [0]), guests: [(affinity: [1], workload: (busy_fraction: 1.0))]))),\n    ],",
        "xen: (host: (pcpus: 2, scheduler: Sedf(debt_collector: false), dom0: (affinity: [0]), guests: [(affinity: [1], workload: (busy_fraction: 1.0))]))),\n    ],",
        1,
    );
    assert!(errors(sedf).contains("events[0].to: the guest is dilated with dilate_cpu_share"));
    let capped = DILATED_MIGRATION.replacen(
        b_guest,
        "(affinity: [1], cap_pct: 50, workload: (busy_fraction: 1.0))]))),\n    ],",
        1,
    );
    assert!(errors(capped).contains("replace this slot's own cap_pct (50 %)"));
    let swap = DILATED_MIGRATION.replacen(
        "events: [",
        "events: [Migrate(at_s: 300, from: (host: \"b\", domain: 2), to: (host: \"a\", domain: 1), migration: (memory_mib: 64)), ",
        1,
    );
    let swap = swap.replacen(
        "guests: [(affinity: [1], workload: (busy_fraction: 1.0))]))),\n    ],",
        "guests: [(affinity: [1], workload: (busy_fraction: 1.0)), (affinity: [1], workload: (busy_fraction: 1.0))]))),\n    ],",
        1,
    );
    assert!(
        errors(swap.clone()).contains("a/dom1 carries a dilated guest's 1/TDF CPU cap"),
        "{}",
        errors(swap)
    );
}

/// Perceived RTT and timer rate of each dilated guest, from its own stamps.
/// A dilated domain gets 1/TDF of its CPU by default (a credit cap of
/// 100/TDF %), so a CPU-bound guest at TDF 10 does as much work per second
/// of its own time as an undilated one does per second; with
/// `dilate_cpu_share: false` it keeps the whole pCPU and its CPU seems ten
/// times faster.
#[test]
fn a_dilated_guest_gets_one_tdf_of_its_cpu() {
    let perceived_cpu = |share: bool| {
        let mut s = load("time-dilation.ron");
        s.duration_s = 120.0;
        s.probes.metrics_from_s = 0.0;
        let host = &mut s.hosts[0].xen.as_mut().unwrap().host;
        host.guests[2].workload = models::xen::Workload {
            busy_fraction: 1.0,
            ..Default::default()
        };
        assert_eq!((s.dilation[1].domain, s.dilation[1].tdf.factor), (3, 10.0));
        s.dilation[1].tdf.dilate_cpu_share = share;
        let r = run_in_memory(&s).unwrap();
        let d = r.domains.iter().find(|d| d.domain == 3).unwrap();
        d.own_cpu_fraction * 10.0
    };
    let scaled = perceived_cpu(true);
    assert!((scaled - 1.0).abs() < 0.05, "perceived CPU {scaled}");
    let unscaled = perceived_cpu(false);
    assert!(unscaled > 9.5, "perceived CPU {unscaled}");
}

#[test]
fn dilated_guests_perceive_rtt_over_tdf_and_timers_at_hz_over_tdf() {
    let dir = std::env::temp_dir().join(format!("vtsim-tdf-{}", std::process::id()));
    let mut s = load("time-dilation.ron");
    s.duration_s = 3600.0;
    s.output.plots = false;
    // Some lost replies, whose records must be in the same timescale.
    s.paths[0].backward.loss = models::network::LossConfig::Independent { probability: 0.2 };
    let opts = vtsim::run::RunOptions {
        out: Some(dir.clone()),
        force: true,
        ..Default::default()
    };
    vtsim::run::run_scenario(&s, &opts).unwrap();
    for (name, tdf) in [("tdf1", 1.0), ("tdf2", 2.0), ("tdf10", 10.0)] {
        let mut rdr = csv::Reader::from_path(dir.join(name).join("exchanges.csv")).unwrap();
        let mut ratios = Vec::new();
        let mut starts = Vec::new();
        let mut lost = 0;
        for rec in rdr.records() {
            let rec = rec.unwrap();
            if &rec[12] == "1" {
                // The request left within the run, in the guest's timescale.
                let ta_s = rec[6].parse::<f64>().unwrap() * 1e-9;
                assert!(
                    ta_s * tdf <= 3600.0,
                    "{name}: lost request sent at {ta_s} s"
                );
                starts.push(ta_s * tdf);
                lost += 1;
                continue;
            }
            let hz: f64 = rec[1].parse().unwrap();
            let perceived =
                (rec[5].parse::<u64>().unwrap() - rec[2].parse::<u64>().unwrap()) as f64 / hz;
            // True times of a dilated guest are in its timescale: ×TDF is physical.
            let ta: f64 = rec[6].parse::<f64>().unwrap() * tdf;
            let tf: f64 = rec[9].parse::<f64>().unwrap() * tdf;
            ratios.push((tf - ta) * 1e-9 / perceived);
            starts.push(ta * 1e-9);
        }
        assert!(lost > 0, "{name}: no lost exchange recorded");
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        assert!(
            (median - tdf).abs() < 1e-3 * tdf,
            "{name}: physical/perceived RTT {median}"
        );
        // A 16 s timer fires every 16·TDF physical seconds: HZ/TDF.
        starts.sort_by(f64::total_cmp);
        let n = starts.len();
        let interval = (starts[n - 1] - starts[2]) / (n - 3) as f64;
        assert!(
            (interval - 16.0 * tdf).abs() < 0.01 * tdf,
            "{name}: poll every {interval} s"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_tsc_reader_that_escapes_dilation_still_sleeps_on_dilated_timers() {
    // The TDF 2 guest's daemon reads the TSC from user level: its stamps
    // run at the physical rate, its kernel's timers in perceived time.
    let mut s = load("time-dilation.ron");
    s.duration_s = 3600.0;
    s.probes.metrics_from_s = 0.0;
    assert_eq!((s.dilation[0].domain, s.dilation[0].tdf.factor), (2, 2.0));
    assert!(!s.dilation[0].tdf.dilate_rdtsc);
    s.daemons[1].counter = models::host::CounterSource::Tsc;
    let r = run_in_memory(&s).unwrap();
    // One poll every 16 perceived seconds, 32 physical: 112 in the hour.
    let exchanges = clock(&r, "tdf2").host_rtt_us.count;
    assert!((111..=113).contains(&exchanges), "{exchanges} exchanges");
}

/// Each domain draws its workload and packet delays from its own stream:
/// a guest added to the host that never runs (it starts stopped, for longer
/// than the run, which costs it a draw) leaves the others' runs as they
/// were.
#[test]
fn a_stopped_guest_added_changes_no_other_guests_draws() {
    let mut s = load("vet-independent-radclock.ron");
    s.duration_s = 3600.0;
    s.probes.metrics_from_s = 0.0;
    let before = run_in_memory(&s).unwrap();
    let host = &mut s.hosts[0].xen.as_mut().unwrap().host;
    let mut stopped = models::xen::DomainConfig::default();
    stopped.workload.churn = Some(models::xen::Churn {
        on_mean_s: 60.0,
        off_mean_s: 1e6,
        start_on: false,
    });
    host.guests.push(stopped);
    let after = run_in_memory(&s).unwrap();
    assert!(
        before
            .clocks
            .iter()
            .all(|c| c.error_at_exchange_us.count > 200)
    );
    assert_eq!(before.clocks, after.clocks);
}

#[test]
fn independent_radclocks_in_domus_agree_with_vet() {
    let mut s = load("vet-independent-radclock.ron");
    s.duration_s = 6.0 * 3600.0;
    let r = run_in_memory(&s).unwrap();
    let hpet = &clock(&r, "domu1-hpet").error_us;
    let xcs = &clock(&r, "domu2-xen-clocksource").error_us;
    for e in [hpet, xcs] {
        assert!(
            e.median.abs() < 10.0 && (5.0..=20.0).contains(&e.iqr),
            "{e:?}"
        );
    }
    assert!(
        (hpet.median - xcs.median).abs() < 8.0,
        "the two clocks are close: {} vs {}",
        hpet.median,
        xcs.median
    );
}

/// A DomU reads the HPET through a hypercall that samples it somewhere
/// inside the call; the packet it stamps leaves only when the call returns,
/// and a reply is stamped the same way. However long the call, the stamps
/// stay centred on the packets, so the clock is not biased by it (when the
/// send left at the stack's time regardless of the read, a 20 µs call
/// moved the median by −20 µs).
#[test]
fn hpet_hypercall_time_does_not_bias_the_domu_clock() {
    let median_us = |call_ns: f64| {
        let mut s = load("vet-independent-radclock.ron");
        s.duration_s = 3.0 * 3600.0;
        s.probes.metrics_from_s = 5400.0;
        let x = s.hosts[0].xen.as_mut().unwrap();
        x.hpet_hypercall.min_latency_ns = call_ns;
        x.hpet_hypercall.max_latency_ns = call_ns;
        let r = run_in_memory(&s).unwrap();
        clock(&r, "domu1-hpet").error_us.median
    };
    let (instant, slow) = (median_us(0.0), median_us(20_000.0));
    println!(
        "DomU HPET median: {instant:.2} µs with an instant read, {slow:.2} µs with a 20 µs hypercall"
    );
    assert!((slow - instant).abs() < 4.0, "{instant} vs {slow}");
}

/// Three Xen hosts whose TSCs run at 3, 2.4 and 2 GHz, each crystal
/// `tsc_skew_ppm` fast while the platform timers are exact; Xen recalibrates
/// its system time against the platform timer every second. A free-running
/// guest clock on host `a`, timed at a's 3 GHz, moves to `b` at 600 s and to
/// `c` at 1200 s with an emulated TSC. `dilation` is appended to the
/// scenario.
fn three_host_migrations(tsc_skew_ppm: f64, dilation: &str) -> RunSummary {
    let host = |name: &str, hz: u64| {
        format!(
            "(name: {name:?}, tsc_crystal: (skew_ppm: {tsc_skew_ppm}), \
             counters: [(kind: Tsc, nominal_hz: Some({hz})), (kind: Hpet)], \
             xen: (host: (pcpus: 2, dom0: (affinity: [0]), guests: [(affinity: [1])]), \
                   time: (calib_policy: Xen3Recal)))"
        )
    };
    let migrate = |at_s: u32, from: &str, to: &str| {
        format!(
            "Migrate(at_s: {at_s}, from: (host: {from:?}, domain: 1), to: (host: {to:?}, domain: 1), \
             migration: (memory_mib: 256, wws_mib: 8), tsc_mode: Emulated)"
        )
    };
    let text = format!(
        "Scenario(name: \"three-hosts\", seed: 3, duration_s: 1800, \
         hosts: [{}, {}, {}], \
         daemons: [(name: \"guest\", host: \"a\", domain: 1, counter: Tsc, servers: [], \
                    algorithm: FreeRunning())], \
         events: [{}, {}], probes: (interval_s: 1), {dilation})",
        host("a", 3_000_000_000),
        host("b", 2_400_000_000),
        host("c", 2_000_000_000),
        migrate(600, "a", "b"),
        migrate(1200, "b", "c"),
    );
    let s = Scenario::parse(&text, "three-hosts.ron").unwrap();
    assert!(s.validate().is_empty(), "{:?}", s.validate());
    run_in_memory(&s).unwrap()
}

/// An emulated TSC keeps the frequency the guest booted with across any
/// number of migrations: the free-running clock loses only the downtimes
/// (the guest does not count them) and what the destinations' system time
/// gains or loses.
#[test]
fn emulated_tsc_keeps_the_boot_frequency_across_two_migrations() {
    let r = three_host_migrations(0.0, "");
    let downtime_us: f64 = r.migrations.iter().map(|m| m.downtime_ms * 1e3).sum();
    let err = &clock(&r, "guest").error_us;
    // Kept at b's rate after the second move, the clock would run 20 % slow:
    // 120 s behind after ten minutes.
    assert!(
        err.max_abs < downtime_us + 100.0,
        "max |e| {} µs for {downtime_us} µs of downtime",
        err.max_abs
    );
    assert!(err.max_abs > 0.9 * downtime_us, "{err:?}");
}

/// Xen's emulated RDTSC scales the CPU's system time (`pv_soft_rdtsc`,
/// `get_s_time()`), which the hypervisor keeps on the platform timer: after
/// an emulated migration the guest's TSC no longer shows its host TSC
/// crystal's skew. Before the first move it does.
#[test]
fn an_emulated_tsc_follows_system_time_not_the_tsc_crystal() {
    let r = three_host_migrations(50.0, "");
    let downtime_us: f64 = r.migrations.iter().map(|m| m.downtime_ms * 1e3).sum();
    let err = &clock(&r, "guest").error_us;
    // +31 ms at the first pause (50 ppm of ~622 s), then down by each
    // downtime only: the largest error is at the end. Ticking with the TSC
    // crystal, it would have gained 59 ms more (a largest error of ~175 ms).
    let first_pause_s = r.migrations[0].start_s + r.migrations[0].precopy_s;
    let native_part_us = 50e-6 * first_pause_s * 1e6;
    let expected_us = downtime_us - native_part_us;
    println!(
        "emulated TSC: max |e| {} µs, expected {expected_us} µs",
        err.max_abs
    );
    assert!(
        (err.max_abs - expected_us).abs() < 200.0,
        "max |e| {} µs, expected {expected_us} µs",
        err.max_abs
    );
}

/// In a domain dilated by 2 with RDTSC trapped, the guest perceives half of
/// each downtime and nothing else: the emulated TSC resumes from its last
/// undilated value, which the dilation then halves once.
#[test]
fn a_dilated_guest_migrates_without_a_jump() {
    let r = three_host_migrations(
        0.0,
        "dilation: [(host: \"a\", domain: 1, tdf: (factor: 2.0, dilate_rdtsc: true))]",
    );
    let downtime_us: f64 = r.migrations.iter().map(|m| m.downtime_ms * 1e3).sum();
    let err = &clock(&r, "guest").error_us;
    assert!(
        (err.max_abs - downtime_us / 2.0).abs() < 100.0,
        "max |e| {} µs for {downtime_us} µs of physical downtime",
        err.max_abs
    );
}

/// When Dom0's ntpd steps, Linux pushes the new time to Xen's wall clock at
/// once, not at the next 11-minute sync: a DomU reading wall clock + system
/// time follows the step within a probe. The server's clock jumps 0.5 s
/// ahead at 1 h; Dom0's ntpd steps to it after its stepout.
#[test]
fn a_dom0_step_reaches_the_guests_wall_clock_at_once() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/vet-dependent-ntpd.ron");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(
            "servers: [(name: \"stratum1\")]",
            "servers: [(name: \"stratum1\", faults: [OffsetStep(start_s: 3600, offset_s: 0.5)])]",
        )
        .replace("duration_s: 21600", "duration_s: 5400")
        .replace("metrics_from_s: 7200", "metrics_from_s: 0")
        .replace(
            "errors_csv_interval_s: 10",
            "errors_csv_interval_s: 1, plots: false",
        );
    let s = Scenario::parse(&text, "dom0-step.ron").unwrap();
    let dir = std::env::temp_dir().join(format!("vtsim-dom0-step-{}", std::process::id()));
    let opts = vtsim::run::RunOptions {
        out: Some(dir.clone()),
        force: true,
        ..Default::default()
    };
    vtsim::run::run_scenario(&s, &opts).unwrap();
    let mut rdr = csv::Reader::from_path(dir.join("errors.csv")).unwrap();
    let rows: Vec<(f64, f64, f64)> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].parse().unwrap(),
                r[1].parse().unwrap(),
                r[2].parse().unwrap(),
            )
        })
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    let step = rows
        .iter()
        .position(|&(_, dom0_us, _)| dom0_us > 250_000.0)
        .expect("Dom0's ntpd steps to the server");
    assert!(rows[step].0 > 3600.0, "step at {} s", rows[step].0);
    let (t, _, guest_us) = rows[step + 1];
    assert!(
        guest_us > 250_000.0,
        "guest error {guest_us} µs at {t} s, a second after Dom0 stepped"
    );
}

/// Xen keeps a time record per physical CPU and a guest reads the record
/// and TSC of the CPU its vCPU is on. With non-invariant TSCs, whose rates
/// wander with each core's P-state, two CPUs' records extrapolate
/// differently between calibrations: two guests pinned to different pCPUs,
/// each with a free-running clock on the Xen clocksource, read the same
/// clock when the host keeps one record and different clocks when it keeps
/// one per CPU.
#[test]
fn guests_on_different_pcpus_read_their_own_cpus_time_record() {
    let run = |n_cpus: usize| {
        let text = format!(
            r#"Scenario(
    name: "per-cpu-records",
    seed: 3,
    duration_s: 600,
    hosts: [(
        name: "xen",
        counters: [
            (kind: Tsc, tsc: (core_offsets_ticks: [0, 90000], invariant: false, pstate: (random_factors: [0.8, 1.0], mean_dwell_s: 0.3))),
            (kind: Hpet),
        ],
        xen: (
            host: (pcpus: 2, dom0: (affinity: [0]), guests: [(affinity: [0]), (affinity: [1])]),
            time: (n_cpus: {n_cpus}, calib_policy: Xen3Recal),
        ),
    )],
    servers: [(name: "s")],
    paths: [()],
    daemons: [
        (name: "on-cpu0", host: "xen", domain: 1, counter: XenClocksource, servers: [], algorithm: FreeRunning()),
        (name: "on-cpu1", host: "xen", domain: 2, counter: XenClocksource, servers: [], algorithm: FreeRunning()),
    ],
    probes: (interval_s: 0.1),
    output: (plots: false),
)"#
        );
        let s = Scenario::parse(&text, "per-cpu-records.ron").unwrap_or_else(|e| panic!("{e}"));
        run_in_memory(&s).unwrap()
    };
    let one = run(1);
    let (a, b) = (
        &clock(&one, "on-cpu0").error_us,
        &clock(&one, "on-cpu1").error_us,
    );
    assert_eq!((a.rms, a.max_abs), (b.rms, b.max_abs));
    let two = run(2);
    let (a, b) = (
        &clock(&two, "on-cpu0").error_us,
        &clock(&two, "on-cpu1").error_us,
    );
    eprintln!(
        "per-CPU records: RMS {:.1} and {:.1} µs, max {:.1} and {:.1} µs",
        a.rms, b.rms, a.max_abs, b.max_abs
    );
    assert!(
        (a.rms - b.rms).abs() > 0.01 * a.rms.max(b.rms),
        "{a:?} {b:?}"
    );
}

/// A guest whose workload sends more than its kernel can serve keeps its
/// transmit queue full, so its ntpd's requests are often dropped there; the
/// send call returns all the same, so ntpd keeps polling every 16 s and
/// completes the requests that found room, rather than waiting for ever on
/// the first one dropped.
#[test]
fn a_daemon_polls_on_through_a_full_transmit_queue() {
    let (dropped, completed) =
        guest_ntpd(300, 2, "(workload: (busy_fraction: 0.5, tx_pps: 150000))");
    assert!(dropped > 1_000_000, "{dropped} frames dropped");
    // About half of the 18 requests find room.
    assert!((4..=16).contains(&completed), "{completed} exchanges");
}

/// A guest stopped by its churn process while its daemon's request still
/// waits for its vCPU drops the request; the daemon's timer moves on (the
/// send had returned) and the daemon polls again once the guest runs,
/// rather than waiting for ever for a stamp of the dropped request.
#[test]
fn a_daemon_polls_on_after_its_guest_stops_with_a_request_queued() {
    let (dropped, completed) = guest_ntpd(
        3600,
        1,
        "(cap_pct: 5, workload: (busy_fraction: 1.0, churn: (on_mean_s: 1, off_mean_s: 1)))",
    );
    assert!(dropped > 0, "{dropped} packets dropped");
    // 225 polls, about half while the guest runs.
    assert!(completed > 50, "{completed} exchanges");
}

/// Runs a Xen host of `pcpus` CPUs whose one guest, `guest`, runs ntpd at
/// 16 s polls for `duration_s`; returns the guest's dropped packets and
/// the exchanges ntpd completed.
fn guest_ntpd(duration_s: u32, pcpus: u32, guest: &str) -> (u64, u64) {
    let text = format!(
        "Scenario(name: \"guest-ntpd\", duration_s: {duration_s}, \
         hosts: [(name: \"h\", counters: [(kind: Tsc), (kind: Hpet)], \
                  xen: (host: (pcpus: {pcpus}, guests: [{guest}])))], \
         servers: [(name: \"s\")], paths: [(min_rtt_us: 300)], \
         daemons: [(name: \"g1\", host: \"h\", domain: 1, counter: XenClocksource, \
                    servers: [(server: \"s\", path: 0)], algorithm: Ntpd(minpoll: 4, maxpoll: 4))], \
         output: (plots: false))"
    );
    let r = run_in_memory(&Scenario::parse(&text, "guest-ntpd.ron").unwrap()).unwrap();
    let dropped = r
        .domains
        .iter()
        .find(|d| d.domain == 1)
        .unwrap()
        .dropped_packets;
    let completed = clock(&r, "g1").host_rtt_us.count;
    eprintln!("{dropped} packets dropped, {completed} exchanges completed");
    (dropped, completed as u64)
}

/// Runs `s` with its output files in a fresh scratch directory named by `tag`.
fn run_to_files(s: &Scenario, tag: &str) -> (std::path::PathBuf, RunSummary) {
    let out = std::env::temp_dir().join(format!("vtsim-virt-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let opts = vtsim::run::RunOptions {
        out: Some(out),
        force: true,
        ..Default::default()
    };
    vtsim::run::run_scenario(s, &opts).unwrap()
}

/// A failover that strikes between a guest daemon's poll and its send
/// stamp (the request waits for the vCPU) loses that request as the host
/// drops it: stamped at the failure, never recorded with a Ta of 0, so the
/// run's own exchanges still replay from the daemon's first counter.
#[test]
fn a_failover_between_poll_and_send_stamp_loses_a_stamped_request() {
    use vtsim::replay::{read_rows, replay};
    // (ta, ta_true_ns, lost) of each of the guest RADclock's exchanges.
    let exchanges = |d: &Path| -> Vec<(u64, u64, bool)> {
        let text = std::fs::read_to_string(d.join("guest-radclock").join("exchanges.csv")).unwrap();
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
        let (ta, ta_true, lost) = (col("ta"), col("ta_true_ns"), col("lost"));
        lines
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (
                    f[ta].parse().unwrap(),
                    f[ta_true].parse().unwrap(),
                    f[lost] == "1",
                )
            })
            .collect()
    };
    let mut s = load("replication-failover.ron");
    s.duration_s = 9100.0;
    // The guest's last send stamp before the scheduled failure: its poll came
    // a few µs earlier (the vCPU's wake-up), so a failure 1 µs before the
    // stamp finds the request polled but not stamped.
    let (first, _) = run_to_files(&s, "failover-window-a");
    let stamp_ns = exchanges(&first)
        .iter()
        .map(|e| e.1)
        .filter(|&t| t < 9_000_000_000_000)
        .max()
        .unwrap();
    let fail_ns = stamp_ns - 1_000;
    let s = s
        .set(
            "test",
            &[format!("events[0].at_s={}", fail_ns as f64 * 1e-9)],
        )
        .unwrap();
    let (out, summary) = run_to_files(&s, "failover-window-b");
    let rows = exchanges(&out);
    let lost: Vec<_> = rows.iter().filter(|e| e.2).collect();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(rows.iter().all(|e| e.0 != 0), "a row with Ta = 0");
    assert!(
        lost[0].1.abs_diff(fail_ns) <= 1,
        "{lost:?} not stamped at the failure"
    );
    let cfg = s
        .daemons
        .iter()
        .find(|d| d.name == "guest-radclock")
        .unwrap();
    let start = clock(&summary, "guest-radclock").counter_at_start;
    let file = read_rows(&out.join("guest-radclock").join("exchanges.csv")).unwrap();
    replay(&file, &cfg.algorithm, 0, 0.0, start).unwrap();
}

/// A request on its way to the server when its guest pauses for a
/// migration is lost there: its row keeps no server arrival that had not
/// happened by the pause (`tb_true_ns` and `forward_ns` 0, as for a request
/// lost on the way out).
#[test]
fn a_request_cut_off_by_a_pause_has_no_server_arrival() {
    // Each row of quake-naive's exchanges, by column name.
    let exchanges = |d: &Path| -> Vec<std::collections::HashMap<String, String>> {
        let text = std::fs::read_to_string(d.join("quake-naive").join("exchanges.csv")).unwrap();
        let mut lines = text.lines();
        let head: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
        lines
            .map(|l| {
                head.iter()
                    .cloned()
                    .zip(l.split(',').map(String::from))
                    .collect()
            })
            .collect()
    };
    let ns =
        |r: &std::collections::HashMap<String, String>, c: &str| -> u64 { r[c].parse().unwrap() };
    let mut s = load("migration-downtime.ron");
    s.duration_s = 120.0;
    // The pre-copy phase lasts as long whenever the migration starts: time
    // its start so that the pause falls halfway along the forward path of
    // an exchange of the first minute.
    let (first, summary) = run_to_files(&s, "pause-in-flight-a");
    let precopy_s = summary.migrations[0].precopy_s;
    let target = exchanges(&first)
        .into_iter()
        .find(|r| ns(r, "ta_true_ns") > 20_000_000_000 && r["lost"] == "0")
        .unwrap();
    let mid_ns = (ns(&target, "ta_true_ns") + ns(&target, "tb_true_ns")) / 2;
    let at_s = mid_ns as f64 * 1e-9 - precopy_s;
    let s = s.set("test", &[format!("events[0].at_s={at_s}")]).unwrap();
    let (out, _) = run_to_files(&s, "pause-in-flight-b");
    let lost: Vec<_> = exchanges(&out)
        .into_iter()
        .filter(|r| r["lost"] == "1")
        .collect();
    assert_eq!(lost.len(), 1, "{lost:?}");
    let r = &lost[0];
    assert_eq!(ns(r, "ta"), ns(&target, "ta"), "the same request");
    assert_eq!((ns(r, "tb_true_ns"), ns(r, "forward_ns")), (0, 0), "{r:?}");
}
