//! `yarn`: Hadoop's client commands against a yarn-sim ResourceManager.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = yarn_sim::cli::yarn::main(args, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}
