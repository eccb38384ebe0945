//! Physics of the path model, checked statistically with fixed seeds:
//! every tolerance is a few standard errors of the estimate.

use super::*;
use rand::RngExt;
use sim_core::RngStreams;

/// A path with one flow over it, drawn as the path's only client.
struct OneFlow {
    path: Path,
    flow: Flow,
}

impl OneFlow {
    fn forward_delay(&mut self, t: SimTime) -> Option<SimDuration> {
        self.path.forward_delay(&mut self.flow, t)
    }

    fn backward_delay(&mut self, t: SimTime) -> Option<SimDuration> {
        self.path.backward_delay(&mut self.flow, t)
    }
}

impl std::ops::Deref for OneFlow {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

fn path(cfg: &PathConfig, seed: u64) -> OneFlow {
    let s = RngStreams::new(seed);
    let path =
        Path::new(cfg, s.stream("test/forward"), s.stream("test/backward")).expect("valid config");
    let flow = path.flow(
        s.stream("test/forward/flow"),
        s.stream("test/backward/flow"),
    );
    OneFlow { path, flow }
}

/// Mean and standard error of i.i.d. samples.
fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// Mean and standard error of a correlated series, by batch means.
fn batch_mean_se(xs: &[f64], batches: usize) -> (f64, f64) {
    let len = xs.len() / batches;
    let means: Vec<f64> = xs
        .chunks_exact(len)
        .map(|c| c.iter().sum::<f64>() / len as f64)
        .collect();
    mean_se(&means)
}

/// Forward queueing delays (µs) of `n` packets over a zero-minimum path.
fn forward_queueing_us(queueing: QueueingConfig, n: usize, seed: u64) -> Vec<f64> {
    let mut cfg = PathConfig::from_min_delays(0.0, 0.0);
    cfg.forward.queueing = queueing;
    let mut p = path(&cfg, seed);
    (0..n)
        .map(|i| {
            p.forward_delay(SimTime::from_secs(i as u64))
                .unwrap()
                .as_nanos() as f64
                * 1e-3
        })
        .collect()
}

fn assert_mean(name: &str, xs: &[f64], expected_us: f64) {
    let (mean, se) = mean_se(xs);
    assert!(
        (mean - expected_us).abs() < 4.0 * se,
        "{name}: mean {mean:.3} µs vs {expected_us:.3} µs (se {se:.3})"
    );
}

#[test]
fn exponential_queueing_mean_matches() {
    let xs = forward_queueing_us(QueueingConfig::Exponential { mean_us: 60.0 }, 200_000, 1);
    assert_mean("exponential", &xs, 60.0);
    // Exponential: the standard deviation equals the mean.
    let (_, se) = mean_se(&xs);
    let sd = se * (xs.len() as f64).sqrt();
    assert!((sd - 60.0).abs() < 1.0, "sd {sd}");
}

#[test]
fn gamma_queueing_mean_matches() {
    let xs = forward_queueing_us(
        QueueingConfig::Gamma {
            shape: 0.5,
            mean_us: 100.0,
        },
        200_000,
        2,
    );
    assert_mean("gamma", &xs, 100.0);
    // Variance of a gamma = shape·scale² = 0.5·200² → sd 141 µs.
    let (_, se) = mean_se(&xs);
    let sd = se * (xs.len() as f64).sqrt();
    assert!((sd - 141.42).abs() < 5.0, "sd {sd}");
}

#[test]
fn pareto_queueing_mean_matches_when_finite() {
    // Tail index 3.5: finite variance, so the sample mean has a standard error.
    let q = QueueingConfig::Pareto {
        shape: 3.5,
        scale_us: None,
        mean_us: Some(50.0),
    };
    let xs = forward_queueing_us(q, 400_000, 3);
    assert_mean("pareto(mean)", &xs, 50.0);
    let q = QueueingConfig::Pareto {
        shape: 3.5,
        scale_us: Some(125.0),
        mean_us: None,
    };
    let xs = forward_queueing_us(q, 400_000, 4);
    assert_mean("pareto(scale)", &xs, 125.0 / 2.5);
    // The tail: P(Q > q) = (1 + q/scale)^-shape; at q = scale that is 2^-3.5 = 0.0884.
    let frac = xs.iter().filter(|&&x| x > 125.0).count() as f64 / xs.len() as f64;
    let se = (0.0884 * (1.0 - 0.0884) / xs.len() as f64).sqrt();
    assert!((frac - 0.0884).abs() < 4.0 * se, "tail fraction {frac}");
}

#[test]
fn mixture_queueing_mean_matches() {
    // research/radclock.md §5.3: 90 % Exp(60 µs) + 10 % Exp(2 ms) → 254 µs.
    let xs = forward_queueing_us(QueueingConfig::radclock_reference(), 400_000, 5);
    assert_mean("mixture", &xs, 0.9 * 60.0 + 0.1 * 2000.0);
    // The heavy component shows up as its share of the tail: P(Q > 1 ms) =
    // 0.9·e^(−1000/60) + 0.1·e^(−0.5) ≈ 0.0607.
    let expected = 0.9 * (-1000.0f64 / 60.0).exp() + 0.1 * (-0.5f64).exp();
    let frac = xs.iter().filter(|&&x| x > 1000.0).count() as f64 / xs.len() as f64;
    let se = (expected * (1.0 - expected) / xs.len() as f64).sqrt();
    assert!(
        (frac - expected).abs() < 4.0 * se,
        "tail fraction {frac} vs {expected}"
    );
}

#[test]
fn empirical_samples_are_resampled() {
    let values_us = vec![10.0, 20.0, 30.0, 500.0];
    let q = QueueingConfig::Empirical(EmpiricalSource::Samples {
        values_us: values_us.clone(),
    });
    let xs = forward_queueing_us(q, 100_000, 6);
    assert_mean("empirical samples", &xs, 140.0);
    assert!(
        xs.iter()
            .all(|x| values_us.iter().any(|v| (x - v).abs() < 1e-3)),
        "only configured values appear"
    );
}

const DATA_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/synthetic_queueing_us.txt"
);

