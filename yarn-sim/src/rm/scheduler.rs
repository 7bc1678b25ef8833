//! `CapacityScheduler`: the queue tree (`ParentQueue`/`LeafQueue` as one `CSQueue` record),
//! each application's outstanding asks (`AppSchedulingInfo`), and the assignment of free
//! node space to asks on node heartbeats.
//!
//! Capacity limits use memory only, as YARN's default `DefaultResourceCalculator` does; a
//! node's fit checks memory and vcores so no node is ever over-committed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::ids::{ApplicationAttemptId, ApplicationId};
use crate::records::Resource;

use super::acls::{AccessControlList, QueueACL};
use super::config::{QueueConf, QueueState};

/// FIFO ordering within a leaf queue: higher application priority first, then submit order.
pub type AppKey = (Reverse<i32>, ApplicationId);

#[derive(Clone, Debug)]
pub struct CSQueue {
    pub name: String,
    pub path: String,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// Percent of the parent.
    pub capacity: f64,
    pub maximum_capacity: f64,
    /// Fractions of the cluster.
    pub abs_capacity: f64,
    pub abs_max_capacity: f64,
    pub state: QueueState,
    pub acl_submit_applications: AccessControlList,
    pub acl_administer_queue: AccessControlList,
    pub used: Resource,
    pub num_containers: u64,
    // Leaf-only bookkeeping.
    pub apps: BTreeSet<AppKey>,
    /// Apps with outstanding asks, in FIFO order.
    pub pending_apps: BTreeSet<AppKey>,
    pub pending: u64,
    pub am_used: Resource,
    pub running_ams: u32,
}

impl CSQueue {
    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

/// One outstanding ask: (container priority, normalized capability) -> how many more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ask {
    pub num: u32,
    pub allocation_request_id: i64,
}

/// `AppSchedulingInfo` of the current attempt.
#[derive(Clone, Debug)]
pub struct SchedulerApp {
    pub attempt: Option<ApplicationAttemptId>,
    pub queue: usize,
    pub key: AppKey,
    /// The AM container still to place, if any.
    pub am_ask: Option<Resource>,
    /// Lower priority number first, as YARN orders container priorities.
    pub asks: BTreeMap<(i32, Resource), Ask>,
}

impl SchedulerApp {
    fn pending(&self) -> u64 {
        self.am_ask.is_some() as u64 + self.asks.values().map(|a| a.num as u64).sum::<u64>()
    }
}

/// One container the scheduler placed; the RM turns it into an `RMContainer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub app: ApplicationId,
    pub attempt: ApplicationAttemptId,
    pub priority: i32,
    pub resource: Resource,
    pub allocation_request_id: i64,
    pub is_am: bool,
}

/// Why a queue name cannot take an application.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueLookup {
    Unknown,
    NotLeaf(String),
}

#[derive(Clone, Debug)]
pub struct CapacityScheduler {
    pub queues: Vec<CSQueue>,
    pub apps: BTreeMap<ApplicationId, SchedulerApp>,
    /// Outstanding containers over all apps: zero makes a heartbeat's scheduling free.
    pub pending: u64,
    pub max_am_resource_percent: f64,
}

impl CapacityScheduler {
    pub fn new(root: &QueueConf, max_am_resource_percent: f64) -> Self {
        let mut cs = CapacityScheduler { queues: Vec::new(), apps: BTreeMap::new(), pending: 0, max_am_resource_percent };
        cs.add_queue(root, None, 1.0, 1.0);
        cs
    }

    fn add_queue(&mut self, q: &QueueConf, parent: Option<usize>, parent_abs: f64, parent_abs_max: f64) -> usize {
        let idx = self.queues.len();
        let abs_capacity = parent_abs * q.capacity / 100.0;
        let abs_max_capacity = parent_abs_max * q.maximum_capacity / 100.0;
        self.queues.push(CSQueue {
            name: q.name.clone(),
            path: q.path.clone(),
            parent,
            children: Vec::new(),
            capacity: q.capacity,
            maximum_capacity: q.maximum_capacity,
            abs_capacity,
            abs_max_capacity,
            state: q.state,
            acl_submit_applications: AccessControlList::parse(&q.acl_submit_applications),
            acl_administer_queue: AccessControlList::parse(&q.acl_administer_queue),
            used: Resource::ZERO,
            num_containers: 0,
            apps: BTreeSet::new(),
            pending_apps: BTreeSet::new(),
            pending: 0,
            am_used: Resource::ZERO,
            running_ams: 0,
        });
        for c in &q.children {
            let ci = self.add_queue(c, Some(idx), abs_capacity, abs_max_capacity);
            self.queues[idx].children.push(ci);
        }
        idx
    }

