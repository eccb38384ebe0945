//! Physics tests on a synthetic stamp stream (research/radclock.md §5.3):
//! a 1 GHz counter running 50 ppm fast with a slow daily rate wander, a path
//! with fixed minimum delays (150 µs forward, 130 µs back: 20 µs
//! asymmetry), exponential queueing mixtures, and server residence time.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

use super::*;

const DAY_S: f64 = 86_400.0;

/// The client's counter: `T(t) = T0 + f·[(1+skew)·t + wander·(D/2π)(1 − cos 2πt/D)]`.
#[derive(Clone, Copy)]
struct Osc {
    t0_ticks: u64,
    nominal_hz: f64,
    skew_ppm: f64,
    wander_ppm: f64,
    wander_period_s: f64,
}

impl Osc {
    fn counter(&self, t: f64) -> u64 {
        let w = 2.0 * std::f64::consts::PI / self.wander_period_s;
        let phase =
            (1.0 + self.skew_ppm * 1e-6) * t + self.wander_ppm * 1e-6 * (1.0 - (w * t).cos()) / w;
        self.t0_ticks + (self.nominal_hz * phase).floor() as u64
    }
    /// True mean counter period at time t, seconds per tick.
    fn period_s(&self, t: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI / self.wander_period_s;
        1.0 / (self.nominal_hz
            * (1.0 + self.skew_ppm * 1e-6 + self.wander_ppm * 1e-6 * (w * t).sin()))
    }
}

/// One direction's delay: minimum plus a mixture of exponentials.
#[derive(Clone, Copy)]
struct Net {
    fwd_min_s: f64,
    back_min_s: f64,
    congest_prob: f64,
    small_mean_s: f64,
    big_mean_s: f64,
    server_min_s: f64,
    server_mean_s: f64,
}

impl Net {
    /// Research §5.3: 90 % Exp(60 µs), 10 % Exp(2 ms) each way; server
    /// 20 µs + Exp(5 µs).
    fn lan() -> Self {
        Net {
            fwd_min_s: 150e-6,
            back_min_s: 130e-6,
            congest_prob: 0.1,
            small_mean_s: 60e-6,
            big_mean_s: 2e-3,
            server_min_s: 20e-6,
            server_mean_s: 5e-6,
        }
    }
    /// A quiet path: a few µs of queueing only.
    fn quiet() -> Self {
        Net {
            congest_prob: 0.0,
            small_mean_s: 5e-6,
            ..Net::lan()
        }
    }
}

struct Gen {
    rng: ChaCha8Rng,
    osc: Osc,
    net: Net,
    poll_s: f64,
    burst: bool,
    /// True send time of the next request.
    t_next: f64,
    k: u64,
    /// Added to the server's stamps (a server clock fault).
    server_offset_s: f64,
}

/// One generated exchange with the true times of the request's departure
/// and of the reply's arrival.
struct Obs {
    ex: Exchange,
    ta_true: f64,
    tf_true: f64,
}

impl Gen {
    fn new(seed: u64, poll_s: f64, net: Net, wander_ppm: f64) -> Self {
        let osc = Osc {
            t0_ticks: 987_654_321_000,
            nominal_hz: 1e9,
            skew_ppm: 50.0,
            wander_ppm,
            wander_period_s: DAY_S,
        };
        Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            osc,
            net,
            poll_s,
            burst: true,
            t_next: 1000.0,
            k: 0,
            server_offset_s: 0.0,
        }
    }

    fn queue(&mut self) -> f64 {
        let mean = if self.rng.random::<f64>() < self.net.congest_prob {
            self.net.big_mean_s
        } else {
            self.net.small_mean_s
        };
        Exp::new(1.0 / mean).unwrap().sample(&mut self.rng)
    }

    fn next(&mut self) -> Obs {
        let ta = self.t_next;
        let tb = ta + self.net.fwd_min_s + self.queue();
        let te = tb
            + self.net.server_min_s
            + Exp::new(1.0 / self.net.server_mean_s)
                .unwrap()
                .sample(&mut self.rng);
        let tf = te + self.net.back_min_s + self.queue();
        self.k += 1;
        let step = if self.burst && self.k < NTP_BURST {
            BURST_DELAY_S
        } else {
            self.poll_s + self.rng.random_range(-0.5..0.5)
        };
        self.t_next = ta + step;
        let ex = Exchange {
            server: 0,
            ta: self.osc.counter(ta),
            tb: tb + self.server_offset_s,
            te: te + self.server_offset_s,
            tf: self.osc.counter(tf),
            stratum: 1,
            server_changed: false,
        };
        Obs {
            ex,
            ta_true: ta,
            tf_true: tf,
        }
    }

    /// Skips `secs` of polling (an outage: requests lost).
    fn skip(&mut self, secs: f64) {
        self.t_next += secs;
    }
}