#[test]
fn empirical_file_is_loaded_and_resampled() {
    let text = std::fs::read_to_string(DATA_FILE).unwrap();
    let values: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.parse().unwrap())
        .collect();
    let file_mean = values.iter().sum::<f64>() / values.len() as f64;
    let q = QueueingConfig::Empirical(EmpiricalSource::File {
        path: DATA_FILE.to_string(),
    });
    let xs = forward_queueing_us(q, 200_000, 7);
    assert_mean("empirical file", &xs, file_mean);
}

#[test]
fn unreadable_or_malformed_empirical_file_is_a_clear_error() {
    let mut cfg = PathConfig::default();
    cfg.forward.queueing = QueueingConfig::Empirical(EmpiricalSource::File {
        path: "/nonexistent/delays.txt".into(),
    });
    let errors = cfg.validate("p");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "p.forward.queueing.path");
    assert!(
        errors[0].message.contains("/nonexistent/delays.txt"),
        "{}",
        errors[0].message
    );
    let s = RngStreams::new(0);
    assert!(Path::new(&cfg, s.stream("a"), s.stream("b")).is_err());

    let bad = std::env::temp_dir().join(format!("vtsim-network-bad-{}.txt", std::process::id()));
    std::fs::write(&bad, "# header\n12.5\nfast\n3\n").unwrap();
    let name = bad.to_string_lossy().to_string();
    cfg.backward.queueing = QueueingConfig::Empirical(EmpiricalSource::File { path: name.clone() });
    cfg.forward.queueing = QueueingConfig::None;
    let err = Path::new(&cfg, s.stream("a"), s.stream("b")).unwrap_err();
    assert_eq!(err.field, "backward.queueing.path");
    assert!(
        err.message.contains(&name) && err.message.contains("line 3"),
        "{}",
        err.message
    );
    std::fs::write(&bad, "1\n-4\n").unwrap();
    let err = Path::new(&cfg, s.stream("a"), s.stream("b")).unwrap_err();
    assert!(
        err.message.contains("line 2") && err.message.contains("0..=10000000 µs"),
        "{}",
        err.message
    );
    // Latin-1 `µ` (0xB5) where UTF-8 needs two bytes.
    std::fs::write(&bad, b"1\n25 \xb5s\n").unwrap();
    let err = Path::new(&cfg, s.stream("a"), s.stream("b")).unwrap_err();
    assert!(
        err.message
            .contains("line 2 column 4: invalid UTF-8 (byte 0xB5)"),
        "{}",
        err.message
    );
    std::fs::remove_file(&bad).unwrap();
}

#[test]
fn independent_loss_rate_matches() {
    let mut cfg = PathConfig::default();
    cfg.forward.loss = LossConfig::Independent { probability: 0.1 };
    let mut p = path(&cfg, 8);
    let n = 200_000;
    let lost = (0..n)
        .filter(|&i| p.forward_delay(SimTime::from_secs(i)).is_none())
        .count() as f64;
    let se = (0.1 * 0.9 / n as f64).sqrt();
    assert!(
        (lost / n as f64 - 0.1).abs() < 4.0 * se,
        "loss rate {}",
        lost / n as f64
    );
    // The backward direction has no loss configured.
    assert!((0..1000).all(|i| p.backward_delay(SimTime::from_secs(i)).is_some()));
}

