//! sc-ctl's work: one request to each run's control socket, the replies
//! said as a careful CLI says them.

use std::path::PathBuf;

use sc_capture::control::{self, Request};

use crate::cli::{Cli, Command};

const EXIT_REFUSED: i32 = 1;
const EXIT_USAGE: i32 = 2;
const EXIT_NO_RUN: i32 = 3;

pub fn run(cli: Cli) -> i32 {
    if let Some(what) = cli.generate {
        return sc_clikit::generate::<Cli>("sc-ctl", what);
    }
    let Some(command) = cli.command else {
        eprintln!(
            "sc-ctl: say what to do: `sc-ctl asks`, `sc-ctl answer ASK allow|deny`, `sc-ctl runs` (see --help)"
        );
        return EXIT_USAGE;
    };
    let named = match (&cli.control, &cli.run) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(run)) => match control::find_run(Some(run)) {
            Ok(path) => Some(path),
            Err(why) => {
                eprintln!("sc-ctl: {why}");
                return EXIT_NO_RUN;
            }
        },
        (None, None) => None,
    };
    let runs = match &named {
        Some(path) => vec![path.clone()],
        None if matches!(command, Command::Forget { .. }) => Vec::new(),
        None => match control::user_runs() {
            Ok(runs) => runs,
            Err(why) => {
                eprintln!("sc-ctl: {why}");
                return EXIT_NO_RUN;
            }
        },
    };
    match command {
        Command::Runs { json } => {
            let mut listed: Vec<(String, control::RunStatus)> = runs
                .iter()
                .filter_map(|p| {
                    let reply = control::request(p, &Request::Status).ok()?;
                    Some((p.display().to_string(), reply.status?))
                })
                .collect();
            // Detached runs that ended, their streams kept.
            if named.is_none() {
                for (pid, path) in control::ended_runs() {
                    listed.push((String::new(), control::ended_status(pid, &path)));
                }
            }
            if listed.is_empty() {
                return no_run(&named);
            }
            if json {
                for (socket, status) in &listed {
                    let mut object = serde_json::to_value(status).unwrap_or_default();
                    if !socket.is_empty() {
                        object["control"] = socket.clone().into();
                    }
                    println!("{object}");
                }
            } else {
                print!("{}", runs_table(&listed));
            }
            0
        }
        Command::Forget { id } => forget(&id),
        Command::Asks { json } => {
            let mut reached = 0;
            for path in &runs {
                let Ok(reply) = control::request(path, &Request::Asks) else {
                    continue;
                };
                reached += 1;
                for event in reply.asks {
                    if json {
                        println!("{event}");
                    } else {
                        println!("{}", describe(&event, path));
                    }
                }
            }
            if reached == 0 { no_run(&named) } else { 0 }
        }
        Command::Say { worker, text } => {
            let runs = match one_run(&runs, &Target::Worker(&worker)) {
                Ok(runs) => runs,
                Err(code) => return code,
            };
            let request = Request::Say {
                worker,
                text,
                via: via(),
            };
            first_taker(&runs, &request, &named)
        }
        Command::Stop { target } => {
            // A run's id names the whole run (unless a worker of that id
            // runs: then it is the worker, as it always was).
            let holders = one_run(&runs, &Target::Worker(&target));
            let worker_runs = match &holders {
                Ok(found) => found
                    .iter()
                    .filter(|p| {
                        control::request(p, &Request::Workers)
                            .is_ok_and(|r| r.workers.contains(&target))
                    })
                    .count(),
                Err(_) => 2,
            };
            if worker_runs == 0
                && named.is_none()
                && let Ok(run) = control::find_run(Some(&target))
            {
                let request = Request::Stop {
                    worker: None,
                    via: via(),
                };
                return first_taker(&[run], &request, &named);
            }
            let runs = match holders {
                Ok(runs) => runs,
                Err(code) => return code,
            };
            let request = Request::Stop {
                worker: Some(target),
                via: via(),
            };
            first_taker(&runs, &request, &named)
        }
        Command::Answer {
            ask: id,
            decision,
            message,
        } => {
            let runs = match one_run(&runs, &Target::Ask(&id)) {
                Ok(runs) => runs,
                Err(code) => return code,
            };
            let request = Request::Answer {
                ask: id.clone(),
                decision,
                message,
                via: via(),
            };
            let mut reached = 0;
            let mut refusal = None;
            for path in &runs {
                match control::request(path, &request) {
                    Ok(reply) if reply.ok => return 0,
                    Ok(reply) => {
                        reached += 1;
                        refusal = reply.error;
                    }
                    Err(_) => {}
                }
            }
            if reached == 0 {
                return no_run(&named);
            }
            let why = match (refusal, reached) {
                (Some(error), 1) => error,
                _ => format!(
                    "no open ask {id:?} in the {reached} runs of this user (answered already, or unknown): see sc-ctl asks"
                ),
            };
            eprintln!("sc-ctl: {why}");
            EXIT_REFUSED
        }
    }
}

