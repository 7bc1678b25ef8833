//! `yarn-session`: start (or attach to) a Flink session cluster on yarn-sim.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdin = std::io::stdin();
    let code = flink_am::cli::yarn_session::main(args, &mut stdin.lock(), &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}