#[test]
fn gilbert_elliott_loss_is_bursty_with_the_stationary_rate() {
    let (g2b, b2g, lg, lb) = (0.01, 0.2, 0.001, 0.5);
    let loss = LossConfig::GilbertElliott {
        good_to_bad_probability: g2b,
        bad_to_good_probability: b2g,
        loss_probability_good: lg,
        loss_probability_bad: lb,
    };
    let rate = loss.stationary_loss_rate();
    let pi_bad: f64 = g2b / (g2b + b2g);
    assert!((rate - ((1.0 - pi_bad) * lg + pi_bad * lb)).abs() < 1e-15);
    let mut cfg = PathConfig::default();
    cfg.backward.loss = loss;
    let mut p = path(&cfg, 9);
    let n = 1_000_000;
    let lost: Vec<bool> = (0..n)
        .map(|i| p.backward_delay(SimTime::from_secs(i)).is_none())
        .collect();
    let measured = lost.iter().filter(|&&l| l).count() as f64 / n as f64;
    // Asymptotic variance of the mean of a loss indicator driven by a
    // two-state chain with second eigenvalue λ = 1 − g2b − b2g.
    let lambda = 1.0 - g2b - b2g;
    let var = rate * (1.0 - rate)
        + 2.0 * (lb - lg).powi(2) * pi_bad * (1.0 - pi_bad) * lambda / (1.0 - lambda);
    let se = (var / n as f64).sqrt();
    assert!(
        (measured - rate).abs() < 4.0 * se,
        "GE loss {measured} vs {rate} (se {se})"
    );
    // Bursts: after a loss, the next packet is lost far more often than on average.
    let after_loss = lost.windows(2).filter(|w| w[0]).count() as f64;
    let both = lost.windows(2).filter(|w| w[0] && w[1]).count() as f64;
    assert!(
        both / after_loss > 5.0 * rate,
        "P(loss | loss) = {} vs rate {rate}",
        both / after_loss
    );
}

#[test]
fn rtt_floor_follows_a_scheduled_level_shift() {
    let mut cfg = PathConfig::from_min_delays(150.0, 130.0);
    cfg.forward.queueing = QueueingConfig::Exponential { mean_us: 60.0 };
    cfg.backward.queueing = QueueingConfig::Exponential { mean_us: 60.0 };
    cfg.forward.level_shifts = vec![
        LevelShift {
            at_s: 3000.0,
            min_delay_us: 150.0,
        },
        LevelShift {
            at_s: 1000.0,
            min_delay_us: 450.0,
        },
    ];
    let mut p = path(&cfg, 10);
    // Floors per window (before, during, after the shift): round trip and forward alone.
    let mut rtt_floor_us = [f64::INFINITY; 3];
    let mut fwd_floor_us = [f64::INFINITY; 3];
    for i in 0..40_000u64 {
        let t = SimTime::from_nanos(i * 100_000_000); // every 0.1 s for 4000 s
        let f = p.forward_delay(t).unwrap();
        let b = p.backward_delay(t + f).unwrap();
        let w = match t.as_secs_f64() {
            s if s < 1000.0 => 0,
            s if s < 3000.0 => 1,
            _ => 2,
        };
        rtt_floor_us[w] = rtt_floor_us[w].min((f + b).as_nanos() as f64 * 1e-3);
        fwd_floor_us[w] = fwd_floor_us[w].min(f.as_nanos() as f64 * 1e-3);
    }
    // With n ≥ 10 000 packets the minimum of Exp(60 µs) queueing exceeds 0
    // by ~60/n = 0.006 µs (P(> 0.1 µs) = e^-16); the sum of two has density
    // ∝ q near 0, so the RTT floor exceeds the minimum by ~0.85 µs
    // (P(> 5 µs) ≈ e^-35).
    for (w, rtt, fwd) in [(0, 280.0, 150.0), (1, 580.0, 450.0), (2, 280.0, 150.0)] {
        let (r, f) = (rtt_floor_us[w], fwd_floor_us[w]);
        assert!(
            r >= rtt - 1e-3 && r < rtt + 5.0,
            "window {w}: RTT floor {r} µs, expected {rtt}"
        );
        assert!(
            f >= fwd - 1e-3 && f < fwd + 0.1,
            "window {w}: forward floor {f} µs, expected {fwd}"
        );
    }
    assert_eq!(
        p.min_delay_forward(SimTime::from_secs(999)),
        SimDuration::from_micros(150)
    );
    assert_eq!(
        p.min_delay_forward(SimTime::from_secs(1000)),
        SimDuration::from_micros(450)
    );
    assert!((p.asymmetry_s(SimTime::from_secs(2000)) - 320e-6).abs() < 1e-12);
    assert_eq!(
        p.min_delay_backward(SimTime::from_secs(2000)),
        SimDuration::from_micros(130)
    );
}