    /// Finds a queue by full path or, as YARN allows, by its (unique) short name.
    pub fn leaf_queue(&self, name: &str) -> Result<usize, QueueLookup> {
        let found = self.queues.iter().position(|q| q.path == name).or_else(|| self.queues.iter().position(|q| q.name == name));
        match found {
            None => Err(QueueLookup::Unknown),
            Some(i) if !self.queues[i].is_leaf() => Err(QueueLookup::NotLeaf(self.queues[i].name.clone())),
            Some(i) => Ok(i),
        }
    }

    /// `CSQueue.hasAccess`: the queue's ACL or any ancestor's lets the user in.
    pub fn has_access(&self, queue: usize, acl: QueueACL, user: &str, groups: &BTreeSet<String>) -> bool {
        self.lineage(queue).into_iter().any(|i| {
            let q = &self.queues[i];
            match acl {
                QueueACL::SubmitApplications => q.acl_submit_applications.is_user_allowed(user, groups),
                QueueACL::AdministerQueue => q.acl_administer_queue.is_user_allowed(user, groups),
            }
        })
    }

    /// Moves an app to another leaf queue (`moveApplicationAcrossQueues`): its place in the
    /// FIFO order, pending asks and the usage of its live containers go with it.
    pub fn move_app(&mut self, app: ApplicationId, to: usize, live: &[(Resource, bool)]) {
        let Some(sa) = self.apps.get(&app) else { return };
        let (from, key, pending) = (sa.queue, sa.key, sa.pending());
        if from == to {
            return;
        }
        for (r, is_am) in live {
            self.release(from, r, *is_am);
            self.charge(to, r, *is_am);
        }
        let q = &mut self.queues[from];
        q.apps.remove(&key);
        let was_pending = q.pending_apps.remove(&key);
        q.pending -= pending;
        let q = &mut self.queues[to];
        q.apps.insert(key);
        if was_pending {
            q.pending_apps.insert(key);
        }
        q.pending += pending;
        if let Some(sa) = self.apps.get_mut(&app) {
            sa.queue = to;
        }
    }

    /// A new application priority: the app's place in its queue's FIFO order changes.
    pub fn update_priority(&mut self, app: ApplicationId, priority: i32) {
        let Some(sa) = self.apps.get_mut(&app) else { return };
        let old = sa.key;
        let new = (Reverse(priority), app);
        sa.key = new;
        let q = &mut self.queues[sa.queue];
        q.apps.remove(&old);
        q.apps.insert(new);
        if q.pending_apps.remove(&old) {
            q.pending_apps.insert(new);
        }
    }

    /// The queue and its ancestors, leaf first.
    fn lineage(&self, leaf: usize) -> Vec<usize> {
        let mut out = vec![leaf];
        let mut at = leaf;
        while let Some(p) = self.queues[at].parent {
            out.push(p);
            at = p;
        }
        out
    }

    pub fn add_app(&mut self, app: ApplicationId, queue: usize, priority: i32) {
        let key = (Reverse(priority), app);
        self.queues[queue].apps.insert(key);
        self.apps.insert(app, SchedulerApp { attempt: None, queue, key, am_ask: None, asks: BTreeMap::new() });
    }

    /// Keeps the pending counters of the app's queue and of the scheduler in step with `f`.
    fn with_pending<R>(&mut self, app: ApplicationId, f: impl FnOnce(&mut SchedulerApp) -> R) -> Option<R> {
        let sa = self.apps.get_mut(&app)?;
        let before = sa.pending();
        let out = f(sa);
        let after = sa.pending();
        let (queue, key) = (sa.queue, sa.key);
        let q = &mut self.queues[queue];
        q.pending = q.pending + after - before;
        self.pending = self.pending + after - before;
        if after > 0 {
            q.pending_apps.insert(key);
        } else {
            q.pending_apps.remove(&key);
        }
        Some(out)
    }

