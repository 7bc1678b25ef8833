//! The TaskSlotTable: which of this TaskExecutor's slots belong to which job's allocation.
//!
//! A slot moves Free -> Allocated (the RM asked for it on behalf of a job master and we offered
//! it) -> Active (the job master accepted the offer) -> Free (FreeSlot, the job master rejected
//! the offer, a new job master leader, or shutdown). Losing the job master's heartbeat moves
//! Active back to Allocated ("inactive", Flink's `markSlotInactive`): the slot stays the job's
//! and is offered again, and an Allocated slot the job master has not taken within the slot
//! timeout is freed (Flink's `taskmanager.slot.timeout`). Tasks may only be deployed into an
//! Allocated or Active slot of their job.

use engine::{Addr, Time};
use flink_core::protocol::SlotStatus;
use flink_core::{AllocationId, JobId};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskSlotState {
    Free,
    /// Reserved for a job and offered to its job master, not yet accepted.
    Allocated,
    /// Accepted by the job master: tasks run here.
    Active,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSlot {
    pub index: u32,
    pub state: TaskSlotState,
    /// Set unless Free.
    pub allocation: Option<SlotAllocation>,
    /// When the slot entered its state: an Allocated slot times out from here.
    pub since: Time,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotAllocation {
    pub allocation_id: AllocationId,
    pub job_id: JobId,
    pub job_master: Addr,
}

/// Why a slot request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotRefusal {
    NoSuchSlot {
        index: u32,
        slots: u32,
    },
    /// Another allocation holds the slot; the RM learns the truth from the next slot report.
    Occupied {
        index: u32,
        by: AllocationId,
    },
    /// The allocation already holds a different slot here.
    AllocationElsewhere {
        allocation_id: AllocationId,
        index: u32,
    },
}

impl std::fmt::Display for SlotRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotRefusal::NoSuchSlot { index, slots } => write!(f, "slot {index} does not exist (this TaskExecutor has {slots} slots)"),
            SlotRefusal::Occupied { index, by } => write!(f, "slot {index} is already allocated to allocation {by}"),
            SlotRefusal::AllocationElsewhere { allocation_id, index } => {
                write!(f, "allocation {allocation_id} already holds slot {index}")
            }
        }
    }
}

pub struct TaskSlotTable {
    slots: Vec<TaskSlot>,
}

impl TaskSlotTable {
    pub fn new(num_slots: u32) -> TaskSlotTable {
        TaskSlotTable {
            slots: (0..num_slots)
                .map(|index| TaskSlot { index, state: TaskSlotState::Free, allocation: None, since: Time::ZERO })
                .collect(),
        }
    }

    pub fn slots(&self) -> &[TaskSlot] {
        &self.slots
    }

    pub fn num_free(&self) -> u32 {
        self.slots.iter().filter(|s| s.state == TaskSlotState::Free).count() as u32
    }

    /// Reserves slot `index` for an allocation. Asking again for the same allocation and slot
    /// is fine (the RM retries requests); it returns the current state.
    pub fn allocate(&mut self, index: u32, allocation: SlotAllocation, now: Time) -> Result<TaskSlotState, SlotRefusal> {
        let slots = self.slots.len() as u32;
        if let Some(held) = self.find(allocation.allocation_id) {
            if held.index != index {
                return Err(SlotRefusal::AllocationElsewhere { allocation_id: allocation.allocation_id, index: held.index });
            }
        }
        let slot = self.slots.get_mut(index as usize).ok_or(SlotRefusal::NoSuchSlot { index, slots })?;
        match &slot.allocation {
            Some(a) if a.allocation_id == allocation.allocation_id => Ok(slot.state),
            Some(a) => Err(SlotRefusal::Occupied { index, by: a.allocation_id }),
            None => {
                slot.state = TaskSlotState::Allocated;
                slot.allocation = Some(allocation);
                slot.since = now;
                Ok(TaskSlotState::Allocated)
            }
        }
    }