#[test]
fn congestion_raises_the_mean_by_on_fraction_times_extra() {
    let congestion = CongestionConfig {
        mean_on_s: 10.0,
        mean_off_s: 30.0,
        extra_mean_us: 1000.0,
    };
    let fraction = congestion.on_fraction();
    assert!((fraction - 0.25).abs() < 1e-15);
    let mut cfg = PathConfig::from_min_delays(100.0, 100.0);
    cfg.forward.queueing = QueueingConfig::Exponential { mean_us: 20.0 };
    cfg.forward.congestion = Some(congestion);
    let mut p = path(&cfg, 11);
    // 8e6 packets over ~1e5 on/off cycles.
    let xs: Vec<f64> = (0..8_000_000u64)
        .map(|i| {
            p.forward_delay(SimTime::from_nanos(i * 500_000_000))
                .unwrap()
                .as_nanos() as f64
                * 1e-3
        })
        .collect();
    let (mean, se) = batch_mean_se(&xs, 100);
    let expected = 100.0 + 20.0 + fraction * 1000.0;
    assert!(
        (mean - expected).abs() < 4.0 * se,
        "mean {mean:.2} µs vs {expected} µs (se {se:.2})"
    );
    assert!(se < 5.0, "the check must be able to fail: se {se}");
}

#[test]
fn episodes_do_not_depend_on_how_often_they_are_queried() {
    let rng = RngStreams::new(12).stream("episodes");
    let mut fine = Episodes::new(rng.clone(), 30.0, 10.0, 0.5);
    let mut coarse = Episodes::new(rng, 30.0, 10.0, 0.5);
    for i in 0..200_000u64 {
        let t = SimTime::from_nanos(i * 100_000_000);
        let answer = fine.at(t);
        if i % 37 == 0 {
            assert_eq!(answer, coarse.at(t), "at {t}");
            assert_eq!(
                coarse.peek(t + SimDuration::from_secs(500)),
                fine.peek(t + SimDuration::from_secs(500))
            );
        }
    }
}

/// Query times of `n` steps of 1–4 s, each asked again up to 12 s later
/// (beyond [`LOOKBACK`] now and then), and once more far back.
fn shuffled_query_times(n: u64, seed: u64) -> (Vec<SimTime>, Vec<SimTime>) {
    let mut rng = RngStreams::new(seed).stream("queries");
    let mut t_ns = 0u64;
    let mut in_order = Vec::new();
    let mut shuffled = Vec::new();
    let mut late: Vec<(u64, SimTime)> = Vec::new();
    for _ in 0..n {
        t_ns += rng.random_range(1_000_000_000..4_000_000_000u64);
        let t = SimTime::from_nanos(t_ns);
        in_order.push(t);
        shuffled.push(t);
        late.push((t_ns + rng.random_range(0..12_000_000_000u64), t));
        // Asked again once the clock has moved past the lag.
        late.retain(|&(due_ns, earlier)| {
            let due = due_ns <= t_ns;
            if due {
                shuffled.push(earlier);
            }
            !due
        });
        if rng.random::<f64>() < 0.01 {
            // Far back: only the replay can answer.
            let back_ns = rng.random_range(0..=t_ns);
            shuffled.push(SimTime::from_nanos(back_ns));
            in_order.push(SimTime::from_nanos(back_ns));
        }
    }
    (in_order, shuffled)
}

