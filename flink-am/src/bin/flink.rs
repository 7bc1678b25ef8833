//! `flink`: run, run-application, list, cancel, info against Flink clusters on yarn-sim.
// A process main and CLI (live driver glue, wall-clock timing): not node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(flink_am::cli::flink::main(args, &mut std::io::stdout(), &mut std::io::stderr()));
}
