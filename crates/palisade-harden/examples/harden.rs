//! Stand-alone driver for `palisade harden …`, used by the benchmarks and
//! CLI tests until the `palisade` binary wires in [`HardenCommand`].
//!
//! `cargo run --example harden -- scan --root DIR`

use clap::Parser;
use palisade_harden::cli::{HardenCommand, run};

/// palisade harden
#[derive(Parser)]
#[command(name = "harden")]
struct Args {
    #[command(subcommand)]
    cmd: HardenCommand,
}

fn main() -> std::process::ExitCode {
    run(Args::parse().cmd)
}
