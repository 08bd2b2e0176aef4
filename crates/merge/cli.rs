//! sc-merge's command line: defined once, for parsing, `--help` and the man page.

use std::path::PathBuf;

use clap::Parser;
use sc_clikit::{Generate, parse_secs};

const ABOUT: &str = "Merge live sc event streams into one, nothing lost, nothing blocked";

const LONG_ABOUT: &str = "\
Read sc event streams (NDJSON, see sc-events(7)) from files, FIFOs, /dev/fd/N (process \
substitution), stdin (`-`) and producer commands (--cmd), all at once, and write them to stdout as \
one stream. Each line passes through whole and unchanged, in its input's own order, as soon as it \
is complete; a slow or silent input, or one holding an unfinished line, never delays the others.

Worker ids stay unique: when an id shows up in a second input, that input's worker is renamed \
LABEL/ID (LABEL is the input's file name without .ndjson, fdN, stdin or cmdN); --prefix renames \
every worker so. A line that is not an event (plain text, truncated JSON, JSON without the four \
fields, a last line without a newline) becomes an `output` event of a worker named after its \
input, bytes kept exactly, with an `error` event that says why. A seq gap in an input is reported \
as an `error` event of that worker.

Regular files are read ahead on up to eight threads (their lines checked there, never on the \
thread that serves live inputs) and take turns, a chunk each in the order they were named: the \
same files always merge into the same stream, and which of two files keeps an id they share is \
the first one named. Past the \
open-files limit (raised as far as the hard limit allows), inputs wait and each is opened as an \
earlier one ends: every file is merged, whatever the limit.

With no INPUT and no --cmd, stdin is read.";

const AFTER_HELP: &str = "\
Examples:
  sc-merge <(sc-spawn -- make) <(sc-spawn -- cargo test) | jq -c 'select(.type==\"exit\")'
  sc-merge --cmd 'sc-spawn -- ./build.sh' --cmd 'sc-spawn -- ./lint.sh' > all.ndjson
  sc-merge --prefix host1.ndjson host2.ndjson

Exit status: 0 when every input ended; 2 when an input could not be opened or read (the others \
are still merged) or for a usage error; 128+N when interrupted by signal N.

See also: sc-spawn(1), sc-events(7).";

#[derive(Debug, Parser)]
#[command(
    name = "sc-merge",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Event streams to merge: files, FIFOs, /dev/fd/N, or - for stdin
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// A producer command, run with `sh -c` in a process group of its own;
    /// its stdout is an input (labelled cmd1, cmd2, ...). Repeatable. It is
    /// passed SIGINT/SIGTERM/SIGHUP when sc-merge gets them
    #[arg(help_heading = "Inputs", long = "cmd", value_name = "CMD")]
    pub commands: Vec<String>,

    /// Rename every worker to LABEL/ID, not only those whose id another
    /// input already uses
    #[arg(help_heading = "Inputs", long)]
    pub prefix: bool,

    /// The longest input line passed through whole; a longer one is carried
    /// in pieces as output of the input's own worker
    #[arg(help_heading = "Inputs", long, value_name = "N", default_value_t = 8 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_line_bytes: u64,

    /// After an interrupt: seconds that inputs get to end by themselves
    /// (producer commands are then killed)
    #[arg(help_heading = "Lifecycle", long, value_name = "SECS", default_value_t = 5.0, value_parser = parse_secs)]
    pub kill_grace: f64,

    /// Write generated documentation to stdout and exit
    #[arg(long, value_enum, hide = true)]
    pub generate: Option<Generate>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn inputs_and_commands() {
        let cli = Cli::try_parse_from(["sc-merge", "a", "-", "--cmd", "x", "--cmd", "y"]).unwrap();
        assert_eq!(cli.inputs, [PathBuf::from("a"), PathBuf::from("-")]);
        assert_eq!(cli.commands, ["x", "y"]);
    }
}