fn feed(rad: &mut Radclock, o: &Obs) -> f64 {
    rad.advance(o.ex.ta);
    rad.on_transmit(0, o.ex.ta);
    rad.advance(o.ex.tf);
    rad.on_exchange(&o.ex);
    rad.read(o.ex.tf) - ClockTime::from_secs_f64(o.tf_true)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// (median, IQR) of the errors, seconds.
fn median_iqr(errs: &[f64]) -> (f64, f64) {
    let mut v = errs.to_vec();
    v.sort_by(f64::total_cmp);
    (quantile(&v, 0.5), quantile(&v, 0.75) - quantile(&v, 0.25))
}

/// Runs `duration_s` of the LAN path at poll period `poll_s`; returns the
/// errors Ca(Tf) − tf after warm-up and the first quarter of the run.
fn run_lan(seed: u64, cfg: &RadclockConfig, duration_s: f64) -> Vec<f64> {
    let mut g = Gen::new(seed, cfg.poll_period_s, Net::lan(), 0.05);
    let mut rad = Radclock::new(cfg, CounterInfo { nominal_hz: 1e9 });
    let n = (duration_s / cfg.poll_period_s) as u64;
    let skip = (n / 4).max(rad.windows().warmup_win);
    (0..n)
        .map(|_| feed(&mut rad, &g.next()))
        .skip(skip as usize)
        .collect()
}

#[test]
fn asymmetry_sets_the_median_at_16s() {
    let errs = run_lan(1, &RadclockConfig::default(), 4.0 * DAY_S);
    let (med, iqr) = median_iqr(&errs);
    println!(
        "P=16 s: median {:.2} µs, IQR {:.2} µs over {} stamps",
        med * 1e6,
        iqr * 1e6,
        errs.len()
    );
    assert!((med - 10e-6).abs() < 2e-6, "median {med}");
    assert!(iqr < 10e-6, "IQR {iqr}");
}

/// The pre-2011 server-delay penalty (research §2.10): a server that holds
/// every request 300 µs, above Eoffset_qual (270 µs), leaves no stamp of
/// good enough quality, so after warm-up the offset is never updated;
/// without the penalty the residence time does not enter the point errors.
#[test]
fn server_delay_penalty_gates_a_slow_server() {
    let run = |server_delay_penalty| {
        let cfg = RadclockConfig {
            server_delay_penalty,
            ..Default::default()
        };
        let net = Net {
            server_min_s: 300e-6,
            ..Net::lan()
        };
        let mut g = Gen::new(11, 16.0, net, 0.05);
        let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
        let warm = rad.windows().warmup_win;
        let (mut stamps, mut gated) = (0u32, 0u32);
        for i in 0..(DAY_S / 16.0) as u64 {
            feed(&mut rad, &g.next());
            if i >= warm {
                stamps += 1;
                gated += u32::from(rad.status() & status::OFFSET_QUALITY != 0);
            }
        }
        (stamps, gated)
    };
    let (stamps, gated_with) = run(true);
    let (_, gated_without) = run(false);
    println!(
        "300 µs server delay: {gated_with} of {stamps} stamps gated with the penalty, {gated_without} without"
    );
    assert_eq!(gated_with, stamps);
    assert!(gated_without < stamps / 100, "{gated_without} of {stamps}");
}

/// On the LAN (25 µs server delay, a fraction of Eoffset) the penalty moves
/// the weights, not the median: still A/2.
#[test]
fn server_delay_penalty_keeps_the_median_on_a_fast_server() {
    let cfg = RadclockConfig {
        server_delay_penalty: true,
        ..Default::default()
    };
    let with = run_lan(1, &cfg, 4.0 * DAY_S);
    let without = run_lan(1, &RadclockConfig::default(), 4.0 * DAY_S);
    let (med, iqr) = median_iqr(&with);
    let moved = with.iter().zip(&without).filter(|(a, b)| a != b).count();
    println!(
        "P=16 s with the penalty: median {:.2} µs, IQR {:.2} µs; {moved} of {} errors differ",
        med * 1e6,
        iqr * 1e6,
        with.len()
    );
    assert!((med - 10e-6).abs() < 2e-6, "median {med}");
    assert!(
        moved > with.len() / 2,
        "{moved} of {} errors differ",
        with.len()
    );
}

#[test]
fn iqr_grows_with_the_poll_period() {
    let mut last = 0.0;
    for p in [16.0, 64.0, 256.0, 1024.0] {
        let cfg = RadclockConfig {
            poll_period_s: p,
            ..Default::default()
        };
        let errs = run_lan(2, &cfg, (4.0 * DAY_S).max(2000.0 * p));
        let (med, iqr) = median_iqr(&errs);
        println!(
            "P={p} s: median {:.2} µs, IQR {:.2} µs over {} stamps",
            med * 1e6,
            iqr * 1e6,
            errs.len()
        );
        assert!(iqr > last, "IQR at P = {p} s ({iqr}) not above {last}");
        // A/2 = 10 µs at every period (research §5.3: +9 to +10 µs).
        assert!((med - 10e-6).abs() < 3e-6, "median {med} at P = {p} s");
        last = iqr;
    }
}

/// Between stamps the absolute clock extrapolates θ̂ at the long-term rate
/// p̂, or, read in the local-rate mode, at p̂_local (research §1.3, §2.9).
/// At P = 1024 s the counter's daily rate wander (±0.05 ppm) moves its
/// rate away from the days-long p̂ by up to ~50 µs per poll; the local
/// rate follows it, so the clock read as each request leaves, a full poll
/// after the last stamp, is closer to true time.
#[test]
fn local_rate_holds_the_clock_between_long_polls() {
    let mean_abs_error_us = |use_local_rate| {
        let cfg = RadclockConfig {
            poll_period_s: 1024.0,
            use_local_rate,
            ..Default::default()
        };
        let mut g = Gen::new(3, 1024.0, Net::lan(), 0.05);
        let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
        let warm = rad.windows().warmup_win as usize;
        let mut sum_us = 0.0;
        let stamps = 1000;
        for i in 0..warm + stamps {
            let o = g.next();
            if i >= warm {
                rad.advance(o.ex.ta);
                sum_us += (rad.read(o.ex.ta) - ClockTime::from_secs_f64(o.ta_true)).abs() * 1e6;
            }
            feed(&mut rad, &o);
        }
        sum_us / stamps as f64
    };
    let (local, plain) = (mean_abs_error_us(true), mean_abs_error_us(false));
    println!(
        "P=1024 s, read as requests leave: mean |error| {local:.1} µs with p̂_local, {plain:.1} µs without"
    );
    assert!(local < 0.85 * plain, "{local} vs {plain}");
}

/// An upward shift of the RTT floor is accepted after `shift_win` stamps
/// (research §2.7), a downward one at once. At P = 256 s the history window
/// is as short as the shift window, where the reference's windowed minimum
/// cannot rise (research §2.13); vtsim detects the shift there too.
#[test]
fn level_shifts_up_after_the_shift_window_down_at_once() {
    for poll_period_s in [16.0, 256.0] {
        let cfg = RadclockConfig {
            poll_period_s,
            ..Default::default()
        };
        let mut g = Gen::new(3, poll_period_s, Net::quiet(), 0.05);
        let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
        let shift_win = rad.windows().shift_win;
        let up_at = rad.windows().warmup_win + 2 * shift_win;
        let down_at = up_at + 3 * shift_win;
        let mut floor_before = 0.0;
        for i in 0..down_at + shift_win {
            if i == up_at {
                floor_before = rad.rtt_hat_s();
                g.net.fwd_min_s += 300e-6;
            }
            if i == down_at {
                g.net.fwd_min_s -= 300e-6;
            }
            feed(&mut rad, &g.next());
            let detected = rad.status() & status::RTT_UPSHIFT != 0;
            if (up_at..down_at).contains(&i) {
                assert_eq!(
                    detected,
                    i == up_at + shift_win - 1,
                    "P {poll_period_s} s, stamp {i}"
                );
                if i < up_at + shift_win - 1 {
                    assert!(
                        (rad.rtt_hat_s() - floor_before).abs() < 1e-6,
                        "P {poll_period_s} s: floor moved early at {i}"
                    );
                } else {
                    assert!(
                        rad.rtt_hat_s() > floor_before + 290e-6,
                        "P {poll_period_s} s: floor not raised at {i}"
                    );
                }
            }
            if i == down_at {
                assert!(
                    rad.rtt_hat_s() < floor_before + 20e-6,
                    "P {poll_period_s} s: floor did not drop at once: {}",
                    rad.rtt_hat_s()
                );
            }
        }
        assert_eq!(
            rad.upshifts(),
            (1, Some(up_at + shift_win - 1)),
            "P {poll_period_s} s"
        );
    }
}

#[test]
fn recovers_from_a_two_hour_outage_within_five_stamps() {
    let cfg = RadclockConfig::default();
    let mut g = Gen::new(4, 16.0, Net::lan(), 0.05);
    let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
    let pre: Vec<f64> = (0..8000)
        .map(|_| feed(&mut rad, &g.next()))
        .skip(2000)
        .collect();
    let lo = pre.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = pre.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    g.skip(7200.0);
    let post: Vec<f64> = (0..60).map(|_| feed(&mut rad, &g.next())).collect();
    let shown: Vec<f64> = post.iter().map(|e| (e * 1e7).round() / 10.0).collect();
    println!(
        "outage: pre-outage band [{:.1}, {:.1}] µs, after the gap {shown:?}",
        lo * 1e6,
        hi * 1e6
    );
    // The first stamps after the gap may carry the clock's drift over two
    // hours without stamps (research §5.3: about −40 µs); from the fifth
    // on, the pre-outage band holds.
    for (k, e) in post.iter().enumerate() {
        if k < 4 {
            assert!(e.abs() < 60e-6, "stamp {k} after the gap: {e}");
        } else {
            assert!(*e >= lo && *e <= hi, "stamp {k} after the gap: {e}");
        }
    }
}

/// A server clock 10 ms off for 5 consecutive stamps, RTTs unaffected: the
/// RTT filter cannot see it, only the sanity band limits each step
/// (research §5.3).
#[test]
fn server_fault_pulls_then_decays() {
    let cfg = RadclockConfig::default();
    let mut peaks = Vec::new();
    for seed in 100..108u64 {
        let mut g = Gen::new(seed, 16.0, Net::lan(), 0.05);
        let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
        for _ in 0..3000 {
            feed(&mut rad, &g.next());
        }
        let mut errs = Vec::new();
        for k in 0..300 {
            g.server_offset_s = if k < 5 { 10e-3 } else { 0.0 };
            errs.push(feed(&mut rad, &g.next()));
        }
        let peak = errs.iter().fold(0.0f64, |m, e| m.max(e.abs()));
        // 30 min after the fault ended: 5 + 112 stamps.
        let settle = errs
            .iter()
            .skip(5 + 112)
            .fold(0.0f64, |m, e| m.max(e.abs()));
        let back = errs
            .iter()
            .rposition(|e| e.abs() >= 30e-6)
            .map_or(0, |k| k + 1);
        println!(
            "seed {seed}: peak {:.2} ms, |err| < 30 µs from stamp {back} ({:.1} min), max |err| from 30 min on {:.1} µs",
            peak * 1e3,
            back as f64 * 16.0 / 60.0,
            settle * 1e6
        );
        assert!(peak > 0.5e-3 && peak < 6e-3, "seed {seed}: peak {peak}");
        assert!(settle < 30e-6, "seed {seed}: still {settle} after 30 min");
        peaks.push(peak);
    }
    peaks.sort_by(f64::total_cmp);
    let median = 0.5 * (peaks[3] + peaks[4]);
    println!("server fault: median peak {:.2} ms", median * 1e3);
    assert!(median > 1e-3 && median < 3e-3, "median peak {median}");
}

/// p̂ after a day of stamps, with no wander: the warm-up estimate alone is
/// within ~1e-9 of the period, so the bounds ask for the full algorithm's
/// pair updates (research §2.8) to have refined it several-fold.
#[test]
fn rate_converges_through_pair_updates() {
    let cfg = RadclockConfig::default();
    let (mut worst, mut sum_warmup, mut sum_day): (f64, f64, f64) = (0.0, 0.0, 0.0);
    for seed in 6..10 {
        let mut g = Gen::new(seed, 16.0, Net::lan(), 0.0);
        let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
        let warm = rad.windows().warmup_win;
        let (mut updates, mut last_update) = (0u32, 0u64);
        let mut rel_at_warmup = 0.0;
        for i in 0..(DAY_S / 16.0) as u64 {
            feed(&mut rad, &g.next());
            if i + 1 == warm {
                rel_at_warmup = rad.phat_s() / g.osc.period_s(0.0) - 1.0;
            }
            if rad.status() & status::PHAT_UPDATED != 0 {
                updates += 1;
                last_update = i;
            }
        }
        let rel = rad.phat_s() / g.osc.period_s(0.0) - 1.0;
        println!(
            "seed {seed}: p̂ relative error {rel_at_warmup:.2e} at the end of warm-up, \
             {rel:.2e} after a day; {updates} pair updates, the last at stamp {last_update}"
        );
        assert!(updates > 0, "seed {seed}: p̂ never updated after warm-up");
        worst = worst.max(rel.abs());
        sum_warmup += rel_at_warmup.abs();
        sum_day += rel.abs();
    }
    assert!(worst < 2.5e-10, "worst relative error {worst}");
    assert!(
        sum_day < 0.4 * sum_warmup,
        "mean error {:.2e} after a day against {:.2e} at the end of warm-up",
        sum_day / 4.0,
        sum_warmup / 4.0
    );
}

/// 1 s intervals through the difference clock under a 0.1 ppm peak-to-peak
/// daily rate wander: at p̂_local (the library's default mode) the error is
/// a fraction of the wander; at the days-long p̂ it is up to the wander.
#[test]
fn difference_clock_follows_the_local_rate() {
    let worst_us = |use_local_rate| {
        let cfg = RadclockConfig {
            use_local_rate,
            ..Default::default()
        };
        let mut g = Gen::new(7, 16.0, Net::lan(), 0.05);
        let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
        let mut worst: f64 = 0.0;
        for i in 0..(2.0 * DAY_S / 16.0) as u64 {
            let o = g.next();
            feed(&mut rad, &o);
            if i > rad.windows().plocal_win {
                let t = o.tf_true + 3.0;
                let d = rad.difference(g.osc.counter(t), g.osc.counter(t + 1.0));
                worst = worst.max((d - 1.0).abs());
            }
        }
        worst * 1e6
    };
    let (local, global) = (worst_us(true), worst_us(false));
    println!("difference clock, 1 s: worst error {local:.4} µs at p̂_local, {global:.4} µs at p̂");
    assert!(
        local < 0.03 && local < 0.4 * global,
        "worst {local} µs at p̂_local"
    );
    assert!(global > 0.03 && global < 0.15, "worst {global} µs at p̂");
}

#[test]
fn presets_give_slightly_different_clocks() {
    let stream: Vec<Obs> = {
        let mut g = Gen::new(9, 16.0, Net::lan(), 0.05);
        (0..8000).map(|_| g.next()).collect()
    };
    let mut old = Radclock::new(&RadclockConfig::default(), CounterInfo { nominal_hz: 1e9 });
    let mut new = Radclock::new(
        &RadclockConfig {
            preset: Preset::Current,
            ..Default::default()
        },
        CounterInfo { nominal_hz: 1e9 },
    );
    let mut diff_sum = 0.0;
    let mut diff_max: f64 = 0.0;
    for o in &stream {
        let d = feed(&mut old, o) - feed(&mut new, o);
        diff_sum += d.abs();
        diff_max = diff_max.max(d.abs());
    }
    let mean = diff_sum / stream.len() as f64;
    println!(
        "presets: mean |ΔCa| {:.2} µs, max {:.2} µs",
        mean * 1e6,
        diff_max * 1e6
    );
    assert!((old.thresholds().e_offset_s - 90e-6).abs() < 1e-12);
    assert!((new.thresholds().e_offset_s - 150e-6).abs() < 1e-12);
    assert!(mean > 0.2e-6 && mean < 6e-6, "mean {mean}");
    assert!(diff_max < 30e-6, "max {diff_max}");
}

#[test]
fn polls_burst_then_fixed_grid() {
    let cfg = RadclockConfig::default();
    let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
    assert_eq!(rad.next_poll().unwrap().at, 0);
    let origin = 5_000_000_000u64;
    rad.on_transmit(0, origin);
    let mut sent = vec![origin];
    for _ in 0..10 {
        let at = rad.next_poll().unwrap().at;
        rad.on_transmit(0, at);
        sent.push(at);
    }
    let gaps: Vec<u64> = sent
        .windows(2)
        .map(|w| (w[1] - w[0]) / 1_000_000_000)
        .collect();
    assert_eq!(gaps, vec![2, 2, 2, 2, 2, 2, 2, 16, 16, 16]);
    // A late request snaps back onto the grid.
    let last = *sent.last().unwrap();
    rad.on_transmit(0, last + 20_000_000_000);
    assert_eq!(rad.next_poll().unwrap().at, last + 32_000_000_000);
    let no_burst = Radclock::new(
        &RadclockConfig {
            startup_burst: false,
            ..cfg
        },
        CounterInfo { nominal_hz: 1e9 },
    );
    let mut nb = no_burst;
    nb.on_transmit(0, origin);
    assert_eq!(nb.next_poll().unwrap().at, origin + 16_000_000_000);
}

#[test]
fn insane_stamps_are_dropped_and_status_evolves() {
    let cfg = RadclockConfig {
        poll_period_s: 128.0,
        ..Default::default()
    };
    let mut g = Gen::new(10, 128.0, Net::lan(), 0.05);
    let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
    let first = g.next();
    feed(&mut rad, &first);
    assert_eq!(rad.status(), status::WARMUP | status::UNSYNC);
    // Repeated stamp, reply before request, server stamps reversed.
    rad.on_exchange(&first.ex);
    let mut bad = g.next().ex;
    std::mem::swap(&mut bad.ta, &mut bad.tf);
    rad.on_exchange(&bad);
    let mut bad2 = g.next().ex;
    std::mem::swap(&mut bad2.tb, &mut bad2.te);
    rad.on_exchange(&bad2);
    assert_eq!((rad.stamps_processed(), rad.stamps_dropped()), (1, 3));
    let warmup = rad.windows().warmup_win;
    for i in 1..warmup + 5 {
        feed(&mut rad, &g.next());
        let st = rad.status();
        assert_eq!(st & status::UNSYNC != 0, i < NTP_BURST, "UNSYNC at {i}");
        assert_eq!(st & status::WARMUP != 0, i < warmup - 1, "WARMUP at {i}");
    }
    // The published clock is C(T) − θ̂, by default refined by the local
    // rate since the last stamp, as libradclock reads it.
    let p = rad.ff_params().unwrap();
    let t = p.last_changed + 7_000_000_000;
    assert!(p.local_rate);
    let expected = rad
        .c_of(t)
        .add_secs(-rad.thetahat_s() + 7e9 * (rad.plocal_s() - rad.phat_s()));
    assert!((rad.read(t) - expected).abs() < 1e-12);
    assert!(p.valid_till > p.last_changed);
    // Starvation after 10 poll periods without a stamp.
    rad.advance(p.last_changed + 11 * 128_000_000_000);
    assert_ne!(rad.status() & status::STARVING, 0);
    let mut trace = Vec::new();
    rad.trace_row(&mut trace);
    assert_eq!(trace.len(), rad.trace_columns().len());
}

/// A single lucky stamp 100 µs under the path floor lowers RTThat at once;
/// it is too small a step for the upward-shift detector (150 µs), so it is
/// only forgotten at the history-window mark `h_win − 1` (research §2.7).
#[test]
fn rtt_floor_is_forgotten_at_the_history_window() {
    let cfg = RadclockConfig {
        poll_period_s: 256.0,
        use_local_rate: false,
        ..Default::default()
    };
    let mut g = Gen::new(11, 256.0, Net::lan(), 0.05);
    let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
    let h_win = rad.windows().h_win;
    assert_eq!(h_win, 2362);
    let lan = g.net;
    let floor_ticks = |r: &Radclock| (r.rtt_hat_s() / r.phat_s()).round();
    let (mut normal, mut low) = (0.0, 0.0);
    let mut phat_updates = 0;
    for i in 0..h_win + 10 {
        g.net = if i == 300 {
            Net {
                fwd_min_s: lan.fwd_min_s - 100e-6,
                congest_prob: 0.0,
                small_mean_s: 1e-8,
                server_mean_s: 1e-8,
                ..lan
            }
        } else {
            lan
        };
        feed(&mut rad, &g.next());
        let floor = floor_ticks(&rad);
        match i {
            299 => normal = floor,
            300 => {
                low = floor;
                assert!(
                    low < normal - 90e3,
                    "floor {low} not lowered from {normal} ticks"
                );
            }
            _ if i > 300 && i < h_win - 1 => {
                assert_eq!(floor, low, "stamp {i}");
                phat_updates += u32::from(rad.status() & status::PHAT_UPDATED != 0);
            }
            _ if i >= h_win - 1 => assert!(floor > low + 90e3, "stamp {i}: floor not renewed"),
            _ => {}
        }
    }
    // Meanwhile every stamp's point error exceeds Ep = 45 µs, so p̂ froze.
    assert_eq!(phat_updates, 0);
    assert_eq!(rad.upshifts().0, 0);
    // Without the local-rate read mode the clock is C(T) − θ̂ alone.
    let p = rad.ff_params().unwrap();
    let t = p.last_changed + 100_000_000_000;
    assert!(!p.local_rate);
    let expected = rad.c_of(t).add_secs(-rad.thetahat_s());
    assert!((rad.read(t) - expected).abs() < 1e-12);
}

/// On a counter years past zero the published parameters still give
/// C(T) − θ̂ to well under a nanosecond: `T·p̂` alone is 10⁸ s there, whose
/// `f64` resolves 15 ns.
#[test]
fn published_clock_keeps_sub_ns_precision_far_from_counter_zero() {
    let cfg = RadclockConfig {
        poll_period_s: 16.0,
        ..Default::default()
    };
    let mut g = Gen::new(12, 16.0, Net::lan(), 0.05);
    g.osc.t0_ticks = 100_000_000_000_000_000;
    let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
    for _ in 0..200 {
        feed(&mut rad, &g.next());
    }
    let p = rad.ff_params().unwrap();
    for dt in [0u64, 1_000_000_000, 16_000_000_000] {
        let t = p.last_changed + dt;
        let expected = rad
            .c_of(t)
            .add_secs(-rad.thetahat_s() + dt as f64 * (rad.plocal_s() - rad.phat_s()));
        let err = rad.read(t) - expected;
        assert!(err.abs() < 1e-12, "{err:e} s at {dt} ticks past the stamp");
    }
}

/// Once the phat anchor's baseline passes half the history window, the
/// rate quality threshold tightens tenfold (research §2.2, §2.7:
/// Ep_qual 1e-7 → 1e-8), once.
#[test]
fn the_rate_quality_threshold_tightens_at_half_the_history_window() {
    let cfg = RadclockConfig {
        poll_period_s: 1024.0,
        ..Default::default()
    };
    let mut g = Gen::new(4, cfg.poll_period_s, Net::quiet(), 0.0);
    let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
    let half = rad.windows().h_win / 2;
    let mut seen = Vec::new();
    for _ in 0..2 * half + 10 {
        feed(&mut rad, &g.next());
        seen.push(rad.thresholds().e_p_qual);
    }
    let changes: Vec<usize> = (1..seen.len())
        .filter(|&k| seen[k] != seen[k - 1])
        .collect();
    assert!((seen[0] - 1e-7).abs() < 1e-20, "{}", seen[0]);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(
        changes[0].abs_diff(half as usize) <= 1,
        "at {changes:?}, h_win/2 = {half}"
    );
    assert!((seen[seen.len() - 1] - 1e-8).abs() < 1e-21);
}

/// At the end of warm-up the server is classed near or far by its RTT
/// floor (3 ms): a far one gets a level-shift threshold of 3·E_shift and an
/// offset quality gate of 6·E_offset instead of E_shift and 3·E_offset,
/// and under the current preset twice the local-rate quality threshold
/// (research §2.2, `parameters_calibration`).
#[test]
fn a_far_server_widens_the_shift_and_quality_thresholds() {
    for preset in [Preset::Vet2010, Preset::Current] {
        let cfg = RadclockConfig {
            preset,
            ..Default::default()
        };
        let far_net = Net {
            fwd_min_s: 1.6e-3,
            back_min_s: 1.5e-3,
            ..Net::quiet()
        };
        let mut by_class = Vec::new();
        for (far, net) in [(false, Net::quiet()), (true, far_net)] {
            let mut g = Gen::new(5, cfg.poll_period_s, net, 0.0);
            let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
            let before = *rad.thresholds();
            for _ in 0..rad.windows().warmup_win + 5 {
                feed(&mut rad, &g.next());
            }
            assert_eq!(rad.far_server(), far, "{preset:?}");
            let k = if far { 3.0 } else { 1.0 };
            let shift_ticks = k * before.e_shift_s / rad.phat_s();
            assert!(
                (rad.shift_thres as f64 - shift_ticks).abs() <= 1.0,
                "{preset:?} far {far}: {} ticks, want {shift_ticks}",
                rad.shift_thres
            );
            let q = if far { 6.0 } else { 3.0 };
            let th = rad.thresholds();
            assert!(
                (th.e_offset_qual_s - q * th.e_offset_s).abs() < 1e-15,
                "{preset:?} far {far}"
            );
            by_class.push(th.e_plocal_qual / before.e_plocal_qual);
        }
        let widened = if preset == Preset::Current { 2.0 } else { 1.0 };
        assert_eq!(by_class, vec![1.0, widened], "{preset:?}");
    }
}

/// While θ̂ is held, the error bound grows from the seed of the last good
/// update at RateErrBOUND (5e-7 s/s for a `Good` host): the clock is only
/// extrapolated from then on, and its rate is trusted to no better than
/// that (`process_bidir_stamp`'s `error_bound`, research §2.11). A route
/// change adds 1 ms to the forward delay: until the level-shift detector
/// accepts the new floor, `shift_win` stamps later, every new stamp looks
/// congested, and once the offset window holds only those, its best stamp
/// fails the offset quality gate (270 µs) and θ̂ is held.
#[test]
fn the_error_bound_grows_at_rate_err_bound_while_theta_is_held() {
    let cfg = RadclockConfig::default();
    let mut g = Gen::new(13, cfg.poll_period_s, Net::quiet(), 0.05);
    let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
    let route_change_at = rad.windows().warmup_win + 100;
    let shift_win = rad.windows().shift_win;
    // (bound, true Tf, θ̂) at the last stamp that updated θ̂.
    let mut last_update = (0.0, 0.0, 0.0);
    let mut held = Vec::new();
    for i in 0..route_change_at + shift_win {
        if i == route_change_at {
            g.net.fwd_min_s += 1e-3;
        }
        let o = g.next();
        feed(&mut rad, &o);
        let bound_s = rad.error_estimate().unwrap();
        if rad.status() & status::OFFSET_QUALITY == 0 {
            last_update = (bound_s, o.tf_true, rad.thetahat_s());
        } else {
            let (bound0_s, tf0_s, theta0_s) = last_update;
            assert_eq!(rad.thetahat_s(), theta0_s, "stamp {i}: θ̂ moved");
            held.push((i, bound_s - bound0_s, 5e-7 * (o.tf_true - tf0_s)));
        }
    }
    let (first, last) = (held[0], held[held.len() - 1]);
    let worst_s = held.iter().fold(0.0f64, |m, (_, growth_s, expected_s)| {
        m.max((growth_s - expected_s).abs())
    });
    println!(
        "θ̂ held over stamps {}..={}: bound grew {:.3} µs, expected {:.3} µs, worst deviation {:.1e} s",
        first.0,
        last.0,
        last.1 * 1e6,
        last.2 * 1e6,
        worst_s
    );
    // Held from when the offset window (64 stamps) holds only raised
    // stamps until the shift is accepted.
    assert_eq!(held.len() as u64, shift_win - rad.windows().offset_win);
    // p̂ is within ~1e-10 of the true period: the bound's time base is
    // true time to far better than this.
    assert!(worst_s < 1e-10, "{held:?}");
    // The accepted shift makes the new stamps good again: θ̂ is updated and
    // the bound re-seeded from the best point error of the window.
    assert_eq!(rad.upshifts().0, 1);
    assert_eq!(rad.status() & status::OFFSET_QUALITY, 0);
    assert!(rad.error_estimate().unwrap() < 50e-6);
}

/// What the clock did across [`outage_with_rate_excursion`].
struct AfterOutage {
    /// True time of the last reply before the outage, seconds.
    last_tf_before_s: f64,
    /// θ̂ before the outage, seconds.
    theta_before_s: f64,
    /// For each stamp after the outage: (true Tf in seconds, status,
    /// θ̂ in seconds, clock error Ca(Tf) − tf in seconds).
    stamps: Vec<(f64, u32, f64, f64)>,
}

/// 680 stamps of a quiet path at P = 16 s, then a 2 h outage during which
/// the counter runs `excess_ppm` fast, then `stamps` stamps at its normal
/// rate again.
fn outage_with_rate_excursion(excess_ppm: f64, stamps: usize) -> AfterOutage {
    let cfg = RadclockConfig::default();
    let mut g = Gen::new(14, cfg.poll_period_s, Net::quiet(), 0.05);
    let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
    let mut last_tf_before_s = 0.0;
    for _ in 0..rad.windows().warmup_win + 200 {
        let o = g.next();
        feed(&mut rad, &o);
        last_tf_before_s = o.tf_true;
    }
    let theta_before_s = rad.thetahat_s();
    let outage_s = 7200.0;
    // The counter is ahead by the excess from then on.
    let jump_ticks = (excess_ppm * 1e-6 * outage_s * 1e9).round() as u64;
    g.skip(outage_s);
    let stamps = (0..stamps)
        .map(|_| {
            let mut o = g.next();
            o.ex.ta += jump_ticks;
            o.ex.tf += jump_ticks;
            let err_s = feed(&mut rad, &o);
            (o.tf_true, rad.status(), rad.thetahat_s(), err_s)
        })
        .collect();
    AfterOutage {
        last_tf_before_s,
        theta_before_s,
        stamps,
    }
}

/// The offset sanity band widens with the time since θ̂ was last updated,
/// by 20·RateErrBOUND = 10 µs/s on top of its 1.5 ms floor
/// (`process_thetahat_full`, research §2.10): after a long gap the clock
/// may have drifted far, and a true change must not be taken for a server
/// fault. Here the counter runs 1 ppm fast during a 2 h outage (a host that
/// warmed while its network was down) and then returns to its rate: C has
/// gained 7.2 ms. The first stamp after the outage re-estimates p̂ from the
/// anchor, whose baseline now includes the excursion, and that takes up
/// part of it; θ̂ must take the rest, 3 ms, twice the band's floor but
/// well inside the 73.5 ms the band has opened to. The stamps after the
/// outage are accepted and the clock is back on time at once (A/2 = 10 µs
/// plus noise).
#[test]
fn the_offset_sanity_band_opens_with_the_outage() {
    let run = outage_with_rate_excursion(1.0, 20);
    let (_, _, theta_s, _) = run.stamps[0];
    let jump_s = theta_s - run.theta_before_s;
    let worst_s = run
        .stamps
        .iter()
        .fold(0.0f64, |m, &(_, _, _, err_s)| m.max(err_s.abs()));
    println!(
        "1 ppm over a 2 h outage: θ̂ moved {:.3} ms on the first stamp after it; \
         worst clock error over the next 20 stamps {:.1} µs",
        jump_s * 1e3,
        worst_s * 1e6
    );
    assert!(jump_s > 2.5e-3, "θ̂ moved {jump_s} s");
    for (k, &(_, st, _, err_s)) in run.stamps.iter().enumerate() {
        assert_eq!(st & status::OFFSET_SANITY, 0, "stamp {k} after the outage");
        assert!(err_s.abs() < 30e-6, "stamp {k} after the outage: {err_s} s");
    }
}

/// While θ̂ is held the band keeps opening at 10 µs/s: a 12 ppm excursion
/// over the 2 h outage moves the offset by 86.4 ms, beyond the 73.5 ms the
/// band has reached on the first stamp after it. Every candidate is then
/// refused (OFFSET_SANITY) until, ~21 min later, 1.5 ms + 10 µs/s × (time
/// since the last update) covers the jump: the first stamp whose band
/// does takes it, and the clock is back on time.
#[test]
fn the_offset_sanity_band_keeps_opening_while_theta_is_held() {
    let run = outage_with_rate_excursion(12.0, 120);
    let band_s = |tf_s: f64| 1.5e-3 + 1e-5 * (tf_s - run.last_tf_before_s);
    let accepted = run
        .stamps
        .iter()
        .position(|&(_, st, _, _)| st & status::OFFSET_SANITY == 0)
        .expect("θ̂ never updated after the outage");
    assert!(accepted > 0, "the jump was accepted at once");
    let (tf_s, _, theta_s, _) = run.stamps[accepted];
    let (tf_refused_s, ..) = run.stamps[accepted - 1];
    let jump_s = (theta_s - run.theta_before_s).abs();
    println!(
        "12 ppm over a 2 h outage: θ̂ moved {:.3} ms at stamp {accepted} after it, \
         band {:.3} ms there, {:.3} ms on the stamp before",
        jump_s * 1e3,
        band_s(tf_s) * 1e3,
        band_s(tf_refused_s) * 1e3
    );
    for &(_, _, theta_held_s, _) in &run.stamps[..accepted] {
        assert_eq!(theta_held_s, run.theta_before_s);
    }
    assert!(band_s(tf_refused_s) < jump_s && jump_s <= band_s(tf_s));
    for (k, &(_, _, _, err_s)) in run.stamps.iter().enumerate().skip(accepted) {
        assert!(err_s.abs() < 30e-6, "stamp {k} after the outage: {err_s} s");
    }
}

/// The local rate is refused when the pair of end-window stamps is too
/// poor: their point errors over their separation must stay under
/// Eplocal_qual = PLOCAL_QUALITY = 8e-7 (`process_plocal_full`, research
/// §2.9). Congestion on the forward path adds 6 ms to every request for 80
/// stamps, fewer than `shift_win`, so no level shift is declared and the
/// floor stays put. Once the near window (64 stamps) holds only congested
/// stamps, its best has a 6 ms point error, ~352 stamps (1.6 h) from the
/// far window's: a pair error near 1e-6, so every candidate is refused and
/// p̂_local is held. Forward-only delay biases the candidate by half the pair
/// error, so without the gate p̂_local would be ~0.5 ppm off.
#[test]
fn congestion_in_the_near_window_fails_the_local_rate_quality() {
    let cfg = RadclockConfig::default();
    let mut g = Gen::new(15, cfg.poll_period_s, Net::quiet(), 0.05);
    let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
    let burst_at = rad.windows().warmup_win + 200;
    let burst_len = 80;
    let wwidth = rad.windows().wwidth;
    let qual = rad.thresholds().e_plocal_qual;
    assert_eq!(qual, 8e-7);
    // (stamp, pair error, candidate's relative departure from p̂_local) of
    // each refused candidate.
    let mut refused = Vec::new();
    let mut plocal_held_s = 0.0;
    for i in 0..burst_at + burst_len + 10 {
        let congested = (burst_at..burst_at + burst_len).contains(&i);
        g.net.fwd_min_s = Net::quiet().fwd_min_s + if congested { 6e-3 } else { 0.0 };
        let plocal_s = rad.plocal_s();
        feed(&mut rad, &g.next());
        if rad.status() & status::PLOCAL_QUALITY != 0 {
            if refused.is_empty() {
                plocal_held_s = plocal_s;
            }
            assert_eq!(rad.plocal_s(), plocal_held_s, "stamp {i}: p̂_local moved");
            let far = rad.hist.get(rad.far_i).stamp;
            let near = rad.hist.get(rad.near_i).stamp;
            let cand = Radclock::compute_phat(&far, &near).unwrap();
            refused.push((
                i,
                rad.pair_error(rad.far_i, rad.near_i),
                cand / plocal_held_s - 1.0,
            ));
        }
    }
    assert!(!refused.is_empty(), "no local-rate candidate refused");
    let (first, last) = (refused[0], refused[refused.len() - 1]);
    println!(
        "p̂_local held over stamps {}..={}: pair errors {:.2e}..{:.2e} against {qual:.0e}; \
         candidates {:.2e}..{:.2e} off",
        first.0, last.0, first.1, last.1, first.2, last.2
    );
    // Refused exactly while the near window holds only congested stamps.
    let stamps: Vec<u64> = refused.iter().map(|r| r.0).collect();
    let expected: Vec<u64> = (burst_at + wwidth - 1..burst_at + burst_len).collect();
    assert_eq!(stamps, expected);
    for (i, err, off) in refused {
        // Between Eplocal_qual and twice it (the gate of a far server under
        // the 2025 code): a near server's pairs are held to the tighter one.
        assert!(
            err >= qual && err < 2.0 * qual,
            "stamp {i}: pair error {err}"
        );
        // Biased by half the pair error, yet sane: only the gate keeps it out.
        assert!(
            off.abs() > 3e-7 && off.abs() < rad.thresholds().e_plocal_sanity,
            "stamp {i}: candidate {off} off"
        );
    }
    assert_eq!(rad.upshifts().0, 0);
}

/// When an upward level shift is accepted, the prepared next p̂ anchor is
/// re-measured against the new floor if it lies in the shift window, and
/// only then (`process_RTT_full`: `next_pstamp_i >= lastshift`, the first
/// stamp of the window, research §2.7): its point error must be taken
/// against the floor of its own level. At P = 1024 s the next anchor is
/// opened at the half-window mark h_win/2 on the mark stamp (made the best
/// of its search span here), and the path's forward delay rises by 3 ms
/// either on that stamp, the first of the shift window, or on the one
/// after, leaving the anchor the last stamp before the window. Measured
/// against the wrong level its point error would be ±3 ms instead of a few
/// µs. Once it becomes the anchor (at h_win − 1), the first case shows
/// why it matters: a post-shift anchor carrying 3 ms of error against the
/// old floor, plus 3 ms of floor change, would give every pair a ~2e-8 error
/// bound over its ~3.5-day baseline, above Ep_qual (1e-8), and p̂ would not
/// be updated until the baseline had doubled.
#[test]
fn a_level_shift_refloors_the_next_rate_anchor_only_within_its_window() {
    for onset_after_mark in [0u64, 1] {
        let cfg = RadclockConfig {
            poll_period_s: 1024.0,
            ..Default::default()
        };
        let mut g = Gen::new(16, cfg.poll_period_s, Net::quiet(), 0.0);
        let mut rad = Radclock::new(&cfg, CounterInfo { nominal_hz: 1e9 });
        let w = *rad.windows();
        let mark = w.h_win / 2;
        let onset = mark + onset_after_mark;
        let quiet = Net::quiet();
        let mut detected = false;
        for i in 0..w.h_win + 10 {
            let lucky = i == mark;
            g.net = Net {
                fwd_min_s: quiet.fwd_min_s + if i >= onset { 3e-3 } else { 0.0 },
                small_mean_s: if lucky { 1e-8 } else { quiet.small_mean_s },
                server_mean_s: if lucky { 1e-8 } else { quiet.server_mean_s },
                ..quiet
            };
            feed(&mut rad, &g.next());
            if rad.status() & status::RTT_UPSHIFT != 0 {
                detected = true;
                assert_eq!(i, onset + w.shift_win - 1);
                let next = rad.next_anchor;
                println!(
                    "onset at h_win/2 + {onset_after_mark}: shift accepted at stamp {i}; \
                     next anchor {} has point error {:.2} µs against a floor {:.3} ms below the new one",
                    next.i,
                    next.perr_s * 1e6,
                    (rad.rtthat - next.rtthat) as f64 * rad.phat_s() * 1e3
                );
                assert_eq!(next.i, mark);
                assert!(next.perr_s.abs() < 50e-6, "{next:?}");
                if onset_after_mark == 0 {
                    assert_eq!(next.rtthat, rad.rtthat);
                } else {
                    let below_s = (rad.rtthat - next.rtthat) as f64 * rad.phat_s();
                    assert!(below_s > 2.9e-3, "{next:?}");
                }
            }
            if onset_after_mark == 0 && i >= w.h_win - 1 {
                assert_eq!(rad.anchor.i, mark);
                assert_ne!(rad.status() & status::PHAT_UPDATED, 0, "stamp {i}");
                assert!(rad.perr < 1e-9, "stamp {i}: pair error {}", rad.perr);
            }
        }
        assert!(detected, "no shift detected");
    }
}
