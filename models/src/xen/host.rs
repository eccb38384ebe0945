//! The host state machine: pCPUs, vCPUs, their work queues, the schedulers,
//! and the packet path through Dom0.
//!
//! ## Work
//!
//! A vCPU has two kinds of work. *Kernel items* (a packet to receive and
//! timestamp, a packet to send, netback work in Dom0) sit in a FIFO and are
//! served first, as interrupts and softirqs pre-empt user code. The *CPU
//! burst* of its workload is served when no item is pending. A vCPU with
//! neither blocks; new work wakes it. Progress is accounted lazily: a
//! running vCPU's work advances when its pCPU is next looked at, and each
//! pCPU arms one timer for the earliest moment a decision is needed (the
//! head item completes, the burst ends, the slice expires, the rate limit
//! lapses, an SEDF slice runs out or a period renews). A generation number
//! retires timers that a later decision superseded.
//!
//! ## Credit1, simplified
//!
//! * Credits are kept in nanoseconds of entitlement (credit1's 10 credits
//!   per ms is a change of unit). Running burns them exactly (as in
//!   Xen ≥ 4.2 `burn_credits`, not by tick sampling), whether or not the
//!   vCPU is active; only active vCPUs earn. So a vCPU that runs only
//!   briefly between ticks drains its credit until a tick catches it
//!   running, and under a cap it may then be parked.
//! * Every `tslice` (on the tick that completes it) `csched_acct` shares
//!   the total `pcpus·tslice` among *active* domains by weight times active
//!   vCPUs, walking them in Xen's list order: a domain earns at most one
//!   slice per active vCPU (`credit_peak`, more only while the system-wide
//!   balance is negative) and at most its cap, and what it cannot take goes
//!   to the domains after it. Its share is split evenly over its active
//!   vCPUs. Credit below zero gives OVER (clamped at −tslice), otherwise
//!   UNDER; credit above +tslice makes the vCPU inactive and halves it. A
//!   vCPU becomes active (its domain joining the head of the list) when a
//!   tick finds it running.
//! * Caps (`cap_pct`): a capped domain's vCPU whose credit falls below
//!   minus its share of the cap is *parked*, paused until an accounting
//!   finds its credit non-negative; it then wakes without BOOST.
//! * A tick that finds a vCPU running in BOOST drops it to UNDER. A vCPU
//!   waking while UNDER gets BOOST. Priorities change only at these points.
//! * Each pCPU has a run queue ordered by priority, FIFO within one. A waking
//!   vCPU goes to its last pCPU, or straight to an idle pCPU it may use
//!   (standing for credit1's tickling of idlers that then steal it). It
//!   pre-empts the current vCPU when its priority is higher, unless the
//!   current one has run less than the rate limit; the decision is then
//!   retaken when the limit lapses (at least `min_timer` later).
//! * A pCPU whose best local candidate is OVER or absent steals the first
//!   higher-priority vCPU from its peers' queues (`csched_load_balance`).
//!   Cache-hot migration delay is 0 (Xen's default).
//!
//! ## SEDF
//!
//! vCPUs stay on their pCPU (SEDF never migrated). Each has a period and a
//! slice; the runnable vCPU with the earliest deadline and slice left runs;
//! when none has slice left, vCPUs with `extratime` share the slack round
//! robin in `extra_quantum` pieces (Xen weights the slack by utilisation;
//! equal shares here). A runnable vCPU's period renews lazily at its
//! deadline, on its grid: the deadline moves on by whole periods and the
//! slice is full again (`update_queues`). A vCPU that wakes at or after its
//! deadline starts a new period at the wake, its deadline one period later,
//! with a full slice (`sedf_wake`'s long-block rule, `unblock_long_cons_b`);
//! one that wakes earlier keeps its period and what is left of its slice.
//!
//! With SEDF-DC, every `dc_interval` the Dom0 CPU used in that interval is
//! split among guests in proportion to their netback packet counts weighted
//! `rx + ratio·tx`, and that debt is subtracted from the guests' next slices
//! (at most one slice per period and vCPU, so a large debt is spread over
//! periods; a best-effort guest, slice 0, never pays its debt).
//!
//! ## Packet path
//!
//! Receive: NIC (DMA, optional coalescing) → event channel → Dom0 vCPU 0
//! queues netback work (per-packet CPU) → event channel → the guest's
//! vCPU 0 queues kernel receive work → timestamp. Dom0's own packets, and a
//! native host's, skip netback. Send: the request queues a send item on the
//! vCPU; the timestamp is taken when the item starts, i.e. when the vCPU
//! actually runs; kernel transmit work follows, then netback in Dom0 for a
//! guest, then the NIC. Waking a vCPU on an idle pCPU costs an IPI and a
//! C-state exit; switching vCPUs costs a context switch.
//!
//! The receive path holds a bounded number of frames, so an overloaded host
//! loses packets instead of queueing them without end. A frame occupies one
//! of the NIC's receive descriptors from its arrival until Dom0 has
//! processed it; with none free the NIC drops it. Netback then puts a
//! guest's frame in the guest's receive ring, whose slot is freed when the
//! guest's kernel has taken the frame; when the ring is full netback holds a
//! few frames in the vif's queue and drops the rest. The model lets those
//! held frames wait in the guest's queue behind the ring's (the same order
//! and the same wait for the guest), and charges Dom0 the full netback cost
//! of a frame it drops, since the driver and the bridge have run by then.
//!
//! A guest's transmit path is bounded the same way. A frame it sends waits
//! in its kernel's device queue (the qdisc), then holds a slot of its
//! netfront transmit ring until netback in Dom0 has processed it; netfront
//! stops the device queue when the ring is full, so frames wait in the qdisc
//! only behind a full ring, and the qdisc drops a frame that finds it full.
//! The model counts a guest's frames from the send request to the end of
//! netback's work (frames waiting for its vCPU stand for the qdisc's) and
//! drops a new send when the count is the ring's plus the qdisc's capacity.
//! Dom0's own sends are not bounded: the model's NIC puts a frame on the
//! wire a fixed time after the driver hands it over, so no transmit
//! descriptor ring fills, and Dom0's frames queue only for its CPU.

use std::collections::VecDeque;

use rand::RngExt;
use sim_core::{SimRng, SimTime};

use super::config::{SchedulerConfig, XenHostConfig};
use super::parametric::StageLog;

const NONE: u32 = u32::MAX;
const UNSET: u64 = u64::MAX;

/// Receive descriptors of the host's NIC, frames: Linux e1000's default
/// `E1000_DEFAULT_RXD` (`drivers/net/e1000/e1000.h`), the driver of the
/// Xen 3.x-era testbeds. A frame keeps its descriptor until Dom0's driver
/// has taken it off the ring.
const NIC_RX_DESCRIPTORS: u32 = 256;

/// Slots of a guest's netfront/netback receive ring, frames:
/// `NET_RX_RING_SIZE` = `__RING_SIZE(netif_rx_sring, PAGE_SIZE)`, 256 with
/// 4 KiB pages (Xen `xen/include/public/io/netif.h` and `io/ring.h`).
const NET_RX_RING_SIZE: u32 = 256;

/// Frames netback queues for a guest whose receive ring is full before it
/// drops them: the vif's transmit queue length `netbk_queue_length` = 32
/// (linux-2.6.18-xen `drivers/xen/netback/interface.c`; `XENVIF_QUEUE_LENGTH`
/// in later xen-netback), behind `netif_be_start_xmit`'s "no receive
/// buffers" drop.
const NETBK_QUEUE_LENGTH: u32 = 32;

/// Frames a guest's device queue holds, frames: pfifo_fast's limit is the
/// device's `tx_queue_len`, 1000 for Ethernet devices (`ether_setup`,
/// `net/ethernet/eth.c`), which netfront's `alloc_etherdev` keeps
/// (linux-2.6.18-xen `drivers/xen/netfront/netfront.c`); a frame that
/// finds it full is dropped (`pfifo_fast_enqueue`, `qdisc_drop`).
const TX_QUEUE_LEN: u32 = 1000;

/// Slots of a guest's netfront/netback transmit ring, frames:
/// `NET_TX_RING_SIZE` = `__RING_SIZE(netif_tx_sring, PAGE_SIZE)`, 256 with
/// 4 KiB pages (Xen `xen/include/public/io/netif.h` and `io/ring.h`).
const NET_TX_RING_SIZE: u32 = 256;

/// Transmit-ring slots netfront keeps free for a largest frame: it stops
/// the device queue once fewer than `MAX_SKB_FRAGS + 2` slots are free
/// (`netfront_tx_slot_available`, linux-2.6.18-xen netfront.c;
/// `MAX_SKB_FRAGS` = 65536 / `PAGE_SIZE` + 2 = 18), so the ring holds at
/// most 236 one-slot frames.
const NETFRONT_TX_SLOTS_KEPT: u32 = 20;

/// Frames a guest may have between its send requests and netback's work
/// before the qdisc drops new ones: a ring at netfront's stop point plus a
/// full qdisc.
const TX_BACKLOG_MAX: u32 = NET_TX_RING_SIZE - NETFRONT_TX_SLOTS_KEPT + TX_QUEUE_LEN;

/// Credit1 priorities, higher wins (BOOST > UNDER > OVER).
const PRI_OVER: i8 = 0;
const PRI_UNDER: i8 = 1;
const PRI_BOOST: i8 = 2;
const PRI_IDLE: i8 = -1;

/// What a kernel work item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ItemKind {
    /// Dom0 forwards a received frame to a guest.
    NetbackRx,
    /// Dom0 puts a guest's frame on the wire.
    NetbackTx,
    /// A kernel receives a frame and timestamps it at the end.
    KernelRx,
    /// A kernel timestamps (at the start) and transmits a frame.
    Send,
}

/// A packet in flight through the host (opaque to the world).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Packet {
    kind: ItemKind,
    /// The domain the packet belongs to.
    dom: u16,
    notify: bool,
    token: u64,
    /// NIC arrival (receive) or send request (send), ns.
    t0_ns: u64,
    /// When queued at its current vCPU, ns.
    enq_ns: u64,
    /// Send timestamp, ns (UNSET before).
    stamp_ns: u64,
    /// CPU already spent on this item, ns.
    done_ns: u64,
}

/// Host-internal events; the world schedules them and hands them back to
/// [`XenHost::handle`] at their time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HostEvent {
    /// A pCPU's decision timer.
    PcpuTimer {
        /// pCPU index.
        pcpu: u16,
        /// Generation; stale timers are ignored.
        generation: u32,
    },
    /// Credit1's accounting tick (all pCPUs).
    Tick,
    /// A packet reaches a vCPU's kernel queue.
    Enqueue {
        /// Global vCPU index.
        vcpu: u16,
        /// The packet.
        pkt: Packet,
    },
    /// A vCPU's next CPU burst begins.
    BurstStart {
        /// Global vCPU index.
        vcpu: u16,
        /// Generation; stale starts (after churn) are ignored.
        generation: u32,
    },
    /// A background packet of a domain's workload.
    Background {
        /// Domain index.
        dom: u16,
        /// Send (true) or receive.
        tx: bool,
    },
    /// A domain starts or stops.
    Churn {
        /// Domain index.
        dom: u16,
        /// The domain's churn generation when scheduled (a hold cancels
        /// pending churn).
        generation: u32,
    },
    /// SEDF-DC accounting interval ends.
    DebtAccount,
    /// ShareGuard checks usage.
    GuardCheck,
    /// ShareGuard lets a guest's traffic through again.
    GuardUnblock {
        /// Domain index.
        dom: u16,
    },
    /// Parametric model: a notification falls due.
    Emit(HostNote),
}

/// What the host tells the world.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HostNote {
    /// The domain's kernel timestamped a received packet at `at` (its vCPU
    /// runs and can read the counter now).
    Delivered {
        /// Domain index.
        domain: usize,
        /// The world's token.
        token: u64,
        /// Time of the timestamp.
        at: SimTime,
    },
    /// The domain's kernel timestamped a packet it sends, at `at`.
    SendStamped {
        /// Domain index.
        domain: usize,
        /// The world's token.
        token: u64,
        /// Time of the timestamp.
        at: SimTime,
    },
    /// The packet leaves the NIC at `at` (possibly after the current time).
    ToNic {
        /// Domain index.
        domain: usize,
        /// The world's token.
        token: u64,
        /// Departure time.
        at: SimTime,
    },
    /// The packet was dropped (domain stopped, NIC or guest receive ring
    /// full, guest transmit queue full, or ShareGuard).
    Dropped {
        /// Domain index.
        domain: usize,
        /// The world's token.
        token: u64,
        /// When.
        at: SimTime,
    },
}

/// Reusable output buffer: follow-up events for the world to schedule and
/// notifications. Clear (or drain) it after each call; its capacity is kept.
#[derive(Clone, Debug, Default)]
pub struct HostOutputs {
    /// `(time, event)` pairs to schedule.
    pub events: Vec<(SimTime, HostEvent)>,
    /// Notifications.
    pub notes: Vec<HostNote>,
}

impl HostOutputs {
    /// Empties both lists, keeping their capacity.
    pub fn clear(&mut self) {
        self.events.clear();
        self.notes.clear();
    }
}

