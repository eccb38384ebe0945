//! # The Xen clocksource (pvclock)
//!
//! A paravirtualised guest does not read a hardware timer to tell the time.
//! It reads its CPU's TSC and converts it with parameters the hypervisor
//! publishes in a small per-vCPU record (research note
//! `virt-models.md` §2.1):
//!
//! ```text
//! system_time = record.system_time
//!             + (((tsc − record.tsc_timestamp) << record.tsc_shift) × record.mul) >> 32
//! ```
//!
//! The hypervisor keeps those parameters honest by comparing each CPU's TSC
//! with the *platform timer* (HPET or ACPI PM) once per calibration epoch
//! of 1 s (§2.2). How it uses the comparison is the difference between the
//! two policies modelled here:
//!
//! * [`CalibPolicy::Xen3Recal`]: the classic variable-rate recalibration.
//!   Each epoch the TSC-to-ns scale is re-estimated as Δmaster/ΔTSC over the
//!   epoch just ended. A local clock found *behind* platform time is warped
//!   forward at once (a visible step); one found *ahead* is slowed for the
//!   next epoch by `EPOCH/(EPOCH+err)` (never below 0.5). Guest time is
//!   therefore a saw-tooth around platform time, with µs steps every second.
//! * [`CalibPolicy::ConstantTscBootScale`]: the scale measured once at boot
//!   (50 ms against the platform timer) is kept forever; each epoch only
//!   re-bases the stamps on the TSC extrapolation itself, so guest time is
//!   pure TSC extrapolation with no 1 s steps, and a constant rate error equal
//!   to the boot calibration error (§2.3).
//! * [`CalibPolicy::Xen4SnapToMaster`]: the intermediate Xen 4 behaviour that
//!   kept the boot scale but snapped each CPU's stamp to platform time every
//!   epoch (a step at each boundary).
//!
//! A non-invariant TSC's P-state changes are not announced to the model:
//! Xen's `cpu_frequency_change`, which re-stamps a CPU's record and rescales
//! it at once when the kernel's cpufreq driver reports a change, has no
//! counterpart, as for changes made by firmware behind the hypervisor's
//! back. Records keep the old rate until the next epoch (up to a second).
//!
//! Nothing adds an error term to the result: the interpolation error emerges
//! from the noise of reading the platform timer (its access latency, §1.2)
//! and from whatever wander the TSC and platform oscillators have, which the
//! caller supplies through [`HostCounters`].
//!
//! The model is lazy: [`XenTimekeeper::advance_to`] processes every epoch
//! boundary that has elapsed, the end of the boot calibration first,
//! asking the counters for their values at each boundary. The world calls
//! it before every read of the host's counters, whatever their source, so
//! no read has moved a counter past a boundary before the calibration
//! reads it there (counters and crystals are meant to be read in nearly
//! increasing time order: a non-invariant TSC read before its current
//! piece of constant rate is not exact, and a crystal read further back
//! than two noise-grid steps is exact but generates its noise again).
//!
//! ```
//! use models::xen::pvclock::{PvclockRecord, TimeScale};
//! // A 2 GHz TSC: one tick is 0.5 ns.
//! let scale = TimeScale::from_ticks_per_sec(2_000_000_000);
//! let rec = PvclockRecord {
//!     version: 2,
//!     tsc_timestamp: 1_000,
//!     system_time_ns: 5_000,
//!     tsc_to_system_mul: scale.mul_frac,
//!     tsc_shift: scale.shift,
//!     flags: 0,
//! };
//! assert_eq!(rec.system_time_at(1_000 + 2_000_000_000), 5_000 + 1_000_000_000);
//! ```
//!
//! The wall clock ([`WallClock`]) is separate: Dom0 pushes its
//! NTP-disciplined UTC every 660 s, and at once when its clock is set (a
//! step), and Xen stores the UTC instant at which system time was zero;
//! guest UTC = wall clock + system time (§2.1).
//!
//! A guest kernel's read of the Xen clocksource (done by the host model,
//! `models::host::Host::read`) latches the TSC with its `rdtsc` and
//! returns after [`XenTimeConfig::pvclock_read_ns`]; unless the records
//! carry [`PVCLOCK_TSC_STABLE_BIT`], the kernel never returns less than
//! the last value any of its vCPUs read
//! ([`XenTimeConfig::enforce_global_monotonic`], Linux's
//! `pvclock_clocksource_read`), and forgets that value when it resumes on
//! another host.

use algorithms::ConfigError;
use rand::RngExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimRng, SimTime};

/// `flags` bit 0: the TSC is stable across CPUs (set by Xen only when its
/// clocksource is the TSC itself; §2.1).
pub const PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;
/// `flags` bit 1: the VM was paused (a KVM convention; §2.1, §6).
pub const PVCLOCK_GUEST_STOPPED_BIT: u8 = 1 << 1;

const NS_PER_S: u64 = 1_000_000_000;

/// A TSC-to-nanosecond scale in Xen's fixed-point form: `ns = ((ticks <<
/// shift) × mul_frac) >> 32`, with `mul_frac` normalised into [2³¹, 2³²).
///
/// One step of `mul_frac` is a relative rate step of 0.23–0.47 ppb (§2.1),
/// negligible next to oscillator error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeScale {
    /// 0.32 fixed-point multiplier, in [2³¹, 2³²).
    pub mul_frac: u32,
    /// Binary pre-shift of the tick delta; negative means a right shift.
    pub shift: i8,
}

impl TimeScale {
    /// Xen's `set_time_scale`: the scale for a counter ticking
    /// `ticks_per_sec` times a second (must be > 0; 0 is treated as 1).
    ///
    /// The frequency is halved or doubled (adjusting `shift`) until it lies
    /// in (10⁹, 2·10⁹], then `mul_frac = (10⁹ << 32) / f`, which puts
    /// `mul_frac` in [2³¹, 2³²).
    pub fn from_ticks_per_sec(ticks_per_sec: u64) -> Self {
        let mut tps64 = ticks_per_sec.max(1);
        let mut shift: i32 = 0;
        while tps64 > 2 * NS_PER_S {
            tps64 >>= 1;
            shift -= 1;
        }
        while tps64 <= NS_PER_S {
            tps64 <<= 1;
            shift += 1;
        }
        let mul = (NS_PER_S << 32) / tps64;
        TimeScale {
            mul_frac: mul as u32,
            shift: shift as i8,
        }
    }

