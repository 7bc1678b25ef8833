//! Every example program parses, translates to a valid JobGraph, and runs to the expected
//! result on a small local executor built from the runtime (vertices in topological order,
//! records routed with `select_channel`).
// Tests read the example programs from disk: the determinism lint is for node code.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::{MemStore, Time};
use flink_core::program::Program;
use flink_core::runtime::{select_channel, ChainState, OperatorChain, Output, SourceStatus};
use flink_core::{Element, JobGraph, JobVertexId};

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut out = Vec::new();
    for dir in ["streaming", "batch"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn load(name: &str, args: &[&str]) -> Program {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    Program::parse(&std::fs::read_to_string(path).unwrap(), &args).unwrap()
}

fn ids() -> impl FnMut() -> u128 {
    let mut n = 0;
    move || {
        n += 1;
        n
    }
}

/// Runs a job to completion at time `now`; returns all printed lines and file lines.
fn run(g: &JobGraph, now: Time) -> (Vec<String>, Vec<(String, String)>) {
    let store = MemStore::default();
    let mut inbox: BTreeMap<(JobVertexId, u32), Vec<Element>> = BTreeMap::new();
    let (mut printed, mut files) = (Vec::new(), Vec::new());
    for v in &g.vertices {
        let consumer = g.consumers(&v.id).next().map(|(c, e)| (c.id, c.parallelism, e.ship.clone()));
        for i in 0..v.parallelism {
            let mut chain = OperatorChain::new(&v.operators, i, v.parallelism).unwrap();
            chain.set_job_type(g.job_type);
            let mut out = Output::new();
            if chain.is_source() {
                while chain.poll_source(now, 50, &store, &mut out).unwrap() != SourceStatus::Finished {}
            } else {
                for el in inbox.remove(&(v.id, i)).unwrap_or_default() {
                    // Watermarks are per channel; here each input arrives whole, so only the
                    // final one (after all records) is safe to pass on.
                    if let Element::Watermark(w) = el {
                        if w != i64::MAX {
                            continue;
                        }
                    }
                    chain.process(el, now, &mut out).unwrap();
                }
            }
            chain.end_of_input(now, &mut out);
            assert_eq!(chain.error(), None);
            printed.append(&mut out.printed);
            // The file sink's lines become visible under the final name once the JobMaster
            // commits the part files pending at the end of input.
            let commits: BTreeMap<String, String> = chain.pending_commits().into_iter().collect();
            // An entry holds one or more lines of one part file.
            for (staging, lines) in out.files.drain(..) {
                let committed = commits.get(&staging).unwrap_or_else(|| panic!("{staging} is never committed"));
                files.extend(lines.lines().map(|l| (committed.clone(), l.to_string())));
            }
            if let Some((cid, cp, ship)) = &consumer {
                let mut rr = 0;
                for el in out.elements {
                    match &el {
                        Element::Record(r) => {
                            let c = select_channel(ship, r, i, &mut rr, *cp, 128);
                            inbox.entry((*cid, c)).or_default().push(el);
                        }
                        Element::Watermark(_) | Element::Barrier(_) => {
                            for c in 0..*cp {
                                inbox.entry((*cid, c)).or_default().push(el.clone());
                            }
                        }
                    }
                }
            }
        }
    }
    (printed, files)
}

#[test]
fn every_example_parses_and_translates() {
    let all = examples();
    assert!(all.len() >= 4, "{all:?}");
    for p in all {
        let text = std::fs::read_to_string(&p).unwrap();
        let prog = Program::parse(&text, &["--output".to_string(), "out".to_string()]).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        for g in prog.job_graphs(2, &mut ids()).unwrap() {
            g.validate().unwrap();
        }
    }
}

#[test]
fn streaming_word_count_prints_running_counts() {
    let g = &load("streaming/WordCount.toml", &[]).job_graphs(2, &mut ids()).unwrap()[0];
    assert_eq!(g.name, "Streaming WordCount");
    let (printed, _) = run(g, Time::ZERO);
    assert!(printed.iter().any(|l| l.ends_with("> (to,15)")), "{printed:?}");
    assert!(printed.iter().any(|l| l.ends_with("> (to,1)")));
}

#[test]
fn batch_word_count_prints_final_counts_once() {
    let g = &load("batch/WordCount.toml", &[]).job_graphs(1, &mut ids()).unwrap()[0];
    let (printed, _) = run(g, Time::ZERO);
    assert!(printed.contains(&"(to,15)".to_string()));
    assert_eq!(printed.iter().filter(|l| l.starts_with("(to,")).count(), 1);
}

#[test]
fn top_speed_windowing_prints_one_max_per_car_and_window() {
    let g = &load("streaming/TopSpeedWindowing.toml", &[]).job_graphs(1, &mut ids()).unwrap()[0];
    let (printed, _) = run(g, Time::ZERO);
    // 250 records per car = 25 s of event time: windows [0,10), [10,20), [20,30) for 2 cars.
    assert_eq!(printed.len(), 6, "{printed:?}");
    assert_eq!(run(g, Time::ZERO).0, printed, "deterministic");
}

#[test]
fn window_word_count_writes_part_files() {
    let g = &load("streaming/WindowWordCount.toml", &["--output", "wc-out"]).job_graphs(1, &mut ids()).unwrap()[0];
    let (_, files) = run(g, Time::from_millis(1_000_000));
    let to: i64 = files
        .iter()
        .filter(|(_, l)| l.starts_with("(to,"))
        .map(|(_, l)| l.trim_end_matches(')').rsplit(',').next().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(to, 15);
    // Without a writer uid set by the task, the subtask index names the parts.
    assert!(files.iter().all(|(p, _)| p == "wc-out/part-0-0" || p == "wc-out/part-1-0"), "{files:?}");
}

/// For each key, its counts in the order written; every key's must be 1, 2, .., n.
fn counts_per_key(lines: &[String]) -> BTreeMap<i64, Vec<i64>> {
    let mut m: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for l in lines {
        let (k, n) = l.trim_matches(|c| c == '(' || c == ')').split_once(',').unwrap();
        m.entry(k.parse().unwrap()).or_default().push(n.parse().unwrap());
    }
    m
}

#[test]
fn stateful_count_writes_every_count_once() {
    let g =
        &load("streaming/StatefulCount.toml", &["--output", "sc", "--count", "300", "--rate", "0"]).job_graphs(2, &mut ids()).unwrap()[0];
    let (_, files) = run(g, Time::ZERO);
    let lines: Vec<String> = files.into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines.len(), 600);
    let per_key = counts_per_key(&lines);
    assert!(per_key.len() > 90 && per_key.keys().all(|k| (0..100).contains(k)), "{per_key:?}");
    for (k, ns) in per_key {
        assert_eq!(ns, (1..=ns.len() as i64).collect::<Vec<_>>(), "key {k}");
    }
}

/// Part files in a store: appended lines, commits by (idempotent) rename.
#[derive(Default)]
struct Files(BTreeMap<String, Vec<String>>);

impl Files {
    fn apply(&mut self, out: &mut Output) {
        for (p, lines) in out.files.drain(..) {
            self.0.entry(p).or_default().extend(lines.lines().map(str::to_string));
        }
        let commits: Vec<(String, String)> = out.commits.drain(..).collect();
        self.commit(&commits);
        out.clear();
    }
    fn commit(&mut self, commits: &[(String, String)]) {
        for (staging, fin) in commits {
            match self.0.remove(staging) {
                Some(lines) => assert!(self.0.insert(fin.clone(), lines).is_none()),
                None => assert!(self.0.contains_key(fin), "{staging} -> {fin} lost"),
            }
        }
    }
    /// What a reader sees: files not starting with '.' or '_'.
    fn visible(&self) -> Vec<String> {
        let mut all: Vec<String> =
            self.0.iter().filter(|(p, _)| !p.rsplit('/').next().unwrap().starts_with(['.', '_'])).flat_map(|(_, l)| l.clone()).collect();
        all.sort();
        all
    }
}

/// One attempt of StatefulCount's two vertices (source -> modulo, count -> file sink).
struct Attempt {
    sources: Vec<OperatorChain>,
    counts: Vec<OperatorChain>,
}

impl Attempt {
    fn new(g: &JobGraph, attempt: u32) -> Attempt {
        let chains = |v: usize| -> Vec<OperatorChain> {
            let vertex = &g.vertices[v];
            (0..vertex.parallelism)
                .map(|i| {
                    let mut c = OperatorChain::new(&vertex.operators, i, vertex.parallelism).unwrap();
                    c.set_max_parallelism(vertex.max_parallelism);
                    c.set_writer_uid(format!("a{attempt}s{i}"));
                    c
                })
                .collect()
        };
        Attempt { sources: chains(0), counts: chains(1) }
    }

    /// Polls up to `n` records from every source subtask and routes them to the counts.
    fn step(&mut self, n: usize, files: &mut Files) -> bool {
        let store = MemStore::default();
        let mut finished = true;
        let p = self.counts.len() as u32;
        for (i, s) in self.sources.iter_mut().enumerate() {
            let mut out = Output::new();
            if s.poll_source(Time::ZERO, n, &store, &mut out).unwrap() != SourceStatus::Finished {
                finished = false;
            }
            for el in out.elements {
                if let Element::Record(r) = &el {
                    let c = select_channel(&flink_core::ShipStrategy::Hash { key: 0 }, r, i as u32, &mut 0, p, 128);
                    let mut o = Output::new();
                    self.counts[c as usize].process(el, Time::ZERO, &mut o).unwrap();
                    files.apply(&mut o);
                }
            }
        }
        finished
    }

    fn snapshot(&mut self, id: u64) -> (Vec<ChainState>, Vec<ChainState>) {
        let snap = |cs: &mut Vec<OperatorChain>| -> Vec<ChainState> {
            cs.iter_mut()
                .map(|c| {
                    let st = c.snapshot_state(id, &mut Output::new()).unwrap();
                    ChainState::from_bytes(&st.to_bytes()).unwrap()
                })
                .collect()
        };
        (snap(&mut self.sources), snap(&mut self.counts))
    }
}

/// Restores `chains` from `old` the way the JobMaster assigns state.
fn restore(chains: &mut [OperatorChain], old: &[ChainState], files: &mut Files) {
    let new_p = chains.len() as u32;
    for (j, c) in chains.iter_mut().enumerate() {
        let range = c.key_group_range();
        let keyed: Vec<ChainState> = old.iter().filter(|s| s.key_groups().intersects(&range)).cloned().collect();
        let mine: Vec<ChainState> = old.iter().enumerate().filter(|(i, _)| *i as u32 % new_p == j as u32).map(|(_, s)| s.clone()).collect();
        let mut out = Output::new();
        c.restore_state(&keyed, &mine, &mut out).unwrap();
        files.apply(&mut out);
    }
}

#[test]
fn stateful_count_is_exactly_once_across_a_restore_with_rescale() {
    let args = ["--output", "sc", "--count", "400", "--rate", "0"];
    let fault_free = {
        let g = &load("streaming/StatefulCount.toml", &args).job_graphs(2, &mut ids()).unwrap()[0];
        let mut lines: Vec<String> = run(g, Time::ZERO).1.into_iter().map(|(_, l)| l).collect();
        lines.sort();
        lines
    };
    let g2 = &load("streaming/StatefulCount.toml", &args).job_graphs(2, &mut ids()).unwrap()[0];
    let g3 = &load("streaming/StatefulCount.toml", &args).job_graphs(3, &mut ids()).unwrap()[0];
    let mut files = Files::default();
    let mut a = Attempt::new(g2, 0);
    a.step(120, &mut files);
    let (sources, counts) = a.snapshot(1);
    // Checkpoint 1 completes at the coordinator, but the task fails after more output and
    // before it hears of it: only the restore commits checkpoint 1's files.
    a.step(70, &mut files);
    assert!(files.visible().is_empty());
    let mut b = Attempt::new(g3, 1);
    restore(&mut b.sources, &sources, &mut files);
    restore(&mut b.counts, &counts, &mut files);
    assert_eq!(files.visible().len(), 240, "checkpoint 1's counts are committed on restore");
    while !b.step(50, &mut files) {}
    let mut out = Output::new();
    for c in b.sources.iter_mut().chain(b.counts.iter_mut()) {
        c.end_of_input(Time::ZERO, &mut out);
        files.apply(&mut out);
    }
    for c in &b.counts {
        files.commit(&c.pending_commits());
    }
    assert_eq!(files.visible(), fault_free);
}
