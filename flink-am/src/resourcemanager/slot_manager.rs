//! The declarative SlotManager: jobs declare how many slots they need; the SlotManager
//! matches those declarations with the slots of registered TaskExecutors (sending RequestSlot
//! for free ones) and says how many slots are still missing, which the ActiveResourceManager
//! turns into new workers. The TaskExecutors' slot reports are the truth about allocations.

use std::collections::BTreeMap;

use engine::{Addr, Cx, Time};
use flink_core::protocol::SlotStatus;
use flink_core::{AllocationId, JobId, JobMasterId, ResourceId, ResourceManagerId, TaskExecutorGateway};

/// One slot as the SlotManager sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    Free,
    /// RequestSlot sent at `since`; not yet in a slot report.
    Pending {
        allocation_id: AllocationId,
        job_id: JobId,
        since: Time,
    },
    /// The TaskExecutor reported it allocated.
    Allocated {
        allocation_id: AllocationId,
        job_id: JobId,
    },
}

impl SlotState {
    pub fn job(&self) -> Option<JobId> {
        match self {
            SlotState::Free => None,
            SlotState::Pending { job_id, .. } | SlotState::Allocated { job_id, .. } => Some(*job_id),
        }
    }
}

/// A registered TaskExecutor.
#[derive(Clone, Debug)]
pub struct TaskExecutorRegistration {
    pub resource_id: ResourceId,
    pub address: Addr,
    pub data_address: Addr,
    pub memory_mb: u64,
    pub slots: Vec<SlotState>,
    pub registered_at: Time,
    pub last_heartbeat: Time,
    /// Since when every slot has been free (None while any is in use).
    pub idle_since: Option<Time>,
}

impl TaskExecutorRegistration {
    pub fn free_slots(&self) -> u32 {
        self.slots.iter().filter(|s| **s == SlotState::Free).count() as u32
    }
    fn update_idle(&mut self, now: Time) {
        if self.free_slots() as usize == self.slots.len() {
            self.idle_since.get_or_insert(now);
        } else {
            self.idle_since = None;
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct JobRequirement {
    pub job_master: Addr,
    pub job_master_id: JobMasterId,
    pub slots: u32,
}

#[derive(Default)]
pub struct SlotManager {
    requirements: BTreeMap<JobId, JobRequirement>,
    task_executors: BTreeMap<ResourceId, TaskExecutorRegistration>,
    /// A pending allocation a report does not show yet is kept this long (the report may have
    /// been sent before the TaskExecutor saw the RequestSlot).
    pending_grace_ms: u64,
}

impl SlotManager {
    pub fn new(pending_grace_ms: u64) -> SlotManager {
        SlotManager { requirements: BTreeMap::new(), task_executors: BTreeMap::new(), pending_grace_ms }
    }

    pub fn declare(&mut self, job_id: JobId, job_master: Addr, job_master_id: JobMasterId, slots: u32) {
        if slots == 0 {
            self.requirements.remove(&job_id);
        } else {
            self.requirements.insert(job_id, JobRequirement { job_master, job_master_id, slots });
        }
    }

    pub fn requirements(&self) -> &BTreeMap<JobId, JobRequirement> {
        &self.requirements
    }

    pub fn register(&mut self, reg: TaskExecutorRegistration) {
        self.task_executors.insert(reg.resource_id.clone(), reg);
    }

    pub fn unregister(&mut self, id: &str) -> Option<TaskExecutorRegistration> {
        self.task_executors.remove(id)
    }

    pub fn task_executor(&self, id: &str) -> Option<&TaskExecutorRegistration> {
        self.task_executors.get(id)
    }

    pub fn task_executors(&self) -> impl Iterator<Item = &TaskExecutorRegistration> {
        self.task_executors.values()
    }

    pub fn total_slots(&self) -> u32 {
        self.task_executors.values().map(|t| t.slots.len() as u32).sum()
    }

    pub fn free_slots(&self) -> u32 {
        self.task_executors.values().map(|t| t.free_slots()).sum()
    }

    /// A heartbeat with a slot report: reconciles allocations, keeping fresh pending ones.
    pub fn report(&mut self, id: &str, slots: &[SlotStatus], now: Time) -> bool {
        let grace = self.pending_grace_ms;
        let Some(te) = self.task_executors.get_mut(id) else { return false };
        te.last_heartbeat = now;
        for s in slots {
            let Some(cur) = te.slots.get_mut(s.slot_index as usize) else { continue };
            *cur = match (s.allocation, *cur) {
                (Some((allocation_id, job_id)), _) => SlotState::Allocated { allocation_id, job_id },
                (None, SlotState::Pending { since, .. }) if now.since(since).as_millis() < grace as u128 => *cur,
                (None, _) => SlotState::Free,
            };
        }
        te.update_idle(now);
        true
    }

    pub fn allocated_to(&self, job: &JobId) -> u32 {
        self.task_executors.values().flat_map(|t| t.slots.iter()).filter(|s| s.job() == Some(*job)).count() as u32
    }

    /// checkResourceRequirements: gives free slots to jobs that miss some (in job-id order),
    /// then returns how many slots are still missing in total and per job.
    pub fn check_resource_requirements(&mut self, cx: &mut Cx, resource_manager_id: ResourceManagerId) -> (u32, Vec<JobId>) {
        let mut missing_total = 0;
        let mut missing_jobs = Vec::new();
        let reqs: Vec<(JobId, JobRequirement)> = self.requirements.iter().map(|(k, v)| (*k, *v)).collect();
        for (job_id, req) in reqs {
            let mut have = self.allocated_to(&job_id);
            'outer: for te in self.task_executors.values_mut() {
                for (i, slot) in te.slots.iter_mut().enumerate() {
                    if have >= req.slots {
                        break 'outer;
                    }
                    if *slot == SlotState::Free {
                        let allocation_id = AllocationId::random(cx);
                        *slot = SlotState::Pending { allocation_id, job_id, since: cx.now() };
                        te.idle_since = None;
                        have += 1;
                        cx.send(
                            te.address,
                            TaskExecutorGateway::RequestSlot {
                                resource_manager_id,
                                slot_index: i as u32,
                                allocation_id,
                                job_id,
                                job_master: req.job_master,
                                job_master_id: req.job_master_id,
                            },
                        );
                    }
                }
            }
            if have < req.slots {
                missing_total += req.slots - have;
                missing_jobs.push(job_id);
            }
        }
        (missing_total, missing_jobs)
    }
}
