//! Every example program parses, translates to a valid JobGraph, and runs to the expected
//! result on a small local executor built from the runtime (vertices in topological order,
//! records routed with `select_channel`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::{MemStore, Time};
use flink_core::program::Program;
use flink_core::runtime::{select_channel, OperatorChain, Output, SourceStatus};
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
            for (staging, line) in out.files.drain(..) {
                let committed = commits.get(&staging).unwrap_or_else(|| panic!("{staging} is never committed"));
                files.push((committed.clone(), line));
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
