//! sc-ctl's command line: defined once, for parsing, `--help` and the man page.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use sc_clikit::Generate;

const ABOUT: &str = "Answer the asks of running sc workers, from any terminal";

const LONG_ABOUT: &str = "\
An agent worker run with `sc-spawn --ask` asks for what its grant does not allow (a command, a \
file to write, a question) and waits; its run's stream says so as an `ask` event, and the run \
serves a control socket where the answer comes from. sc-ctl lists the open asks of this user's \
runs and answers them; the answer is an `answer` event in the run's stream (by: person).

The runs are found without flags: the sockets in $XDG_RUNTIME_DIR/sc (else /tmp/sc-UID), the \
user's alone. --control PATH names one (sc-spawn --control, or the `control` of an ask event). \
`sc-ctl asks` shows each ask's run as its last column; when two runs have an open ask of the \
same id (workers of the same id), or a worker of the same id, `answer`, `say` and `stop` are \
refused (exit 2) until --control says which run.";

const AFTER_HELP: &str = "\
Examples:
  sc-ctl asks
  sc-ctl answer fix/1 allow
  sc-ctl answer fix/2 deny --message 'no network, use the vendored copy'
  sc-ctl asks --json | jq -r '.ask'
  sc-ctl say fix 'the tests live in tests/, not src/'
  sc-ctl stop fix

Exit status: 0 on success; 1 when the ask is not open (answered already, or unknown) or a run \
refused the request; 2 for a usage error; 3 when no run is there to ask.

See also: sc-spawn(1), sc-events(7).";

#[derive(Debug, Parser)]
#[command(
    name = "sc-ctl",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The run's control socket [default: every run of this user]
    #[arg(long, value_name = "PATH", global = true)]
    pub control: Option<PathBuf>,

    /// Write generated documentation to stdout and exit
    #[arg(long, value_enum, value_name = "WHAT")]
    pub generate: Option<Generate>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The runs that serve a control socket, newest first
    Runs,
    /// The asks still open, with their worker, tool and input
    Asks {
        /// One `ask` event a line (JSON), for scripts
        #[arg(long)]
        json: bool,
    },
    /// Tell a running agent something: it reaches the model in the same
    /// session, as the user's next message (an agent run with --ask)
    Say {
        /// The worker's id
        worker: String,
        /// What to tell it
        text: String,
    },
    /// End a running worker, as Ctrl-C would
    Stop {
        /// The worker's id
        worker: String,
    },
    /// Decide an ask: allow, deny, or one of a question's options
    Answer {
        /// The ask's id (as `sc-ctl asks` and the `ask` event say it)
        ask: String,
        /// allow, deny, or one of a question's options (its `choices`)
        decision: String,
        /// Said to the agent with the decision (why a denial, say)
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
    },
}