    /// A new attempt starts with no asks but its AM container (none for unmanaged AMs).
    pub fn start_attempt(&mut self, attempt: ApplicationAttemptId, am: Option<Resource>) {
        self.with_pending(attempt.app, |sa| {
            sa.attempt = Some(attempt);
            sa.am_ask = am;
            sa.asks.clear();
        });
    }

    /// The attempt ended: nothing more is placed for it.
    pub fn stop_attempt(&mut self, app: ApplicationId) {
        self.with_pending(app, |sa| {
            sa.attempt = None;
            sa.am_ask = None;
            sa.asks.clear();
        });
    }

    /// An AM's ask replaces the outstanding total for its (priority, capability).
    pub fn set_ask(&mut self, app: ApplicationId, priority: i32, capability: Resource, ask: Ask) {
        self.with_pending(app, |sa| {
            if ask.num == 0 {
                sa.asks.remove(&(priority, capability));
            } else {
                sa.asks.insert((priority, capability), ask);
            }
        });
    }

    pub fn remove_app(&mut self, app: ApplicationId) {
        self.stop_attempt(app);
        if let Some(sa) = self.apps.remove(&app) {
            self.queues[sa.queue].apps.remove(&sa.key);
        }
    }

    pub fn outstanding(&self, app: ApplicationId) -> u64 {
        self.apps.get(&app).map(|a| a.pending()).unwrap_or(0)
    }

    /// Whether `r` more keeps the queue and all its ancestors within their maximum capacity.
    fn within_max(&self, leaf: usize, r: &Resource, cluster: &Resource) -> bool {
        self.lineage(leaf).into_iter().all(|i| {
            let q = &self.queues[i];
            (q.used.memory_mb + r.memory_mb) as f64 <= q.abs_max_capacity * cluster.memory_mb as f64 + 1e-6
        })
    }

    /// maximum-am-resource-percent of the queue's guaranteed share, but one AM always fits.
    fn am_fits(&self, leaf: usize, r: &Resource, cluster: &Resource) -> bool {
        let q = &self.queues[leaf];
        if q.running_ams == 0 {
            return true;
        }
        let limit = q.abs_capacity * cluster.memory_mb as f64 * self.max_am_resource_percent;
        (q.am_used.memory_mb + r.memory_mb) as f64 <= limit + 1e-6
    }

    pub fn charge(&mut self, leaf: usize, r: &Resource, is_am: bool) {
        for i in self.lineage(leaf) {
            let q = &mut self.queues[i];
            q.used = q.used.add(r);
            q.num_containers += 1;
        }
        if is_am {
            let q = &mut self.queues[leaf];
            q.am_used = q.am_used.add(r);
            q.running_ams += 1;
        }
    }

    /// A container of a leaf queue ended: give its resources back.
    pub fn release(&mut self, leaf: usize, r: &Resource, is_am: bool) {
        for i in self.lineage(leaf) {
            let q = &mut self.queues[i];
            q.used = q.used.sub(r);
            q.num_containers = q.num_containers.saturating_sub(1);
        }
        if is_am {
            let q = &mut self.queues[leaf];
            q.am_used = q.am_used.sub(r);
            q.running_ams = q.running_ams.saturating_sub(1);
        }
    }

    /// Fills `free` on one node from outstanding asks: leaf queue furthest below its
    /// guarantee first, then apps in FIFO order, then asks by priority; one container at a
    /// time so the queue order is re-evaluated after each.
    pub fn assign(&mut self, mut free: Resource, cluster: &Resource, min_alloc: &Resource) -> Vec<Assignment> {
        let mut out = Vec::new();
        while self.pending > 0 && min_alloc.fits_in(&free) {
            let Some(a) = self.assign_one(&free, cluster) else { break };
            free = free.sub(&a.resource);
            out.push(a);
        }
        out
    }