#[test]
fn episodes_queried_out_of_order_answer_as_in_order() {
    // Episodes of 2 s every ~8 s: a 10 s lookback holds one or two, and the
    // shuffled queries hit the remembered ones, the replay, and the peeks.
    let rng = RngStreams::new(22).stream("episodes");
    let (in_order, shuffled) = shuffled_query_times(20_000, 22);
    let reference = Episodes::new(rng.clone(), 6.0, 2.0, 0.5);
    let mut ordered = Episodes::new(rng.clone(), 6.0, 2.0, 0.5);
    let mut sorted = in_order.clone();
    sorted.sort();
    let expected: std::collections::HashMap<SimTime, Option<f64>> =
        sorted.iter().map(|&t| (t, ordered.at(t))).collect();
    let on = expected.values().filter(|a| a.is_some()).count();
    assert!(
        on > sorted.len() / 10 && on < sorted.len() / 2,
        "{on} of {} queries in an episode",
        sorted.len()
    );
    let mut queried = Episodes::new(rng, 6.0, 2.0, 0.5);
    let mut replayed = 0;
    for (i, &t) in shuffled.iter().enumerate() {
        if t < queried.forgotten_until {
            replayed += 1;
        }
        assert_eq!(queried.peek(t), expected[&t], "peek at {t}");
        assert_eq!(queried.at(t), expected[&t], "at {t}");
        // A peek of a process never queried draws everything up to `t`.
        if i % 97 == 0 {
            assert_eq!(reference.peek(t), expected[&t], "fresh peek at {t}");
        }
    }
    assert!(
        replayed > 100,
        "only {replayed} queries beyond the lookback"
    );
    // Memory stays bounded by the lookback: at most a few episodes of 8 s.
    assert!(
        queried.remembered.len() <= 8,
        "{} remembered",
        queried.remembered.len()
    );
}

#[test]
fn a_flow_does_not_depend_on_other_flows_packets() {
    // Every shared process configured: congestion, random shifts, and
    // bursty loss, in both directions.
    let mut cfg = PathConfig::from_min_delays(150.0, 130.0).with_shared_processes(5.0);
    for d in [&mut cfg.forward, &mut cfg.backward] {
        d.queueing = QueueingConfig::radclock_reference();
    }
    let s = RngStreams::new(23);
    let build = || Path::new(&cfg, s.stream("p/forward"), s.stream("p/backward")).unwrap();
    let flow = |p: &Path, name: &str| {
        p.flow(
            s.stream(&format!("p/forward/{name}")),
            s.stream(&format!("p/backward/{name}")),
        )
    };
    // One client polling every 2 s; a packet goes out 0–3 ms after its
    // poll and its reply 0–1 ms after it arrives.
    let client = |p: &mut Path, f: &mut Flow, t: SimTime| {
        let fwd = p.forward_delay(f, t);
        let bwd = fwd.and_then(|d| p.backward_delay(f, t + d + SimDuration::from_micros(30)));
        (fwd, bwd)
    };
    let alone: Vec<_> = {
        let mut p = build();
        let mut f = flow(&p, "a");
        (0..20_000u64)
            .map(|i| client(&mut p, &mut f, SimTime::from_secs(2 * i)))
            .collect()
    };
    let lost = alone
        .iter()
        .filter(|(f, b)| f.is_none() || b.is_none())
        .count();
    assert!(lost > 200 && lost < 4000, "{lost} exchanges lost");
    // Another flow's packets in between, asking up to 9 s ahead of the
    // first client's next packet and then behind it: out of order, within
    // the lookback.
    let (_, others) = shuffled_query_times(60_000, 24);
    let mut p = build();
    let mut f = flow(&p, "a");
    let mut g = flow(&p, "b");
    let mut others = others.into_iter().peekable();
    let mut queries = 0;
    for (i, expected) in alone.iter().enumerate() {
        let t = SimTime::from_secs(2 * i as u64);
        while let Some(u) = others.next_if(|&u| u.as_nanos() < t.as_nanos() + 9_000_000_000) {
            p.forward_delay(&mut g, u);
            p.backward_delay(&mut g, u);
            queries += 1;
        }
        assert_eq!(&client(&mut p, &mut f, t), expected, "exchange {i}");
    }
    assert!(queries > 10_000, "{queries} packets of the other flow");
}

#[test]
fn random_level_shifts_move_the_minimum_for_the_expected_fraction_of_time() {
    // An even split, and one that favours upward shifts (a swapped
    // direction would show only there).
    for up_probability in [0.5, 0.9] {
        let mut cfg = PathConfig::from_min_delays(200.0, 200.0);
        cfg.backward.random_shifts = Some(RandomShiftConfig {
            mean_interval_s: 1000.0,
            mean_duration_s: 500.0,
            magnitude_us: 300.0,
            up_probability,
        });
        let mut p = path(&cfg, 13);
        let mut up = Vec::new();
        let mut down = Vec::new();
        for i in 0..2_000_000u64 {
            let t = SimTime::from_secs(i * 5);
            let min = p.min_delay_backward(t).as_nanos() as f64 * 1e-3;
            // Each draw must respect the minimum in force.
            assert!(p.backward_delay(t).unwrap().as_nanos() as f64 * 1e-3 >= min - 1e-3);
            up.push(if (min - 500.0).abs() < 1e-3 { 1.0 } else { 0.0 });
            // Downward shifts clamp at zero.
            down.push(if min == 0.0 { 1.0 } else { 0.0 });
            assert!(
                min == 200.0 || up[up.len() - 1] == 1.0 || min == 0.0,
                "min {min}"
            );
        }
        // Shifted a third of the time (500 / (1000 + 500)), up with the
        // configured probability.
        for (name, xs, fraction) in [
            ("up", &up, up_probability / 3.0),
            ("down", &down, (1.0 - up_probability) / 3.0),
        ] {
            let (mean, se) = batch_mean_se(xs, 100);
            assert!(
                (mean - fraction).abs() < 4.0 * se,
                "p_up {up_probability}, {name}: fraction {mean} (se {se}), expected {fraction}"
            );
        }
        assert_eq!(
            p.min_delay_forward(SimTime::from_secs(1234)),
            SimDuration::from_micros(200)
        );
    }
}

