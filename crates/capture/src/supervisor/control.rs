//! The run's side of its control socket: each request answered from the
//! workers (their open asks, an answer, a message, a stop, the log).

use std::time::Instant;

use mio::Token;
use nix::sys::signal::Signal;

use super::{Active, Supervisor};
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
                }) => {
                    let out = self.sink.buffer();
                    let answered = self.workers.iter_mut().find_map(|(_, a)| {
                        a.worker
                            .answer_by_person(&ask, &decision, message.clone(), out)
                    });
                    match answered {
                        Some(Ok(())) => Reply::ok(),
                        Some(Err(message)) => Reply::error(message),
                        None => Reply::error(format!(
                            "no open ask {ask:?} in this run (answered already, or unknown): see sc-ctl asks"
                        )),
                    }
                }
                Ok(Request::Say { worker, text }) => match self.running(&worker) {
                    Some(active) => match active.worker.say(&text) {
                        Ok(()) => Reply::ok(),
                        Err(message) => Reply::error(message),
                    },
                    None => Reply::error(format!("no running worker {worker:?} in this run")),
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
                Ok(Request::Stop { worker }) => match self.running(&worker) {
                    Some(active) => {
                        active
                            .worker
                            .interrupt(Signal::SIGINT, false, Instant::now());
                        Reply::ok()
                    }
                    None => Reply::error(format!("no running worker {worker:?} in this run")),
                },
            };
            if let Some(control) = &mut self.control {
                control.reply(client, &reply);
            }
        }
    }

    /// The worker named `id`, while it runs.
    fn running(&mut self, id: &str) -> Option<&mut Active> {
        self.workers
            .iter_mut()
            .map(|(_, active)| active)
            .find(|active| active.worker.id() == id && !active.worker.is_finished())
    }
}
