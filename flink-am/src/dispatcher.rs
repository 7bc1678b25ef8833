//! The Dispatcher: accepts JobGraphs, starts a JobMaster per job, cancels jobs, and keeps the
//! finished ones (their JobMasters, frozen) as the archive REST reads. In application mode it
//! also holds the application's remaining jobs and submits the next when one ends.

use std::collections::{BTreeMap, VecDeque};

use engine::{Cx, TimerId};
use flink_core::{JobGraph, JobId, JobMasterId, JobStatus};

use crate::jobmaster::{JmEvent, JobMaster, TIMER_BASE, TIMER_STRIDE};

pub struct Dispatcher {
    jobs: BTreeMap<JobId, JobMaster>,
    /// Submission order (REST lists newest first, the application runs in this order).
    order: Vec<JobId>,
    /// Application mode: the jobs still to run, in order.
    queued: VecDeque<JobGraph>,
    next_index: u64,
    heartbeat_interval_ms: u64,
    heartbeat_timeout_ms: u64,
    /// HA on: JobMasters commit checkpoints only once the HA store has them.
    pub ha: bool,
    /// HA: the leader session id this process was granted; every JobMaster it starts fences
    /// with it (one election per process). None without HA: a random id per JobMaster.
    pub leader_id: Option<JobMasterId>,
}

impl Dispatcher {
    pub fn new(heartbeat_interval_ms: u64, heartbeat_timeout_ms: u64) -> Dispatcher {
        Dispatcher {
            jobs: BTreeMap::new(),
            order: Vec::new(),
            queued: VecDeque::new(),
            next_index: 0,
            heartbeat_interval_ms,
            heartbeat_timeout_ms,
            ha: false,
            leader_id: None,
        }
    }

    fn job_master_id(&self, cx: &mut Cx) -> JobMasterId {
        self.leader_id.unwrap_or_else(|| JobMasterId::random(cx))
    }

    /// Whether a job with this id is known (running or archived).
    pub fn contains(&self, id: &JobId) -> bool {
        self.jobs.contains_key(id)
    }

    /// Starts the JobMaster of a job a new leader recovered from the HA stores: it restores
    /// the latest completed checkpoint, and checkpoint ids continue from the counter.
    pub fn recover_job(&mut self, cx: &mut Cx, job: crate::ha::RecoveredJob) -> Result<JobId, String> {
        let id = job.graph.job_id;
        if self.jobs.contains_key(&id) {
            return Ok(id);
        }
        let jm_id = self.job_master_id(cx);
        let mut jm = JobMaster::new(cx, job.graph, jm_id, self.next_index, self.heartbeat_interval_ms, self.heartbeat_timeout_ms);
        jm.checkpoints.persist_before_notify = self.ha;
        let mut next = None;
        if let Some(location) = &job.checkpoint {
            let c = crate::jobmaster::checkpoint_coordinator::load_metadata(cx, location)
                .map_err(|e| format!("Could not recover the latest completed checkpoint of job {id}: {e}"))?;
            if c.metadata.job_id != id {
                return Err(format!("The completed checkpoint at {location} belongs to job {}, not {id}.", c.metadata.job_id));
            }
            next = Some(c.id() + 1);
            jm.checkpoints.add_recovered(c);
        }
        if let Some(n) = job.counter.map(|c| c.max(next.unwrap_or(1))).or(next) {
            jm.checkpoints.reset_checkpoint_id(cx, n);
        }
        self.next_index += 1;
        jm.start(cx);
        self.jobs.insert(id, jm);
        self.order.push(id);
        Ok(id)
    }

    /// Submits a job: validates it, refuses a duplicate id, starts its JobMaster.
    pub fn submit_job(&mut self, cx: &mut Cx, graph: JobGraph) -> Result<JobId, String> {
        graph.validate().map_err(|e| format!("Failed to submit job {}: {e}", graph.job_id))?;
        let id = graph.job_id;
        if self.jobs.contains_key(&id) {
            return Err("Job has already been submitted.".into());
        }
        cx.print(&format!("INFO  Received JobGraph submission '{}' ({id}).", graph.name));
        cx.print(&format!("INFO  Submitting job '{}' ({id}).", graph.name));
        let jm_id = self.job_master_id(cx);
        let mut jm = JobMaster::new(cx, graph, jm_id, self.next_index, self.heartbeat_interval_ms, self.heartbeat_timeout_ms);
        jm.checkpoints.persist_before_notify = self.ha;
        self.next_index += 1;
        jm.start(cx);
        self.jobs.insert(id, jm);
        self.order.push(id);
        Ok(id)
    }

    /// Queues jobs to run one after another (application mode); starts the first.
    pub fn run_in_order(&mut self, cx: &mut Cx, jobs: Vec<JobGraph>) -> Result<(), String> {
        self.queued.extend(jobs);
        self.submit_next(cx)
    }

    /// Submits the next queued job, if any; false when none is left.
    pub fn submit_next(&mut self, cx: &mut Cx) -> Result<(), String> {
        match self.queued.pop_front() {
            Some(g) => self.submit_job(cx, g).map(|_| ()),
            None => Ok(()),
        }
    }

    pub fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    /// Drops the application's remaining jobs (an earlier one failed or was canceled).
    pub fn clear_queue(&mut self) -> usize {
        let n = self.queued.len();
        self.queued.clear();
        n
    }

    pub fn cancel_job(&mut self, cx: &mut Cx, id: &JobId) -> Result<(), String> {
        match self.jobs.get_mut(id) {
            None => Err(format!("Job {id} not found")),
            Some(jm) => {
                cx.print(&format!("INFO  Cancelling job {id}."));
                jm.cancel(cx)
            }
        }
    }

    /// Cancels every job that is not globally terminal (cluster shutdown).
    pub fn cancel_all(&mut self, cx: &mut Cx) {
        for id in self.order.clone() {
            if let Some(jm) = self.jobs.get_mut(&id) {
                if !jm.status.is_globally_terminal() {
                    let _ = jm.cancel(cx);
                }
            }
        }
    }

    pub fn job(&self, id: &JobId) -> Option<&JobMaster> {
        self.jobs.get(id)
    }

    pub fn job_mut(&mut self, id: &JobId) -> Option<&mut JobMaster> {
        self.jobs.get_mut(id)
    }

    /// All jobs in submission order.
    pub fn jobs(&self) -> impl Iterator<Item = &JobMaster> {
        self.order.iter().filter_map(|id| self.jobs.get(id))
    }

    pub fn jobs_mut(&mut self) -> impl Iterator<Item = &mut JobMaster> {
        self.jobs.values_mut()
    }

    pub fn count(&self, status: JobStatus) -> u32 {
        self.jobs.values().filter(|j| j.status == status).count() as u32
    }

    pub fn all_terminal(&self) -> bool {
        self.jobs.values().all(|j| j.status.is_globally_terminal())
    }

    /// The JobMaster owning a timer id.
    pub fn job_for_timer(&mut self, timer: TimerId) -> Option<&mut JobMaster> {
        if timer < TIMER_BASE {
            return None;
        }
        let index = (timer - TIMER_BASE) / TIMER_STRIDE;
        self.jobs.values_mut().find(|j| j.owns_timer(timer) && (timer - TIMER_BASE) / TIMER_STRIDE == index)
    }

    /// Every JobMaster's pending events, in job-id order.
    pub fn take_events(&mut self) -> Vec<JmEvent> {
        self.jobs.values_mut().flat_map(|j| j.take_events()).collect()
    }
}
