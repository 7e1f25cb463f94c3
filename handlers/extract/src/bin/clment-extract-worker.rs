//! The extraction worker on its own, for tests and the benchmark. The handler runs the same code
//! from its hidden `extract-worker` subcommand.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(clment_extract::worker_main(&args));
}