    /// The scale converting `ticks` ticks into `ns` nanoseconds, i.e. a rate
    /// of `ns/ticks` ns per tick, normalised like Xen's. `None` if either is
    /// zero or the ratio is outside what a shift in [−31, 31] can express.
    pub fn from_ratio(ns: u128, ticks: u128) -> Option<Self> {
        if ns == 0 || ticks == 0 {
            return None;
        }
        // Keep both below 2^64 so the shifted numerator fits in a u128.
        let (mut num, mut den) = (ns, ticks);
        while num >= 1 << 64 || den >= 1 << 64 {
            num >>= 1;
            den >>= 1;
        }
        if num == 0 || den == 0 {
            return None;
        }
        // mul = num · 2^(32 − shift) / den.
        let mul_at = |shift: i32| -> u128 {
            let e = 32 - shift;
            if e >= 0 {
                (num << e) / den
            } else {
                num / (den << (-e))
            }
        };
        let mut shift: i32 = 0;
        let mut mul = mul_at(shift);
        while mul >= 1 << 32 {
            shift += 1;
            if shift > 31 {
                return None;
            }
            mul = mul_at(shift);
        }
        while mul < 1 << 31 {
            shift -= 1;
            if shift < -31 {
                return None;
            }
            mul = mul_at(shift);
        }
        Some(TimeScale {
            mul_frac: mul as u32,
            shift: shift as i8,
        })
    }

    /// Converts a tick delta to nanoseconds (the guest formula's scaling).
    pub fn scale(&self, delta_ticks: u64) -> u64 {
        scale_delta(delta_ticks, self.mul_frac, self.shift)
    }

    /// Nanoseconds per tick this scale encodes.
    pub fn ns_per_tick(&self) -> f64 {
        f64::from(self.mul_frac) / 4_294_967_296.0 * 2f64.powi(i32::from(self.shift))
    }

    /// The counter frequency this scale encodes, Hz:
    /// `((10⁹ << 32) / mul) >> shift` in real arithmetic (§2.1).
    pub fn ticks_per_sec(&self) -> f64 {
        1e9 / self.ns_per_tick()
    }
}

/// Linux's `pvclock_scale_delta`: `((delta << shift) × mul) >> 32` with a
/// 128-bit product (negative `shift` shifts right). The pre-shift is done in
/// 64 bits, as in the kernel.
pub fn scale_delta(delta: u64, mul: u32, shift: i8) -> u64 {
    let d = if shift < 0 {
        delta
            .checked_shr(u32::from(shift.unsigned_abs()))
            .unwrap_or(0)
    } else {
        delta
            .checked_shl(u32::from(shift.unsigned_abs()))
            .unwrap_or(0)
    };
    ((u128::from(d) * u128::from(mul)) >> 32) as u64
}

/// One vCPU's time record, laid out as in Xen's `vcpu_time_info` and
/// Linux's `pvclock_vcpu_time_info` (§2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PvclockRecord {
    /// Update counter: odd while an update is in progress, bumped by 2 per
    /// completed update. Updates are atomic in the simulator, so it is
    /// always even when a guest can see it.
    pub version: u32,
    /// TSC value at which `system_time_ns` was stamped.
    pub tsc_timestamp: u64,
    /// Xen system time (ns since hypervisor boot) at `tsc_timestamp`.
    pub system_time_ns: u64,
    /// 0.32 fixed-point TSC-to-ns multiplier, in [2³¹, 2³²).
    pub tsc_to_system_mul: u32,
    /// Pre-shift of the TSC delta (negative: right shift).
    pub tsc_shift: i8,
    /// [`PVCLOCK_TSC_STABLE_BIT`], [`PVCLOCK_GUEST_STOPPED_BIT`].
    pub flags: u8,
}

impl PvclockRecord {
    /// The guest's system time for TSC value `tsc`, exactly as Xen and
    /// Linux compute it (wrapping 64-bit subtraction, 128-bit product).
    pub fn system_time_at(&self, tsc: u64) -> u64 {
        self.system_time_ns.wrapping_add(scale_delta(
            tsc.wrapping_sub(self.tsc_timestamp),
            self.tsc_to_system_mul,
            self.tsc_shift,
        ))
    }

    /// The TSC frequency this record implies, Hz.
    pub fn tsc_hz(&self) -> f64 {
        TimeScale {
            mul_frac: self.tsc_to_system_mul,
            shift: self.tsc_shift,
        }
        .ticks_per_sec()
    }

    /// The record's content without its version, for Xen's "skip the write
    /// if nothing changed" comparison.
    fn same_content(&self, other: &PvclockRecord) -> bool {
        self.tsc_timestamp == other.tsc_timestamp
            && self.system_time_ns == other.system_time_ns
            && self.tsc_to_system_mul == other.tsc_to_system_mul
            && self.tsc_shift == other.tsc_shift
            && self.flags == other.flags
    }
}

/// The shared-info wall clock: UTC at which Xen system time was zero (§2.1).
///
/// Xen keeps it as seconds and nanoseconds since 1970 (`wc_sec`,
/// `wc_nsec`), far above any system time. A run's UTC starts at its own
/// start, as system time does, so a Dom0 clock behind system time puts
/// the base before that epoch: the base is signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WallClock {
    /// Update counter, bumped by 2 per update.
    pub version: u32,
    /// UTC at system time zero, ns since the run's UTC epoch.
    pub base_ns: i64,
}

impl WallClock {
    /// Guest UTC, ns since the run's UTC epoch: wall clock + system time.
    pub fn utc_ns(&self, system_time_ns: u64) -> i64 {
        self.base_ns.wrapping_add(system_time_ns as i64)
    }

    /// Xen's `do_settime`: record that UTC `utc_ns` corresponds to system
    /// time `system_time_ns`.
    pub fn set(&mut self, utc_ns: u64, system_time_ns: u64) {
        self.version = self.version.wrapping_add(2);
        self.base_ns = (utc_ns as i64).wrapping_sub(system_time_ns as i64);
    }
}

/// How the hypervisor recalibrates system time each epoch (§2.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CalibPolicy {
    /// Xen 3.x variable-rate recalibration: new scale each epoch, warp
    /// forward when behind, slow down when ahead (saw-tooth).
    Xen3Recal,
    /// Intermediate Xen 4: boot scale kept, stamp snapped to platform time
    /// each epoch (a step every second).
    Xen4SnapToMaster,
    /// Current Xen with a constant TSC: boot scale kept, stamps re-based on
    /// the TSC extrapolation (no steps). The §7 default.
    #[default]
    ConstantTscBootScale,
}

/// Which platform timer the hypervisor calibrates against (§1.1, §2.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PlatformTimer {
    /// HPET, 14.31818 MHz nominal; Xen's first choice.
    #[default]
    Hpet,
    /// ACPI PM timer, 3.579545 MHz nominal.
    AcpiPm,
}

impl PlatformTimer {
    /// Nominal frequency Xen assumes, Hz (§1.1, Xen `time.c` constants).
    pub fn nominal_hz(self) -> u64 {
        match self {
            PlatformTimer::Hpet => 14_318_180,
            PlatformTimer::AcpiPm => 3_579_545,
        }
    }
}