    fn assign_one(&mut self, free: &Resource, cluster: &Resource) -> Option<Assignment> {
        let mut leaves: Vec<(f64, usize)> = self
            .queues
            .iter()
            .enumerate()
            .filter(|(_, q)| q.is_leaf() && q.pending > 0)
            .map(|(i, q)| {
                let guaranteed = q.abs_capacity * cluster.memory_mb as f64;
                let ratio = if guaranteed > 0.0 { q.used.memory_mb as f64 / guaranteed } else { f64::INFINITY };
                (ratio, i)
            })
            .collect();
        leaves.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (_, leaf) in leaves {
            let apps: Vec<ApplicationId> = self.queues[leaf].pending_apps.iter().map(|k| k.1).collect();
            for app in apps {
                if let Some(a) = self.assign_for_app(leaf, app, free, cluster) {
                    return Some(a);
                }
            }
        }
        None
    }

    fn assign_for_app(&mut self, leaf: usize, app: ApplicationId, free: &Resource, cluster: &Resource) -> Option<Assignment> {
        let sa = self.apps.get(&app)?;
        let attempt = sa.attempt?;
        if let Some(am) = sa.am_ask {
            // Until its AM runs an app asks for nothing else.
            if !am.fits_in(free) || !self.within_max(leaf, &am, cluster) || !self.am_fits(leaf, &am, cluster) {
                return None;
            }
            self.with_pending(app, |sa| sa.am_ask = None);
            self.charge(leaf, &am, true);
            return Some(Assignment { app, attempt, priority: 0, resource: am, allocation_request_id: -1, is_am: true });
        }
        let pick = sa.asks.iter().find(|((_, cap), _)| cap.fits_in(free) && self.within_max(leaf, cap, cluster)).map(|(k, a)| (*k, *a))?;
        let ((priority, cap), ask) = pick;
        self.with_pending(app, |sa| {
            if ask.num <= 1 {
                sa.asks.remove(&(priority, cap));
            } else if let Some(a) = sa.asks.get_mut(&(priority, cap)) {
                a.num -= 1;
            }
        });
        self.charge(leaf, &cap, false);
        Some(Assignment { app, attempt, priority, resource: cap, allocation_request_id: ask.allocation_request_id, is_am: false })
    }

    /// What the app's queue could still give: its maximum share less its use, bounded by the
    /// cluster's free space.
    pub fn headroom(&self, app: ApplicationId, cluster: &Resource, cluster_used: &Resource) -> Resource {
        let Some(sa) = self.apps.get(&app) else { return Resource::ZERO };
        let mut room = cluster.sub(cluster_used);
        for i in self.lineage(sa.queue) {
            let q = &self.queues[i];
            let max_mb = (q.abs_max_capacity * cluster.memory_mb as f64) as u64;
            let max_vc = (q.abs_max_capacity * cluster.vcores as f64) as u32;
            let q_room = Resource::new(max_mb, max_vc).sub(&q.used);
            room = Resource::new(room.memory_mb.min(q_room.memory_mb), room.vcores.min(q_room.vcores));
        }
        room
    }

    /// `/ws/v1/cluster/scheduler`'s `schedulerInfo` (§1.3).
    pub fn scheduler_info(&self, cluster: &Resource) -> Value {
        let root = &self.queues[0];
        json!({
            "type": "capacityScheduler",
            "capacity": 100.0,
            "usedCapacity": pct(root.used.memory_mb, cluster.memory_mb),
            "maxCapacity": 100.0,
            "queueName": root.name,
            "queues": { "queue": root.children.iter().map(|c| self.queue_info(*c, cluster)).collect::<Vec<_>>() },
        })
    }

