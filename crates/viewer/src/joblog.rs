//! `--joblog FILE`: GNU parallel's job log, a row per job that ran, for
//! the scripts and habits that read one: `Seq Host Starttime JobRuntime
//! Send Receive Exitval Signal Command`, tab-separated, as parallel writes
//! them (start `%.3f`, runtime `%10.3f`, host `:` for this machine, a
//! death by signal as exit value 0 and the signal's number).

use std::fmt::Write as _;

use crate::model::{Model, Status};

const HEADER: &str = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

pub fn render(model: &Model) -> String {
    let mut ran: Vec<_> = model
        .workers
        .iter()
        .filter(|w| w.exit.is_some() && w.start_ts.is_some() && w.status != Status::Noted)
        .collect();
    // Seq is the order jobs started in.
    ran.sort_by(|a, b| {
        a.start_ts
            .partial_cmp(&b.start_ts)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut text = format!("{HEADER}\n");
    for (seq, w) in ran.iter().enumerate() {
        let exit = w.exit.clone().unwrap_or_default();
        let signal = exit.signal.as_deref().map_or(0, signal_number);
        let value = if signal == 0 {
            exit.code.unwrap_or(0)
        } else {
            0
        };
        let _ = writeln!(
            text,
            "{}\t{}\t{:.3}\t{:10.3}\t0\t{}\t{value}\t{signal}\t{}",
            seq + 1,
            w.host.as_deref().map_or(":".into(), one_field),
            w.start_ts.unwrap_or_default(),
            exit.duration_ms.unwrap_or(0) as f64 / 1000.0,
            exit.bytes.unwrap_or(w.bytes),
            one_field(&command(&w.argv)),
        );
    }
    text
}

/// What parallel shows as the command: the script of `sh -c SCRIPT`, else
/// the words.
fn command(argv: &[String]) -> String {
    match argv {
        [sh, c, script, ..] if sh == "sh" && c == "-c" => script.clone(),
        words => words.join(" "),
    }
}

/// A value on one line of one field: tabs and newlines become spaces.
fn one_field(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\t' || c.is_control() { ' ' } else { c })
        .collect()
}

/// `SIGTERM` → 15, `SIG200` → 200; an unknown name, 0.
fn signal_number(name: &str) -> i32 {
    match name.parse::<nix::sys::signal::Signal>() {
        Ok(signal) => signal as i32,
        Err(_) => name
            .strip_prefix("SIG")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_number_and_commands_on_one_line() {
        assert_eq!(signal_number("SIGTERM"), 15);
        assert_eq!(signal_number("SIGKILL"), 9);
        assert_eq!(signal_number("SIG200"), 200);
        assert_eq!(signal_number("nope"), 0);
        let argv = ["sh", "-c", "echo a\tb\nc"].map(String::from);
        assert_eq!(one_field(&command(&argv)), "echo a b c");
        assert_eq!(command(&["make".into(), "-j8".into()]), "make -j8");
    }
}