/// Parameters of the hypervisor's timekeeping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct XenTimeConfig {
    /// Recalibration policy (§2.2; default `ConstantTscBootScale`, §7).
    pub calib_policy: CalibPolicy,
    /// Platform timer used as master time (default HPET, Xen's preference, §1.2).
    pub platform_timer: PlatformTimer,
    /// Number of physical CPUs with their own TSC and record (1..=4096;
    /// default 1). A domain reads the record of the CPU its vCPU is placed
    /// on; a CPU beyond the last record reads the last one.
    pub n_cpus: usize,
    /// Latency of one platform-timer read by the hypervisor, ns: the sample
    /// instant is uniform over this window (default 700, bare-metal HPET,
    /// §1.2 and §7 note I; 0..=100 000).
    pub platform_read_latency_ns: f64,
    /// Calibration epoch, ns (default 1 000 000 000, Xen `EPOCH`, §2.2;
    /// 1 ms..=100 s).
    pub calib_epoch_ns: u64,
    /// Boot-time TSC calibration window, ns (default 50 000 000,
    /// `CALIBRATE_FRAC 20`, §1.3; 1 ms..=10 s).
    pub boot_calib_window_ns: u64,
    /// Smallest slow-down factor applied to a local clock found ahead
    /// (default 0.5: the error is capped at one epoch, §2.2; 0.01..=1).
    pub slow_factor_min: f64,
    /// Period of Dom0's wall-clock pushes, s (default 660 = 11 min, Linux
    /// `arch/x86/xen/time.c`, §2.1; 1..=86 400).
    pub wallclock_push_period_s: f64,
    /// A guest kernel's whole pvclock read, ns: `rdtsc`, the version check
    /// and the 64×32 multiply; the TSC is latched by the `rdtsc`, the read
    /// returns after this (default 40, §7 note J; 0..=100 000).
    pub pvclock_read_ns: f64,
    /// The guest kernel keeps one "last value" across its vCPUs and never
    /// returns less (Linux `pvclock_clocksource_read` unless the records
    /// carry [`PVCLOCK_TSC_STABLE_BIT`]; default true, §2.1, §7 note K).
    pub enforce_global_monotonic: bool,
}

impl Default for XenTimeConfig {
    fn default() -> Self {
        XenTimeConfig {
            calib_policy: CalibPolicy::default(),
            platform_timer: PlatformTimer::default(),
            n_cpus: 1,
            platform_read_latency_ns: 700.0,
            calib_epoch_ns: 1_000_000_000,
            boot_calib_window_ns: 50_000_000,
            slow_factor_min: 0.5,
            wallclock_push_period_s: 660.0,
            pvclock_read_ns: 40.0,
            enforce_global_monotonic: true,
        }
    }
}

impl XenTimeConfig {
    /// Checks every field; errors name the field (prefixed by `path`) and
    /// its valid range.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut e = Vec::new();
        let f = |name: &str| format!("{path}.{name}");
        ConfigError::check_range(
            &mut e,
            &f("n_cpus"),
            self.n_cpus as f64,
            1.0,
            4096.0,
            "CPUs",
        );
        ConfigError::check_range(
            &mut e,
            &f("platform_read_latency_ns"),
            self.platform_read_latency_ns,
            0.0,
            100_000.0,
            "ns",
        );
        ConfigError::check_range(
            &mut e,
            &f("calib_epoch_ns"),
            self.calib_epoch_ns as f64,
            1e6,
            1e11,
            "ns",
        );
        ConfigError::check_range(
            &mut e,
            &f("boot_calib_window_ns"),
            self.boot_calib_window_ns as f64,
            1e6,
            1e10,
            "ns",
        );
        ConfigError::check_range(
            &mut e,
            &f("slow_factor_min"),
            self.slow_factor_min,
            0.01,
            1.0,
            "(ratio)",
        );
        ConfigError::check_range(
            &mut e,
            &f("wallclock_push_period_s"),
            self.wallclock_push_period_s,
            1.0,
            86_400.0,
            "s",
        );
        ConfigError::check_range(
            &mut e,
            &f("pvclock_read_ns"),
            self.pvclock_read_ns,
            0.0,
            100_000.0,
            "ns",
        );
        e
    }
}

/// The host's raw counters, as the hypervisor sees them. Implemented by the
/// world (oscillator + counter models); wander and offsets live there.
pub trait HostCounters {
    /// TSC count of physical CPU `cpu` at true time `t`.
    fn tsc(&mut self, cpu: usize, t: SimTime) -> u64;
    /// Platform-timer count at true time `t`, already extended to 64 bits
    /// (Xen's software extension of the 32/24-bit register, §1.1).
    fn platform(&mut self, t: SimTime) -> u64;
}

/// One CPU's calibration state (Xen's `cpu_time`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct CpuTime {
    local_tsc_stamp: u64,
    stime_local_stamp: u64,
    stime_master_stamp: u64,
    scale: TimeScale,
}

impl CpuTime {
    fn local_stime(&self, tsc: u64) -> u64 {
        self.stime_local_stamp
            .wrapping_add(self.scale.scale(tsc.wrapping_sub(self.local_tsc_stamp)))
    }
}

/// What one calibration did on one CPU (for probes and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CalibrationEvent {
    /// True time of the rendezvous.
    pub at: SimTime,
    /// Local time minus master time before correction, ns (positive: ahead).
    pub local_minus_master_ns: i64,
    /// Forward warp applied, ns (Xen3 when behind; Xen4-snap either sign).
    pub step_ns: i64,
    /// Slow-down factor applied to the new scale (1 when none).
    pub slow_factor: f64,
}

/// The hypervisor's timekeeper: master (platform) time, per-CPU local time,
/// the guest records and the wall clock.
#[derive(Clone, Debug)]
pub struct XenTimekeeper {
    cfg: XenTimeConfig,
    rng: SimRng,
    platform_scale: TimeScale,
    platform_count0: u64,
    cpus: Vec<CpuTime>,
    records: Vec<PvclockRecord>,
    /// The records as they were before the last calibration, at
    /// `last_epoch`: a read a little earlier than that instant, made after
    /// a later read moved the calibration past it, sees what it would
    /// have seen had it come first. Reads come nearly in time order, but
    /// not exactly (a read's instant carries its latency), and an answer
    /// that depends on the order of reads would make a daemon's results
    /// depend on the other daemons reading the same host.
    previous: Vec<PvclockRecord>,
    last_epoch: SimTime,
    next_epoch: SimTime,
    epochs: u64,
    boot_tsc_hz_estimate: u64,
    last_calibration: Vec<CalibrationEvent>,
    wallclock: WallClock,
    next_wallclock_push: SimTime,
    /// End of the boot calibration: the first published records.
    booted: SimTime,
    /// The boot calibration's reads at its start (platform count, CPU 0's
    /// TSC) until it completes at `booted`.
    boot_start: Option<(u64, u64)>,
}

