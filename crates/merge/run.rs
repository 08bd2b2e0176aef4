//! sc-merge's job: open every input and let the supervisor merge them.

use std::collections::HashMap;
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use sc_capture::{InputSpec, Naming, Supervisor};

use crate::cli::Cli;

/// An input could not be opened or read, or a usage error.
const EXIT_TROUBLE: i32 = 2;

pub fn run(cli: Cli) -> i32 {
    if let Some(what) = cli.generate {
        return sc_clikit::generate::<Cli>("sc-merge", what);
    }
    let mut specs: Vec<InputSpec> = cli
        .inputs
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                InputSpec::Stdin
            } else {
                InputSpec::Path(p.clone())
            }
        })
        .collect();
    specs.extend(cli.commands.iter().cloned().map(InputSpec::Command));
    if specs.is_empty() {
        specs.push(InputSpec::Stdin);
    }
    raise_open_files_limit(specs.len());

    let stdout = io::stdout();
    let mut supervisor = match Supervisor::new(stdout.as_fd()) {
        Ok(supervisor) => supervisor,
        Err(e) => {
            eprintln!("sc-merge: cannot set up the poller and signal handlers: {e}");
            return EXIT_TROUBLE;
        }
    };
    supervisor.set_notices("sc-merge");
    supervisor.set_naming(if cli.prefix {
        Naming::Prefixed
    } else {
        Naming::Unique
    });
    supervisor.set_max_line(usize::try_from(cli.max_line_bytes).unwrap_or(usize::MAX));
    supervisor.set_grace(Duration::from_secs_f64(cli.kill_grace));

    let mut failed = 0;
    for (spec, label) in specs.iter().zip(labels(&specs)) {
        if let Err(e) = supervisor.add_input_or_wait(spec, label.clone()) {
            failed += 1;
            let hint = if e.raw_os_error() == Some(libc::EMFILE) {
                " (too many open files: raise the limit with `ulimit -n`)"
            } else {
                ""
            };
            eprintln!("sc-merge: {}: {e}{hint}", describe(spec));
        }
    }
    let waiting = supervisor.inputs_waiting();
    if waiting > 0 {
        eprintln!(
            "sc-merge: {waiting} input(s) wait for a file descriptor (the open-files limit is \
             reached); each is read as an earlier one ends"
        );
    }
    match supervisor.run() {
        Ok(report) => {
            if let Some(e) = report.write_error {
                eprintln!("sc-merge: writing the merged stream to stdout failed: {e}");
                return EXIT_TROUBLE;
            }
            if report.downstream_closed {
                return 0;
            }
            if let Some(signal) = report.interrupted {
                return 128 + signal;
            }
            for message in &report.unreadable_inputs {
                eprintln!("sc-merge: {message}");
            }
            if failed > 0 || !report.unreadable_inputs.is_empty() {
                EXIT_TROUBLE
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("sc-merge: polling failed: {e}");
            EXIT_TROUBLE
        }
    }
}

/// Each input's label, made unique (`x`, `x-2`, ...).
fn labels(specs: &[InputSpec]) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut commands = 0;
    specs
        .iter()
        .map(|spec| {
            if matches!(spec, InputSpec::Command(_)) {
                commands += 1;
            }
            let label = spec.label(commands);
            let count = seen.entry(label.clone()).or_insert(0);
            *count += 1;
            if *count == 1 {
                label
            } else {
                format!("{label}-{count}")
            }
        })
        .collect()
}

fn describe(spec: &InputSpec) -> String {
    match spec {
        InputSpec::Path(path) => path.display().to_string(),
        InputSpec::Stdin => "stdin".into(),
        InputSpec::Command(command) => format!("--cmd `{command}`"),
    }
}

/// Each input holds a file descriptor while it is read: raise the soft
/// limit as far as the hard limit allows. Past it, inputs wait for earlier
/// ones to end (said when the run starts).
fn raise_open_files_limit(inputs: usize) {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    // The poller, the signal pipe, stdio and each producer's pipe ends.
    let needed = inputs as u64 * 2 + 32;
    if soft < needed && hard > soft {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