    /// The job master accepted the offer. False if the allocation is not (or no longer) here.
    pub fn mark_active(&mut self, allocation_id: AllocationId, job_id: JobId, now: Time) -> bool {
        match self.slot_mut(allocation_id) {
            Some(s) if s.allocation.as_ref().is_some_and(|a| a.job_id == job_id) => {
                if s.state != TaskSlotState::Active {
                    s.state = TaskSlotState::Active;
                    s.since = now;
                }
                true
            }
            _ => false,
        }
    }

    /// The job's job master is lost: its Active slots go back to Allocated, to be offered
    /// again, and time out from `now` unless accepted. Returns every allocation the job holds.
    pub fn mark_inactive(&mut self, job_id: JobId, now: Time) -> Vec<(AllocationId, u32)> {
        let mut held = Vec::new();
        for s in &mut self.slots {
            let Some(a) = s.allocation.as_ref().filter(|a| a.job_id == job_id) else { continue };
            held.push((a.allocation_id, s.index));
            if s.state == TaskSlotState::Active {
                s.state = TaskSlotState::Allocated;
                s.since = now;
            }
        }
        held
    }

    /// Whether the allocation is here and not (yet, or no longer) accepted by its job master.
    pub fn is_inactive(&self, allocation_id: AllocationId) -> bool {
        self.find(allocation_id).is_some_and(|s| s.state == TaskSlotState::Allocated)
    }

    /// Allocated slots that have waited longer than `timeout` for their job master.
    pub fn timed_out(&self, now: Time, timeout: std::time::Duration) -> Vec<AllocationId> {
        self.slots
            .iter()
            .filter(|s| s.state == TaskSlotState::Allocated && now.since(s.since) > timeout)
            .filter_map(|s| s.allocation.as_ref().map(|a| a.allocation_id))
            .collect()
    }

    /// Frees the allocation's slot; returns its index if it was here.
    pub fn free(&mut self, allocation_id: AllocationId) -> Option<u32> {
        let slot = self.slot_mut(allocation_id)?;
        slot.state = TaskSlotState::Free;
        slot.allocation = None;
        Some(slot.index)
    }

    pub fn find(&self, allocation_id: AllocationId) -> Option<&TaskSlot> {
        self.slots.iter().find(|s| s.allocation.as_ref().is_some_and(|a| a.allocation_id == allocation_id))
    }

    fn slot_mut(&mut self, allocation_id: AllocationId) -> Option<&mut TaskSlot> {
        self.slots.iter_mut().find(|s| s.allocation.as_ref().is_some_and(|a| a.allocation_id == allocation_id))
    }

    /// True if the allocation is here and belongs to `job_id`: a task of that job may run in it.
    pub fn is_allocated(&self, allocation_id: AllocationId, job_id: JobId) -> bool {
        self.find(allocation_id).and_then(|s| s.allocation.as_ref()).is_some_and(|a| a.job_id == job_id)
    }

    /// True if slot `index` holds the allocation for `job_id` (in any state): Flink's
    /// `isAllocated(index, jobId, allocationId)`.
    pub fn is_allocated_at(&self, index: u32, allocation_id: AllocationId, job_id: JobId) -> bool {
        self.slots
            .get(index as usize)
            .and_then(|s| s.allocation.as_ref())
            .is_some_and(|a| a.allocation_id == allocation_id && a.job_id == job_id)
    }

    /// The job's slots its job master accepted, in slot order.
    pub fn active_allocations_of(&self, job_id: JobId) -> Vec<AllocationId> {
        self.slots
            .iter()
            .filter(|s| s.state == TaskSlotState::Active)
            .filter_map(|s| s.allocation.as_ref())
            .filter(|a| a.job_id == job_id)
            .map(|a| a.allocation_id)
            .collect()
    }

    /// Allocations held for `job_id`, in slot order.
    pub fn allocations_of(&self, job_id: JobId) -> Vec<AllocationId> {
        self.slots.iter().filter_map(|s| s.allocation.as_ref()).filter(|a| a.job_id == job_id).map(|a| a.allocation_id).collect()
    }