impl XenTimekeeper {
    /// Boots the hypervisor at true time `boot`: calibrates the TSC of CPU 0
    /// against the platform timer over `boot_calib_window_ns` (the boot
    /// scale, shared by all CPUs as Xen's `cpu_khz` is), then stamps every
    /// CPU. System time 0 is the first platform read. Invalid configurations
    /// are returned as errors.
    ///
    /// The counters are read at `boot` here and at the window's end
    /// ([`XenTimekeeper::booted_at`]) by the first
    /// [`XenTimekeeper::advance_to`] that reaches it, as the first
    /// calibration epoch: reads of the counters in between come in time
    /// order, as counters and crystals need (reading the end first would
    /// send every later read in the window back in time).
    pub fn new(
        cfg: XenTimeConfig,
        boot: SimTime,
        counters: &mut dyn HostCounters,
        rng: SimRng,
    ) -> Result<Self, Vec<ConfigError>> {
        let errors = cfg.validate("xen_time");
        if !errors.is_empty() {
            return Err(errors);
        }
        let platform_scale = TimeScale::from_ticks_per_sec(cfg.platform_timer.nominal_hz());
        let end = boot + SimDuration::from_nanos(cfg.boot_calib_window_ns);
        let mut me = XenTimekeeper {
            platform_scale,
            platform_count0: 0,
            cpus: Vec::with_capacity(cfg.n_cpus),
            records: vec![PvclockRecord::default(); cfg.n_cpus],
            previous: vec![PvclockRecord::default(); cfg.n_cpus],
            last_epoch: end,
            next_epoch: end,
            epochs: 0,
            boot_tsc_hz_estimate: 0,
            last_calibration: vec![CalibrationEvent::default(); cfg.n_cpus],
            wallclock: WallClock::default(),
            next_wallclock_push: end,
            booted: end,
            boot_start: None,
            rng,
            cfg,
        };
        let (c0, _) = me.read_platform(boot, counters);
        let tsc0 = counters.tsc(0, boot);
        me.platform_count0 = c0;
        me.boot_start = Some((c0, tsc0));
        Ok(me)
    }

    /// Ends the boot calibration at `end`: TSC ticks over the window
    /// measured by the platform timer. Both platform reads carry their
    /// access noise; the count itself is an integer, so tick quantisation
    /// also shows (§1.3).
    fn finish_boot(
        &mut self,
        (c0, tsc0): (u64, u64),
        end: SimTime,
        counters: &mut dyn HostCounters,
    ) {
        let platform_scale = self.platform_scale;
        let (c1, _) = self.read_platform(end, counters);
        let tsc1 = counters.tsc(0, end);
        let window_ns = u128::from(platform_scale.scale(c1.wrapping_sub(c0)).max(1));
        let tsc_hz =
            (u128::from(tsc1.wrapping_sub(tsc0)) * u128::from(NS_PER_S) / window_ns) as u64;
        self.boot_tsc_hz_estimate = tsc_hz.max(1);
        let boot_scale = TimeScale::from_ticks_per_sec(self.boot_tsc_hz_estimate);
        let master = platform_scale.scale(c1.wrapping_sub(c0));
        for cpu in 0..self.cfg.n_cpus {
            let tsc = counters.tsc(cpu, end);
            self.cpus.push(CpuTime {
                local_tsc_stamp: tsc,
                stime_local_stamp: master,
                stime_master_stamp: master,
                scale: boot_scale,
            });
            self.update_record(cpu);
        }
    }

    /// Reads the platform timer around `t`: the sample instant is uniform
    /// over the read latency. Returns (count, sample instant).
    fn read_platform(&mut self, t: SimTime, counters: &mut dyn HostCounters) -> (u64, SimTime) {
        let lat = self.cfg.platform_read_latency_ns;
        let jitter = if lat > 0.0 {
            self.rng.random_range(0.0..lat)
        } else {
            0.0
        };
        let at = t + SimDuration::from_nanos(jitter as u64);
        (counters.platform(at), at)
    }

    /// Master (platform) system time for a platform count, ns.
    fn master_stime(&self, count: u64) -> u64 {
        self.platform_scale
            .scale(count.wrapping_sub(self.platform_count0))
    }

    /// Processes every calibration epoch boundary at or before `t` (the
    /// end of the boot calibration first).
    #[inline]
    pub fn advance_to(&mut self, t: SimTime, counters: &mut dyn HostCounters) {
        // Every Xen clocksource read lands here, and most fall inside the
        // current epoch: that check stays inline, the calibration does not.
        if self.next_epoch <= t {
            self.calibrate_through(t, counters);
        }
    }

    #[inline(never)]
    fn calibrate_through(&mut self, t: SimTime, counters: &mut dyn HostCounters) {
        while self.next_epoch <= t {
            let at = self.next_epoch;
            match self.boot_start.take() {
                Some(start) => self.finish_boot(start, at, counters),
                None => {
                    self.previous.clone_from(&self.records);
                    self.last_epoch = at;
                    self.calibrate(at, counters);
                    self.epochs += 1;
                }
            }
            self.next_epoch = at + SimDuration::from_nanos(self.cfg.calib_epoch_ns);
        }
    }

    /// One rendezvous at true time `at` (Xen `time_calibration` +
    /// `local_time_calibration` on every CPU).
    fn calibrate(&mut self, at: SimTime, counters: &mut dyn HostCounters) {
        let (count, _) = self.read_platform(at, counters);
        let master = self.master_stime(count);
        let epoch = self.cfg.calib_epoch_ns;
        let max_err = ((epoch as f64) * (1.0 / self.cfg.slow_factor_min - 1.0)) as u64;
        for cpu in 0..self.cpus.len() {
            let c = self.cpus[cpu];
            let curr_tsc = counters.tsc(cpu, at);
            let curr_local = c.local_stime(curr_tsc);
            let diff = curr_local as i64 - master as i64;
            let mut ev = CalibrationEvent {
                at,
                local_minus_master_ns: diff,
                step_ns: 0,
                slow_factor: 1.0,
            };
            let next = match self.cfg.calib_policy {
                CalibPolicy::ConstantTscBootScale => CpuTime {
                    local_tsc_stamp: curr_tsc,
                    stime_local_stamp: curr_local,
                    stime_master_stamp: master,
                    scale: c.scale,
                },
                CalibPolicy::Xen4SnapToMaster => {
                    ev.step_ns = -diff;
                    CpuTime {
                        local_tsc_stamp: curr_tsc,
                        stime_local_stamp: master,
                        stime_master_stamp: master,
                        scale: c.scale,
                    }
                }
                CalibPolicy::Xen3Recal => {
                    let mut local = curr_local;
                    let mut err_ns: u64 = 0;
                    if diff < 0 {
                        // Behind: warp forward to master at once.
                        local = master;
                        ev.step_ns = -diff;
                    } else {
                        err_ns = (diff as u64).min(max_err);
                    }
                    let tsc_elapsed = curr_tsc.wrapping_sub(c.local_tsc_stamp);
                    let stime_elapsed = master as i64 - c.stime_master_stamp as i64;
                    let mut scale = c.scale;
                    // Xen skips epochs shorter than half an epoch as "weirdness".
                    if stime_elapsed >= (epoch / 2) as i64 && tsc_elapsed > 0 {
                        let num = u128::from(stime_elapsed as u64) * u128::from(epoch);
                        let den = u128::from(tsc_elapsed) * u128::from(epoch + err_ns);
                        if let Some(s) = TimeScale::from_ratio(num, den) {
                            scale = s;
                            ev.slow_factor = epoch as f64 / (epoch + err_ns) as f64;
                        }
                    }
                    CpuTime {
                        local_tsc_stamp: curr_tsc,
                        stime_local_stamp: local,
                        stime_master_stamp: master,
                        scale,
                    }
                }
            };
            self.cpus[cpu] = next;
            self.last_calibration[cpu] = ev;
            self.update_record(cpu);
        }
    }

