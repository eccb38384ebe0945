//! Baseline clocks: what happens with no synchronization, and with the
//! simplest possible one.
//!
//! * [`FreeRunning`]: the counter scaled by its nominal period. Its error is
//!   the oscillator's time error plus the nominal-rate mismatch.
//! * [`Naive`]: the free-running clock shifted by the offset measured in the
//!   latest exchange alone, `θ = ((Tb − C(Ta)) + (Te − C(Tf)))/2`. It
//!   assumes symmetric one-way delays, so a path asymmetry
//!   `A = d→ − d←` leaves it `A/2` *ahead* of true time, and every queueing
//!   delay enters in full. Useful for teaching, not for use.

use crate::clock::ClockTime;
use crate::sync::{CounterInfo, Exchange, PollRequest, SyncAlgorithm};

/// Polls on a fixed period (shared by the baselines).
#[derive(Clone, Debug)]
struct FixedPoll {
    period_ticks: u64,
    next: Option<u64>,
}

impl FixedPoll {
    fn new(counter: CounterInfo, period_s: f64) -> Self {
        FixedPoll {
            period_ticks: counter.ticks_for(period_s).max(1),
            next: None,
        }
    }
    fn request(&self) -> Option<PollRequest> {
        Some(PollRequest {
            server: 0,
            at: self.next.unwrap_or(0),
        })
    }
    fn sent(&mut self, ta: u64) {
        self.next = Some(ta.saturating_add(self.period_ticks));
    }
}

/// The uncorrected clock `C(T) = T / f_nominal`.
#[derive(Clone, Debug)]
pub struct FreeRunning {
    counter: CounterInfo,
    poll: FixedPoll,
}

impl FreeRunning {
    /// A free-running clock on `counter`; it still polls every `poll_period_s`
    /// so its exchanges can be recorded.
    pub fn new(counter: CounterInfo, poll_period_s: f64) -> Self {
        FreeRunning {
            counter,
            poll: FixedPoll::new(counter, poll_period_s),
        }
    }
}

impl SyncAlgorithm for FreeRunning {
    fn name(&self) -> &'static str {
        "free-running"
    }
    fn advance(&mut self, _now: u64) {}
    fn next_poll(&self) -> Option<PollRequest> {
        self.poll.request()
    }
    fn on_transmit(&mut self, _server: usize, ta: u64) {
        self.poll.sent(ta);
    }
    fn on_exchange(&mut self, _ex: &Exchange) {}
    fn read(&self, counter: u64) -> ClockTime {
        self.counter.nominal_time(counter)
    }
    fn difference(&self, t1: u64, t2: u64) -> f64 {
        self.counter.secs_between(t1, t2)
    }
}

/// The free-running clock corrected by the latest exchange's naive offset.
#[derive(Clone, Debug)]
pub struct Naive {
    counter: CounterInfo,
    poll: FixedPoll,
    offset_s: f64,
}

impl Naive {
    /// A naive clock polling every `poll_period_s`.
    pub fn new(counter: CounterInfo, poll_period_s: f64) -> Self {
        Naive {
            counter,
            poll: FixedPoll::new(counter, poll_period_s),
            offset_s: 0.0,
        }
    }

    /// The offset currently applied, seconds (server minus free-running clock).
    pub fn offset_s(&self) -> f64 {
        self.offset_s
    }
}

impl SyncAlgorithm for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }
    fn advance(&mut self, _now: u64) {}
    fn next_poll(&self) -> Option<PollRequest> {
        self.poll.request()
    }
    fn on_transmit(&mut self, _server: usize, ta: u64) {
        self.poll.sent(ta);
    }
    fn on_exchange(&mut self, ex: &Exchange) {
        let ca = self.counter.nominal_time(ex.ta);
        let cf = self.counter.nominal_time(ex.tf);
        let fwd = ClockTime::from_secs_f64(ex.tb) - ca;
        let back = ClockTime::from_secs_f64(ex.te) - cf;
        self.offset_s = 0.5 * (fwd + back);
    }
    fn read(&self, counter: u64) -> ClockTime {
        self.counter.nominal_time(counter).add_secs(self.offset_s)
    }
    fn difference(&self, t1: u64, t2: u64) -> f64 {
        self.counter.secs_between(t1, t2)
    }
    fn trace_columns(&self) -> &'static [&'static str] {
        &["offset_s"]
    }
    fn trace_row(&self, out: &mut Vec<f64>) {
        out.push(self.offset_s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GHZ: CounterInfo = CounterInfo { nominal_hz: 1e9 };

    #[test]
    fn free_running_is_exact_after_a_year() {
        let c = CounterInfo { nominal_hz: 3e9 };
        let year_ticks = 3_000_000_000u64 * 31_536_000 + 1;
        let r = FreeRunning::new(c, 16.0).read(year_ticks);
        let err = r - ClockTime::from_nanos(31_536_000_000_000_000);
        assert!((err - 1.0 / 3e9).abs() < 1e-15, "{err}");
    }

    #[test]
    fn naive_offset_is_half_the_asymmetry() {
        // Client counter 1 GHz, 5 ms behind true time; forward 150 µs, back 130 µs.
        let mut n = Naive::new(GHZ, 16.0);
        let ta_true = 100.0;
        let ex = Exchange {
            server: 0,
            ta: ((ta_true - 0.005) * 1e9) as u64,
            tb: ta_true + 150e-6,
            te: ta_true + 170e-6,
            tf: ((ta_true + 300e-6 - 0.005) * 1e9) as u64,
            stratum: 1,
            server_changed: false,
        };
        n.on_exchange(&ex);
        let t_true = 200.0;
        let err = n.read(((t_true - 0.005) * 1e9) as u64) - ClockTime::from_secs_f64(t_true);
        assert!((err - 10e-6).abs() < 1e-9, "error {err}");
    }
}
