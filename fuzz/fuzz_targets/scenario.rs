//! Scenario text → parse → validate → (if valid) serialise and re-parse,
//! build the world and simulate a few seconds of it.
//!
//! Invariants: no panic, hang or abort on any input; a valid scenario
//! round-trips through `to_ron`; building it either succeeds or returns an
//! error; a short run yields a summary whose every number is finite.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sim_core::{Engine, SimTime};
use vtsim::run::{build_world, summarize};
use vtsim::scenario::Scenario;

/// Simulated time of the smoke run, seconds: long enough for a first
/// exchange at the fastest poll (1 s), short enough for thousands of
/// executions per second.
const SMOKE_DURATION_S: f64 = 3.0;

/// Events after which the smoke run stops (checked between slices).
const SMOKE_EVENT_BUDGET: u64 = 50_000;

/// Slices of the smoke run.
const SMOKE_SLICES: u64 = 64;

/// Shortest probe interval of the smoke run, seconds: bounds the
/// probe events whatever interval the input asks for.
const SMOKE_MIN_PROBE_S: f64 = 0.01;

fn all_finite(v: &serde_json::Value) -> bool {
    match v {
        // serde_json writes NaN and ±inf as null.
        serde_json::Value::Null => false,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
        serde_json::Value::Array(a) => a.iter().all(all_finite),
        // A statistic without samples has no values: all null.
        serde_json::Value::Object(o) if o.get("count") == Some(&serde_json::json!(0)) => {
            o.iter().all(|(k, v)| k == "count" || v.is_null())
        }
        serde_json::Value::Object(o) => o.values().all(all_finite),
        serde_json::Value::Bool(_) | serde_json::Value::String(_) => true,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let s = match Scenario::parse(text, "fuzz.ron") {
        Ok(s) => s,
        Err(e) => {
            // Error messages must render (file:line:col form).
            assert!(e.to_string().starts_with("fuzz.ron:"));
            return;
        }
    };
    let errors = s.validate();
    if !errors.is_empty() {
        for e in &errors {
            assert!(!e.field.is_empty(), "an error must name its field: {e}");
        }
        return;
    }
    let ron_text = s.to_ron();
    let back = Scenario::parse(&ron_text, "round-trip.ron")
        .unwrap_or_else(|e| panic!("to_ron output does not parse: {e}\n{ron_text}"));
    assert_eq!(back.to_ron(), ron_text, "to_ron is not a fixed point");
    assert!(
        back.validate().is_empty(),
        "a valid scenario re-reads as invalid"
    );

    let mut tiny = s.clone();
    tiny.duration_s = tiny.duration_s.min(SMOKE_DURATION_S);
    tiny.probes.interval_s = tiny.probes.interval_s.max(SMOKE_MIN_PROBE_S);
    tiny.probes.metrics_from_s = tiny.probes.metrics_from_s.min(tiny.duration_s);
    let Ok(world) = build_world(&tiny) else {
        return;
    };
    // Step the engine in short slices and stop at an event budget: a Xen
    // host at thousands of packets per second is legitimately millions of
    // events per simulated second, which is work, not a hang.
    let mut engine = Engine::new(world);
    let mut initial = Vec::new();
    engine.model_mut().start(&mut |t, e| initial.push((t, e)));
    for (t, e) in initial {
        engine.schedule(t, e);
    }
    let end = SimTime::from_secs_f64(tiny.duration_s);
    let step_ns = (end.as_nanos() / SMOKE_SLICES).max(1);
    let mut until = SimTime::ZERO;
    while until < end && engine.events() < SMOKE_EVENT_BUDGET {
        until = SimTime::from_nanos((until.as_nanos() + step_ns).min(end.as_nanos()));
        engine.run_until(until);
        engine.model_mut().records_mut().clear();
    }
    let events = engine.events();
    let mut world = engine.into_model();
    let summary = summarize(&tiny, &mut world, events);
    let json = serde_json::to_value(&summary).expect("summaries serialise");
    assert!(all_finite(&json), "non-finite number in summary: {json}");
});
