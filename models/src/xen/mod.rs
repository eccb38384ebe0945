//! # The Xen host: CPU scheduling and the packet path
//!
//! A timestamp taken inside a virtual machine is late by however long the
//! machine waited to run. On a Xen host that wait has two parts: Dom0, which
//! owns the NIC, must run its netback driver to move the packet between the
//! wire and the guest, and the guest's own vCPU must then be scheduled
//! before its kernel can read the counter. Both depend on *who else is
//! running*: how many guests are busy, their CPU and I/O load, and the
//! scheduler's rules (credit1's 30 ms slices, BOOST for vCPUs that wake from
//! I/O, the 1 ms rate limit; SEDF's reservations). This module simulates
//! them, so delays emerge from the schedule instead of being configured.
//!
//! * [`XenHostConfig`]: pCPUs, Dom0 and guests (vCPUs, weight, cap, affinity,
//!   SEDF reservation, workload: busy fraction, packet rates, churn), the
//!   scheduler ([`SchedulerConfig`]: credit1, SEDF with optional SEDF-DC, or
//!   the parametric model), per-packet costs ([`PathCosts`]) and ShareGuard.
//! * [`XenHost`]: the state machine. The world calls [`XenHost::start`],
//!   feeds back the [`HostEvent`]s the host asks it to schedule through
//!   [`XenHost::handle`], injects packets with [`XenHost::packet_from_nic`]
//!   and [`XenHost::packet_from_guest`], and reads [`HostNote`]s
//!   (timestamps, NIC departures) from the reusable [`HostOutputs`].
//! * [`pvclock`]: the Xen clocksource (the guest's view of time).
//! * [`parametric`]: a fast model sampling the same stage delays from
//!   distributions fitted to the explicit scheduler, with the calibration
//!   routine.
//!
//! The mechanisms, the simplifications of credit1 and SEDF, and the packet
//! path are described in the `host` source module; sources are research note
//! `virt-models.md` §3 and §7, the VET slides (noise overhead) and Gupta et
//! al., *Enforcing performance isolation across virtual machines in Xen*
//! (Middleware 2006: SEDF-DC, ShareGuard).

pub mod config;
mod host;
pub mod parametric;
pub mod pvclock;

pub use config::{
    Churn, CreditConfig, DomainConfig, PathCosts, SchedulerConfig, SedfConfig, SedfParams,
    ShareGuardConfig, Workload, XenHostConfig,
};
pub use host::{DomainCpu, HostEvent, HostNote, HostOutputs, Packet, XenHost};

#[cfg(test)]
mod tests;
