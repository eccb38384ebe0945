//! `vtsim calibrate`: a scenario's Xen hosts on the fast parametric model.
//!
//! The explicit schedulers (credit, SEDF) simulate every vCPU dispatch,
//! which costs events and ties a host's domains together: they share its
//! pCPUs. The parametric model instead draws each packet's delays from
//! distributions fitted to the explicit scheduler of the same host, per
//! number of busy guests ([`models::xen::parametric`]). A scenario whose
//! hosts run it is faster, and its guests are independent, so a run splits
//! them over the cores ([`crate::partition`]).
//!
//! Calibrating runs each host's explicit scheduler once per busy-guest
//! count, `seconds` of simulated time each, with probe traffic in every
//! domain, from a stream named after the host (`calibrate/{host}`): the
//! same scenario and seed give the same tables.
//!
//! The model keeps each stage's delay distribution, not how one packet's
//! delays depend on the last: it draws them independently. Under the
//! explicit scheduler a daemon's reply often finds the vCPU that sent the
//! request a moment before still warm, or wakes it with BOOST; drawn from
//! the distribution of packets at random instants, its delays are longer.
//! In `vet-independent-ntpd-load` (one loaded guest of three) the host's
//! RTT overhead has a median of 122 µs (ntpd) and 173 µs (RADclock) on
//! the model against 90 and 92 µs explicit; RADclock, which keeps the
//! fastest exchanges, errs alike (RMS 13.7 against 12.7 µs), but ntpd
//! does not (RMS 4.6 ms against 0.5 ms, median +1.6 ms against −0.2 ms).
//! Check a calibrated scenario against the explicit one on a short run
//! before trusting it for an algorithm that uses every exchange.

use std::path::Path;

use anyhow::Context;
use models::xen::config::SchedulerConfig;
use models::xen::parametric::{CalibrationRun, calibrated_config};
use sim_core::RngStreams;

use crate::output::{named, write_atomic};
use crate::scenario::Scenario;

/// Simulated time per busy-guest count by default, s: the calibration's
/// own default, enough for the tails of credit's 30 ms slices.
pub const DEFAULT_SECONDS: f64 = 60.0;

/// Largest simulated time per busy-guest count, s (a day).
pub const MAX_SECONDS: f64 = 86_400.0;

/// `s` with the scheduler of each of its Xen hosts that runs an explicit
/// one replaced by the parametric model calibrated from it, `seconds` of
/// simulated time per busy-guest count; and the names of those hosts.
///
/// Fails when no host has an explicit scheduler, when `seconds` is out of
/// range, or when the result is not a valid scenario (the parametric model
/// has no caps, so a dilated guest's CPU share cannot stay one).
pub fn calibrate(s: &Scenario, seconds: f64) -> anyhow::Result<(Scenario, Vec<String>)> {
    if !(seconds > 0.0 && seconds <= MAX_SECONDS) {
        anyhow::bail!(
            "calibration time {seconds} s is outside the valid range (0, {MAX_SECONDS}] s per busy-guest count"
        );
    }
    let run = CalibrationRun {
        duration_s: seconds,
        ..CalibrationRun::default()
    };
    let streams = RngStreams::new(s.seed);
    let mut out = s.clone();
    let mut calibrated = Vec::new();
    for h in &mut out.hosts {
        let Some(xen) = h.xen.as_mut() else { continue };
        if matches!(xen.host.scheduler, SchedulerConfig::Parametric(_)) || xen.host.native {
            continue;
        }
        let mut rng = streams.stream(&format!("calibrate/{}", h.name));
        xen.host = calibrated_config(&xen.host, &run, &mut rng);
        calibrated.push(h.name.clone());
    }
    if calibrated.is_empty() {
        anyhow::bail!(
            "{}: no Xen host with an explicit scheduler (credit or SEDF) to calibrate",
            s.name
        );
    }
    let errors = out.validate();
    if !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(anyhow::anyhow!(list.join("; ")))
            .context("the calibrated scenario would be invalid");
    }
    Ok((out, calibrated))
}