    /// The slot report sent with every heartbeat to the ResourceManager.
    pub fn report(&self) -> Vec<SlotStatus> {
        self.slots
            .iter()
            .map(|s| SlotStatus { slot_index: s.index, allocation: s.allocation.as_ref().map(|a| (a.allocation_id, a.job_id)) })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(a: u128, j: u128) -> SlotAllocation {
        SlotAllocation { allocation_id: AllocationId(a), job_id: JobId(j), job_master: "127.0.0.1:1".parse().unwrap() }
    }

    #[test]
    fn allocate_activate_free() {
        let mut t = TaskSlotTable::new(2);
        assert_eq!(t.allocate(0, alloc(1, 9), Time::ZERO), Ok(TaskSlotState::Allocated));
        assert_eq!(t.allocate(0, alloc(1, 9), Time::ZERO), Ok(TaskSlotState::Allocated), "a retried request is idempotent");
        assert_eq!(t.allocate(0, alloc(2, 9), Time::ZERO), Err(SlotRefusal::Occupied { index: 0, by: AllocationId(1) }));
        assert_eq!(
            t.allocate(1, alloc(1, 9), Time::ZERO),
            Err(SlotRefusal::AllocationElsewhere { allocation_id: AllocationId(1), index: 0 })
        );
        assert_eq!(t.allocate(5, alloc(3, 9), Time::ZERO), Err(SlotRefusal::NoSuchSlot { index: 5, slots: 2 }));
        assert!(!t.mark_active(AllocationId(1), JobId(8), Time::ZERO), "another job cannot activate it");
        assert!(t.mark_active(AllocationId(1), JobId(9), Time::ZERO));
        assert!(t.is_allocated(AllocationId(1), JobId(9)));
        assert_eq!(t.num_free(), 1);
        assert_eq!(t.report()[0].allocation, Some((AllocationId(1), JobId(9))));
        assert_eq!(t.allocations_of(JobId(9)), vec![AllocationId(1)]);
        assert_eq!(t.free(AllocationId(1)), Some(0));
        assert_eq!(t.free(AllocationId(1)), None);
        assert_eq!(t.num_free(), 2);
    }

    #[test]
    fn a_lost_job_master_leaves_its_slots_allocated_until_they_time_out() {
        let mut t = TaskSlotTable::new(3);
        let at = |ms: u64| Time::ZERO + std::time::Duration::from_millis(ms);
        t.allocate(0, alloc(1, 9), at(0)).unwrap();
        t.allocate(1, alloc(2, 9), at(0)).unwrap();
        t.allocate(2, alloc(3, 7), at(0)).unwrap();
        assert!(t.mark_active(AllocationId(1), JobId(9), at(10)));
        assert!(t.mark_active(AllocationId(3), JobId(7), at(10)));
        let timeout = std::time::Duration::from_millis(100);
        assert_eq!(t.timed_out(at(50), timeout), vec![], "active slots never time out; allocated ones after the timeout");
        assert_eq!(t.timed_out(at(101), timeout), vec![AllocationId(2)]);
        // Job 9's master is lost at 500: both its slots are its own still, inactive from then.
        assert_eq!(t.mark_inactive(JobId(9), at(500)), vec![(AllocationId(1), 0), (AllocationId(2), 1)]);
        assert!(t.is_inactive(AllocationId(1)) && t.is_allocated(AllocationId(1), JobId(9)));
        assert!(!t.is_inactive(AllocationId(3)), "another job's slot is untouched");
        assert_eq!(t.timed_out(at(550), timeout), vec![AllocationId(2)], "slot 0 waits from 500, slot 1 since 0");
        assert_eq!(t.timed_out(at(601), timeout), vec![AllocationId(1), AllocationId(2)]);
        assert!(t.mark_active(AllocationId(1), JobId(9), at(560)), "offered again and accepted");
        assert_eq!(t.timed_out(at(700), timeout), vec![AllocationId(2)]);
        assert_eq!(t.num_free(), 0);
    }
}
