//! The TaskExecutor's tasks by execution attempt, in id order (the order every pass over them
//! takes, as the B-tree's was). A sorted list found by comparing ids for equality: a
//! TaskExecutor runs a handful of subtasks, and a B-tree's ordered search compared 128-bit ids
//! on every step of every task at every wake-up (a twentieth of a simulated job's run).

use flink_core::ExecutionAttemptId;

use crate::task::Task;

#[derive(Default)]
pub struct TaskTable {
    /// Ascending by id, each id once.
    entries: Vec<(ExecutionAttemptId, Task)>,
}

impl TaskTable {
    pub fn new() -> TaskTable {
        TaskTable::default()
    }
    fn position(&self, id: &ExecutionAttemptId) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == id)
    }
    // `get` and `get_mut` search themselves rather than index through `position`: the
    // index's bounds check on every step of every task cost 1% of a fault-search seed.
    pub fn get(&self, id: &ExecutionAttemptId) -> Option<&Task> {
        self.entries.iter().find(|(k, _)| k == id).map(|(_, t)| t)
    }
    pub fn get_mut(&mut self, id: &ExecutionAttemptId) -> Option<&mut Task> {
        self.entries.iter_mut().find(|(k, _)| k == id).map(|(_, t)| t)
    }
    pub fn contains_key(&self, id: &ExecutionAttemptId) -> bool {
        self.position(id).is_some()
    }
    /// Adds or replaces the task of `id`; returns the one it replaced.
    pub fn insert(&mut self, id: ExecutionAttemptId, task: Task) -> Option<Task> {
        match self.entries.binary_search_by(|(k, _)| k.cmp(&id)) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, task)),
            Err(i) => {
                self.entries.insert(i, (id, task));
                None
            }
        }
    }
    pub fn remove(&mut self, id: &ExecutionAttemptId) -> Option<Task> {
        let i = self.position(id)?;
        Some(self.entries.remove(i).1)
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Ids in ascending order.
    pub fn keys(&self) -> impl Iterator<Item = &ExecutionAttemptId> {
        self.entries.iter().map(|(k, _)| k)
    }
    /// Tasks in ascending order of their ids.
    pub fn values(&self) -> impl Iterator<Item = &Task> {
        self.entries.iter().map(|(_, t)| t)
    }
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Task> {
        self.entries.iter_mut().map(|(_, t)| t)
    }
}