#[test]
fn asymmetry_from_either_configuration_style() {
    let a = path(&PathConfig::from_rtt(300.0, 40.0), 14);
    let b = path(&PathConfig::from_min_delays(170.0, 130.0), 14);
    let t = SimTime::from_secs(5);
    for p in [&a, &b] {
        assert_eq!(p.min_delay_forward(t), SimDuration::from_micros(170));
        assert_eq!(p.min_delay_backward(t), SimDuration::from_micros(130));
        assert!((p.asymmetry_s(t) - 40e-6).abs() < 1e-12);
    }
    let symmetric = PathConfig {
        min_rtt_us: Some(280.0),
        ..PathConfig::default()
    };
    assert_eq!(symmetric.base_min_delays_us(), (140.0, 140.0));
    let d = path(&PathConfig::default(), 14);
    assert_eq!(d.min_delay_forward(t), SimDuration::from_micros(140));
    assert_eq!(d.asymmetry_s(t), 0.0);
    assert_eq!(
        d.mean_queueing_us(),
        (DEFAULT_QUEUEING_MEAN_US, DEFAULT_QUEUEING_MEAN_US)
    );
}

#[test]
fn same_seed_same_delays() {
    let mut cfg = PathConfig::from_rtt(280.0, 0.0);
    cfg.forward.queueing = QueueingConfig::radclock_reference();
    cfg.forward.loss = LossConfig::Independent { probability: 0.05 };
    cfg.forward.congestion = Some(CongestionConfig::default());
    let run = |seed| {
        let mut p = path(&cfg, seed);
        (0..1000u64)
            .map(|i| p.forward_delay(SimTime::from_secs(i * 16)))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(15), run(15));
    assert_ne!(run(15), run(16));
}

