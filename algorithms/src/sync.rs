//! The plug between a daemon and an algorithm.

use crate::clock::{ClockTime, FfClockParams, signed_count, ticks_between};

/// What the algorithm knows about the counter it is fed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CounterInfo {
    /// Nominal counter frequency, Hz (what the kernel believes at boot).
    pub nominal_hz: f64,
}

impl CounterInfo {
    /// The nominal period, seconds per tick.
    pub fn nominal_period_s(&self) -> f64 {
        1.0 / self.nominal_hz
    }

    /// Counter value scaled by the nominal period: the reading of a clock
    /// that nobody corrects. Exact (to ~1e-18 s) when the nominal
    /// frequency is a whole number of hertz, as every real counter's is.
    pub fn nominal_time(&self, counter: u64) -> ClockTime {
        let counter = signed_count(counter);
        if self.nominal_hz.fract() == 0.0 && self.nominal_hz >= 1.0 && self.nominal_hz < 9.2e18 {
            let f = self.nominal_hz as i64;
            let whole = counter.div_euclid(f);
            let rem = counter.rem_euclid(f);
            ClockTime::from_nanos(i128::from(whole) * 1_000_000_000)
                .add_secs(rem as f64 / self.nominal_hz)
        } else {
            ClockTime::from_secs_f64(counter as f64 / self.nominal_hz)
        }
    }

    /// The counter span of `secs` seconds at the nominal rate (rounded, ≥ 0).
    pub fn ticks_for(&self, secs: f64) -> u64 {
        (secs * self.nominal_hz).round().max(0.0) as u64
    }

    /// Seconds between two counter values at the nominal rate.
    pub fn secs_between(&self, from: u64, to: u64) -> f64 {
        ticks_between(from, to) / self.nominal_hz
    }
}

/// One completed client→server→client exchange.
///
/// `ta`/`tf` are raw client counter values when the request left and the
/// reply arrived; `tb`/`te` are the server's clock, in seconds, when it
/// received the request and sent the reply.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exchange {
    /// Index of the server (in the daemon's server list).
    pub server: usize,
    /// Client raw counter at send.
    pub ta: u64,
    /// Server time at receive, seconds.
    pub tb: f64,
    /// Server time at transmit, seconds.
    pub te: f64,
    /// Client raw counter at receive.
    pub tf: u64,
    /// Server stratum as advertised in the reply (1 = primary reference).
    pub stratum: u8,
    /// True when the server signals a change of its reference (stratum or
    /// refid changed since the previous reply).
    pub server_changed: bool,
}

/// The algorithm's wish to send a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollRequest {
    /// Server index.
    pub server: usize,
    /// Counter value at which to send.
    pub at: u64,
}

/// A synchronization algorithm, driven by a daemon (sans-IO).
///
/// Contract for the driver: counter values passed to [`advance`],
/// [`on_transmit`] and [`on_exchange`] never decrease, and `advance(T)` is
/// called before `on_transmit(_, T)`, `on_exchange` (with `T = tf`) and
/// `read(T)`. Internal timers (ntpd's one-second adjustment) are placed on a
/// grid of counter values, so an algorithm fed the same stamps in the same
/// order always produces the same outputs, live or replayed.
///
/// [`advance`]: SyncAlgorithm::advance
/// [`on_transmit`]: SyncAlgorithm::on_transmit
/// [`on_exchange`]: SyncAlgorithm::on_exchange
pub trait SyncAlgorithm: Send {
    /// The registered name (`"radclock"`, `"ntpd"`, ...).
    fn name(&self) -> &'static str;

    /// Runs internal timers up to counter value `now`.
    fn advance(&mut self, now: u64);

    /// The earliest request the algorithm wants to send, if any.
    fn next_poll(&self) -> Option<PollRequest>;

    /// A request to `server` left at counter `ta`.
    fn on_transmit(&mut self, server: usize, ta: u64);

    /// A reply arrived and completed `ex`.
    fn on_exchange(&mut self, ex: &Exchange);

    /// The clock: time of day at counter value `counter`.
    fn read(&self, counter: u64) -> ClockTime;

    /// The difference clock: the interval from counter `t1` to `t2`, seconds
    /// (at the nominal rate until the algorithm has a rate estimate).
    fn difference(&self, t1: u64, t2: u64) -> f64;

    /// How many times the algorithm has set (stepped) its clock so far. The
    /// kernel announces a set clock to the rest of the system (Linux
    /// `clock_was_set`): a Xen Dom0, for one, pushes its time to the
    /// hypervisor's wall clock at once instead of at its 11-minute sync.
    fn steps(&self) -> u64 {
        0
    }

    /// The algorithm's own estimate of its absolute error bound, seconds.
    fn error_estimate(&self) -> Option<f64> {
        None
    }

    /// Published parameters, for feedforward algorithms whose clock other
    /// domains may read (the dependent clock).
    fn ff_params(&self) -> Option<FfClockParams> {
        None
    }

    /// Names of the per-update trace columns (after the counter column).
    fn trace_columns(&self) -> &'static [&'static str] {
        &[]
    }

    /// Appends the current internal state, one value per trace column.
    /// Called after every exchange the algorithm processed.
    fn trace_row(&self, _out: &mut Vec<f64>) {}
}
