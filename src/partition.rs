//! # Partitioned runs
//!
//! A run is one world on one thread, which caps a large scenario at one
//! core. But the guests of a Xen host under the parametric scheduler share
//! nothing their daemons change: each domain draws its packets' delays,
//! its workload and its NIC's coalescing from its own stream, each daemon
//! draws its network and server delays from its own flows, and what they
//! do share (the crystals, Xen's calibration, the busy-guest count, a
//! path's congestion and level shifts, a server's clock) is a function of
//! time alone. Such a scenario splits into **parts**: each part is the
//! whole scenario with only some of the daemons, simulated in a world of
//! its own on a thread of its own, so the shared processes are simulated
//! once per part and the daemons once in all. The parts' results are
//! merged back: a clock's statistics and files come from its part, the
//! rows of `errors.csv` are joined column by column, and a Xen domain's
//! CPU accounting from the part that ran its daemons.
//!
//! A **group** is what may not be split: the daemons of one domain of a
//! parametric Xen host (they share the domain's stream), or else of one
//! host. A scenario with migrations, failovers, dilation or dependent
//! clocks, which tie domains and hosts together, is one group.
//!
//! Whatever the number of parts, the results are byte-identical: the
//! streams are named after the component that draws them, never after
//! its index or the daemons around it. Only the count of events handled
//! grows with the parts (the shared processes are handled once in each),
//! which is why `summary.json` leaves it out.

use models::host::HostConfig;
use models::xen::DomainCpu;
use models::xen::config::SchedulerConfig;

use crate::scenario::Scenario;

/// One part of a partitioned run.
#[derive(Clone, Debug)]
pub struct Part {
    /// The whole scenario with only this part's daemons.
    pub scenario: Scenario,
    /// For each of the part's clocks (its daemons, in order), its column
    /// in the whole run.
    pub columns: Vec<usize>,
}

/// What a daemon's group is keyed by: its host, and its domain when the
/// host's domains are independent of one another.
fn group_key(host: &HostConfig, domain: usize) -> (String, Option<usize>) {
    let independent_domains = host
        .xen
        .as_ref()
        .is_some_and(|x| matches!(x.host.scheduler, SchedulerConfig::Parametric(_)));
    (host.name.clone(), independent_domains.then_some(domain))
}

/// The scenario's daemons (indices) in groups that may run in separate
/// worlds, in order of their first daemon; one group when the scenario ties
/// its hosts or domains together.
pub fn groups(s: &Scenario) -> Vec<Vec<usize>> {
    let all = || vec![(0..s.daemons.len()).collect::<Vec<_>>()];
    if s.daemons.is_empty() {
        return Vec::new();
    }
    if !s.events.is_empty() || !s.dilation.is_empty() || !s.clocks.is_empty() {
        return all();
    }
    let mut keys: Vec<(String, Option<usize>)> = Vec::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, d) in s.daemons.iter().enumerate() {
        let Some(host) = s.hosts.iter().find(|h| h.name == d.host) else {
            // Building the world reports the unknown host.
            return all();
        };
        let key = group_key(host, d.domain);
        match keys.iter().position(|k| *k == key) {
            Some(g) => groups[g].push(i),
            None => {
                keys.push(key);
                groups.push(vec![i]);
            }
        }
    }
    groups
}

/// Splits `s` into at most `parts` parts of whole groups, contiguous in
/// group order and as even in daemons as that allows. One part (the
/// scenario as it is) when it has a single group or `parts` ≤ 1.
pub fn split(s: &Scenario, parts: usize) -> Vec<Part> {
    let groups = groups(s);
    let n = parts.min(groups.len()).max(1);
    let whole = || Part {
        scenario: s.clone(),
        columns: (0..s.daemons.len()).collect(),
    };
    if n == 1 {
        return vec![whole()];
    }
    // A group goes to the part its middle daemon falls in when the daemons
    // are dealt out evenly, so eight equal guests in two parts go four and
    // four.
    let total = s.daemons.len();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut seen = 0;
    let mut last = 0;
    for (g, group) in groups.iter().enumerate() {
        let by_count = ((2 * seen + group.len()) * n) / (2 * total);
        // No part skipped, and one group left for each part still empty.
        let p = by_count
            .min(last + usize::from(g > 0))
            .max(n.saturating_sub(groups.len() - g))
            .min(n - 1);
        members[p].extend(group);
        seen += group.len();
        last = p;
    }
    members
        .into_iter()
        .map(|mut columns| {
            columns.sort_unstable();
            let mut scenario = s.clone();
            scenario.daemons = columns.iter().map(|&i| s.daemons[i].clone()).collect();
            Part { scenario, columns }
        })
        .collect()
}