/// CPU accounting of one domain (the isolation scenario's measure).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DomainCpu {
    /// CPU time the domain's own vCPUs consumed, ns.
    pub own_cpu_ns: u64,
    /// Dom0 CPU time spent on this domain's packets (netback), ns.
    pub dom0_on_behalf_ns: u64,
    /// Packets received through netback (or by Dom0's kernel for Dom0).
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets dropped (stopped domain, NIC or receive ring full, transmit
    /// queue full, or ShareGuard).
    pub dropped_packets: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VState {
    Offline,
    Blocked,
    Queued,
    Running,
}

#[derive(Clone, Debug)]
struct Vcpu {
    dom: u16,
    pcpu: u16,
    state: VState,
    items: VecDeque<Packet>,
    /// Remaining CPU of the current burst, ns (UNSET = never ends).
    burst_left_ns: u64,
    burst_gen: u32,
    // credit
    credit_ns: i64,
    pri: i8,
    active: bool,
    /// Paused by its domain's cap until its credit is non-negative.
    parked: bool,
    // sedf
    deadline_ns: u64,
    slice_left_ns: u64,
}

#[derive(Clone, Debug)]
struct Pcpu {
    current: u32,
    last: u32,
    runq: Vec<u16>,
    dispatched_ns: u64,
    progress_ns: u64,
    slice_end_ns: u64,
    resched_at_ns: u64,
    timer_gen: u32,
    timer_at_ns: u64,
    /// SEDF: running in extra time until this instant (UNSET = real time).
    extra_end_ns: u64,
    extra_last: u32,
}

#[derive(Clone, Debug)]
struct Dom {
    /// The domain's workload draws (bursts, churn, background traffic and
    /// its packets' delays): another domain's presence or activity never
    /// shifts them.
    rng: SimRng,
    /// The draws of the packets the world sends and receives for the
    /// domain's daemons (NIC coalescing, the parametric model's delays).
    /// Apart from `rng`, so that the domain's churn, which other domains
    /// see through the count of busy guests, does not depend on whether
    /// its daemons exist.
    packet_rng: SimRng,
    first_vcpu: u16,
    nvcpus: u16,
    weight: u32,
    /// Credit cap, % of one pCPU (0 = none).
    cap_pct: u32,
    affinity_mask: u64,
    online: bool,
    /// Kept offline by the world: a migration slot the guest has not
    /// reached, or has left.
    held: bool,
    churn_gen: u32,
    busy: bool,
    busy_fraction: f64,
    burst_mean_ns: f64,
    think_mean_ns: f64,
    rx_pps: f64,
    tx_pps: f64,
    on_mean_s: f64,
    off_mean_s: f64,
    churns: bool,
    period_ns: u64,
    slice_ns: u64,
    extratime: bool,
    cpu: DomainCpu,
    online_since_ns: u64,
    online_total_ns: u64,
    /// Frames netback has passed to this guest that its kernel has not
    /// taken yet: its receive ring's used slots plus netback's queue.
    rx_ring_used: u32,
    /// Frames this guest asked to send that netback has not processed yet:
    /// its qdisc's and its transmit ring's.
    tx_backlog: u32,
    // SEDF-DC
    dc_rx: u64,
    dc_tx: u64,
    debt_ns: u64,
    // ShareGuard
    cap: f64,
    guard_blocked: bool,
    guard_window_ns: u64,
    guard_base_ns: u64,
}

/// A Xen host (or a native one) that schedules vCPUs and moves packets.
///
/// ```
/// use models::xen::{HostNote, HostOutputs, XenHost, XenHostConfig};
/// use rand::SeedableRng;
/// use sim_core::{EventQueue, SimRng, SimTime};
///
/// let mut host = XenHost::new(XenHostConfig::default(), SimRng::seed_from_u64(1));
/// let mut out = HostOutputs::default();
/// let mut queue = EventQueue::new();
/// host.start(SimTime::ZERO, &mut out);
/// host.packet_from_nic(SimTime::from_secs(1), 0, 7, &mut out);
/// let mut delivered = None;
/// while delivered.is_none() {
///     for (t, e) in out.events.drain(..) { queue.push(t, e); }
///     for n in out.notes.drain(..) {
///         if let HostNote::Delivered { at, .. } = n { delivered = Some(at); }
///     }
///     let Some((t, e)) = queue.pop() else { break };
///     host.handle(t, e, &mut out);
/// }
/// // Dom0 timestamps within tens of microseconds of the NIC arrival.
/// let d = delivered.unwrap().as_nanos() - SimTime::from_secs(1).as_nanos();
/// assert!(d > 10_000 && d < 100_000, "{d}");
/// ```
pub struct XenHost {
    cfg: XenHostConfig,
    /// The hardware's draws (C-state exits); a packet's draws come from
    /// its domain's streams.
    rng: SimRng,
    doms: Vec<Dom>,
    vcpus: Vec<Vcpu>,
    pcpus: Vec<Pcpu>,
    ticks: u64,
    /// Credit1's active domains in `csched_acct`'s walking order.
    active_doms: Vec<u16>,
    /// The order at the start of an accounting pass (kept for its capacity).
    acct_order: Vec<u16>,
    /// Sum of the active vCPUs' credit after the last accounting, ns.
    credit_balance_ns: i64,
    dc_mark_ns: u64,
    /// NIC receive descriptors holding a frame Dom0 has not processed.
    nic_rx_used: u32,
    log: Option<Vec<StageLog>>,
    /// The latest time the host was called at, ns.
    now_ns: u64,
}

fn exp_draw(rng: &mut SimRng, mean: f64) -> f64 {
    let u: f64 = rng.random();
    -mean * (1.0 - u).ln()
}

/// The stream a packet of `dom` draws from: a daemon's packet (one the
/// world is `notify`-ed of) from the domain's packet stream, background
/// traffic from its workload stream, as the rest of its workload.
fn packet_rng(dom: &mut Dom, notify: bool) -> &mut SimRng {
    if notify {
        &mut dom.packet_rng
    } else {
        &mut dom.rng
    }
}

fn at(ns: u64) -> SimTime {
    SimTime::from_nanos(ns)
}

/// `t` plus a drawn delay of `dt_ns`, saturating: a tiny rate or busy
/// fraction draws delays beyond `u64` nanoseconds, and an event at the end
/// of time simply never happens.
fn later(t: u64, dt_ns: f64) -> u64 {
    // `as` saturates a float too large for u64 at u64::MAX.
    t.saturating_add(dt_ns as u64)
}

impl XenHost {
    /// A host in its initial state; call [`XenHost::start`] before use. The
    /// configuration should have passed [`XenHostConfig::validate`]; invalid
    /// values are clamped rather than panicking.
    pub fn new(cfg: XenHostConfig, mut rng: SimRng) -> Self {
        let streams = sim_core::RngStreams::new(rng.random());
        let npcpus = cfg.pcpus.clamp(1, 64);
        let mut doms = Vec::new();
        let mut vcpus = Vec::new();
        let caps = &cfg.share_guard.cap_fraction;
        for (i, d) in cfg.domains().enumerate() {
            let mut mask: u64 = d
                .affinity
                .iter()
                .filter(|&&p| p < npcpus)
                .fold(0, |m, &p| m | (1 << p));
            if mask == 0 {
                mask = if npcpus == 64 {
                    u64::MAX
                } else {
                    (1u64 << npcpus) - 1
                };
            }
            let w = &d.workload;
            let f = w.busy_fraction.clamp(0.0, 1.0);
            let burst = w.burst_mean_ns.max(1) as f64;
            let first = vcpus.len() as u16;
            let nv = d.vcpus.clamp(1, 64);
            for j in 0..nv {
                let allowed: Vec<u16> = (0..npcpus as u16)
                    .filter(|p| mask & (1 << p) != 0)
                    .collect();
                let pcpu = allowed[(first as usize + j) % allowed.len()];
                vcpus.push(Vcpu {
                    dom: i as u16,
                    pcpu,
                    state: VState::Offline,
                    items: VecDeque::with_capacity(64),
                    burst_left_ns: 0,
                    burst_gen: 0,
                    credit_ns: 0,
                    pri: PRI_UNDER,
                    active: false,
                    parked: false,
                    deadline_ns: 0,
                    slice_left_ns: 0,
                });
            }
            doms.push(Dom {
                rng: streams.stream(&format!("dom{i}")),
                packet_rng: streams.stream(&format!("dom{i}/packets")),
                first_vcpu: first,
                nvcpus: nv as u16,
                weight: d.weight.max(1),
                cap_pct: d.cap_pct,
                affinity_mask: mask,
                online: false,
                held: false,
                churn_gen: 0,
                busy: w.is_busy(),
                busy_fraction: f,
                burst_mean_ns: burst,
                think_mean_ns: if f > 0.0 {
                    burst * (1.0 - f) / f
                } else {
                    f64::INFINITY
                },
                rx_pps: w.rx_pps.max(0.0),
                tx_pps: w.tx_pps.max(0.0),
                on_mean_s: w.churn.as_ref().map_or(0.0, |c| c.on_mean_s),
                off_mean_s: w.churn.as_ref().map_or(0.0, |c| c.off_mean_s),
                churns: w.churn.is_some(),
                period_ns: d.sedf.period_ns.max(10_000),
                slice_ns: d.sedf.slice_ns.min(d.sedf.period_ns),
                extratime: d.sedf.extratime,
                cpu: DomainCpu::default(),
                online_since_ns: 0,
                online_total_ns: 0,
                rx_ring_used: 0,
                tx_backlog: 0,
                dc_rx: 0,
                dc_tx: 0,
                debt_ns: 0,
                cap: if i == 0 {
                    -1.0
                } else {
                    caps.get(i - 1).copied().unwrap_or(-1.0)
                },
                guard_blocked: false,
                guard_window_ns: 0,
                guard_base_ns: 0,
            });
        }
        let nv = vcpus.len();
        let doms_len = doms.len();
        let pcpus = (0..npcpus)
            .map(|_| Pcpu {
                current: NONE,
                last: NONE,
                runq: Vec::with_capacity(nv),
                dispatched_ns: 0,
                progress_ns: 0,
                slice_end_ns: 0,
                resched_at_ns: UNSET,
                timer_gen: 0,
                timer_at_ns: UNSET,
                extra_end_ns: UNSET,
                extra_last: NONE,
            })
            .collect();
        XenHost {
            cfg,
            rng,
            doms,
            vcpus,
            pcpus,
            ticks: 0,
            active_doms: Vec::with_capacity(doms_len),
            acct_order: Vec::with_capacity(doms_len),
            credit_balance_ns: 0,
            dc_mark_ns: 0,
            nic_rx_used: 0,
            log: None,
            now_ns: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &XenHostConfig {
        &self.cfg
    }

    /// Number of domains (Dom0 + guests).
    pub fn domains(&self) -> usize {
        self.doms.len()
    }

    /// Records every packet's stage delays (for calibration and tests).
    /// Off by default: recording allocates.
    pub fn record_delays(&mut self, on: bool) {
        self.log = on.then(|| vec![StageLog::default(); self.doms.len()]);
    }

    /// Takes the recorded stage delays, one log per domain (empty if
    /// recording was off), and keeps recording into fresh logs.
    pub fn take_delay_log(&mut self) -> Vec<StageLog> {
        match &mut self.log {
            Some(l) => std::mem::replace(l, vec![StageLog::default(); self.doms.len()]),
            None => Vec::new(),
        }
    }

    fn is_parametric(&self) -> bool {
        matches!(self.cfg.scheduler, SchedulerConfig::Parametric(_))
    }

    /// Starts workloads, churn and the scheduler's periodic events at `now`.
    pub fn start(&mut self, now: SimTime, out: &mut HostOutputs) {
        let t = now.as_nanos();
        self.now_ns = self.now_ns.max(t);
        match &self.cfg.scheduler {
            SchedulerConfig::Credit(c) => out.events.push((at(t + c.tick_ns), HostEvent::Tick)),
            SchedulerConfig::Sedf(s) if s.debt_collector => {
                out.events
                    .push((at(t + s.dc_interval_ns), HostEvent::DebtAccount));
            }
            _ => {}
        }
        if self.cfg.share_guard.enabled && !self.is_parametric() {
            out.events.push((
                at(t + self.cfg.share_guard.interval_ns),
                HostEvent::GuardCheck,
            ));
        }
        for d in 0..self.doms.len() {
            let start_on = self
                .cfg
                .domains()
                .nth(d)
                .and_then(|c| c.workload.churn.as_ref())
                .is_none_or(|c| c.start_on);
            if start_on {
                self.set_online(t, d, out);
            } else if self.doms[d].churns {
                let dom = &mut self.doms[d];
                let dt = exp_draw(&mut dom.rng, dom.off_mean_s * 1e9);
                self.schedule_churn(later(t, dt), d, out);
            }
            for tx in [false, true] {
                let rate = if tx {
                    self.doms[d].tx_pps
                } else {
                    self.doms[d].rx_pps
                };
                if rate > 0.0 {
                    let dt = exp_draw(&mut self.doms[d].rng, 1e9 / rate);
                    out.events.push((
                        at(later(t, dt)),
                        HostEvent::Background { dom: d as u16, tx },
                    ));
                }
            }
        }
    }

    /// Handles one of the host's own events at `now`.
    pub fn handle(&mut self, now: SimTime, ev: HostEvent, out: &mut HostOutputs) {
        let t = now.as_nanos();
        self.now_ns = self.now_ns.max(t);
        match ev {
            HostEvent::PcpuTimer { pcpu, generation } => {
                let p = pcpu as usize;
                if p < self.pcpus.len() && self.pcpus[p].timer_gen == generation {
                    self.pcpus[p].timer_at_ns = UNSET;
                    self.resched(p, t, out);
                }
            }
            HostEvent::Tick => self.tick(t, out),
            HostEvent::Enqueue { vcpu, pkt } => self.enqueue(t, vcpu as usize, pkt, out),
            HostEvent::BurstStart { vcpu, generation } => {
                self.burst_start(t, vcpu as usize, generation, out)
            }
            HostEvent::Background { dom, tx } => {
                let d = dom as usize;
                if self.doms[d].online {
                    if tx {
                        self.send_request(t, d, 0, false, out);
                    } else {
                        self.nic_arrival(t, d, 0, false, out);
                    }
                }
                let rate = if tx {
                    self.doms[d].tx_pps
                } else {
                    self.doms[d].rx_pps
                };
                let dt = exp_draw(&mut self.doms[d].rng, 1e9 / rate);
                out.events
                    .push((at(later(t, dt.max(1.0))), HostEvent::Background { dom, tx }));
            }
            HostEvent::Churn { dom, generation } => {
                let d = dom as usize;
                if self.doms[d].held || self.doms[d].churn_gen != generation {
                    return;
                }
                if self.doms[d].online {
                    self.set_offline(t, d, out);
                    let dom = &mut self.doms[d];
                    let dt = exp_draw(&mut dom.rng, dom.off_mean_s * 1e9);
                    self.schedule_churn(later(t, dt), d, out);
                } else {
                    self.set_online(t, d, out);
                }
            }
            HostEvent::DebtAccount => self.debt_account(t, out),
            HostEvent::GuardCheck => self.guard_check(t, out),
            HostEvent::GuardUnblock { dom } => {
                let d = &mut self.doms[dom as usize];
                d.guard_blocked = false;
                d.guard_window_ns = t;
            }
            HostEvent::Emit(n) => out.notes.push(n),
        }
    }

    /// A frame for `domain` arrives at the NIC at `now`; `token` comes back
    /// in the notifications.
    pub fn packet_from_nic(
        &mut self,
        now: SimTime,
        domain: usize,
        token: u64,
        out: &mut HostOutputs,
    ) {
        self.now_ns = self.now_ns.max(now.as_nanos());
        self.nic_arrival(now.as_nanos(), domain, token, true, out);
    }

    /// `domain`'s daemon sends a packet at `now` (its timer fires): the
    /// kernel timestamps it when the domain's vCPU runs
    /// ([`HostNote::SendStamped`]), then it goes out ([`HostNote::ToNic`]).
    pub fn packet_from_guest(
        &mut self,
        now: SimTime,
        domain: usize,
        token: u64,
        out: &mut HostOutputs,
    ) {
        self.now_ns = self.now_ns.max(now.as_nanos());
        self.send_request(now.as_nanos(), domain, token, true, out);
    }

    /// Takes `domain` offline at `now` and keeps it so, whatever its churn
    /// process, until [`release`](Self::release): a migrating guest that
    /// has left this slot, or not yet arrived in it.
    pub fn hold(&mut self, now: SimTime, domain: usize, out: &mut HostOutputs) {
        self.now_ns = self.now_ns.max(now.as_nanos());
        let Some(d) = self.doms.get_mut(domain) else {
            return;
        };
        d.held = true;
        d.churn_gen = d.churn_gen.wrapping_add(1);
        if d.online {
            self.set_offline(now.as_nanos(), domain, out);
        }
    }

    /// Brings a held `domain` online at `now` (a migrated guest resumes in
    /// this slot); its churn process, if any, starts over.
    pub fn release(&mut self, now: SimTime, domain: usize, out: &mut HostOutputs) {
        self.now_ns = self.now_ns.max(now.as_nanos());
        let Some(d) = self.doms.get_mut(domain) else {
            return;
        };
        if !d.held {
            return;
        }
        d.held = false;
        if !d.online {
            self.set_online(now.as_nanos(), domain, out);
        }
    }

    /// Whether one of `domain`'s vCPUs is running now; `None` for the
    /// parametric model, which does not track vCPUs.
    pub fn domain_running(&self, domain: usize) -> Option<bool> {
        if self.is_parametric() {
            return None;
        }
        let d = self.doms.get(domain)?;
        let r = d.first_vcpu as usize..(d.first_vcpu + d.nvcpus) as usize;
        Some(self.vcpus[r].iter().any(|v| v.state == VState::Running))
    }

    /// The physical CPU of `domain`'s first vCPU: where it runs, or the
    /// pCPU whose run queue it waits on or that it last ran on. `None` for
    /// the parametric model, which does not place vCPUs.
    pub fn vcpu_pcpu(&self, domain: usize) -> Option<usize> {
        if self.is_parametric() {
            return None;
        }
        let d = self.doms.get(domain)?;
        Some(usize::from(self.vcpus[usize::from(d.first_vcpu)].pcpu))
    }

    /// Number of guests currently online with a non-idle workload.
    pub fn busy_guests(&self) -> usize {
        self.doms
            .iter()
            .skip(1)
            .filter(|d| d.online && d.busy)
            .count()
    }

    /// CPU accounting of `domain` up to the last call the host handled
    /// (see [`cpu_account_at`](Self::cpu_account_at)).
    pub fn cpu_account(&self, domain: usize) -> DomainCpu {
        self.cpu_account_at(domain, at(self.now_ns))
    }

    /// CPU accounting of `domain` at `now` (the last call the host handled,
    /// if later).
    ///
    /// The explicit schedulers count the CPU each vCPU used up to the last
    /// event handled. The parametric model, which runs no vCPUs, counts
    /// what the explicit model would without contention: each vCPU's busy
    /// fraction of the domain's online time up to `now`, plus the kernel's
    /// cost of each packet (a guest's netfront driver included); Dom0's own
    /// CPU also includes the netback work it does for the guests, as it
    /// does in the explicit model.
    pub fn cpu_account_at(&self, domain: usize, now: SimTime) -> DomainCpu {
        let Some(d) = self.doms.get(domain) else {
            return DomainCpu::default();
        };
        let mut c = d.cpu;
        if self.is_parametric() {
            let k = &self.cfg.costs;
            let t = now.as_nanos().max(self.now_ns);
            let mut online_ns = d.online_total_ns;
            if d.online {
                online_ns += t.saturating_sub(d.online_since_ns);
            }
            let front = if domain == 0 { 0 } else { k.netfront_ns };
            c.own_cpu_ns = (d.busy_fraction * f64::from(d.nvcpus) * online_ns as f64) as u64
                + c.rx_packets * (k.kernel_rx_ns + front)
                + c.tx_packets * (k.kernel_tx_ns + front);
            if domain == 0 {
                c.own_cpu_ns += self.doms[1..]
                    .iter()
                    .map(|g| g.cpu.dom0_on_behalf_ns)
                    .sum::<u64>();
            }
        }
        c
    }

    // ----------------------------------------------------------------- I/O

    fn nic_arrival(&mut self, t: u64, d: usize, token: u64, notify: bool, out: &mut HostOutputs) {
        if d >= self.doms.len() {
            return;
        }
        if !self.doms[d].online {
            self.drop_pkt(t, d, token, notify, out);
            return;
        }
        let k = &self.cfg.costs;
        if let SchedulerConfig::Parametric(p) = &self.cfg.scheduler {
            let tab = p.table(self.busy_guests());
            let s = if d == 0 { &tab.dom0 } else { &tab.domu };
            let rng = packet_rng(&mut self.doms[d], notify);
            let dt = s
                .rx_backend
                .sample(rng)
                .saturating_add(s.rx_wake.sample(rng));
            self.doms[d].cpu.rx_packets += 1;
            if d != 0 {
                self.doms[d].cpu.dom0_on_behalf_ns += k.netback_rx_ns;
            }
            if notify {
                let a = at(t.saturating_add(dt));
                out.events.push((
                    a,
                    HostEvent::Emit(HostNote::Delivered {
                        domain: d,
                        token,
                        at: a,
                    }),
                ));
            }
            return;
        }
        let mut delay = k.nic_rx_ns;
        if k.nic_coalesce_max_ns > 0 {
            let rng = packet_rng(&mut self.doms[d], notify);
            delay += rng.random_range(0..=k.nic_coalesce_max_ns);
        }
        if !self.cfg.native {
            delay += k.evtchn_ns;
        }
        if self.nic_rx_used >= NIC_RX_DESCRIPTORS {
            self.drop_pkt(t, d, token, notify, out);
            return;
        }
        self.nic_rx_used += 1;
        let kind = if d == 0 {
            ItemKind::KernelRx
        } else {
            ItemKind::NetbackRx
        };
        let pkt = Packet {
            kind,
            dom: d as u16,
            notify,
            token,
            t0_ns: t,
            enq_ns: 0,
            stamp_ns: UNSET,
            done_ns: 0,
        };
        let v = self.doms[0].first_vcpu;
        out.events
            .push((at(t + delay), HostEvent::Enqueue { vcpu: v, pkt }));
    }

    fn send_request(&mut self, t: u64, d: usize, token: u64, notify: bool, out: &mut HostOutputs) {
        if d >= self.doms.len() {
            return;
        }
        if !self.doms[d].online {
            self.drop_pkt(t, d, token, notify, out);
            return;
        }
        if let SchedulerConfig::Parametric(p) = &self.cfg.scheduler {
            let tab = p.table(self.busy_guests());
            let s = if d == 0 { &tab.dom0 } else { &tab.domu };
            let rng = packet_rng(&mut self.doms[d], notify);
            let w = s.send_wake.sample(rng);
            let x = s.tx.sample(rng);
            self.doms[d].cpu.tx_packets += 1;
            if d != 0 {
                self.doms[d].cpu.dom0_on_behalf_ns += self.cfg.costs.netback_tx_ns;
            }
            if notify {
                let a = at(t.saturating_add(w));
                out.events.push((
                    a,
                    HostEvent::Emit(HostNote::SendStamped {
                        domain: d,
                        token,
                        at: a,
                    }),
                ));
                let b = at(t.saturating_add(w).saturating_add(x));
                out.events.push((
                    a,
                    HostEvent::Emit(HostNote::ToNic {
                        domain: d,
                        token,
                        at: b,
                    }),
                ));
            }
            return;
        }
        if d != 0 {
            if self.doms[d].tx_backlog >= TX_BACKLOG_MAX {
                self.drop_pkt(t, d, token, notify, out);
                return;
            }
            self.doms[d].tx_backlog += 1;
        }
        let pkt = Packet {
            kind: ItemKind::Send,
            dom: d as u16,
            notify,
            token,
            t0_ns: t,
            enq_ns: 0,
            stamp_ns: UNSET,
            done_ns: 0,
        };
        let v = self.doms[d].first_vcpu as usize;
        self.enqueue(t, v, pkt, out);
    }

    /// Drops a packet already on the explicit path, freeing the NIC
    /// descriptor, ring slot or queue place it holds.
    fn discard(&mut self, t: u64, pkt: &Packet, out: &mut HostOutputs) {
        self.free_slot(pkt);
        self.drop_pkt(t, pkt.dom as usize, pkt.token, pkt.notify, out);
    }

    /// Frees what `pkt` holds: a received frame waiting for Dom0 (netback
    /// work, or Dom0's own kernel receive) holds a NIC descriptor, one
    /// waiting for a guest's kernel a slot of the guest's receive ring; a
    /// guest's frame to send holds a place in its transmit backlog until
    /// netback has processed it.
    fn free_slot(&mut self, pkt: &Packet) {
        let d = pkt.dom as usize;
        match pkt.kind {
            ItemKind::NetbackRx => self.nic_rx_used -= 1,
            ItemKind::KernelRx if d == 0 => self.nic_rx_used -= 1,
            ItemKind::KernelRx => self.doms[d].rx_ring_used -= 1,
            // Dom0 sends through no ring (see the module docs).
            ItemKind::Send if d == 0 => {}
            ItemKind::NetbackTx | ItemKind::Send => self.doms[d].tx_backlog -= 1,
        }
    }

    fn drop_pkt(&mut self, t: u64, d: usize, token: u64, notify: bool, out: &mut HostOutputs) {
        self.doms[d].cpu.dropped_packets += 1;
        if notify {
            out.notes.push(HostNote::Dropped {
                domain: d,
                token,
                at: at(t),
            });
        }
    }

    /// CPU cost of an item; a guest's kernel also runs its netfront driver.
    fn cost(&self, pkt: &Packet) -> u64 {
        let k = &self.cfg.costs;
        let front = if pkt.dom == 0 { 0 } else { k.netfront_ns };
        match pkt.kind {
            ItemKind::NetbackRx => k.netback_rx_ns,
            ItemKind::NetbackTx => k.netback_tx_ns,
            ItemKind::KernelRx => k.kernel_rx_ns + front,
            ItemKind::Send => k.kernel_tx_ns + front,
        }
    }

    fn enqueue(&mut self, t: u64, v: usize, mut pkt: Packet, out: &mut HostOutputs) {
        let owner = pkt.dom as usize;
        let vdom = self.vcpus[v].dom as usize;
        let netback = matches!(pkt.kind, ItemKind::NetbackRx | ItemKind::NetbackTx);
        if !self.doms[vdom].online || (netback && self.doms[owner].guard_blocked) {
            self.discard(t, &pkt, out);
            return;
        }
        pkt.enq_ns = t;
        if pkt.kind == ItemKind::KernelRx
            && let Some(l) = &mut self.log
        {
            l[owner].rx_backend_ns.push(t - pkt.t0_ns);
        }
        match self.vcpus[v].state {
            VState::Running => {
                let p = self.vcpus[v].pcpu as usize;
                self.account(p, t, out);
                self.vcpus[v].items.push_back(pkt);
                self.set_timer(p, t, out);
            }
            VState::Queued => self.vcpus[v].items.push_back(pkt),
            VState::Blocked => {
                self.vcpus[v].items.push_back(pkt);
                if !self.vcpus[v].parked {
                    self.wake(t, v, true, out);
                }
            }
            VState::Offline => self.discard(t, &pkt, out),
        }
    }

    /// Effects of a finished (or, for a send, started) item at time `t`.
    fn item_done(&mut self, t: u64, pkt: Packet, out: &mut HostOutputs) {
        let d = pkt.dom as usize;
        let k = &self.cfg.costs;
        match pkt.kind {
            ItemKind::NetbackRx => {
                let (c, evtchn) = (k.netback_rx_ns, k.evtchn_ns);
                self.free_slot(&pkt);
                self.doms[d].cpu.dom0_on_behalf_ns += c;
                if self.doms[d].rx_ring_used >= NET_RX_RING_SIZE + NETBK_QUEUE_LENGTH {
                    self.drop_pkt(t, d, pkt.token, pkt.notify, out);
                    return;
                }
                let dd = &mut self.doms[d];
                dd.rx_ring_used += 1;
                dd.cpu.rx_packets += 1;
                dd.dc_rx += 1;
                let next = Packet {
                    kind: ItemKind::KernelRx,
                    done_ns: 0,
                    ..pkt
                };
                let v = dd.first_vcpu;
                out.events
                    .push((at(t + evtchn), HostEvent::Enqueue { vcpu: v, pkt: next }));
            }
            ItemKind::NetbackTx => {
                let c = k.netback_tx_ns;
                self.free_slot(&pkt);
                let dd = &mut self.doms[d];
                dd.cpu.dom0_on_behalf_ns += c;
                dd.cpu.tx_packets += 1;
                dd.dc_tx += 1;
                self.leave_nic(t, pkt, out);
            }
            ItemKind::KernelRx => {
                self.free_slot(&pkt);
                if d == 0 {
                    self.doms[0].cpu.rx_packets += 1;
                }
                if let Some(l) = &mut self.log {
                    l[d].rx_wake_ns.push(t - pkt.enq_ns);
                }
                if pkt.notify {
                    out.notes.push(HostNote::Delivered {
                        domain: d,
                        token: pkt.token,
                        at: at(t),
                    });
                }
            }
            ItemKind::Send => {
                if d == 0 {
                    self.doms[0].cpu.tx_packets += 1;
                    self.leave_nic(t, pkt, out);
                } else {
                    let next = Packet {
                        kind: ItemKind::NetbackTx,
                        done_ns: 0,
                        ..pkt
                    };
                    let v = self.doms[0].first_vcpu;
                    out.events.push((
                        at(t + k.evtchn_ns),
                        HostEvent::Enqueue { vcpu: v, pkt: next },
                    ));
                }
            }
        }
    }

    fn send_stamped(&mut self, t: u64, pkt: &mut Packet, out: &mut HostOutputs) {
        pkt.stamp_ns = t;
        if let Some(l) = &mut self.log {
            l[pkt.dom as usize].send_wake_ns.push(t - pkt.t0_ns);
        }
        if pkt.notify {
            out.notes.push(HostNote::SendStamped {
                domain: pkt.dom as usize,
                token: pkt.token,
                at: at(t),
            });
        }
    }

    fn leave_nic(&mut self, t: u64, pkt: Packet, out: &mut HostOutputs) {
        let leave = t + self.cfg.costs.nic_tx_ns;
        if let Some(l) = &mut self.log {
            l[pkt.dom as usize]
                .tx_ns
                .push(leave - pkt.stamp_ns.min(leave));
        }
        if pkt.notify {
            out.notes.push(HostNote::ToNic {
                domain: pkt.dom as usize,
                token: pkt.token,
                at: at(leave),
            });
        }
    }

    // ------------------------------------------------------------ workload

    fn burst_start(&mut self, t: u64, v: usize, generation: u32, out: &mut HostOutputs) {
        let vc = &self.vcpus[v];
        if vc.burst_gen != generation || vc.state == VState::Offline {
            return;
        }
        let d = &mut self.doms[vc.dom as usize];
        let len = if d.busy_fraction >= 1.0 {
            UNSET
        } else {
            exp_draw(&mut d.rng, d.burst_mean_ns).max(1.0) as u64
        };
        match self.vcpus[v].state {
            VState::Running => {
                let p = self.vcpus[v].pcpu as usize;
                self.account(p, t, out);
                self.vcpus[v].burst_left_ns = len;
                self.set_timer(p, t, out);
            }
            VState::Blocked => {
                self.vcpus[v].burst_left_ns = len;
                if !self.vcpus[v].parked {
                    self.wake(t, v, true, out);
                }
            }
            _ => self.vcpus[v].burst_left_ns = len,
        }
    }

    fn set_online(&mut self, t: u64, d: usize, out: &mut HostOutputs) {
        let dom = &mut self.doms[d];
        dom.online = true;
        dom.online_since_ns = t;
        let (first, n, f, think) = (
            dom.first_vcpu as usize,
            dom.nvcpus as usize,
            dom.busy_fraction,
            dom.think_mean_ns,
        );
        let churns = dom.churns;
        let on_mean = dom.on_mean_s;
        for v in first..first + n {
            let vc = &mut self.vcpus[v];
            vc.state = VState::Blocked;
            vc.burst_gen = vc.burst_gen.wrapping_add(1);
            if f > 0.0 {
                // Start in a burst with probability f, as in the stationary regime.
                let rng = &mut self.doms[d].rng;
                let delay = if rng.random::<f64>() < f {
                    0.0
                } else {
                    exp_draw(rng, think)
                };
                out.events.push((
                    at(later(t, delay)),
                    HostEvent::BurstStart {
                        vcpu: v as u16,
                        generation: vc.burst_gen,
                    },
                ));
            }
        }
        if churns {
            let dt = exp_draw(&mut self.doms[d].rng, on_mean * 1e9);
            self.schedule_churn(later(t, dt), d, out);
        }
    }

    /// Schedules `d`'s next churn toggle at `t_ns`, cancelling any other.
    fn schedule_churn(&mut self, t_ns: u64, d: usize, out: &mut HostOutputs) {
        let dom = &mut self.doms[d];
        dom.churn_gen = dom.churn_gen.wrapping_add(1);
        out.events.push((
            at(t_ns),
            HostEvent::Churn {
                dom: d as u16,
                generation: dom.churn_gen,
            },
        ));
    }

    fn set_offline(&mut self, t: u64, d: usize, out: &mut HostOutputs) {
        let dom = &mut self.doms[d];
        dom.online = false;
        dom.online_total_ns += t - dom.online_since_ns;
        let (first, n) = (dom.first_vcpu as usize, dom.nvcpus as usize);
        for v in first..first + n {
            let p = self.vcpus[v].pcpu as usize;
            match self.vcpus[v].state {
                VState::Running => self.account(p, t, out),
                VState::Queued => {
                    self.runq_remove(p, v);
                }
                _ => {}
            }
            let was_running = self.vcpus[v].state == VState::Running;
            let vc = &mut self.vcpus[v];
            vc.burst_left_ns = 0;
            vc.burst_gen = vc.burst_gen.wrapping_add(1);
            if !was_running {
                vc.state = VState::Offline;
            }
            while let Some(pkt) = self.vcpus[v].items.pop_front() {
                self.discard(t, &pkt, out);
            }
            if was_running {
                self.resched(p, t, out);
            }
        }
    }

    // ------------------------------------------------------------ scheduling

    fn runnable(&self, v: usize) -> bool {
        let vc = &self.vcpus[v];
        self.doms[vc.dom as usize].online
            && !vc.parked
            && (!vc.items.is_empty() || vc.burst_left_ns > 0)
    }

    fn allowed(&self, v: usize, p: usize) -> bool {
        self.doms[self.vcpus[v].dom as usize].affinity_mask & (1 << p) != 0
    }

    /// Advances the running vCPU's work on `p` up to `t`.
    fn account(&mut self, p: usize, t: u64, out: &mut HostOutputs) {
        let cur = self.pcpus[p].current;
        if cur == NONE {
            return;
        }
        let v = cur as usize;
        let start = self.pcpus[p].progress_ns;
        if t < start {
            return;
        }
        let mut now = start;
        let mut budget = t - start;
        loop {
            if let Some(&head) = self.vcpus[v].items.front() {
                if head.kind == ItemKind::Send && head.stamp_ns == UNSET {
                    let mut h = head;
                    self.send_stamped(now, &mut h, out);
                    *self.vcpus[v].items.front_mut().expect("head exists") = h;
                    continue;
                }
                let need = self.cost(&head).saturating_sub(head.done_ns);
                if need <= budget {
                    now += need;
                    budget -= need;
                    let pkt = self.vcpus[v].items.pop_front().expect("head exists");
                    self.item_done(now, pkt, out);
                    continue;
                }
                self.vcpus[v]
                    .items
                    .front_mut()
                    .expect("head exists")
                    .done_ns += budget;
                now += budget;
                break;
            }
            let left = self.vcpus[v].burst_left_ns;
            if left == UNSET {
                now += budget;
            } else if left > 0 {
                let c = left.min(budget);
                now += c;
                self.vcpus[v].burst_left_ns -= c;
                if self.vcpus[v].burst_left_ns == 0 {
                    let d = &mut self.doms[self.vcpus[v].dom as usize];
                    let think = exp_draw(&mut d.rng, d.think_mean_ns);
                    let generation = self.vcpus[v].burst_gen;
                    out.events.push((
                        at(later(now, think)),
                        HostEvent::BurstStart {
                            vcpu: v as u16,
                            generation,
                        },
                    ));
                }
            }
            break;
        }
        let used = now - start;
        let vc = &mut self.vcpus[v];
        vc.credit_ns -= used as i64;
        if self.pcpus[p].extra_end_ns == UNSET {
            vc.slice_left_ns = vc.slice_left_ns.saturating_sub(used);
        }
        self.doms[vc.dom as usize].cpu.own_cpu_ns += used;
        self.pcpus[p].progress_ns = t;
    }

    /// Makes blocked vCPU `v` runnable. `boost`: it may get BOOST (not when
    /// an accounting unparks it, `csched_vcpu_wake`'s parked test).
    fn wake(&mut self, t: u64, v: usize, boost: bool, out: &mut HostOutputs) {
        self.vcpus[v].state = VState::Queued;
        let home = self.vcpus[v].pcpu as usize;
        match &self.cfg.scheduler {
            SchedulerConfig::Credit(c) => {
                if boost && c.boost && self.vcpus[v].pri == PRI_UNDER {
                    self.vcpus[v].pri = PRI_BOOST;
                }
                let target = if self.pcpus[home].current == NONE && self.allowed(v, home) {
                    home
                } else {
                    (0..self.pcpus.len())
                        .find(|&q| self.pcpus[q].current == NONE && self.allowed(v, q))
                        .unwrap_or(home)
                };
                self.vcpus[v].pcpu = target as u16;
                self.runq_insert(target, v);
                let cur = self.pcpus[target].current;
                if cur == NONE || self.vcpus[v].pri > self.vcpus[cur as usize].pri {
                    self.resched(target, t, out);
                }
            }
            SchedulerConfig::Sedf(_) => {
                self.sedf_wake(v, t);
                self.pcpus[home].runq.push(v as u16);
                self.resched(home, t, out);
            }
            SchedulerConfig::Parametric(_) => {}
        }
    }

    fn runq_insert(&mut self, p: usize, v: usize) {
        let pri = self.vcpus[v].pri;
        let q = &self.pcpus[p].runq;
        let pos = q
            .iter()
            .position(|&x| self.vcpus[x as usize].pri < pri)
            .unwrap_or(q.len());
        self.pcpus[p].runq.insert(pos, v as u16);
    }

    /// Takes `v` off `p`'s run queue; false if it was not on it.
    fn runq_remove(&mut self, p: usize, v: usize) -> bool {
        let q = &mut self.pcpus[p].runq;
        let found = q.iter().position(|&x| x as usize == v);
        if let Some(i) = found {
            q.remove(i);
        }
        found.is_some()
    }

    fn resched(&mut self, p: usize, t: u64, out: &mut HostOutputs) {
        match &self.cfg.scheduler {
            SchedulerConfig::Credit(_) => self.resched_credit(p, t, out),
            SchedulerConfig::Sedf(_) => self.resched_sedf(p, t, out),
            SchedulerConfig::Parametric(_) => {}
        }
    }

    /// Credit1's best candidate for `p`: `(queue pCPU, index)`.
    /// `running` is the priority of `p`'s current vCPU if it may go on.
    ///
    /// Xen's `csched_schedule` puts a runnable current vCPU back on the
    /// local queue before it looks at the head: only when that head is OVER
    /// or idle does `csched_load_balance` look at the peers, and it takes
    /// only a vCPU of strictly higher priority. So a pCPU never steals a
    /// peer's vCPU of its own running vCPU's priority.
    fn credit_pick(&self, p: usize, running: Option<i8>) -> Option<(usize, usize)> {
        let local = self.pcpus[p]
            .runq
            .first()
            .map(|&x| self.vcpus[x as usize].pri);
        let head = local.max(running);
        if head.is_some_and(|pri| pri > PRI_OVER) {
            return local.map(|_| (p, 0));
        }
        let floor = head.unwrap_or(PRI_IDLE);
        let n = self.pcpus.len();
        for off in 1..n {
            let q = (p + off) % n;
            for (i, &x) in self.pcpus[q].runq.iter().enumerate() {
                let x = x as usize;
                if self.vcpus[x].pri <= floor {
                    break;
                }
                if self.allowed(x, p) {
                    return Some((q, i));
                }
            }
        }
        local.map(|_| (p, 0))
    }

    fn resched_credit(&mut self, p: usize, t: u64, out: &mut HostOutputs) {
        let SchedulerConfig::Credit(c) = &self.cfg.scheduler else {
            return;
        };
        let (tslice, ratelimit, min_timer) = (c.tslice_ns, c.ratelimit_ns, c.min_timer_ns);
        self.account(p, t, out);
        self.pcpus[p].resched_at_ns = UNSET;
        let cur = self.pcpus[p].current;
        let cur_ok = cur != NONE && self.runnable(cur as usize);
        let cand = self.credit_pick(p, cur_ok.then(|| self.vcpus[cur as usize].pri));
        if cur_ok {
            let c = cur as usize;
            let cpri = self.vcpus[c].pri;
            let expired = t >= self.pcpus[p].slice_end_ns;
            let wants = cand.is_some_and(|(q, i)| {
                let xp = self.vcpus[self.pcpus[q].runq[i] as usize].pri;
                xp > cpri || (expired && xp >= cpri)
            });
            if wants {
                let runtime = t - self.pcpus[p].dispatched_ns;
                if ratelimit > 0 && runtime < ratelimit {
                    self.pcpus[p].resched_at_ns =
                        (self.pcpus[p].dispatched_ns + ratelimit).max(t + min_timer);
                } else {
                    let (q, i) = cand.expect("wants implies a candidate");
                    let x = self.pcpus[q].runq.remove(i) as usize;
                    self.vcpus[c].state = VState::Queued;
                    self.runq_insert(p, c);
                    self.switch_to(p, x, t, false, tslice);
                    self.kick_idle(c, p, t, out);
                }
            } else if expired {
                self.pcpus[p].slice_end_ns = t + tslice;
            }
        } else {
            let was_idle = cur == NONE;
            if !was_idle {
                let c = cur as usize;
                self.vcpus[c].state = if self.doms[self.vcpus[c].dom as usize].online {
                    VState::Blocked
                } else {
                    VState::Offline
                };
                self.pcpus[p].last = cur;
                self.pcpus[p].current = NONE;
            }
            if let Some((q, i)) = cand {
                let x = self.pcpus[q].runq.remove(i) as usize;
                self.switch_to(p, x, t, was_idle, tslice);
            }
        }
        self.set_timer(p, t, out);
    }

    /// A vCPU pre-empted onto `p`'s queue moves to an idle pCPU if one may
    /// run it (credit1 tickles idlers, which then steal).
    fn kick_idle(&mut self, v: usize, p: usize, t: u64, out: &mut HostOutputs) {
        let Some(q) = (0..self.pcpus.len())
            .find(|&q| q != p && self.pcpus[q].current == NONE && self.allowed(v, q))
        else {
            return;
        };
        if self.runq_remove(p, v) {
            self.vcpus[v].pcpu = q as u16;
            self.runq_insert(q, v);
            self.resched(q, t, out);
        }
    }

    fn switch_to(&mut self, p: usize, x: usize, t: u64, was_idle: bool, slice_ns: u64) {
        let k = &self.cfg.costs;
        let mut start = t;
        if was_idle {
            start += k.ipi_wake_ns;
            if k.cstate_exit_max_ns > 0 {
                start += self.rng.random_range(
                    k.cstate_exit_min_ns.min(k.cstate_exit_max_ns)..=k.cstate_exit_max_ns,
                );
            }
        }
        let pc = &mut self.pcpus[p];
        if pc.last != x as u32 && !self.cfg.native {
            start += k.ctx_switch_ns;
        }
        pc.current = x as u32;
        pc.last = x as u32;
        pc.dispatched_ns = t;
        pc.progress_ns = start;
        pc.slice_end_ns = t + slice_ns;
        let vc = &mut self.vcpus[x];
        vc.state = VState::Running;
        vc.pcpu = p as u16;
    }

    /// Arms `p`'s timer for the next moment a decision is due.
    fn set_timer(&mut self, p: usize, t: u64, out: &mut HostOutputs) {
        let pc = &self.pcpus[p];
        let mut next = UNSET;
        if pc.current != NONE {
            let v = pc.current as usize;
            let vc = &self.vcpus[v];
            let from = pc.progress_ns.max(t);
            let work_end = if let Some(h) = vc.items.front() {
                if h.kind == ItemKind::Send && h.stamp_ns == UNSET {
                    from
                } else {
                    from + self.cost(h).saturating_sub(h.done_ns)
                }
            } else if vc.burst_left_ns == UNSET {
                UNSET
            } else {
                from + vc.burst_left_ns
            };
            next = next.min(work_end).min(pc.resched_at_ns);
            match &self.cfg.scheduler {
                SchedulerConfig::Credit(_) => next = next.min(pc.slice_end_ns),
                SchedulerConfig::Sedf(_) => {
                    if pc.extra_end_ns != UNSET {
                        next = next.min(pc.extra_end_ns);
                    } else {
                        next = next.min(from + vc.slice_left_ns);
                    }
                }
                SchedulerConfig::Parametric(_) => {}
            }
        }
        if matches!(self.cfg.scheduler, SchedulerConfig::Sedf(_)) {
            // Period renewals of runnable vCPUs may change the EDF choice.
            // A deadline at `t` itself is still due: a caller that did not
            // reschedule (new work for the running vCPU) may come at the
            // instant of a renewal, before its timer fires, and the timer
            // must stay armed. (A reschedule renews every deadline up to
            // `t`, so this arms no timer at `t` again after one.)
            let cur = pc.current;
            for &x in pc
                .runq
                .iter()
                .chain((cur != NONE).then_some(cur as u16).iter())
            {
                let dl = self.vcpus[x as usize].deadline_ns;
                if dl >= t {
                    next = next.min(dl);
                }
            }
        }
        if next == UNSET {
            self.pcpus[p].timer_at_ns = UNSET;
            self.pcpus[p].timer_gen = self.pcpus[p].timer_gen.wrapping_add(1);
            return;
        }
        let next = next.max(t);
        if self.pcpus[p].timer_at_ns == next {
            return;
        }
        let pc = &mut self.pcpus[p];
        pc.timer_gen = pc.timer_gen.wrapping_add(1);
        pc.timer_at_ns = next;
        out.events.push((
            at(next),
            HostEvent::PcpuTimer {
                pcpu: p as u16,
                generation: pc.timer_gen,
            },
        ));
    }

    fn tick(&mut self, t: u64, out: &mut HostOutputs) {
        let SchedulerConfig::Credit(c) = &self.cfg.scheduler else {
            return;
        };
        let (tick, tslice) = (c.tick_ns, c.tslice_ns);
        out.events.push((at(t + tick), HostEvent::Tick));
        self.ticks += 1;
        for p in 0..self.pcpus.len() {
            let cur = self.pcpus[p].current;
            if cur == NONE {
                continue;
            }
            self.account(p, t, out);
            let vc = &mut self.vcpus[cur as usize];
            if vc.pri == PRI_BOOST {
                vc.pri = PRI_UNDER;
            }
            if !vc.active {
                self.acct_start(cur as usize);
            }
        }
        let per_acct = (tslice / tick.max(1)).max(1);
        if self.ticks.is_multiple_of(per_acct) {
            self.credit_acct(t, tslice, out);
        }
    }

    /// `__csched_vcpu_acct_start`: `v` earns credit again; its domain joins
    /// the head of the active list if it was not on it.
    fn acct_start(&mut self, v: usize) {
        self.vcpus[v].active = true;
        let d = self.vcpus[v].dom;
        if !self.active_doms.contains(&d) {
            self.active_doms.insert(0, d);
        }
    }

    /// Active vCPUs of domain `d`.
    fn active_vcpus(&self, d: usize) -> i128 {
        let dom = &self.doms[d];
        let first = dom.first_vcpu as usize;
        self.vcpus[first..first + dom.nvcpus as usize]
            .iter()
            .filter(|v| v.active)
            .count() as i128
    }

    /// `csched_acct` (Xen ≥ 4.2 `credit.c`, in nanoseconds of credit):
    /// shares `pcpus·tslice` among the active domains in list order, each
    /// limited to one slice per active vCPU and to its cap, passing what it
    /// cannot take on to the domains after it; then updates priorities,
    /// parks and unparks capped vCPUs, and re-sorts the run queues.
    fn credit_acct(&mut self, t: u64, tslice: u64, out: &mut HostOutputs) {
        // Xen's 32-bit arithmetic cannot overflow with its credit units; in
        // nanoseconds the products need more than 64 bits.
        let per_slice = i128::from(tslice);
        let mut order = std::mem::take(&mut self.acct_order);
        order.clear();
        order.extend_from_slice(&self.active_doms);
        // Per-vCPU weights: a domain weighs its weight times its active vCPUs.
        let weight_total: i128 = order
            .iter()
            .map(|&d| i128::from(self.doms[d as usize].weight) * self.active_vcpus(d as usize))
            .sum();
        let mut credit_total = self.pcpus.len() as i128 * per_slice;
        let balance = i128::from(self.credit_balance_ns);
        // Converge the balance towards 0 when it is negative.
        if balance < 0 {
            credit_total -= balance;
        }
        let mut new_balance = 0;
        if weight_total > 0 {
            let mut weight_left = weight_total;
            let mut xtra = false;
            for &d in &order {
                let d = d as usize;
                let k = self.active_vcpus(d);
                let w = i128::from(self.doms[d].weight);
                weight_left -= w * k;
                let mut peak = k * per_slice;
                if balance < 0 {
                    peak += (-balance * w * k + weight_total - 1) / weight_total;
                }
                let cap_pct = i128::from(self.doms[d].cap_pct);
                let mut vcpu_cap = 0;
                if cap_pct != 0 {
                    let cap = (cap_pct * per_slice + 99) / 100;
                    peak = peak.min(cap);
                    vcpu_cap = (cap + k - 1) / k;
                }
                let mut fair = (credit_total * w * k + weight_total - 1) / weight_total;
                if fair < peak {
                    xtra = true;
                } else {
                    if weight_left != 0 {
                        // Give the domains after this one a chance at the rest.
                        credit_total +=
                            ((fair - peak) * weight_total + weight_left - 1) / weight_left;
                    }
                    if xtra {
                        // Xen keeps domains with extra credit at the head.
                        self.active_doms.retain(|&x| x as usize != d);
                        self.active_doms.insert(0, d as u16);
                    }
                    fair = peak;
                }
                let per_vcpu = ((fair + k - 1) / k) as i64;
                let first = self.doms[d].first_vcpu as usize;
                for v in first..first + self.doms[d].nvcpus as usize {
                    if !self.vcpus[v].active {
                        continue;
                    }
                    self.vcpus[v].credit_ns += per_vcpu;
                    let credit = self.vcpus[v].credit_ns;
                    if credit < 0 {
                        self.vcpus[v].pri = PRI_OVER;
                        if cap_pct != 0 && i128::from(credit) < -vcpu_cap && !self.vcpus[v].parked {
                            self.park(t, v, out);
                        }
                        self.vcpus[v].credit_ns = credit.max(-(tslice as i64));
                    } else {
                        self.vcpus[v].pri = PRI_UNDER;
                        if self.vcpus[v].parked {
                            self.unpark(t, v, out);
                        }
                        if i128::from(credit) > per_slice {
                            self.acct_stop(v);
                            self.vcpus[v].credit_ns = credit / 2;
                        }
                    }
                    new_balance += self.vcpus[v].credit_ns;
                }
            }
        }
        self.credit_balance_ns = new_balance;
        self.acct_order = order;
        // `csched_runq_sort`: UNDER and BOOST vCPUs move ahead of the rest,
        // each group keeping its order (a stable partition, not a sort).
        for p in 0..self.pcpus.len() {
            let mut q = std::mem::take(&mut self.pcpus[p].runq);
            q.sort_by_key(|&x| self.vcpus[x as usize].pri < PRI_UNDER);
            self.pcpus[p].runq = q;
        }
    }

    /// `__csched_vcpu_acct_stop_locked`: `v` stops earning; a domain with
    /// no active vCPU leaves the active list.
    fn acct_stop(&mut self, v: usize) {
        self.vcpus[v].active = false;
        let d = self.vcpus[v].dom as usize;
        if self.active_vcpus(d) == 0 {
            self.active_doms.retain(|&x| x as usize != d);
        }
    }

    /// Pauses capped-out vCPU `v` (`vcpu_pause_nosync`): off its run queue,
    /// or off its pCPU at once if running.
    fn park(&mut self, t: u64, v: usize, out: &mut HostOutputs) {
        self.vcpus[v].parked = true;
        let p = self.vcpus[v].pcpu as usize;
        match self.vcpus[v].state {
            VState::Running => self.resched(p, t, out),
            VState::Queued => {
                self.runq_remove(p, v);
                self.vcpus[v].state = VState::Blocked;
            }
            VState::Blocked | VState::Offline => {}
        }
    }

    /// Lets parked vCPU `v` run again; with work pending it wakes, without
    /// BOOST.
    fn unpark(&mut self, t: u64, v: usize, out: &mut HostOutputs) {
        self.vcpus[v].parked = false;
        if self.vcpus[v].state == VState::Blocked && self.runnable(v) {
            self.wake(t, v, false, out);
        }
    }

    // ------------------------------------------------------------------ SEDF

    /// Renews runnable `v`'s period if its deadline has passed, keeping the
    /// period boundaries where they were (`update_queues`).
    fn sedf_refresh(&mut self, v: usize, t: u64) {
        let deadline_ns = self.vcpus[v].deadline_ns;
        if t < deadline_ns {
            return;
        }
        let period_ns = self.doms[self.vcpus[v].dom as usize].period_ns;
        let behind = (t - deadline_ns) / period_ns + 1;
        self.sedf_new_period(v, deadline_ns + behind * period_ns);
    }

    /// `v` wakes at `t`: after a block that outlasted its deadline, Xen
    /// treats the wake as the start of a new period, so the deadline is a
    /// full period away whatever the old grid (`unblock_long_cons_b`).
    fn sedf_wake(&mut self, v: usize, t: u64) {
        if t >= self.vcpus[v].deadline_ns {
            let period_ns = self.doms[self.vcpus[v].dom as usize].period_ns;
            self.sedf_new_period(v, t + period_ns);
        }
    }

    /// Starts a period of `v` ending at `deadline_ns` with a full slice,
    /// less what SEDF-DC collects of its domain's debt.
    fn sedf_new_period(&mut self, v: usize, deadline_ns: u64) {
        let dom = &mut self.doms[self.vcpus[v].dom as usize];
        let charge = dom.debt_ns.min(dom.slice_ns);
        dom.debt_ns -= charge;
        let slice_ns = dom.slice_ns;
        let vc = &mut self.vcpus[v];
        vc.deadline_ns = deadline_ns;
        vc.slice_left_ns = slice_ns - charge;
    }

    fn resched_sedf(&mut self, p: usize, t: u64, out: &mut HostOutputs) {
        let SchedulerConfig::Sedf(s) = &self.cfg.scheduler else {
            return;
        };
        let quantum = s.extra_quantum_ns;
        self.account(p, t, out);
        let cur = self.pcpus[p].current;
        let was_idle = cur == NONE;
        if cur != NONE {
            let c = cur as usize;
            if self.runnable(c) {
                self.pcpus[p].runq.push(cur as u16);
            } else {
                self.vcpus[c].state = if self.doms[self.vcpus[c].dom as usize].online {
                    VState::Blocked
                } else {
                    VState::Offline
                };
            }
            self.pcpus[p].current = NONE;
        }
        for i in 0..self.pcpus[p].runq.len() {
            let x = self.pcpus[p].runq[i] as usize;
            self.sedf_refresh(x, t);
        }
        // Earliest deadline with slice left; else extra time round robin.
        let q = &self.pcpus[p].runq;
        let real = q
            .iter()
            .enumerate()
            .filter(|&(_, &x)| self.vcpus[x as usize].slice_left_ns > 0)
            .min_by_key(|&(_, &x)| (self.vcpus[x as usize].deadline_ns, x))
            .map(|(i, _)| i);
        let (pick, extra) = match real {
            Some(i) => (Some(i), false),
            None => {
                let last = self.pcpus[p].extra_last;
                let ok = |x: u16| self.doms[self.vcpus[x as usize].dom as usize].extratime;
                let after = q
                    .iter()
                    .enumerate()
                    .filter(|&(_, &x)| ok(x) && u32::from(x) > last)
                    .min_by_key(|&(_, &x)| x);
                let first = q
                    .iter()
                    .enumerate()
                    .filter(|&(_, &x)| ok(x))
                    .min_by_key(|&(_, &x)| x);
                (after.or(first).map(|(i, _)| i), true)
            }
        };
        if let Some(i) = pick {
            let x = self.pcpus[p].runq.remove(i) as usize;
            let same = x as u32 == cur;
            if same {
                self.pcpus[p].current = cur;
                self.vcpus[x].state = VState::Running;
            } else {
                self.switch_to(p, x, t, was_idle, 0);
            }
            for &y in &self.pcpus[p].runq {
                self.vcpus[y as usize].state = VState::Queued;
            }
            if extra {
                let pc = &mut self.pcpus[p];
                if !same || pc.extra_end_ns == UNSET || pc.extra_end_ns <= t {
                    pc.extra_end_ns = t + quantum;
                }
                pc.extra_last = x as u32;
            } else {
                self.pcpus[p].extra_end_ns = UNSET;
            }
        } else {
            for &y in &self.pcpus[p].runq {
                self.vcpus[y as usize].state = VState::Queued;
            }
            if !was_idle {
                self.pcpus[p].last = cur;
            }
            self.pcpus[p].extra_end_ns = UNSET;
        }
        self.set_timer(p, t, out);
    }

    /// SEDF-DC: split the interval's Dom0 CPU among guests by weighted
    /// packet counts and add it to their debt.
    fn debt_account(&mut self, t: u64, out: &mut HostOutputs) {
        let SchedulerConfig::Sedf(s) = &self.cfg.scheduler else {
            return;
        };
        let (ratio, interval) = (s.send_to_recv_cost_ratio, s.dc_interval_ns);
        out.events.push((at(t + interval), HostEvent::DebtAccount));
        for p in 0..self.pcpus.len() {
            self.account(p, t, out);
        }
        let used = self.doms[0].cpu.own_cpu_ns - self.dc_mark_ns;
        self.dc_mark_ns = self.doms[0].cpu.own_cpu_ns;
        let weighted = |d: &Dom| d.dc_rx as f64 + ratio * d.dc_tx as f64;
        let total: f64 = self.doms.iter().skip(1).map(weighted).sum();
        for d in self.doms.iter_mut().skip(1) {
            if total > 0.0 {
                d.debt_ns += (used as f64 * weighted(d) / total) as u64;
            }
            d.dc_rx = 0;
            d.dc_tx = 0;
        }
    }

    // ------------------------------------------------------------ ShareGuard

    fn guard_check(&mut self, t: u64, out: &mut HostOutputs) {
        let interval = self.cfg.share_guard.interval_ns;
        out.events.push((at(t + interval), HostEvent::GuardCheck));
        for p in 0..self.pcpus.len() {
            self.account(p, t, out);
        }
        for (i, d) in self.doms.iter_mut().enumerate().skip(1) {
            if d.cap < 0.0 || d.guard_blocked {
                continue;
            }
            let used = d.cpu.dom0_on_behalf_ns - d.guard_base_ns;
            let elapsed = t.saturating_sub(d.guard_window_ns);
            if used as f64 > d.cap * elapsed as f64 {
                // Block until the window's average falls to the cap; what is
                // still queued in Dom0 counts against the next window.
                let until = d.guard_window_ns.saturating_add(if d.cap > 0.0 {
                    (used as f64 / d.cap) as u64
                } else {
                    interval
                });
                d.guard_blocked = true;
                d.guard_base_ns = d.cpu.dom0_on_behalf_ns;
                out.events.push((
                    at(until.max(t + 1)),
                    HostEvent::GuardUnblock { dom: i as u16 },
                ));
            } else if elapsed >= interval {
                d.guard_window_ns = t;
                d.guard_base_ns = d.cpu.dom0_on_behalf_ns;
            }
        }
    }
}

impl std::fmt::Debug for XenHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XenHost")
            .field("pcpus", &self.pcpus.len())
            .field("domains", &self.doms.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use sim_core::{EventQueue, SimRng, SimTime};

    use super::{
        HostEvent, HostNote, HostOutputs, NET_RX_RING_SIZE, NETBK_QUEUE_LENGTH, NIC_RX_DESCRIPTORS,
        PRI_BOOST, TX_BACKLOG_MAX, VState, XenHost,
    };
    use crate::xen::config::{
        Churn, DomainConfig, SchedulerConfig, SedfConfig, SedfParams, Workload, XenHostConfig,
    };

    /// A host driven by its own events.
    struct Bench {
        host: XenHost,
        out: HostOutputs,
        queue: EventQueue<HostEvent>,
    }

    impl Bench {
        fn new(cfg: XenHostConfig, seed: u64) -> Self {
            let mut host = XenHost::new(cfg, SimRng::seed_from_u64(seed));
            let mut out = HostOutputs::default();
            host.start(SimTime::ZERO, &mut out);
            Bench {
                host,
                out,
                queue: EventQueue::new(),
            }
        }

        /// Handles every event up to `until`, calling `watch` after each.
        fn run(&mut self, until: SimTime, watch: impl FnMut(&XenHost)) {
            self.run_noting(until, |_| {}, watch);
        }

        /// As [`Bench::run`], handing every note to `note`.
        fn run_noting(
            &mut self,
            until: SimTime,
            mut note: impl FnMut(HostNote),
            mut watch: impl FnMut(&XenHost),
        ) {
            loop {
                for (t, e) in self.out.events.drain(..) {
                    self.queue.push(t, e);
                }
                self.out.notes.drain(..).for_each(&mut note);
                match self.queue.peek_time() {
                    Some(t) if t <= until => {}
                    _ => return,
                }
                let (now, e) = self.queue.pop().expect("peeked");
                self.host.handle(now, e, &mut self.out);
                watch(&self.host);
            }
        }
    }

    /// Three CPU hogs share pCPUs 1 and 2 (Dom0 alone on pCPU 0) for 20 s;
    /// returns how often a hog's vCPU changed pCPU.
    fn hog_moves(seed: u64) -> usize {
        let mut cfg = XenHostConfig {
            pcpus: 3,
            ..XenHostConfig::default()
        };
        cfg.dom0.affinity = vec![0];
        for _ in 0..3 {
            cfg.guests.push(DomainConfig {
                affinity: vec![1, 2],
                ..DomainConfig::cpu_hog()
            });
        }
        let mut bench = Bench::new(cfg, seed);
        let mut seen: Vec<u16> = bench.host.vcpus.iter().map(|v| v.pcpu).collect();
        let mut moves = 0;
        bench.run(SimTime::from_secs(20), |host| {
            for (last, v) in seen.iter_mut().zip(&host.vcpus).skip(1) {
                if v.pcpu != *last {
                    *last = v.pcpu;
                    moves += 1;
                }
            }
        });
        moves
    }

    /// pCPUs a CPU hog of `vcpus` vCPUs with `cap_pct` takes over 20 s,
    /// pinned to pCPUs `1..=vcpus` (Dom0 idle on pCPU 0); panics if a
    /// capped vCPU is seen in BOOST once it has been parked (an unpark must
    /// not boost it).
    fn capped_hog_share(vcpus: usize, cap_pct: u32, seed: u64) -> f64 {
        let mut cfg = XenHostConfig {
            pcpus: 1 + vcpus,
            ..XenHostConfig::default()
        };
        cfg.dom0.affinity = vec![0];
        cfg.guests.push(DomainConfig {
            vcpus,
            affinity: (1..=vcpus).collect(),
            cap_pct,
            ..DomainConfig::cpu_hog()
        });
        let mut bench = Bench::new(cfg, seed);
        let mut parked = false;
        bench.run(SimTime::from_secs(20), |h| {
            for v in &h.vcpus[1..] {
                parked |= v.parked;
                assert!(
                    !(parked && v.pri == PRI_BOOST),
                    "an unparked vCPU was boosted"
                );
            }
        });
        assert_eq!(parked, cap_pct != 0, "parked only under a cap");
        bench.host.cpu_account(1).own_cpu_ns as f64 / 20e9
    }

    /// A cap limits a hog that has its pCPUs to itself to the capped share:
    /// a vCPU is parked when its credit falls below minus its part of the
    /// cap and unparked when an accounting finds it non-negative (the share
    /// is met over a few periods, whatever the phase). Without a cap the
    /// hog takes all its pCPUs; a two-vCPU domain's cap is shared by both.
    #[test]
    fn a_capped_hog_gets_its_cap() {
        for (vcpus, cap, want) in [
            (1, 0, 1.0),
            (1, 50, 0.5),
            (1, 20, 0.2),
            (1, 75, 0.75),
            (2, 0, 2.0),
            (2, 100, 1.0),
            (2, 150, 1.5),
        ] {
            let share = capped_hog_share(vcpus, cap, 3);
            assert!(
                (share - want).abs() < 0.02 * vcpus as f64,
                "{vcpus} vCPU(s), cap {cap} %: the hog took {share:.3} pCPUs"
            );
        }
    }

    /// A tick that finds a vCPU running in BOOST drops it to UNDER
    /// (`csched_tick` → `csched_vcpu_acct`: a vCPU found running at a tick
    /// is consuming real CPU and "should no longer be boosted"), so BOOST
    /// outlasts at most one 10 ms tick of CPU-bound work. A CPU hog wakes
    /// boosted at the start on pCPU 1; an idle guest pinned there gets a
    /// frame at 15 ms, after the first tick and before the first accounting
    /// (at 30 ms, which sets the hog's priority from its credit anyway).
    /// The guest wakes boosted, outranks the demoted hog, which has run
    /// well past the 1 ms rate limit, and takes the pCPU at once: its
    /// kernel stamps the frame within 0.1 ms of its arrival. A hog
    /// still in BOOST would be its equal and keep the pCPU to the end of
    /// its 30 ms slice, making the guest wait ~15 ms.
    #[test]
    fn a_tick_ends_boost_so_a_waking_vcpu_preempts_a_hog() {
        let mut cfg = XenHostConfig::default();
        cfg.dom0.affinity = vec![0];
        for guest in [DomainConfig::cpu_hog(), DomainConfig::default()] {
            cfg.guests.push(DomainConfig {
                affinity: vec![1],
                ..guest
            });
        }
        let mut bench = Bench::new(cfg, 1);
        bench.run(SimTime::from_nanos(5_000_000), |_| {});
        assert_eq!(bench.host.pcpus[1].current, 1, "the hog runs on pCPU 1");
        assert_eq!(bench.host.vcpus[1].pri, PRI_BOOST, "the hog woke boosted");
        let arrival_ns = 15_000_000;
        bench.run(SimTime::from_nanos(arrival_ns), |_| {});
        bench
            .host
            .packet_from_nic(SimTime::from_nanos(arrival_ns), 2, 0, &mut bench.out);
        let mut stamped_ns = None;
        bench.run_noting(
            SimTime::from_nanos(60_000_000),
            |n| {
                if let HostNote::Delivered { domain: 2, at, .. } = n {
                    stamped_ns.get_or_insert(at.as_nanos());
                }
            },
            |_| {},
        );
        let wait_ns = stamped_ns.expect("the frame is delivered") - arrival_ns;
        assert!(
            wait_ns < 500_000,
            "the guest waited {wait_ns} ns for its frame"
        );
    }

    /// Credit1 parks a capped vCPU only once its debt exceeds one period's
    /// share of the cap (`csched_acct`: `credit < -credit_cap`) and lets it
    /// go only when an accounting finds its credit non-negative, so a
    /// capped hog alone on its pCPU runs and waits in stretches of whole
    /// periods: at a 50 % cap (15 ms of credit per 30 ms period) it runs
    /// two periods (credit −15 ms, then −30 ms: parked) and is parked for
    /// two (−15 ms, then 0: unparked). Whatever work comes for it (a
    /// frame, a timer) may wait out a whole 60 ms stretch; parking at any
    /// debt, or unparking while still in debt, would halve the stretches
    /// (and the runs) for the same 50 % share.
    #[test]
    fn a_half_capped_hog_is_parked_for_two_periods_at_a_time() {
        let mut cfg = XenHostConfig::default();
        cfg.dom0.affinity = vec![0];
        cfg.guests.push(DomainConfig {
            affinity: vec![1],
            cap_pct: 50,
            ..DomainConfig::cpu_hog()
        });
        let mut bench = Bench::new(cfg, 1);
        let (mut parked_since_ns, mut stretches_ns) = (None, Vec::new());
        bench.run(SimTime::from_secs(2), |h| {
            match (h.vcpus[1].parked, parked_since_ns) {
                (true, None) => parked_since_ns = Some(h.now_ns),
                (false, Some(since)) => {
                    stretches_ns.push(h.now_ns - since);
                    parked_since_ns = None;
                }
                _ => {}
            }
        });
        assert!(stretches_ns.len() >= 10, "{stretches_ns:?}");
        assert!(
            stretches_ns.iter().all(|&s| s == 60_000_000),
            "parked stretches {stretches_ns:?} ns"
        );
    }

    /// A capped vCPU that an accounting parks while it waits in a run queue
    /// leaves the queue (`vcpu_pause_nosync` takes it off), so no pCPU
    /// picks it up until it is unparked; the caps then hold for vCPUs that
    /// spend most of their time queued behind others.
    #[test]
    fn a_vcpu_parked_in_a_run_queue_leaves_it_until_unparked() {
        let mut cfg = XenHostConfig::default();
        cfg.dom0.affinity = vec![0];
        for cap_pct in [20, 20, 0] {
            cfg.guests.push(DomainConfig {
                affinity: vec![1],
                cap_pct,
                ..DomainConfig::cpu_hog()
            });
        }
        let mut bench = Bench::new(cfg, 3);
        let mut was_queued = vec![false; bench.host.vcpus.len()];
        let mut parked_while_queued = 0;
        bench.run(SimTime::from_secs(10), |h| {
            for (v, vc) in h.vcpus.iter().enumerate() {
                if vc.parked {
                    assert!(vc.state != VState::Running, "vCPU {v} runs parked");
                    parked_while_queued += usize::from(was_queued[v]);
                }
                was_queued[v] = vc.state == VState::Queued && !vc.parked;
            }
            for p in &h.pcpus {
                for &v in &p.runq {
                    let vc = &h.vcpus[usize::from(v)];
                    assert!(!vc.parked, "parked vCPU {v} left in a run queue");
                    assert_eq!(vc.state, VState::Queued, "vCPU {v} in a run queue");
                }
            }
        });
        assert!(
            parked_while_queued >= 10,
            "{parked_while_queued} parkings of a queued vCPU"
        );
        let share = |d: usize| bench.host.cpu_account(d).own_cpu_ns as f64 / 10e9;
        for d in [1, 2] {
            assert!(
                (share(d) - 0.2).abs() < 0.02,
                "capped guest {d}: {}",
                share(d)
            );
        }
        assert!(
            (share(3) - 0.6).abs() < 0.03,
            "uncapped guest: {}",
            share(3)
        );
    }

    /// CPU shares (of the run's `secs`) of hog guests with `weights` on one
    /// pCPU (Dom0, idle, on the same pCPU).
    fn hog_shares(weights: &[u32], secs: u64, seed: u64) -> Vec<f64> {
        let mut cfg = XenHostConfig {
            pcpus: 1,
            ..XenHostConfig::default()
        };
        for &weight in weights {
            cfg.guests.push(DomainConfig {
                weight,
                ..DomainConfig::cpu_hog()
            });
        }
        let mut bench = Bench::new(cfg, seed);
        bench.run(SimTime::from_secs(secs), |_| {});
        (1..=weights.len())
            .map(|d| bench.host.cpu_account(d).own_cpu_ns as f64 / (secs as f64 * 1e9))
            .collect()
    }

    /// Credit1 shares a contended pCPU among CPU-bound vCPUs in proportion
    /// to their weights: a vCPU that has used its credit goes OVER and
    /// waits behind the UNDER ones until the next accounting. The share is
    /// only as fine as 30 ms slices and the floor on credit allow: at
    /// weights 1:3 the light vCPU's debt beyond one slice is forgiven
    /// (`csched_acct`'s lower bound), so it gets 0.29 of the pCPU, not 0.25
    /// (0.27 with the floor moved to −10 slices).
    #[test]
    fn credit_shares_a_pcpu_by_weight() {
        for weights in [[256, 256], [256, 512]] {
            let shares = hog_shares(&weights, 30, 1);
            let total: u32 = weights.iter().sum();
            for (share, w) in shares.iter().zip(weights) {
                let want = f64::from(w) / f64::from(total);
                assert!(
                    (share - want).abs() < 0.02,
                    "weights {weights:?}: shares {shares:?}"
                );
            }
        }
        let shares = hog_shares(&[256, 768], 30, 1);
        assert!(
            (0.26..0.31).contains(&shares[0]) && shares[0] + shares[1] > 0.99,
            "weights 1:3: shares {shares:?}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        /// Whatever the pCPUs, weights, caps, vCPU counts and loads, the
        /// credit scheduler hands out no more than the pCPUs' time, keeps a
        /// capped domain within its cap (less than two accounting periods
        /// of overrun at the start, before its first parking), and with
        /// no cap keeps every pCPU busy when there are at least as many
        /// CPU hogs as pCPUs.
        #[test]
        fn credit_respects_capacity_and_caps(
            pcpus in 1usize..4,
            doms in proptest::collection::vec(
                (1usize..3, 1u32..1024, proptest::option::of(10u32..=100), 0.2f64..=1.0),
                1..5,
            ),
            hogs in proptest::bool::ANY,
            seed in 0u64..1000,
        ) {
            const SECS: u64 = 10;
            let mut cfg = XenHostConfig { pcpus, ..XenHostConfig::default() };
            for &(vcpus, weight, cap, busy) in &doms {
                cfg.guests.push(DomainConfig {
                    vcpus,
                    weight,
                    cap_pct: cap.map_or(0, |c| c * vcpus as u32),
                    workload: Workload {
                        busy_fraction: if hogs { 1.0 } else { busy },
                        burst_mean_ns: 2_000_000,
                        ..Workload::default()
                    },
                    ..DomainConfig::default()
                });
            }
            let mut bench = Bench::new(cfg, seed);
            bench.run(SimTime::from_secs(SECS), |_| {});
            let span_ns = SECS as f64 * 1e9;
            let used: Vec<f64> = (1..=doms.len())
                .map(|d| bench.host.cpu_account(d).own_cpu_ns as f64)
                .collect();
            let total: f64 = used.iter().sum();
            proptest::prop_assert!(total <= pcpus as f64 * span_ns, "{total} ns on {pcpus} pCPUs");
            for (u, &(vcpus, _, cap, _)) in used.iter().zip(&doms) {
                if let Some(c) = cap {
                    let allowed = f64::from(c) / 100.0 * vcpus as f64 * span_ns;
                    let overrun = 2.0 * 30e6 * vcpus as f64;
                    proptest::prop_assert!(*u <= allowed + overrun, "{u} ns over a cap of {allowed} ns");
                }
            }
            let vcpus: usize = doms.iter().map(|d| d.0).sum();
            if hogs && vcpus >= pcpus && doms.iter().all(|d| d.2.is_none()) {
                proptest::prop_assert!(total >= 0.99 * pcpus as f64 * span_ns, "{total} ns on {pcpus} pCPUs");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        /// SEDF keeps its reservations: CPU hogs with any periods and
        /// slices that fit one pCPU each get at least their slice per
        /// period, no more when they may not run in extra time, and with
        /// extra time for all the pCPU never idles.
        #[test]
        fn sedf_keeps_its_reservations(
            guests in proptest::collection::vec(
                (10_000_000u64..200_000_000, 0.05f64..0.3, proptest::bool::ANY),
                1..4,
            ),
            seed in 0u64..1000,
        ) {
            const SECS: u64 = 10;
            let mut cfg = XenHostConfig {
                pcpus: 1,
                scheduler: SchedulerConfig::Sedf(SedfConfig::default()),
                ..XenHostConfig::default()
            };
            for &(period_ns, utilisation, extratime) in &guests {
                cfg.guests.push(DomainConfig {
                    sedf: SedfParams {
                        period_ns,
                        slice_ns: (period_ns as f64 * utilisation) as u64,
                        extratime,
                    },
                    ..DomainConfig::cpu_hog()
                });
            }
            proptest::prop_assert!(cfg.validate("host").is_empty());
            let mut bench = Bench::new(cfg, seed);
            bench.run(SimTime::from_secs(SECS), |_| {});
            let mut total = 0.0;
            for (d, &(period_ns, utilisation, extratime)) in guests.iter().enumerate() {
                let share = bench.host.cpu_account(d + 1).own_cpu_ns as f64 / (SECS as f64 * 1e9);
                // One period of start-up or end-of-run phase at most.
                let slack = period_ns as f64 / (SECS as f64 * 1e9) + 0.01;
                proptest::prop_assert!(share >= utilisation - slack, "guest {}: {} < {}", d, share, utilisation);
                if !extratime {
                    proptest::prop_assert!(share <= utilisation + slack, "guest {}: {} > {}", d, share, utilisation);
                }
                total += share;
            }
            if guests.iter().all(|g| g.2) {
                proptest::prop_assert!(total >= 0.97, "extra time left the pCPU idle: {}", total);
            }
        }
    }

    /// `csched_acct` limits a domain to one slice of credit per active vCPU
    /// and passes the rest on to the domains after it in its list: three
    /// active one-vCPU hogs of weights 1024, 256 and 256 on two pCPUs (60 ms
    /// of credit per 30 ms period) earn 30, 15 and 15 ms once the heavy
    /// one heads the list, not the 40, 10 and 10 of a plain weighted split
    /// (with which the light ones, each needing 15 ms per period on the
    /// shared second pCPU, would run OVER for good). A domain activated
    /// last heads the list; one that cannot take its share is moved to the
    /// head when a domain before it took extra.
    #[test]
    fn credit_peak_passes_unusable_credit_on() {
        let mut cfg = XenHostConfig {
            pcpus: 2,
            ..XenHostConfig::default()
        };
        for weight in [1024, 256, 256] {
            cfg.guests.push(DomainConfig {
                weight,
                ..DomainConfig::cpu_hog()
            });
        }
        let mut host = XenHost::new(cfg, SimRng::seed_from_u64(1));
        let mut out = HostOutputs::default();
        let mut acct = |host: &mut XenHost| {
            for v in 1..=3 {
                host.vcpus[v].credit_ns = 0;
            }
            host.credit_acct(0, 30_000_000, &mut out);
            (1..=3).map(|v| host.vcpus[v].credit_ns).collect::<Vec<_>>()
        };
        // Activated in the order 1, 2, 3: the list is 3, 2, 1.
        for v in 1..=3 {
            host.acct_start(v);
        }
        assert_eq!(acct(&mut host), [30_000_000, 10_000_000, 10_000_000]);
        assert_eq!(host.active_doms, [1, 3, 2]);
        assert_eq!(acct(&mut host), [30_000_000, 15_000_000, 15_000_000]);
        assert_eq!(host.credit_balance_ns, 60_000_000);
    }

    /// After accounting each run queue is re-ordered as `csched_runq_sort`
    /// does: UNDER and BOOST vCPUs ahead of OVER ones, each group in its
    /// old order. A queued UNDER vCPU stays ahead of a BOOST one behind it
    /// (neither is active, so accounting leaves their priorities alone);
    /// the active one whose credit is negative goes OVER, to the back.
    #[test]
    fn accounting_lifts_under_vcpus_without_reordering_them() {
        use super::{PRI_OVER, PRI_UNDER};
        let mut cfg = XenHostConfig::default();
        for _ in 0..3 {
            cfg.guests.push(DomainConfig::cpu_hog());
        }
        let mut host = XenHost::new(cfg, SimRng::seed_from_u64(1));
        let mut out = HostOutputs::default();
        host.acct_start(1);
        host.vcpus[1].credit_ns = -40_000_000;
        host.vcpus[2].pri = PRI_UNDER;
        host.vcpus[3].pri = PRI_BOOST;
        host.pcpus[0].runq = vec![1, 2, 3];
        host.credit_acct(0, 30_000_000, &mut out);
        assert_eq!(host.vcpus[1].pri, PRI_OVER);
        assert_eq!(host.pcpus[0].runq, [2, 3, 1]);
    }

    /// A held domain stays offline whatever its churn process; released,
    /// it churns again as one process (on half the time), not two.
    #[test]
    fn a_held_domain_ignores_its_churn_until_released() {
        let mut cfg = XenHostConfig::default();
        cfg.guests.push(DomainConfig {
            workload: Workload {
                churn: Some(Churn {
                    on_mean_s: 2.0,
                    off_mean_s: 2.0,
                    start_on: true,
                }),
                ..Workload::default()
            },
            ..DomainConfig::default()
        });
        let mut bench = Bench::new(cfg, 4);
        bench.run(SimTime::from_secs(30), |_| {});
        bench.host.hold(SimTime::from_secs(30), 1, &mut bench.out);
        let mut online_while_held = false;
        bench.run(SimTime::from_secs(130), |h| {
            online_while_held |= h.doms[1].online
        });
        assert!(!online_while_held);
        bench
            .host
            .release(SimTime::from_secs(130), 1, &mut bench.out);
        let mut toggles = 0;
        let mut was = bench.host.doms[1].online;
        let before = bench.host.doms[1].online_total_ns;
        bench.run(SimTime::from_secs(1130), |h| {
            toggles += usize::from(h.doms[1].online != was);
            was = h.doms[1].online;
        });
        let mut on_ns = bench.host.doms[1].online_total_ns - before;
        if bench.host.doms[1].online {
            on_ns += 1_130_000_000_000 - bench.host.doms[1].online_since_ns;
        }
        let on = on_ns as f64 * 1e-9 / 1000.0;
        assert!((0.4..0.6).contains(&on), "online {on} of the time");
        // One alternating process: a toggle every 2 s on average.
        assert!((350..650).contains(&toggles), "{toggles} toggles in 1000 s");
    }

    /// Frames for a guest arrive every `gap_ns` for half a second, on the
    /// default two-pCPU host with the guest half busy. Returns the frames
    /// delivered and dropped (by note, each exactly once), and the longest
    /// queues seen at Dom0's and the guest's vCPU.
    fn receive_flood(gap_ns: u64) -> (usize, usize, usize, usize) {
        const FLOOD_NS: u64 = 500_000_000;
        let mut cfg = XenHostConfig::default();
        cfg.guests.push(DomainConfig {
            workload: Workload {
                busy_fraction: 0.5,
                ..Workload::default()
            },
            ..DomainConfig::default()
        });
        let mut bench = Bench::new(cfg, 5);
        let n = FLOOD_NS / gap_ns;
        // Per frame, whether it was dropped, once told.
        let mut fate: Vec<Option<bool>> = vec![None; n as usize];
        let (mut dom0_max, mut guest_max) = (0, 0);
        let mut note = |n: HostNote| {
            let (token, dropped) = match n {
                HostNote::Delivered { token, .. } => (token, false),
                HostNote::Dropped { token, .. } => (token, true),
                _ => return,
            };
            let told = fate[token as usize].replace(dropped);
            assert!(told.is_none(), "frame {token} told twice");
        };
        let mut watch = |h: &XenHost| {
            dom0_max = dom0_max.max(h.vcpus[0].items.len());
            guest_max = guest_max.max(h.vcpus[1].items.len());
        };
        for i in 0..n {
            let t = SimTime::from_nanos(1_000_000 + i * gap_ns);
            bench.run_noting(t, &mut note, &mut watch);
            bench.host.packet_from_nic(t, 1, i, &mut bench.out);
        }
        bench.run_noting(SimTime::from_secs(2), &mut note, &mut watch);
        assert_eq!(bench.host.nic_rx_used, 0, "NIC descriptors leaked");
        assert_eq!(bench.host.doms[1].rx_ring_used, 0, "ring slots leaked");
        assert!(fate.iter().all(Option::is_some), "a frame was never told");
        let dropped = fate.iter().filter(|&&f| f == Some(true)).count();
        assert_eq!(bench.host.cpu_account(1).dropped_packets, dropped as u64);
        (n as usize - dropped, dropped, dom0_max, guest_max)
    }

    /// A receive flood beyond what Dom0 (10 µs of netback per frame) and
    /// the guest (13 µs of kernel and netfront per frame) can serve fills
    /// the NIC's receive descriptors and the guest's ring and netback
    /// queue, and the frames that find them full are dropped and reported,
    /// so the queues stay bounded however long the flood lasts. A load both
    /// can serve loses nothing.
    #[test]
    fn a_receive_flood_is_bounded_by_the_nic_and_the_ring() {
        let (delivered, dropped, dom0_max, guest_max) = receive_flood(5_000);
        eprintln!(
            "200 kpps: {delivered} delivered, {dropped} dropped, queues {dom0_max} and {guest_max}"
        );
        assert!(
            dom0_max <= NIC_RX_DESCRIPTORS as usize,
            "Dom0 queue {dom0_max}"
        );
        let ring = (NET_RX_RING_SIZE + NETBK_QUEUE_LENGTH) as usize;
        // The ring filled and netback queued behind it, no further.
        assert!(
            guest_max > NET_RX_RING_SIZE as usize && guest_max <= ring,
            "guest queue {guest_max}"
        );
        // The guest takes at most one frame per 13 µs while the flood
        // lasts, then what the NIC, its ring and netback's queue held.
        let most = 500_000_000 / 13_000 + NIC_RX_DESCRIPTORS as usize + ring;
        assert!(delivered <= most, "{delivered} delivered, at most {most}");
        assert_eq!(delivered + dropped, 100_000);
        let (delivered, dropped, _, _) = receive_flood(50_000);
        assert_eq!((delivered, dropped), (10_000, 0));
    }

    /// A guest, half busy on the default two-pCPU host, asks to send a frame
    /// every `gap_ns` for half a second, on top of its workload's `tx_pps`.
    /// Returns the asked frames sent and dropped (by note, each exactly
    /// once), the longest transmit backlog seen, the backlog 1.5 s after the
    /// flood, and the guest's drop count.
    fn transmit_flood(gap_ns: u64, tx_pps: f64) -> (usize, usize, u32, u32, u64) {
        const FLOOD_NS: u64 = 500_000_000;
        let mut cfg = XenHostConfig::default();
        cfg.guests.push(DomainConfig {
            workload: Workload {
                busy_fraction: 0.5,
                tx_pps,
                ..Workload::default()
            },
            ..DomainConfig::default()
        });
        let mut bench = Bench::new(cfg, 5);
        let n = FLOOD_NS / gap_ns;
        // Per frame, whether it was dropped, once told.
        let mut fate: Vec<Option<bool>> = vec![None; n as usize];
        let mut backlog_max = 0;
        let mut note = |n: HostNote| {
            let (token, dropped) = match n {
                HostNote::ToNic { token, .. } => (token, false),
                HostNote::Dropped { token, .. } => (token, true),
                _ => return,
            };
            let told = fate[token as usize].replace(dropped);
            assert!(told.is_none(), "frame {token} told twice");
        };
        let mut watch = |h: &XenHost| backlog_max = backlog_max.max(h.doms[1].tx_backlog);
        for i in 0..n {
            let t = SimTime::from_nanos(1_000_000 + i * gap_ns);
            bench.run_noting(t, &mut note, &mut watch);
            bench.host.packet_from_guest(t, 1, i, &mut bench.out);
            watch(&bench.host);
        }
        // The workload keeps sending; its last frames may still be queued.
        bench.run_noting(SimTime::from_secs(2), &mut note, &mut watch);
        assert!(fate.iter().all(Option::is_some), "a frame was never told");
        let dropped = fate.iter().filter(|&&f| f == Some(true)).count();
        let guest_dropped = bench.host.cpu_account(1).dropped_packets;
        let backlog_end = bench.host.doms[1].tx_backlog;
        (
            n as usize - dropped,
            dropped,
            backlog_max,
            backlog_end,
            guest_dropped,
        )
    }

    /// A send flood beyond what the guest's kernel and netfront (13 µs per
    /// frame) can serve fills its transmit ring and its qdisc, and the
    /// sends that find them full are dropped and reported, so the backlog
    /// stays bounded however long the flood lasts; a workload's own sends
    /// are bounded and counted alike. A load the guest can serve loses
    /// nothing, and a drained guest holds no places.
    #[test]
    fn a_transmit_flood_is_bounded_by_the_qdisc_and_the_ring() {
        let (sent, dropped, backlog_max, backlog_end, guest_dropped) = transmit_flood(5_000, 0.0);
        eprintln!("200 kpps: {sent} sent, {dropped} dropped, backlog {backlog_max}");
        // The backlog reached the qdisc's and the ring's capacity, no more.
        assert_eq!(backlog_max, TX_BACKLOG_MAX);
        assert_eq!(TX_BACKLOG_MAX, 1236);
        // The guest sends at most one frame per 13 µs while the flood
        // lasts, then what its backlog held.
        let most = 500_000_000_usize.div_ceil(13_000) + TX_BACKLOG_MAX as usize;
        assert!(sent <= most, "{sent} sent, at most {most}");
        assert_eq!(sent + dropped, 100_000);
        assert_eq!(guest_dropped, dropped as u64);
        assert_eq!(backlog_end, 0, "places leaked");
        // The workload floods alone: its sends are dropped and counted.
        let (sent, dropped, backlog_max, _, guest_dropped) = transmit_flood(50_000, 2e5);
        assert_eq!(backlog_max, TX_BACKLOG_MAX);
        assert!(guest_dropped > 10_000, "{guest_dropped} dropped");
        assert_eq!(sent + dropped, 10_000);
        let (sent, dropped, backlog_max, backlog_end, guest_dropped) = transmit_flood(50_000, 0.0);
        assert_eq!(
            (sent, dropped, backlog_end, guest_dropped),
            (10_000, 0, 0, 0)
        );
        assert!(backlog_max < 10, "backlog {backlog_max}");
    }

    /// SEDF starts a new period at the wake of a vCPU that blocked past its
    /// deadline: deadline a full period (100 ms) after the wake at 250 ms,
    /// full 30 ms slice, not the next boundary of its old grid (300 ms). A
    /// wake before the deadline keeps the period and the slice left; a
    /// vCPU that stayed runnable past its deadline moves along its grid.
    #[test]
    fn sedf_wake_after_a_long_block_starts_a_new_period() {
        const MS: u64 = 1_000_000;
        let mut cfg = XenHostConfig {
            pcpus: 1,
            scheduler: SchedulerConfig::Sedf(SedfConfig::default()),
            ..XenHostConfig::default()
        };
        cfg.guests.push(DomainConfig {
            sedf: SedfParams {
                period_ns: 100 * MS,
                slice_ns: 30 * MS,
                extratime: false,
            },
            ..DomainConfig::cpu_hog()
        });
        let woken = |deadline_ns: u64, wake_ns: u64| {
            let mut host = XenHost::new(cfg.clone(), SimRng::seed_from_u64(1));
            let mut out = HostOutputs::default();
            host.start(SimTime::ZERO, &mut out);
            let v = &mut host.vcpus[1];
            (v.deadline_ns, v.slice_left_ns) = (deadline_ns, 5 * MS);
            v.burst_left_ns = 1_000 * MS;
            host.wake(wake_ns, 1, true, &mut out);
            assert!(host.domain_running(1).unwrap());
            (host.vcpus[1].deadline_ns, host.vcpus[1].slice_left_ns)
        };
        assert_eq!(woken(100 * MS, 250 * MS), (350 * MS, 30 * MS));
        assert_eq!(woken(250 * MS, 250 * MS), (350 * MS, 30 * MS));
        assert_eq!(woken(300 * MS, 250 * MS), (300 * MS, 5 * MS));
        let mut host = XenHost::new(cfg, SimRng::seed_from_u64(1));
        host.vcpus[1].deadline_ns = 100 * MS;
        host.sedf_refresh(1, 250 * MS);
        assert_eq!(host.vcpus[1].deadline_ns, 300 * MS);
        assert_eq!(host.vcpus[1].slice_left_ns, 30 * MS);
    }

    /// A period renewal due at the instant the running vCPU is given new
    /// work (a received frame, a burst) still happens then. Guest 2 (slice
    /// 2 ms every 10 ms) waits, its slice spent, for its deadline while
    /// guest 1 runs; a frame reaching guest 1's kernel at exactly that
    /// deadline, before the renewal's timer fired, re-armed the pCPU's
    /// timer for the frame's end (13 µs later) and retired the renewal's,
    /// so guest 2 started its period that much late.
    #[test]
    fn sedf_renews_a_period_due_when_the_running_vcpu_gets_work() {
        const MS: u64 = 1_000_000;
        let mut cfg = XenHostConfig {
            pcpus: 1,
            scheduler: SchedulerConfig::Sedf(SedfConfig::default()),
            ..XenHostConfig::default()
        };
        for (period_ns, slice_ns) in [(100 * MS, 50 * MS), (10 * MS, 2 * MS)] {
            cfg.guests.push(DomainConfig {
                sedf: SedfParams {
                    period_ns,
                    slice_ns,
                    extratime: true,
                },
                ..DomainConfig::cpu_hog()
            });
        }
        let mut bench = Bench::new(cfg, 1);
        bench.run(SimTime::from_nanos(1_025 * MS), |_| {});
        let dl = bench.host.vcpus[2].deadline_ns;
        bench.run(SimTime::from_nanos(dl - 1), |_| {});
        let h = &bench.host;
        assert_eq!(h.pcpus[0].current, 1, "guest 1 runs");
        assert_eq!(h.vcpus[2].state, super::VState::Queued);
        assert_eq!(h.vcpus[2].slice_left_ns, 0);
        assert_eq!(h.pcpus[0].timer_at_ns, dl, "the renewal's timer is armed");
        // Netback hands guest 1 a frame (it holds a ring slot).
        bench.host.doms[1].rx_ring_used += 1;
        let pkt = super::Packet {
            kind: super::ItemKind::KernelRx,
            dom: 1,
            notify: false,
            token: 0,
            t0_ns: dl - 50_000,
            enq_ns: 0,
            stamp_ns: super::UNSET,
            done_ns: 0,
        };
        let ev = HostEvent::Enqueue { vcpu: 1, pkt };
        bench
            .host
            .handle(SimTime::from_nanos(dl), ev, &mut bench.out);
        bench.run(SimTime::from_nanos(dl), |_| {});
        let h = &bench.host;
        assert_eq!(h.vcpus[2].deadline_ns, dl + 10 * MS, "renewed at {dl}");
        assert_eq!(h.pcpus[0].current, 2, "guest 2 runs from {dl}");
    }

    /// A valid but tiny busy fraction draws think times beyond `u64`
    /// nanoseconds: the first burst is due at the end of time, not (as the
    /// wrapped sum made it) at once. The guest comes online by churn a
    /// moment after the start, so the sum's base is not zero; it used to
    /// run as a CPU hog (own CPU 0.998 of the 5 s, and an overflow panic in
    /// debug builds). A tiny packet rate likewise never sends.
    #[test]
    fn a_tiny_busy_fraction_never_bursts() {
        let mut cfg = XenHostConfig::default();
        cfg.guests.push(DomainConfig {
            workload: Workload {
                busy_fraction: 1e-15,
                rx_pps: 1e-15,
                tx_pps: 1e-15,
                churn: Some(Churn {
                    on_mean_s: 1e6,
                    off_mean_s: 1e-3,
                    start_on: false,
                }),
                ..Workload::default()
            },
            ..DomainConfig::default()
        });
        assert!(cfg.validate("host").is_empty());
        let mut bench = Bench::new(cfg, 2);
        bench.run(SimTime::from_secs(5), |_| {});
        assert!(bench.host.doms[1].online);
        let c = bench.host.cpu_account(1);
        let own = c.own_cpu_ns as f64 / 5e9;
        assert!(own < 0.01, "own CPU {own}");
        assert_eq!((c.rx_packets, c.tx_packets), (0, 0));
    }

    /// Credit1 steals only a vCPU of higher priority than the one it would
    /// run. Here the accounting shares three pCPUs' credit among three hogs,
    /// so none goes OVER: the hog alone on its pCPU keeps it, the other two
    /// take turns on theirs, and nothing moves. Stealing a queued hog of
    /// equal priority whenever a slice expired moved hogs 1 331 times in
    /// 20 s.
    #[test]
    fn credit_does_not_steal_a_peer_of_equal_priority() {
        for seed in 1..=3 {
            let moves = hog_moves(seed);
            assert!(moves < 10, "seed {seed}: {moves} moves in 20 s");
        }
    }
}
