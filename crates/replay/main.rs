//! sc-replay: play a recorded worker again, at its recorded pace.
//!
//! Given an sc stream, it writes one worker's output as the worker wrote
//! it (stdout payloads to stdout, stderr to stderr), each at its recorded
//! moment (`--speed` times faster), and exits with the worker's code. So
//! `sc-spawn --kind claude-code --replay run.ndjson` shows a recorded agent
//! run exactly as it went, with no CLI and no key. Given raw output (an
//! agent's JSON lines), it writes a line every 40 ms, or at the lines' own
//! `timestamp` where they have one.
//!
//! With `--converse` (an agent replayed under `sc-spawn --ask`) it plays
//! the agent's side of its approval channel too: at each recorded request
//! for a decision (Claude Code's `control_request`) it waits for the
//! answer on its stdin before it goes on, the pauses after it kept.

mod cli;
mod play;

use clap::Parser;

fn main() {
    std::process::exit(play::run(cli::Cli::parse()));
}
