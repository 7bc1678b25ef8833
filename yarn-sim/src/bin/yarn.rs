//! `yarn`: Hadoop's client commands against a yarn-sim ResourceManager.
// A process main and CLI (live driver glue, wall-clock timing): not node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = yarn_sim::cli::yarn::main(args, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}
