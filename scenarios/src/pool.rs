//! Runs independent scenario runs on a few threads and hands their results back in input
//! order. Each run is self-contained (a simulation, or a live cluster in its own directory on
//! its own ports), so only the list of work is shared; a live run spends most of its time
//! waiting on timeouts and heartbeats, which is why several at once finish sooner even on
//! two cores.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Calls `run` on every item, `jobs` at a time (the next free thread takes the next item),
/// and `done(index, result)` on the calling thread in input order, each as soon as it and
/// every item before it have finished. `jobs` of 1 runs everything on the calling thread.
pub fn run_in_order<T: Sync, R: Send>(items: &[T], jobs: usize, run: impl Fn(&T) -> R + Sync, mut done: impl FnMut(usize, R)) {
    let jobs = jobs.clamp(1, 64).min(items.len().max(1));
    if jobs == 1 {
        for (i, item) in items.iter().enumerate() {
            done(i, run(item));
        }
        return;
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|sc| {
        for _ in 0..jobs {
            let (tx, next, run) = (tx.clone(), &next, &run);
            sc.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if tx.send((i, run(item))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Results that came before an earlier item finished wait here, by index.
        let mut waiting = BTreeMap::new();
        let mut want = 0;
        for (i, r) in rx {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&want) {
                done(want, r);
                want += 1;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_come_back_in_input_order_whatever_order_they_finish_in() {
        // Earlier items take longer, so they finish last.
        let items: Vec<u64> = (0..8).collect();
        let mut got = Vec::new();
        run_in_order(
            &items,
            4,
            |n| {
                std::thread::sleep(Duration::from_millis(5 * (8 - n)));
                n * 10
            },
            |i, r| got.push((i, r)),
        );
        assert_eq!(got, (0..8).map(|n| (n as usize, n * 10)).collect::<Vec<_>>());
    }

    #[test]
    fn runs_each_item_once_and_at_most_jobs_at_a_time() {
        let items: Vec<u32> = (0..20).collect();
        let (running, peak, calls) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
        let mut seen = Vec::new();
        run_in_order(
            &items,
            3,
            |n| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                calls.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                running.fetch_sub(1, Ordering::SeqCst);
                *n
            },
            |_, r| seen.push(r),
        );
        assert_eq!(seen, items);
        assert_eq!(calls.load(Ordering::SeqCst), 20);
        assert!(peak.load(Ordering::SeqCst) <= 3, "peak {}", peak.load(Ordering::SeqCst));
        assert!(peak.load(Ordering::SeqCst) >= 2, "ran in parallel");
    }

    #[test]
    fn one_job_runs_on_the_calling_thread() {
        let me = std::thread::current().id();
        let mut ids = Vec::new();
        run_in_order(&[1, 2], 1, |_| std::thread::current().id(), |_, id| ids.push(id));
        assert_eq!(ids, vec![me, me]);
    }
}
