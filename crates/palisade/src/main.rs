//! `palisade`: the one binary. Parses arguments into validated options,
//! calls the libraries, returns an exit code.

mod admin;
mod agent;
mod audit;
mod bus;
mod cli;
mod keys;
mod logging;
mod serve;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // The scanner is synchronous and needs no runtime.
    let args = match args.command {
        cli::Command::Harden(cmd) => return palisade_harden::cli::run(cmd),
        other => other,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("palisade: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match args {
            cli::Command::Serve(opts) => serve::run(opts).await,
            cli::Command::Config(cli::ConfigCommand::Check(opts)) => serve::check(opts),
            cli::Command::Keys(cli::KeysCommand::RotateRoot(opts)) => keys::rotate_root(opts).await,
            cli::Command::Admin(cli::AdminCommand::User(cmd)) => admin::user(cmd).await,
            cli::Command::Audit(cmd) => audit::run(cmd).await,
            cli::Command::Agent(args) => agent::run(args).await,
            cli::Command::Bus(cli::BusCommand::Config(opts)) => bus::config(opts),
            cli::Command::Harden(_) => Err(anyhow::anyhow!(
                "internal: harden runs before the async runtime starts"
            )),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("palisade: {e:#}");
            ExitCode::FAILURE
        }
    }
}
