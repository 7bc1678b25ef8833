//! `flink`: run, run-application, list, cancel, info against Flink clusters on yarn-sim.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(flink_am::cli::flink::main(args, &mut std::io::stdout(), &mut std::io::stderr()));
}