/// [`calibrate`] of the scenario file `scenario` (default time per count
/// `seconds`), written to `out` with a comment saying where it came from;
/// an existing `out` is replaced only with `force`, and never when it is
/// `scenario`. Returns the scenario's name and the hosts calibrated.
pub fn calibrate_file(
    scenario: &Path,
    out: &Path,
    seconds: f64,
    force: bool,
) -> anyhow::Result<(String, Vec<String>)> {
    let s = Scenario::load(scenario)?;
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    if canonical(out).is_some_and(|o| Some(o) == canonical(scenario)) {
        anyhow::bail!("--out {} is the scenario itself", out.display());
    }
    if out.exists() && !force {
        anyhow::bail!("{} exists: give --force to replace it", out.display());
    }
    let (fast, hosts) = calibrate(&s, seconds)?;
    let text = format!(
        "// {} with its Xen hosts on the parametric scheduler model, calibrated by\n\
         // `vtsim calibrate --seconds {seconds}` from {}.\n{}",
        s.name,
        scenario.display(),
        fast.to_ron()
    );
    write_atomic(out, text.as_bytes()).map_err(|e| named("write", out, e))?;
    Ok((s.name, hosts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str) -> Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name);
        Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn xen_hosts_get_tables_and_their_guests_come_apart() {
        let s = load("vet-noise-overhead.ron");
        assert_eq!(crate::partition::groups(&s).len(), 5);
        let (fast, hosts) = calibrate(&s, 2.0).unwrap();
        assert_eq!(hosts, ["xen1", "xen2", "xen3", "xen4"]);
        // The native host (no hypervisor) has no scheduler to calibrate.
        let xen = fast.hosts.iter().filter_map(|h| h.xen.as_ref());
        for h in xen.filter(|x| !x.host.native) {
            let SchedulerConfig::Parametric(p) = &h.host.scheduler else {
                panic!("not calibrated");
            };
            let busy = h
                .host
                .guests
                .iter()
                .filter(|g| g.workload.is_busy())
                .count();
            assert_eq!(p.by_busy_guests.len(), busy + 1);
        }
        // One group per domain of each Xen host, and the native host.
        assert_eq!(crate::partition::groups(&fast).len(), 1 + 2 + 3 + 4 + 5);
        // The written file reads back as the same scenario.
        let text = fast.to_ron();
        assert_eq!(Scenario::parse(&text, "fast.ron").unwrap(), fast);
        // Same seed, same tables.
        assert_eq!(calibrate(&s, 2.0).unwrap().0, fast);
    }

    #[test]
    fn the_calibrated_file_reads_back_and_is_never_the_input() {
        let dir = std::env::temp_dir().join(format!("vtsim-calib-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.ron");
        let s = load("vet-independent-ntpd-load.ron");
        std::fs::write(&input, s.to_ron()).unwrap();
        let out = dir.join("fast.ron");
        let (name, hosts) = calibrate_file(&input, &out, 1.0, false).unwrap();
        assert_eq!((name.as_str(), hosts.len()), (s.name.as_str(), 1));
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.starts_with("// "), "{}", &text[..80]);
        assert_eq!(Scenario::load(&out).unwrap(), calibrate(&s, 1.0).unwrap().0);
        let e = calibrate_file(&input, &out, 1.0, false).unwrap_err();
        assert!(e.to_string().contains("exists: give --force"), "{e}");
        calibrate_file(&input, &out, 1.0, true).unwrap();
        let e = calibrate_file(&input, &input, 1.0, true).unwrap_err();
        assert!(e.to_string().contains("is the scenario itself"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nothing_to_calibrate_or_a_bad_time_is_an_error() {
        let e = calibrate(&load("lan-basics.ron"), 2.0).unwrap_err();
        assert!(
            e.to_string()
                .contains("no Xen host with an explicit scheduler"),
            "{e}"
        );
        let s = load("vet-noise-overhead.ron");
        for bad in [0.0, -1.0, f64::NAN, 1e9] {
            let e = calibrate(&s, bad).unwrap_err().to_string();
            assert!(e.contains("outside the valid range (0, 86400] s"), "{e}");
        }
    }
}