    /// Xen's `update_vcpu_system_time`: rewrites the record from the CPU's
    /// stamps, skipping the write when nothing changed.
    fn update_record(&mut self, cpu: usize) {
        let c = self.cpus[cpu];
        let rec = &mut self.records[cpu];
        let new = PvclockRecord {
            version: rec.version,
            tsc_timestamp: c.local_tsc_stamp,
            system_time_ns: c.stime_local_stamp,
            tsc_to_system_mul: c.scale.mul_frac,
            tsc_shift: c.scale.shift,
            flags: rec.flags,
        };
        if !rec.same_content(&new) {
            *rec = new;
            rec.version = rec.version.wrapping_add(2);
        }
    }

    /// A context switch to a vCPU on `cpu` rewrites its record (§2.2); with
    /// unchanged stamps the write is skipped.
    pub fn context_switch(&mut self, cpu: usize) {
        if cpu < self.cpus.len() {
            self.update_record(cpu);
        }
    }

    /// The record currently published for `cpu` (`None` if out of range,
    /// or before the boot calibration has ended).
    pub fn record(&self, cpu: usize) -> Option<&PvclockRecord> {
        self.cpus.get(cpu).and(self.records.get(cpu))
    }

    /// The guest's system time on `cpu` at true time `t`, ns: advances the
    /// calibration to `t`, reads the TSC and applies the guest formula.
    /// There are no records before [`XenTimekeeper::booted_at`]: an earlier
    /// `t` reads at that instant. A `t` before the last calibration (up to
    /// one epoch earlier) reads the record that was current at `t`.
    pub fn guest_system_time_ns(
        &mut self,
        cpu: usize,
        t: SimTime,
        counters: &mut dyn HostCounters,
    ) -> u64 {
        let t = t.max(self.booted);
        self.advance_to(t, counters);
        let cpu = cpu.min(self.records.len() - 1);
        let tsc = counters.tsc(cpu, t);
        let record = if t < self.last_epoch {
            &self.previous[cpu]
        } else {
            &self.records[cpu]
        };
        record.system_time_at(tsc)
    }

    /// Guest UTC on `cpu` at `t`, ns since the run's UTC epoch (wall clock
    /// + system time).
    pub fn guest_utc_ns(&mut self, cpu: usize, t: SimTime, counters: &mut dyn HostCounters) -> i64 {
        let st = self.guest_system_time_ns(cpu, t, counters);
        self.wallclock.utc_ns(st)
    }

    /// The published wall clock.
    pub fn wallclock(&self) -> &WallClock {
        &self.wallclock
    }

    /// When Dom0's next wall-clock push is due (the first is at boot end).
    pub fn next_wallclock_push(&self) -> SimTime {
        self.next_wallclock_push
    }

    /// Dom0 pushes its UTC (`dom0_utc_ns`, from its NTP-disciplined clock)
    /// at true time `t`; Xen stores it against CPU 0's system time then.
    /// Schedules the next push one period later.
    pub fn push_wallclock(
        &mut self,
        t: SimTime,
        dom0_utc_ns: u64,
        counters: &mut dyn HostCounters,
    ) {
        let st = self.guest_system_time_ns(0, t, counters);
        self.wallclock.set(dom0_utc_ns, st);
        self.next_wallclock_push = t + SimDuration::from_secs_f64(self.cfg.wallclock_push_period_s);
    }

    /// When the boot calibration ends and the first pvclock records are
    /// published: no domain runs before, and the Xen clocksource has no
    /// meaning (a read would extrapolate the records backwards).
    pub fn booted_at(&self) -> SimTime {
        self.booted
    }

    /// The TSC frequency measured at boot, Hz (the boot scale's source);
    /// `None` until the boot calibration has ended (at the first
    /// [`XenTimekeeper::advance_to`] at or after
    /// [`XenTimekeeper::booted_at`]).
    pub fn boot_tsc_hz_estimate(&self) -> Option<u64> {
        (!self.cpus.is_empty()).then_some(self.boot_tsc_hz_estimate)
    }

    /// Number of calibration epochs processed so far.
    pub fn epochs(&self) -> u64 {
        self.epochs
    }

    /// True time of the next calibration rendezvous.
    pub fn next_epoch(&self) -> SimTime {
        self.next_epoch
    }

    /// What the last calibration did on `cpu`.
    pub fn last_calibration(&self, cpu: usize) -> Option<&CalibrationEvent> {
        self.last_calibration.get(cpu)
    }

    /// The configuration in use.
    pub fn config(&self) -> &XenTimeConfig {
        &self.cfg
    }
}

/// The VET guest's HPET access: a hypercall into Xen, which reads the HPET
/// and returns (VET "add hypercall to access platform timer", seed 000).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HpetHypercallConfig {
    /// Shortest hypercall round trip including the HPET read, ns (default
    /// 2000: ~1 µs hypercall + 0.7 µs MMIO HPET read, §1.2 \[E\]; 0..=1 000 000).
    pub min_latency_ns: f64,
    /// Longest round trip, ns (default 4000 \[E\]: "a few µs"; ≥ min, ≤ 1 000 000).
    pub max_latency_ns: f64,
}

impl Default for HpetHypercallConfig {
    fn default() -> Self {
        HpetHypercallConfig {
            min_latency_ns: 2_000.0,
            max_latency_ns: 4_000.0,
        }
    }
}

/// Timing of one HPET hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HypercallTiming {
    /// When the HPET is actually sampled, after the call starts.
    pub sample_after: SimDuration,
    /// Total duration of the call.
    pub duration: SimDuration,
}