    fn queue_info(&self, i: usize, cluster: &Resource) -> Value {
        let q = &self.queues[i];
        let guaranteed = (q.abs_capacity * cluster.memory_mb as f64) as u64;
        let mut v = json!({
            "capacity": q.capacity,
            "usedCapacity": pct(q.used.memory_mb, guaranteed),
            "maxCapacity": q.maximum_capacity,
            "absoluteCapacity": q.abs_capacity * 100.0,
            "absoluteMaxCapacity": q.abs_max_capacity * 100.0,
            "absoluteUsedCapacity": pct(q.used.memory_mb, cluster.memory_mb),
            "numApplications": self.subtree_apps(i),
            "usedResources": q.used.to_string(),
            "queueName": q.name,
            "state": q.state.name(),
            "resourcesUsed": { "memory": q.used.memory_mb, "vCores": q.used.vcores },
        });
        let m = v.as_object_mut().expect("object");
        if q.is_leaf() {
            let active = q.apps.len() - self.waiting_apps(i);
            let max_apps = (10_000.0 * q.abs_capacity) as u64;
            m.insert("type".into(), json!("capacitySchedulerLeafQueueInfo"));
            m.insert("numActiveApplications".into(), json!(active));
            m.insert("numPendingApplications".into(), json!(self.waiting_apps(i)));
            m.insert("numContainers".into(), json!(q.num_containers));
            m.insert("maxApplications".into(), json!(max_apps));
            m.insert("maxApplicationsPerUser".into(), json!(max_apps));
            m.insert("maxActiveApplications".into(), json!(max_apps));
            m.insert("maxActiveApplicationsPerUser".into(), json!(max_apps));
            m.insert("userLimit".into(), json!(100));
            m.insert("userLimitFactor".into(), json!(1.0));
            m.insert("users".into(), Value::Null);
        } else {
            m.insert("queues".into(), json!({ "queue": q.children.iter().map(|c| self.queue_info(*c, cluster)).collect::<Vec<_>>() }));
        }
        v
    }

    fn subtree_apps(&self, i: usize) -> usize {
        let q = &self.queues[i];
        q.apps.len() + q.children.iter().map(|c| self.subtree_apps(*c)).sum::<usize>()
    }

    /// Apps whose AM is not placed yet: the queue's "pending" applications.
    fn waiting_apps(&self, leaf: usize) -> usize {
        self.queues[leaf].pending_apps.iter().filter(|k| self.apps.get(&k.1).is_some_and(|a| a.am_ask.is_some())).count()
    }
}

fn pct(used: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        used as f64 * 100.0 / of as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::Configuration;
    use crate::rm::config::RmConfig;

    fn two_queues() -> CapacityScheduler {
        let mut conf = Configuration::new();
        conf.set("yarn.scheduler.capacity.root.queues", "a,b");
        conf.set("yarn.scheduler.capacity.root.a.capacity", 50);
        conf.set("yarn.scheduler.capacity.root.a.maximum-capacity", 50);
        conf.set("yarn.scheduler.capacity.root.b.capacity", 50);
        let c = RmConfig::from_conf(&conf).unwrap();
        CapacityScheduler::new(&c.root_queue, 1.0)
    }

    #[test]
    fn max_capacity_caps_a_queue_and_the_other_gets_the_rest() {
        let mut cs = two_queues();
        let a = cs.leaf_queue("a").unwrap();
        let b = cs.leaf_queue("root.b").unwrap();
        assert_eq!(cs.leaf_queue("root"), Err(QueueLookup::NotLeaf("root".into())));
        assert_eq!(cs.leaf_queue("zz"), Err(QueueLookup::Unknown));
        let (x, y) = (ApplicationId::new(1, 1), ApplicationId::new(1, 2));
        cs.add_app(x, a, 0);
        cs.add_app(y, b, 0);
        cs.start_attempt(ApplicationAttemptId::new(x, 1), None);
        cs.start_attempt(ApplicationAttemptId::new(y, 1), None);
        let one = Resource::new(1024, 1);
        cs.set_ask(x, 1, one, Ask { num: 10, allocation_request_id: -1 });
        cs.set_ask(y, 1, one, Ask { num: 2, allocation_request_id: -1 });
        let cluster = Resource::new(8192, 8);
        let got = cs.assign(cluster, &cluster, &one);
        let for_x = got.iter().filter(|g| g.app == x).count();
        let for_y = got.iter().filter(|g| g.app == y).count();
        assert_eq!((for_x, for_y), (4, 2), "a is capped at 50% of 8 GB");
        assert_eq!(cs.outstanding(x), 6);
        assert_eq!(cs.pending, 6);
        cs.release(a, &one, false);
        assert_eq!(cs.assign(one, &cluster, &one).len(), 1);
        cs.remove_app(x);
        assert_eq!(cs.pending, 0);
    }
}
