//! sc-plan: split a task into role-specialised sub-tasks.

mod agent;
mod cli;
mod run;

use clap::Parser;

fn main() {
    std::process::exit(run::run(cli::Cli::parse()));
}
