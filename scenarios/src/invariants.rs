//! Safety invariants checked while a fuzzed schedule runs. Each is computed from the
//! components' own records, not from their summaries: a node's load is the sum of its
//! containers' resources (not `used` + `available`), a container's uniqueness is over every
//! NodeManager's list.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// Microseconds since the scenario started.
    pub t: u64,
    pub kind: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {:.3}s: {}", self.kind, self.t as f64 / 1e6, self.detail)
    }
}

/// An allocated container the AM neither started nor released within this long is a leak
/// (YARN's own expiry, 10 minutes, would only hide it).
pub const UNUSED_CONTAINER_LIMIT: Duration = Duration::from_secs(20);

/// One container on a NodeManager: (id, NM state, memory MB, vcores).
pub type ContainerRow = (String, String, u64, u32);

/// NodeManager container states that hold the node's resources (ContainerImpl's).
fn active(state: &str) -> bool {
    matches!(state, "NEW" | "LOCALIZING" | "LOCALIZED" | "RUNNING" | "KILLING")
}

/// `per_node`: each NodeManager's host and its containers (id, NM state, memory MB, vcores).
/// `capacity`: a node's configured (memory MB, vcores). `acquired`: containers handed to an AM
/// and not yet running or completed, with how long ago. `live_apps`: applications not final.
pub fn check(
    t: u64,
    per_node: &[(String, Vec<ContainerRow>)],
    capacity: (u64, u32),
    acquired: &[(String, Duration)],
    live_apps: &BTreeSet<String>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (host, cs) in per_node {
        let (mut mem, mut vc) = (0u64, 0u32);
        for (id, state, m, v) in cs {
            if !active(state) {
                continue;
            }
            mem += m;
            vc += v;
            if let Some(other) = seen.insert(id.as_str(), host.as_str()) {
                out.push(Violation { t, kind: "container reported twice", detail: format!("{id} is active on {other} and {host}") });
            }
        }
        if mem > capacity.0 || vc > capacity.1 {
            out.push(Violation {
                t,
                kind: "node over-committed",
                detail: format!("{host} runs containers of {mem} MB / {vc} vcores, capacity {} MB / {} vcores", capacity.0, capacity.1),
            });
        }
    }
    for (id, age) in acquired {
        let app = id.parse::<yarn_sim::ids::ContainerId>().map(|c| c.app().to_string()).unwrap_or_default();
        if *age > UNUSED_CONTAINER_LIMIT && live_apps.contains(&app) {
            out.push(Violation {
                t,
                kind: "allocated container neither used nor released",
                detail: format!("{id} was handed to its AM {:.1}s ago and is neither running nor released", age.as_secs_f64()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, state: &str, mb: u64, vc: u32) -> ContainerRow {
        (id.into(), state.into(), mb, vc)
    }

    #[test]
    fn over_commit_is_the_sum_of_active_containers() {
        let nodes = vec![(
            "127.0.0.2".to_string(),
            vec![c("container_1_0001_01_000001", "RUNNING", 4096, 1), c("container_1_0001_01_000002", "RUNNING", 4096, 1)],
        )];
        assert!(check(0, &nodes, (8192, 8), &[], &BTreeSet::new()).is_empty());
        let mut more = nodes.clone();
        more[0].1.push(c("container_1_0001_01_000003", "LOCALIZING", 1024, 1));
        let v = check(0, &more, (8192, 8), &[], &BTreeSet::new());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].kind, "node over-committed");
        // Completed containers hold nothing.
        more[0].1[2].1 = "DONE".into();
        assert!(check(0, &more, (8192, 8), &[], &BTreeSet::new()).is_empty());
    }

    #[test]
    fn a_container_active_on_two_nodes_is_reported() {
        let id = "container_1_0001_01_000002";
        let nodes = vec![("a".to_string(), vec![c(id, "RUNNING", 1, 1)]), ("b".to_string(), vec![c(id, "RUNNING", 1, 1)])];
        let v = check(0, &nodes, (8192, 8), &[], &BTreeSet::new());
        assert_eq!(v[0].kind, "container reported twice");
    }

    #[test]
    fn an_unused_container_of_a_live_app_is_a_leak_after_the_limit() {
        let id = "container_1_0001_01_000002".to_string();
        let live: BTreeSet<String> = ["application_1_0001".to_string()].into();
        assert!(check(0, &[], (1, 1), &[(id.clone(), Duration::from_secs(5))], &live).is_empty());
        let v = check(0, &[], (1, 1), &[(id.clone(), Duration::from_secs(25))], &live);
        assert_eq!(v[0].kind, "allocated container neither used nor released");
        assert!(check(0, &[], (1, 1), &[(id, Duration::from_secs(25))], &BTreeSet::new()).is_empty());
    }
}
