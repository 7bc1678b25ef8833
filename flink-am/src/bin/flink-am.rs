//! `flink-am`: the Flink JobManager as a YARN ApplicationMaster (launched by a NodeManager).
// A process main and CLI (live driver glue, wall-clock timing): not node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn main() {
    std::process::exit(flink_am::cli::launcher::main(std::env::args().skip(1).collect()));
}
