//! `flink-am`: the Flink JobManager as a YARN ApplicationMaster (launched by a NodeManager).
fn main() {
    std::process::exit(flink_am::cli::launcher::main(std::env::args().skip(1).collect()));
}