/// What a request is for: an open ask, or a running worker.
enum Target<'a> {
    Ask(&'a str),
    Worker(&'a str),
}

/// The run a request for `target` goes to: when two runs of this user
/// hold it (the same worker id in both, and so the same ask ids), it is
/// refused (exit 2) until `--control` says which, rather than sent to
/// whichever answers first. When none holds it, every run is asked, so
/// that the refusal says why.
fn one_run(runs: &[PathBuf], target: &Target) -> Result<Vec<PathBuf>, i32> {
    if runs.len() < 2 {
        return Ok(runs.to_vec());
    }
    let (probe, what) = match target {
        Target::Ask(id) => (Request::Asks, format!("ask {id:?} is open")),
        Target::Worker(id) => (Request::Workers, format!("worker {id:?} runs")),
    };
    let holders: Vec<&PathBuf> = runs
        .iter()
        .filter(|path| {
            control::request(path, &probe).is_ok_and(|reply| match target {
                Target::Ask(id) => reply.asks.iter().any(|a| a["ask"] == *id),
                Target::Worker(id) => reply.workers.iter().any(|w| w == id),
            })
        })
        .collect();
    match holders.as_slice() {
        [] => Ok(runs.to_vec()),
        [one] => Ok(vec![(*one).clone()]),
        many => {
            let list: Vec<String> = many.iter().map(|p| p.display().to_string()).collect();
            eprintln!(
                "sc-ctl: {what} in {} runs: {}; say which with --control PATH (see sc-ctl asks)",
                many.len(),
                list.join(", ")
            );
            Err(EXIT_USAGE)
        }
    }
}

/// `request` to each run until one takes it: 0, 1 with the last refusal,
/// or 3 when no run was reached.
fn first_taker(runs: &[PathBuf], request: &Request, control: &Option<PathBuf>) -> i32 {
    let mut refusal = None;
    for path in runs {
        match control::request(path, request) {
            Ok(reply) if reply.ok => return 0,
            Ok(reply) => refusal = reply.error.or(refusal),
            Err(_) => {}
        }
    }
    match refusal {
        Some(why) => {
            eprintln!("sc-ctl: {why}");
            EXIT_REFUSED
        }
        None => no_run(control),
    }
}

fn no_run(control: &Option<PathBuf>) -> i32 {
    match control {
        Some(path) => eprintln!(
            "sc-ctl: no run answers at {} (it ended, or it is no sc-spawn control socket)",
            path.display()
        ),
        None => eprintln!(
            "sc-ctl: no run of this user is running (none serves a control socket in {}; a run \
             started with --no-control serves none)",
            sc_capture::private::runs_path().display()
        ),
    }
    EXIT_NO_RUN
}

/// Who a person's request comes through, as the stream says it.
fn via() -> Option<String> {
    Some("sc-ctl".into())
}

/// The runs as a table, running ones first, newest first: id, state,
/// age, workers, asks, directory.
fn runs_table(runs: &[(String, control::RunStatus)]) -> String {
    let now = sc_events::now_ts();
    let mut out = String::from("RUN\tSTATE\tAGE\tRUNNING\tDONE\tFAILED\tASKS\tDIRECTORY\n");
    for (_, s) in runs {
        let cwd: String = s.cwd.chars().filter(|c| !c.is_control()).collect();
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{cwd}\n",
            s.pid,
            s.state,
            age(now - s.started),
            s.running,
            s.done,
            s.failed,
            s.asks
        ));
    }
    out
}

/// `sc-ctl forget RUN`: an ended detached run's kept stream removed (a
/// file of sc's naming, the user's own, never through a link).
fn forget(run: &str) -> i32 {
    if control::find_run(Some(run)).is_ok_and(|socket| socket.exists()) {
        eprintln!("sc-ctl: run {run} is still running: `sc-ctl stop {run}` first");
        return EXIT_REFUSED;
    }
    let mut forgotten = 0;
    while let Some(path) = control::find_ended(run) {
        if std::fs::remove_file(&path).is_err() {
            break;
        }
        forgotten += 1;
    }
    if forgotten == 0 {
        eprintln!("sc-ctl: no ended run {run} is kept (see sc-ctl runs)");
        return EXIT_NO_RUN;
    }
    0
}

/// An age as people say it: 42s, 5m, 3h, 2d.
fn age(secs: f64) -> String {
    let secs = secs.max(0.0) as u64;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// An open ask as one line: its id, worker, tool, what it wants, and its
/// run's control socket (two runs may have asks of the same id).
fn describe(event: &serde_json::Value, run: &std::path::Path) -> String {
    // All of it may come from an agent: no control characters reach the
    // terminal.
    let text = |key: &str| -> String {
        let value = event[key].as_str().unwrap_or("?");
        value.chars().filter(|c| !c.is_control()).collect()
    };
    let input = &event["input"];
    let what = input["command"]
        .as_str()
        .or_else(|| input["file_path"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| input.to_string());
    let what: String = what.chars().filter(|c| !c.is_control()).take(200).collect();
    let run = event["control"]
        .as_str()
        .map_or_else(|| run.display().to_string(), str::to_owned);
    let run: String = run.chars().filter(|c| !c.is_control()).collect();
    format!(
        "{}\t{}\t{}\t{what}\t{run}",
        text("ask"),
        text("worker"),
        text("tool")
    )
}
