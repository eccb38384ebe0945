//! Cost of lazy oscillator evaluation with every noise type enabled.
//!
//! Each iteration is one read; reads advance true time by 1 s (one noise
//! grid step per read) or by 16 s (RADclock's default poll period, sixteen
//! grid steps per read), so the per-read cost is the amortised grid cost.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use models::oscillator::{NoiseConfig, Oscillator, OscillatorConfig, TemperatureConfig};
use sim_core::{RngStreams, SimDuration, SimTime};

fn full_noise() -> OscillatorConfig {
    OscillatorConfig {
        skew_ppm: 50.0,
        aging_ppm_per_day: 0.01,
        temperature: TemperatureConfig {
            coeff_ppm_per_c: 1.0,
            diurnal_amplitude_c: 1.0,
            room_sigma_c: 0.5,
            ..TemperatureConfig::default()
        },
        noise: NoiseConfig {
            white_pm_adev_1s: 1e-9,
            white_fm_adev_1s: 1e-9,
            flicker_fm_adev: 1e-8,
            random_walk_fm_adev_1s: 1.2e-9,
        },
        ..OscillatorConfig::default()
    }
}

fn bench_reads(c: &mut Criterion) {
    let cfg = full_noise();
    for period_s in [1u64, 16] {
        let mut osc = Oscillator::new(&cfg, RngStreams::new(1).stream("bench/oscillator"));
        let step = SimDuration::from_secs(period_s);
        let mut t = SimTime::ZERO;
        c.bench_function(
            &format!("oscillator read every {period_s} s (full noise)"),
            |b| {
                b.iter(|| {
                    t += step;
                    black_box(osc.time_error_s(black_box(t)))
                })
            },
        );
    }
}

criterion_group!(benches, bench_reads);
criterion_main!(benches);
