//! The run's side of its control socket: each request answered from the
//! workers (their open asks, an answer, a message, a stop, the log).

use std::time::Instant;

use mio::Token;
use nix::sys::signal::Signal;

use super::Supervisor;
use crate::control::{Reply, Request};

impl Supervisor {
    /// Serve the control socket: `asks` lists the open asks of every
    /// worker, `answer` decides one (refused when it is not open).
    pub(super) fn serve_control(&mut self, token: Token) {
        let Some(control) = &mut self.control else {
            return;
        };
        let requests = control.on_ready(token, self.poll.registry());
        for (client, request) in requests {
            let reply = match request {
                Err(message) => Reply::error(message),
                Ok(Request::Asks) => Reply {
                    ok: true,
                    asks: self
                        .workers
                        .iter()
                        .flat_map(|(_, a)| a.worker.open_asks())
                        .collect(),
                    ..Reply::default()
                },
                Ok(Request::Answer {
                    ask,
                    decision,
                    message,
                    via,
                }) => {
                    let out = self.sink.buffer();
                    let answered = self.workers.iter_mut().find_map(|(_, a)| {
                        a.worker.answer_by_person(
                            &ask,
                            &decision,
                            message.clone(),
                            via.clone(),
                            out,
                        )
                    });
                    match answered {
                        Some(Ok(())) => Reply::ok(),
                        Some(Err(message)) => Reply::error(message),
                        None => Reply::error(format!(
                            "no open ask {ask:?} in this run (answered already, or unknown): see sc-ctl asks"
                        )),
                    }
                }
                Ok(Request::Say { worker, text, via }) => {
                    let (found, out) = self.running(&worker);
                    match found {
                        Some(active) => match active.worker.say(&text, via, out) {
                            Ok(()) => Reply::ok(),
                            Err(message) => Reply::error(message),
                        },
                        None => Reply::error(format!("no running worker {worker:?} in this run")),
                    }
                }
                Ok(Request::Status) => Reply {
                    ok: true,
                    status: Some(self.status()),
                    ..Reply::default()
                },
                Ok(Request::Log) => match &self.log_path {
                    Some(path) => Reply {
                        ok: true,
                        log: Some(path.display().to_string()),
                        ..Reply::default()
                    },
                    None => Reply::error("this run writes its stream nowhere but its stdout"),
                },
                Ok(Request::Workers) => Reply {
                    ok: true,
                    workers: self
                        .workers
                        .iter()
                        .filter(|(_, a)| !a.worker.is_finished())
                        .map(|(_, a)| a.worker.id().to_owned())
                        .collect(),
                    ..Reply::default()
                },
                Ok(Request::Stop {
                    worker: Some(worker),
                    via,
                }) => {
                    let (found, out) = self.running(&worker);
                    match found {
                        Some(active) => {
                            active.worker.stop_by_person(via, out);
                            Reply::ok()
                        }
                        None => Reply::error(format!("no running worker {worker:?} in this run")),
                    }
                }
                Ok(Request::Stop { worker: None, via }) => {
                    // The whole run, as Ctrl-C ends it: each running
                    // worker's stream says who stopped it.
                    let out = self.sink.buffer();
                    for (_, active) in self.workers.iter_mut() {
                        if !active.worker.is_finished() && active.worker.pid() != 0 {
                            active.worker.note_stopped(via.clone(), out);
                        }
                    }
                    if let Some(program) = self.notices.filter(|_| !self.view_downstream) {
                        let by = via.as_deref().unwrap_or("a person");
                        eprintln!("{program}: stopped through {by}: ending the run's workers");
                    }
                    self.interrupt(Signal::SIGINT as i32, Instant::now(), false);
                    Reply::ok()
                }
            };
            if let Some(control) = &mut self.control {
                control.reply(client, &reply);
            }
        }
    }

    /// The worker named `id` while it runs, and the stream's buffer (for
    /// what a person's request makes it say).
    fn running(&mut self, id: &str) -> (Option<&mut super::Active>, &mut Vec<u8>) {
        let found = self
            .workers
            .iter_mut()
            .map(|(_, active)| active)
            .find(|active| active.worker.id() == id && !active.worker.is_finished());
        (found, self.sink.buffer())
    }

    /// What the run is and how far it got.
    fn status(&self) -> crate::control::RunStatus {
        let finished = self.codes.iter().flatten();
        crate::control::RunStatus {
            pid: std::process::id(),
            state: "running".into(),
            cwd: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            started: self.started,
            running: self
                .workers
                .iter()
                .filter(|(_, a)| !a.worker.is_finished())
                .count(),
            done: finished.clone().filter(|&&code| code == 0).count(),
            failed: finished.filter(|&&code| code != 0).count(),
            asks: self
                .workers
                .iter()
                .map(|(_, a)| a.worker.open_asks().len())
                .sum(),
            log: self.log_path.as_ref().map(|p| p.display().to_string()),
        }
    }
}
