//! The hot loop does not allocate: a longer run costs more events, not more
//! heap allocations.
//!
//! Each test runs one of the `vtsim bench` workloads with
//! [`vtsim::sweep::run_in_memory`] for a simulated span and for twice that
//! span, counting the allocations made on the test's thread (set-up and
//! summary included), and checks that the second span's events came with
//! next to no allocations. Records are drained every slice, as a run that
//! writes its outputs drains them into its files. What may still allocate
//! in a longer run is bounded by design and independent of the event count:
//! a quantile sketch allocates a page of 512 buckets the first time a
//! magnitude lands in it (at most 40 pages per sign of a summary), and the
//! record buffers of a longer slice grow by doubling.

use vtsim::bench::scenario_of;
use vtsim::sweep::run_in_memory;

/// Events and allocations of `workload` run for `duration_s`.
fn events_and_allocations(workload: &str, duration_s: f64) -> (u64, u64) {
    let mut s = scenario_of(workload, true).expect("bench workload");
    s.duration_s = duration_s;
    let mut events = 0;
    let info = allocation_counter::measure(|| {
        events = run_in_memory(&s).expect("run completes").events;
    });
    (events, info.count_total)
}

/// At most this many more allocations in a run twice as long: sketch pages
/// and buffer growths, against the 10⁵ and more events added. Workload
/// `c` (48 summaries, 96 sketch stores) made 63 more allocations from one
/// day to two, 75 from two days to four and 51 from four to eight, most of
/// them sketch pages.
const EXTRA_MAX: u64 = 128;

fn assert_flat(workload: &str, span_s: f64) {
    let (e1, a1) = events_and_allocations(workload, span_s);
    let (e2, a2) = events_and_allocations(workload, 2.0 * span_s);
    assert!(
        e2 - e1 > 100_000,
        "{workload}: {} more events are too few to judge",
        e2 - e1
    );
    assert!(a1 > 0, "the allocation counter counts nothing");
    assert!(
        a2.saturating_sub(a1) <= EXTRA_MAX,
        "{workload}: {a1} allocations over {span_s} s, {a2} over twice that ({} more events)",
        e2 - e1
    );
}

#[test]
fn a_bare_host_with_ntpd_does_not_allocate_per_event() {
    assert_flat("a-ntpd-day", 86_400.0);
}

#[test]
fn a_bare_host_with_radclock_does_not_allocate_per_event() {
    assert_flat("b-radclock-day", 86_400.0);
}

#[test]
fn a_xen_host_with_sixteen_daemons_does_not_allocate_per_event() {
    assert_flat("c-xen-year-half", 86_400.0);
}