fn fields(errors: &[ConfigError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn invalid_configurations_name_field_and_range() {
    assert!(PathConfig::default().validate("p").is_empty());

    let mut cfg = PathConfig::from_min_delays(-5.0, 100.0);
    cfg.backward.queueing = QueueingConfig::Exponential { mean_us: -1.0 };
    let e = cfg.validate("p");
    assert_eq!(
        fields(&e),
        ["p.forward.min_delay_us", "p.backward.queueing.mean_us"]
    );
    assert!(e[0].message.contains("0..=10000000 µs"), "{}", e[0].message);

    let mut cfg = PathConfig::default();
    cfg.forward.loss = LossConfig::Independent { probability: 1.5 };
    cfg.backward.loss = LossConfig::GilbertElliott {
        good_to_bad_probability: -0.1,
        bad_to_good_probability: 0.5,
        loss_probability_good: 0.0,
        loss_probability_bad: 1.0,
    };
    let e = cfg.validate("p");
    assert_eq!(
        fields(&e),
        [
            "p.forward.loss.probability",
            "p.backward.loss.good_to_bad_probability"
        ]
    );
    assert!(e[0].message.contains("0..=1"), "{}", e[0].message);

    let mut cfg = PathConfig::default();
    cfg.forward.queueing = QueueingConfig::Pareto {
        shape: 0.8,
        scale_us: None,
        mean_us: Some(50.0),
    };
    cfg.backward.queueing = QueueingConfig::Pareto {
        shape: 0.8,
        scale_us: Some(50.0),
        mean_us: None,
    };
    let e = cfg.validate("p");
    assert_eq!(fields(&e), ["p.forward.queueing.shape"]);
    assert!(e[0].message.contains("(1, 100]"), "{}", e[0].message);

    let mut cfg = PathConfig::from_rtt(280.0, 0.0);
    cfg.forward.min_delay_us = Some(140.0);
    let e = cfg.validate("p");
    assert_eq!(fields(&e), ["p.min_rtt_us"]);
    assert!(e[0].message.contains("not both"));

    let mut cfg = PathConfig::default();
    cfg.forward.min_delay_us = Some(140.0);
    assert_eq!(fields(&cfg.validate("p")), ["p.backward.min_delay_us"]);
    let cfg = PathConfig {
        asymmetry_us: Some(10.0),
        ..PathConfig::default()
    };
    assert_eq!(fields(&cfg.validate("p")), ["p.asymmetry_us"]);
    let e = PathConfig::from_rtt(100.0, 150.0).validate("p");
    assert_eq!(fields(&e), ["p.asymmetry_us"]);
    assert!(e[0].message.contains("-100..=100"), "{}", e[0].message);

    let mut cfg = PathConfig::default();
    cfg.forward.congestion = Some(CongestionConfig {
        mean_on_s: 0.0,
        ..CongestionConfig::default()
    });
    cfg.forward.level_shifts = vec![LevelShift {
        at_s: f64::NAN,
        min_delay_us: 10.0,
    }];
    cfg.backward.random_shifts = Some(RandomShiftConfig {
        up_probability: 2.0,
        ..RandomShiftConfig::default()
    });
    cfg.backward.queueing = QueueingConfig::Mixture(vec![MixtureComponent {
        weight: 0.0,
        queueing: QueueingConfig::Gamma {
            shape: 0.0,
            mean_us: 10.0,
        },
    }]);
    let e = cfg.validate("p");
    assert_eq!(
        fields(&e),
        [
            "p.forward.congestion.mean_on_s",
            "p.forward.level_shifts[0].at_s",
            "p.backward.queueing.Mixture[0].queueing.shape",
            "p.backward.queueing",
            "p.backward.random_shifts.up_probability",
        ]
    );
    let s = RngStreams::new(0);
    let err = Path::new(&cfg, s.stream("a"), s.stream("b")).unwrap_err();
    assert_eq!(err.field, "forward.congestion.mean_on_s");
}

#[test]
fn gilbert_elliott_loss_is_stationary_from_the_first_packet() {
    // π_bad = 0.3/(0.3 + 0.3) = 0.5, and only the bad state loses: a chain
    // started in its stationary distribution loses the very first packet
    // of half the paths (a chain started in the good state, none).
    let loss = LossConfig::GilbertElliott {
        good_to_bad_probability: 0.3,
        bad_to_good_probability: 0.3,
        loss_probability_good: 0.0,
        loss_probability_bad: 1.0,
    };
    let rate = loss.stationary_loss_rate();
    assert!((rate - 0.5).abs() < 1e-15);
    let mut cfg = PathConfig::default();
    cfg.forward.loss = loss;
    let paths = 4000;
    let first_lost = (0..paths)
        .filter(|&seed| path(&cfg, seed).forward_delay(SimTime::ZERO).is_none())
        .count() as f64
        / paths as f64;
    let se = (rate * (1.0 - rate) / paths as f64).sqrt();
    assert!(
        (first_lost - rate).abs() < 4.0 * se,
        "first packet lost on {first_lost} of paths vs {rate} (se {se})"
    );
}

#[test]
fn pareto_draws_are_capped_at_the_largest_delay() {
    // Tail index 0.5, scale 100 ms: P(Q > 10 s) = (1 + 100)^-0.5 = 0.0995,
    // so a tenth of the draws reach the cap, and the capped mean
    // (mean_queueing_us) is what they average to.
    let q = QueueingConfig::Pareto {
        shape: 0.5,
        scale_us: Some(1e5),
        mean_us: None,
    };
    let xs = forward_queueing_us(q.clone(), 40_000, 17);
    assert!(
        xs.iter().all(|&x| x <= MAX_DELAY_US + 1e-3),
        "largest draw {} µs",
        xs.iter().fold(0.0f64, |a, &b| a.max(b))
    );
    let at_cap = xs.iter().filter(|&&x| x >= MAX_DELAY_US - 1e-3).count() as f64 / xs.len() as f64;
    let expected = 101.0f64.powf(-0.5);
    let se = (expected * (1.0 - expected) / xs.len() as f64).sqrt();
    assert!(
        (at_cap - expected).abs() < 4.0 * se,
        "fraction at the cap {at_cap} vs {expected}"
    );
    let mut cfg = PathConfig::from_min_delays(0.0, 0.0);
    cfg.forward.queueing = q;
    let capped_mean_us = path(&cfg, 17).mean_queueing_us().0;
    assert_mean("capped pareto", &xs, capped_mean_us);
}

#[test]
fn the_reported_mean_queueing_weighs_mixture_components_by_share() {
    // Weights 3 : 1 are shares 0.75 and 0.25: 0.75·60 + 0.25·2000 = 545 µs.
    let mut cfg = PathConfig::from_min_delays(0.0, 0.0);
    cfg.forward.queueing = QueueingConfig::Mixture(vec![
        MixtureComponent {
            weight: 3.0,
            queueing: QueueingConfig::Exponential { mean_us: 60.0 },
        },
        MixtureComponent {
            weight: 1.0,
            queueing: QueueingConfig::Exponential { mean_us: 2000.0 },
        },
    ]);
    cfg.backward.queueing = QueueingConfig::radclock_reference();
    let p = path(&cfg, 18);
    let (forward_us, backward_us) = p.mean_queueing_us();
    assert!((forward_us - 545.0).abs() < 1e-9, "{forward_us}");
    assert!((backward_us - 254.0).abs() < 1e-9, "{backward_us}");
    // And it is what the draws average to.
    let xs = forward_queueing_us(cfg.forward.queueing.clone(), 200_000, 18);
    assert_mean("3:1 mixture", &xs, forward_us);
}

#[test]
fn congestion_and_random_shifts_are_independent_processes() {
    // Both on a quarter of the time (10 s on, 30 s off): independent, they
    // overlap 1/16 of the time; drawn from one stream they would coincide.
    let mut cfg = PathConfig::from_min_delays(1000.0, 1000.0);
    cfg.forward.congestion = Some(CongestionConfig {
        mean_on_s: 10.0,
        mean_off_s: 30.0,
        extra_mean_us: 100.0,
    });
    cfg.forward.random_shifts = Some(RandomShiftConfig {
        mean_interval_s: 30.0,
        mean_duration_s: 10.0,
        magnitude_us: 300.0,
        up_probability: 1.0,
    });
    let mut p = path(&cfg, 19);
    let mut both = Vec::new();
    for i in 0..400_000u64 {
        let t = SimTime::from_secs(i);
        p.forward_delay(t).unwrap();
        let congested = p.forward.congestion.as_ref().unwrap().0.peek(t).is_some();
        let shifted = p.min_delay_forward(t) > SimDuration::from_micros(1000);
        both.push(if congested && shifted { 1.0 } else { 0.0 });
    }
    let (mean, se) = batch_mean_se(&both, 100);
    assert!(
        (mean - 0.0625).abs() < 4.0 * se,
        "overlap {mean} (se {se}) vs 0.0625"
    );
    assert!(
        se < 0.01,
        "the check must be able to tell 1/16 from 1/4: se {se}"
    );
}

#[test]
fn forward_and_backward_queueing_are_independent() {
    // The same configuration each way: the directions' draws must be
    // uncorrelated (correlation within 4/√n of 0), not one stream reused.
    let mut p = path(&PathConfig::from_min_delays(0.0, 0.0), 20);
    let n = 100_000;
    let (mut f, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n as u64 {
        let t = SimTime::from_secs(i);
        f.push(p.forward_delay(t).unwrap().as_nanos() as f64);
        b.push(p.backward_delay(t).unwrap().as_nanos() as f64);
    }
    let (mf, mb) = (mean_se(&f).0, mean_se(&b).0);
    let cov: f64 = f.iter().zip(&b).map(|(x, y)| (x - mf) * (y - mb)).sum();
    let var = |xs: &[f64], m: f64| xs.iter().map(|x| (x - m).powi(2)).sum::<f64>();
    let r = cov / (var(&f, mf) * var(&b, mb)).sqrt();
    assert!(r.abs() < 4.0 / (n as f64).sqrt(), "correlation {r}");
}

#[test]
fn congestion_extra_queueing_is_exponential() {
    // No minimum and no base queueing: a packet is delayed only while
    // congested, by an Exp(1000 µs) draw, whose sd equals its mean.
    let mut cfg = PathConfig::from_min_delays(0.0, 0.0);
    cfg.forward.queueing = QueueingConfig::None;
    cfg.forward.congestion = Some(CongestionConfig {
        mean_on_s: 10.0,
        mean_off_s: 30.0,
        extra_mean_us: 1000.0,
    });
    let mut p = path(&cfg, 21);
    let xs: Vec<f64> = (0..400_000u64)
        .map(|i| {
            p.forward_delay(SimTime::from_nanos(i * 500_000_000))
                .unwrap()
                .as_nanos() as f64
                * 1e-3
        })
        .filter(|&x| x > 0.0)
        .collect();
    assert!(xs.len() > 50_000, "{} congested packets", xs.len());
    assert_mean("congestion extra", &xs, 1000.0);
    let (_, se) = mean_se(&xs);
    let sd_us = se * (xs.len() as f64).sqrt();
    assert!((sd_us - 1000.0).abs() < 30.0, "sd {sd_us} µs");
}
