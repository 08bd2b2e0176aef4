//! sc-replay's command line: defined once, for parsing, `--help` and the
//! man page.

use std::path::PathBuf;

use clap::Parser;
use sc_clikit::Generate;

const ABOUT: &str = "Play a recorded worker again, at its recorded pace";

const LONG_ABOUT: &str = "\
Given an sc stream (a saved run, `sc-spawn --log`), sc-replay writes one worker's output as the \
worker wrote it — stdout payloads to stdout, stderr to stderr, the bytes exact — each at its \
recorded moment, and exits with the worker's exit code. Given raw output (an agent CLI's JSON \
lines), it writes a line every 40 ms, or at the lines' own `timestamp` where they have one.

sc-spawn runs it for `--replay FILE` and a plan task's `replay` (sc-plan --demo), so that a \
recorded agent run is read exactly as the live one was, with no CLI and no key.";

const AFTER_HELP: &str = "\
Examples:
  sc-replay run.ndjson
  sc-replay --speed 10 --worker tests run.ndjson
  sc-spawn --kind claude-code --replay run.ndjson | sc-view

Exit status: the worker's exit code (1 when it was killed by a signal); 2 for a usage error or \
a recording that cannot be read.

See also: sc-spawn(1), sc-view(1), sc-events(7).";

#[derive(Debug, Parser)]
#[command(
    name = "sc-replay",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// The recording: an sc stream, or raw output lines
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Play this much faster than recorded (0.5 is half speed)
    #[arg(long, value_name = "X", default_value_t = 1.0, value_parser = sc_clikit::parse_speed)]
    pub speed: f64,

    /// The worker to play, in a stream of several [default: the first
    /// with output]
    #[arg(long, value_name = "ID")]
    pub worker: Option<String>,

    /// Play an agent's side of its approval channel (sc-spawn --ask): at
    /// each recorded request for a decision, wait for its answer on stdin
    /// before going on. When an answer denies and the same run recorded
    /// with that ask denied lies beside FILE (NAME.denied.ndjson for
    /// NAME.ndjson), the play goes on from there: what the agent did when
    /// it was denied
    #[arg(long)]
    pub converse: bool,

    /// Write generated documentation to stdout and exit
    #[arg(long, value_enum, value_name = "WHAT", hide = true)]
    pub generate: Option<Generate>,
}