impl HpetHypercallConfig {
    /// Checks the latency bounds.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut e = Vec::new();
        ConfigError::check_range(
            &mut e,
            &format!("{path}.min_latency_ns"),
            self.min_latency_ns,
            0.0,
            1e6,
            "ns",
        );
        ConfigError::check_range(
            &mut e,
            &format!("{path}.max_latency_ns"),
            self.max_latency_ns,
            self.min_latency_ns.max(0.0),
            1e6,
            "ns (and ≥ min_latency_ns)",
        );
        e
    }

    /// Draws one call: duration uniform in [min, max], sample instant
    /// uniform within the call.
    pub fn sample(&self, rng: &mut SimRng) -> HypercallTiming {
        let lo = self.min_latency_ns.max(0.0);
        let hi = self.max_latency_ns.max(lo);
        let d = if hi > lo {
            rng.random_range(lo..hi)
        } else {
            lo
        };
        let s: f64 = rng.random::<f64>() * d;
        HypercallTiming {
            sample_after: SimDuration::from_nanos(s as u64),
            duration: SimDuration::from_nanos(d as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Counters driven by oscillators with a constant error plus a sinusoidal
    /// wander (a stand-in for the room-temperature cycle of §1.3).
    struct TestCounters {
        tsc_hz: f64,
        tsc_ppm: f64,
        tsc_wander_ppm: f64,
        wander_period_s: f64,
        platform_hz: f64,
        platform_ppm: f64,
    }

    impl TestCounters {
        fn tsc_phase_s(&self, t: SimTime) -> f64 {
            let s = t.as_secs_f64();
            let w = 2.0 * std::f64::consts::PI / self.wander_period_s;
            s * (1.0 + self.tsc_ppm * 1e-6) + self.tsc_wander_ppm * 1e-6 * (1.0 - (w * s).cos()) / w
        }
    }

    impl HostCounters for TestCounters {
        fn tsc(&mut self, cpu: usize, t: SimTime) -> u64 {
            (self.tsc_phase_s(t) * self.tsc_hz) as u64 + cpu as u64 * 1_000
        }
        fn platform(&mut self, t: SimTime) -> u64 {
            (t.as_secs_f64() * (1.0 + self.platform_ppm * 1e-6) * self.platform_hz) as u64
        }
    }

    fn counters() -> TestCounters {
        TestCounters {
            tsc_hz: 3.0e9,
            tsc_ppm: 12.0,
            tsc_wander_ppm: 0.5,
            wander_period_s: 60.0,
            platform_hz: 14_318_180.0,
            platform_ppm: 0.0,
        }
    }

    fn keeper(policy: CalibPolicy, seed: u64, c: &mut TestCounters) -> XenTimekeeper {
        let cfg = XenTimeConfig {
            calib_policy: policy,
            ..XenTimeConfig::default()
        };
        XenTimekeeper::new(cfg, SimTime::from_secs(1), c, SimRng::seed_from_u64(seed)).unwrap()
    }

    /// Guest system time minus true time since boot (1 s), ns, at `t`.
    fn err_ns(k: &mut XenTimekeeper, c: &mut TestCounters, t: SimTime, _t0: SimTime) -> f64 {
        k.guest_system_time_ns(0, t, c) as f64 - (t.as_nanos() as f64 - 1e9)
    }

    #[test]
    fn guest_formula_matches_f64_reference_within_1ns() {
        let mut rng = SimRng::seed_from_u64(7);
        for _ in 0..10_000 {
            let mul: u32 = rng.random_range((1u32 << 31)..=u32::MAX);
            let shift: i8 = rng.random_range(-3i8..=3);
            let delta: u64 = rng.random_range(0..(1u64 << 34));
            let sys: u64 = rng.random_range(0..(1u64 << 40));
            let ts: u64 = rng.random_range(0..(1u64 << 50));
            let rec = PvclockRecord {
                version: 2,
                tsc_timestamp: ts,
                system_time_ns: sys,
                tsc_to_system_mul: mul,
                tsc_shift: shift,
                flags: 0,
            };
            let got = rec.system_time_at(ts + delta);
            let shifted = if shift < 0 {
                (delta >> -shift) as f64
            } else {
                (delta as f64) * 2f64.powi(shift.into())
            };
            let reference = sys as f64 + (shifted * f64::from(mul) / 4_294_967_296.0).floor();
            assert!(
                (got as f64 - reference).abs() <= 1.0,
                "got {got} ref {reference}"
            );
        }
    }

    #[test]
    fn mul_is_normalised_and_encodes_the_frequency() {
        for hz in [
            1_000_000u64,
            3_579_545,
            14_318_180,
            1_000_000_000,
            1_000_000_001,
            2_000_000_000,
            2_400_000_000,
            3_000_000_000,
            4_700_000_000,
        ] {
            let s = TimeScale::from_ticks_per_sec(hz);
            assert!(s.mul_frac >= 1 << 31, "{hz}: mul {} below 2^31", s.mul_frac);
            let rel = s.ticks_per_sec() / hz as f64 - 1.0;
            assert!(rel.abs() < 5e-10, "{hz}: rel error {rel}");
            // The ratio form gives the same normalised scale.
            let r = TimeScale::from_ratio(1_000_000_000, u128::from(hz)).unwrap();
            assert!(r.mul_frac >= 1 << 31);
            assert!((r.ns_per_tick() / s.ns_per_tick() - 1.0).abs() < 5e-10);
        }
        assert_eq!(
            TimeScale::from_ticks_per_sec(2_000_000_000),
            TimeScale {
                mul_frac: 1 << 31,
                shift: 0
            }
        );
        assert!(TimeScale::from_ratio(0, 5).is_none());
    }

    #[test]
    fn xen3_recal_is_a_sawtooth_with_microsecond_steps() {
        let mut c = counters();
        let mut k = keeper(CalibPolicy::Xen3Recal, 11, &mut c);
        let t0 = SimTime::from_nanos(1_050_000_000);
        let mut steps = Vec::new();
        let mut max_abs_err: f64 = 0.0;
        for i in 1..200u64 {
            let te = t0 + SimDuration::from_secs(i);
            // 1 ns before the boundary, on a copy so the epoch is not consumed.
            let tb = SimTime::from_nanos(te.as_nanos() - 1);
            let mut k2 = k.clone();
            let b = err_ns(&mut k2, &mut c, tb, t0);
            let a = err_ns(&mut k, &mut c, te, t0);
            steps.push(a - b - 1.0);
            for frac in [0.25, 0.5, 0.75] {
                let tm = te + SimDuration::from_secs_f64(frac);
                let mut k3 = k.clone();
                max_abs_err = max_abs_err.max(err_ns(&mut k3, &mut c, tm, t0).abs());
            }
        }
        let big = steps.iter().filter(|s| s.abs() > 50.0).count();
        let max_step = steps.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        let min_step = steps.iter().fold(f64::MAX, |m, s| m.min(*s));
        println!(
            "xen3: steps >50ns {big}/199, max step {max_step:.0} ns, min step {min_step:.0} ns, max |err| {max_abs_err:.0} ns"
        );
        assert!(big >= 20, "only {big} visible steps");
        assert!(max_step < 20_000.0, "step {max_step} ns is not µs-level");
        // Xen3 only warps forward; slow clocks are slewed, not stepped back.
        assert!(min_step >= -3.0, "backward step {min_step}");
        // A 12 ppm TSC left alone would drift 2.4 ms in 200 s; the saw-tooth
        // keeps it within µs of platform time.
        assert!(max_abs_err < 20_000.0, "max |err| {max_abs_err} ns");
    }

    #[test]
    fn constant_tsc_has_no_steps_and_the_boot_rate_error() {
        let mut c = counters();
        c.tsc_wander_ppm = 0.0;
        let mut k = keeper(CalibPolicy::ConstantTscBootScale, 5, &mut c);
        let t0 = SimTime::from_nanos(1_050_000_000);
        let true_hz = c.tsc_hz * (1.0 + c.tsc_ppm * 1e-6);
        assert_eq!(k.boot_tsc_hz_estimate(), None, "calibrating until t0");
        k.advance_to(t0, &mut c);
        let est = k.boot_tsc_hz_estimate().unwrap() as f64;
        let boot_err = true_hz / est - 1.0;
        assert!(
            boot_err.abs() < 20e-6 && boot_err != 0.0,
            "boot calibration error {boot_err}"
        );
        let e0 = err_ns(&mut k, &mut c, t0, t0);
        let mut max_step: f64 = 0.0;
        for i in 1..300u64 {
            let te = t0 + SimDuration::from_secs(i);
            let mut k2 = k.clone();
            let b = err_ns(&mut k2, &mut c, SimTime::from_nanos(te.as_nanos() - 1), t0);
            let a = err_ns(&mut k, &mut c, te, t0);
            max_step = max_step.max((a - b - 1.0).abs());
        }
        let t_end = t0 + SimDuration::from_secs(300);
        let slope = (err_ns(&mut k, &mut c, t_end, t0) - e0) / 300e9;
        println!(
            "constant: boot err {:.3} ppm, measured slope {:.3} ppm, max step {max_step} ns",
            boot_err * 1e6,
            slope * 1e6
        );
        assert!(
            max_step <= 3.0,
            "step of {max_step} ns at an epoch boundary"
        );
        // Rate error equals the boot calibration error (to within mul
        // quantisation and 1 ns truncation per epoch: < 0.01 ppm).
        assert!(
            (slope - boot_err).abs() < 1e-8,
            "slope {slope} vs boot error {boot_err}"
        );
    }

    #[test]
    fn xen4_snap_steps_every_epoch() {
        let mut c = counters();
        let mut k = keeper(CalibPolicy::Xen4SnapToMaster, 3, &mut c);
        k.advance_to(SimTime::from_secs(20), &mut c);
        let ev = *k.last_calibration(0).unwrap();
        // The boot scale is off by µs per second; the snap undoes the drift.
        assert!(ev.step_ns.abs() > 100, "snap step {}", ev.step_ns);
        assert_eq!(ev.step_ns, -ev.local_minus_master_ns);
        assert_eq!(k.epochs(), 18);
    }

    #[test]
    fn records_change_version_by_two_per_update() {
        let mut c = counters();
        let mut k = keeper(CalibPolicy::Xen3Recal, 1, &mut c);
        assert!(k.record(0).is_none(), "no record before the boot ends");
        k.advance_to(k.booted_at(), &mut c);
        let v0 = k.record(0).unwrap().version;
        assert_eq!(v0 % 2, 0);
        k.advance_to(SimTime::from_secs(4), &mut c);
        let v1 = k.record(0).unwrap().version;
        assert_eq!(v1, v0 + 2 * k.epochs() as u32);
        k.context_switch(0);
        assert_eq!(
            k.record(0).unwrap().version,
            v1,
            "identical rewrite must be skipped"
        );
        let m = k.record(0).unwrap().tsc_to_system_mul;
        assert!(m >= 1 << 31);
    }

    #[test]
    fn a_wall_clock_behind_system_time_keeps_its_offset() {
        // Dom0's UTC 1 ms behind system time: the base is before the epoch.
        let mut w = WallClock::default();
        w.set(1_000_000, 2_000_000);
        assert_eq!(w.base_ns, -1_000_000);
        assert_eq!(w.utc_ns(2_000_000), 1_000_000);
        assert_eq!(w.utc_ns(3_000_000), 2_000_000);
        assert_eq!(w.version, 2);
    }

    #[test]
    fn wallclock_push_sets_guest_utc() {
        let mut c = counters();
        let mut k = keeper(CalibPolicy::ConstantTscBootScale, 2, &mut c);
        let t = SimTime::from_secs(10);
        let utc = 1_262_304_000_000_000_000u64;
        k.push_wallclock(t, utc, &mut c);
        assert_eq!(k.next_wallclock_push(), t + SimDuration::from_secs(660));
        assert_eq!(k.guest_utc_ns(0, t, &mut c), utc as i64);
        let later = k.guest_utc_ns(0, t + SimDuration::from_secs(1), &mut c);
        let d = later as f64 - utc as f64 - 1e9;
        assert!(d.abs() < 50_000.0, "guest UTC advanced by 1 s {d:+} ns");
    }

    #[test]
    fn deterministic_and_noise_driven() {
        let mut c = counters();
        let mut a = keeper(CalibPolicy::Xen3Recal, 9, &mut c);
        let mut b = keeper(CalibPolicy::Xen3Recal, 9, &mut c);
        let t = SimTime::from_secs(30);
        assert_eq!(
            a.guest_system_time_ns(0, t, &mut c),
            b.guest_system_time_ns(0, t, &mut c)
        );
        // Without platform read noise and wander, the recalibrated clock
        // tracks platform time to tens of ns: the µs error comes from noise.
        let mut quiet = counters();
        quiet.tsc_wander_ppm = 0.0;
        let cfg = XenTimeConfig {
            calib_policy: CalibPolicy::Xen3Recal,
            platform_read_latency_ns: 0.0,
            ..XenTimeConfig::default()
        };
        let mut q = XenTimekeeper::new(
            cfg,
            SimTime::from_secs(1),
            &mut quiet,
            SimRng::seed_from_u64(9),
        )
        .unwrap();
        let t0 = SimTime::from_nanos(1_050_000_000);
        let mut worst: f64 = 0.0;
        for i in 3..100u64 {
            let t = t0 + SimDuration::from_secs_f64(i as f64 + 0.7);
            worst = worst.max(err_ns(&mut q, &mut quiet, t, t0).abs());
        }
        assert!(worst < 200.0, "noise-free error {worst} ns");
    }

    /// Crystals and counters as a host has them: a noisy TSC crystal on a
    /// 1 ms grid driving a non-invariant TSC on two CPUs, and an HPET.
    struct HostLike {
        tsc_crystal: crate::oscillator::Oscillator,
        platform_crystal: crate::oscillator::Oscillator,
        tsc: crate::counter::Counter,
        hpet: crate::counter::Counter,
    }

    impl HostLike {
        fn new() -> Self {
            use crate::counter::{Counter, CounterConfig, CounterKind, PstateConfig, TscConfig};
            use crate::oscillator::{NoiseConfig, Oscillator, OscillatorConfig};
            let crystal = OscillatorConfig {
                skew_ppm: 20.0,
                noise: NoiseConfig {
                    white_fm_adev_1s: 1e-8,
                    flicker_fm_adev: 1e-9,
                    ..NoiseConfig::default()
                },
                noise_step_s: 0.001,
                ..OscillatorConfig::default()
            };
            let tsc = CounterConfig {
                tsc: TscConfig {
                    core_offsets_ticks: vec![0, 5_000],
                    invariant: false,
                    pstate: PstateConfig {
                        random_factors: vec![0.8, 1.0],
                        mean_dwell_s: 0.3,
                        ..PstateConfig::default()
                    },
                    ..TscConfig::default()
                },
                ..CounterConfig::default()
            };
            let hpet = CounterConfig {
                kind: CounterKind::Hpet,
                ..CounterConfig::default()
            };
            HostLike {
                tsc_crystal: Oscillator::new(&crystal, SimRng::seed_from_u64(1)),
                platform_crystal: Oscillator::new(&crystal, SimRng::seed_from_u64(2)),
                tsc: Counter::new(&tsc, SimRng::seed_from_u64(3)),
                hpet: Counter::new(&hpet, SimRng::seed_from_u64(4)),
            }
        }
    }

    impl HostCounters for HostLike {
        fn tsc(&mut self, cpu: usize, t: SimTime) -> u64 {
            let x = self.tsc_crystal.time_error_s(t);
            self.tsc.count_at(t, x, cpu)
        }
        fn platform(&mut self, t: SimTime) -> u64 {
            let x = self.platform_crystal.time_error_s(t);
            self.hpet.count_at(t, x, 0)
        }
    }

    /// The boot calibration reads the counters at the window's end only
    /// once time gets there: reads inside the window, made in time order
    /// as the world makes them (calibration first), see exactly what they
    /// would without a hypervisor, with no crystal read going back.
    #[test]
    fn boot_calibration_reads_the_counters_in_time_order() {
        let cfg = XenTimeConfig {
            n_cpus: 2,
            boot_calib_window_ns: 10_000_000_000,
            ..XenTimeConfig::default()
        };
        let mut host = HostLike::new();
        let mut bare = HostLike::new();
        let mut k =
            XenTimekeeper::new(cfg, SimTime::ZERO, &mut host, SimRng::seed_from_u64(5)).unwrap();
        assert_eq!(k.booted_at(), SimTime::from_secs(10));
        let mut t = SimTime::ZERO;
        while t < SimTime::from_secs(13) {
            k.advance_to(t, &mut host);
            for cpu in [0, 1] {
                assert_eq!(host.tsc(cpu, t), bare.tsc(cpu, t), "TSC {cpu} at {t}");
            }
            assert_eq!(host.platform(t), bare.platform(t), "HPET at {t}");
            t += SimDuration::from_nanos(7_300_001);
        }
        assert_eq!(k.epochs(), 2);
        let est = k.boot_tsc_hz_estimate().expect("booted") as f64;
        // Over 10 s the estimate is the mean rate, P-states included.
        assert!((est / 3e9 - 0.9).abs() < 0.1, "boot estimate {est} Hz");
        assert_eq!(host.tsc_crystal.rewound_reads(), 0);
        assert_eq!(host.platform_crystal.rewound_reads(), 0);
    }

    /// A read a little before a calibration, made after a read past it,
    /// sees the record of its own instant: the answer does not depend on
    /// the order of reads.
    #[test]
    fn a_read_before_the_last_calibration_sees_its_own_record() {
        let cfg = XenTimeConfig {
            n_cpus: 2,
            ..XenTimeConfig::default()
        };
        let boot = |host: &mut HostLike| {
            XenTimekeeper::new(cfg.clone(), SimTime::ZERO, host, SimRng::seed_from_u64(5)).unwrap()
        };
        let (mut host_a, mut host_b) = (HostLike::new(), HostLike::new());
        let (mut a, mut b) = (boot(&mut host_a), boot(&mut host_b));
        let epoch = SimDuration::from_nanos(cfg.calib_epoch_ns);
        let mut boundary = a.booted_at() + epoch;
        for _ in 0..20 {
            let before = SimTime::from_nanos(boundary.as_nanos() - 40);
            let after = boundary + SimDuration::from_nanos(40);
            // In time order, and the later read first.
            let in_order = (
                a.guest_system_time_ns(1, before, &mut host_a),
                a.guest_system_time_ns(1, after, &mut host_a),
            );
            let late = b.guest_system_time_ns(1, after, &mut host_b);
            let early = b.guest_system_time_ns(1, before, &mut host_b);
            assert_eq!(in_order, (early, late), "around {boundary}");
            boundary += epoch;
        }
        // The records did change at the boundaries (else the check is empty).
        assert!(a.record(1).unwrap().version > 2);
    }

    #[test]
    fn invalid_config_names_fields() {
        let cfg = XenTimeConfig {
            n_cpus: 0,
            slow_factor_min: 2.0,
            ..XenTimeConfig::default()
        };
        let errs = cfg.validate("host0.xen");
        assert!(errs.iter().any(|e| e.field == "host0.xen.n_cpus"));
        assert!(
            errs.iter()
                .any(|e| e.field == "host0.xen.slow_factor_min" && e.message.contains("0.01..=1"))
        );
        let mut c = counters();
        assert!(XenTimekeeper::new(cfg, SimTime::ZERO, &mut c, SimRng::seed_from_u64(0)).is_err());
        let h = HpetHypercallConfig {
            min_latency_ns: 5000.0,
            max_latency_ns: 1000.0,
        };
        assert!(!h.validate("hpet").is_empty());
    }

    #[test]
    fn hpet_hypercall_takes_a_few_microseconds() {
        let h = HpetHypercallConfig::default();
        let mut rng = SimRng::seed_from_u64(4);
        for _ in 0..1000 {
            let s = h.sample(&mut rng);
            assert!((2_000..=4_000).contains(&s.duration.as_nanos()));
            assert!(s.sample_after <= s.duration);
        }
    }
}