/// Merges the parts' CPU accounts of the Xen domains (each part's list, in
/// the same host and domain order) into the whole run's.
///
/// A domain's account comes from the part that ran its daemons (the first
/// part when none did: every part then saw the same). Dom0's own CPU
/// includes the netback work it did for each guest, which only the guest's
/// part saw: each guest's netback work is taken from the guest's part.
/// Integers throughout, so the merged accounts are exactly the whole
/// run's.
pub fn merge_accounts(
    parts: &[Part],
    accounts: &[Vec<(String, usize, DomainCpu)>],
) -> Vec<(String, usize, DomainCpu)> {
    let owner = |host: &str, domain: usize| -> usize {
        parts
            .iter()
            .position(|p| {
                p.scenario
                    .daemons
                    .iter()
                    .any(|d| d.host == host && (d.domain == domain || !splits_domains(p, host)))
            })
            .unwrap_or(0)
    };
    let mut merged: Vec<(String, usize, DomainCpu)> = accounts[0]
        .iter()
        .enumerate()
        .map(|(i, (host, domain, _))| {
            let p = owner(host, *domain);
            (host.clone(), *domain, accounts[p][i].2)
        })
        .collect();
    for i in 0..merged.len() {
        let (host, domain) = (merged[i].0.clone(), merged[i].1);
        if domain != 0 {
            continue;
        }
        let dom0_part = owner(&host, 0);
        let mut own = i128::from(merged[i].2.own_cpu_ns);
        for (j, (h, d, c)) in merged.iter().enumerate() {
            if *h == host && *d != 0 {
                own += i128::from(c.dom0_on_behalf_ns)
                    - i128::from(accounts[dom0_part][j].2.dom0_on_behalf_ns);
            }
        }
        merged[i].2.own_cpu_ns = own.clamp(0, i128::from(u64::MAX)) as u64;
    }
    merged
}

/// Whether `p`'s host `host` has its domains in separate groups.
fn splits_domains(p: &Part, host: &str) -> bool {
    p.scenario
        .hosts
        .iter()
        .find(|h| h.name == host)
        .is_some_and(|h| group_key(h, 0).1.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bench workload `c` (eight busy guests of a parametric Xen host,
    /// each with RADclock and ntpd) with `extra` bare hosts of one daemon.
    fn xen_and_bare(extra: usize) -> Scenario {
        let mut s = crate::bench::scenario_of("c-xen-year-half", true).unwrap();
        for i in 0..extra {
            let mut h = s.hosts[0].clone();
            h.name = format!("bare{i}");
            h.xen = None;
            s.hosts.push(h);
            let mut d = s.daemons[0].clone();
            d.name = format!("bare{i}-ntpd");
            d.host = format!("bare{i}");
            d.domain = 0;
            d.counter = models::host::CounterSource::Tsc;
            s.daemons.push(d);
        }
        s
    }

    #[test]
    fn guests_of_a_parametric_host_and_hosts_are_groups() {
        let s = xen_and_bare(2);
        let g = groups(&s);
        assert_eq!(g.len(), 10);
        assert_eq!(g[0], vec![0, 1]);
        assert_eq!(g[8], vec![16]);
        let parts = split(&s, 2);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].columns, (0..8).collect::<Vec<_>>());
        assert_eq!(parts[1].columns, (8..18).collect::<Vec<_>>());
        assert_eq!(parts[1].scenario.daemons[0].name, "domu5-radclock");
        // Never more parts than groups, nor an empty one.
        let parts = split(&s, 64);
        assert_eq!(parts.len(), 10);
        assert!(parts.iter().all(|p| !p.columns.is_empty()));
        assert_eq!(split(&s, 1).len(), 1);
    }

    #[test]
    fn what_ties_domains_together_makes_one_group() {
        let mut s = xen_and_bare(1);
        let xen = s.hosts[0].xen.as_mut().unwrap();
        xen.host.scheduler = SchedulerConfig::default();
        // The credit scheduler couples the host's domains; the bare host
        // stays apart.
        assert_eq!(groups(&s).len(), 2);
        let mut s = xen_and_bare(1);
        s.dilation.push(crate::scenario::DilationConfig {
            host: "xen".into(),
            domain: 1,
            tdf: Default::default(),
            dilated_reference: false,
        });
        assert_eq!(groups(&s).len(), 1);
        assert_eq!(split(&s, 4).len(), 1);
    }
}
