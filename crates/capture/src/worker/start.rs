//! An attempt's launch: the process started in its own group, its outputs
//! registered with the poller, its `start` said; a launch that fails said
//! as an `error` and an `exit` 127; the next attempt (or connection) made
//! from the first one's command.

use std::io;
use std::time::Instant;

use mio::unix::pipe::Receiver;
use mio::{Interest, Registry};
use nix::sys::signal::Signal;
use sc_events::{ErrorEvent, LimitsReport, SCHEMA_VERSION, Skip, Start, Stream};

use crate::output::framer::Framer;
use crate::output::nest::Nest;
use crate::process::launch::{Launched, PtyMode, Spec, launch};
use crate::process::signals::signal_group;

use super::Worker;
use super::converse::Conversation;
use super::exit::launch_error_message;
use super::lifecycle::Timers;
use super::options::AskPolicy;
use super::source::Source;
use super::watch::AgentWatch;

impl Worker {
    /// Launch the process and write its `start` event. On failure nothing
    /// is written and the worker is still unlaunched: the caller says so
    /// with [`Worker::refuse_launch`], or tries again later (out of file
    /// descriptors while other workers run).
    pub fn launch(
        &mut self,
        spec: &Spec,
        registry: &Registry,
        tokens: super::Tokens,
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        self.limits = spec.limits.clone();
        let launched = launch(spec)?;
        let cwd = spec
            .cwd
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        if let Err(e) = self.adopt(launched, spec, &cwd, registry, tokens) {
            // Registered nothing that stays: end what was started.
            self.abandon();
            return Err(e);
        }
        let now = Instant::now();
        if self.attempts.number() == 1 && !self.life.is_waiting() {
            self.first_started = now;
        }
        self.started = now;
        self.last_output = now;
        // Later attempts start from the first one's command line (a resumed
        // one's is made anew from it each time).
        self.spec.get_or_insert_with(|| spec.clone());
        self.tokens = Some(tokens);
        // A remote worker's heartbeats, stalls and start come from the
        // remote sc-spawn.
        let local = self.relayed.is_none();
        self.life.launched(
            now,
            Timers {
                timeout: self.opts.timeout,
                heartbeat: self.opts.heartbeat.filter(|_| local),
                stall: self.opts.stall.filter(|_| local),
            },
        );
        if !local {
            return Ok(());
        }
        if let (Some(agent), Some(_)) = (&self.opts.agent, &self.opts.ask)
            && !agent.converses()
        {
            let message = format!(
                "{} cannot ask for decisions yet: --ask is ignored for it, and it does what its \
                 grant allows",
                agent.name()
            );
            self.opts.ask = None;
            self.emit(out, ErrorEvent { message });
        }
        for message in std::mem::take(&mut self.opts.warnings) {
            self.emit(out, ErrorEvent { message });
        }
        let cwd = spec
            .cwd
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let attempt = self.attempts.number();
        let start = Start {
            argv: spec
                .argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            pid: self.pid,
            cwd,
            kind: self.opts.kind.clone(),
            pty: spec.pty != PtyMode::Off,
            schema: SCHEMA_VERSION,
            limits: self.limits_report(),
            attempt: (attempt > 1).then_some(attempt),
            resumes: self.attempts.take_resuming(),
            host: self.opts.node.clone(),
            sandbox: spec.sandbox.as_ref().map(|s| s.kind.name()),
            worktree: self.opts.worktree.as_ref().map(|w| sc_events::WorktreeAt {
                path: w.path.to_string_lossy().into_owned(),
                branch: w.branch.clone(),
                base: w.base.clone(),
            }),
        };
        self.emit(out, start);
        // What its kind of sandbox cannot hold, said once, at its start.
        if let Some(limits) = spec.sandbox.as_ref().and_then(|s| s.kind.limits())
            && attempt == 1
        {
            let decision = "limited".to_owned();
            let message = limits.to_owned();
            let note = sc_events::SandboxNote {
                decision,
                net: None,
                message,
            };
            self.emit(out, note);
        }
        Ok(())
    }

    /// A launch that failed: its `error`, then its `exit` with code 127.
    pub fn refuse_launch(&mut self, spec: &Spec, e: &io::Error, out: &mut Vec<u8>) {
        let program = spec
            .argv
            .first()
            .map(|p| p.to_string_lossy())
            .unwrap_or_default();
        let message = match &spec.cwd {
            // ENOENT names no file: say which was missing.
            Some(cwd) if e.kind() == io::ErrorKind::NotFound && !cwd.is_dir() => format!(
                "cannot run `{program}` in {}: no such directory (check the task's `cwd`, or --cwd)",
                cwd.display()
            ),
            _ => launch_error_message(&program, e),
        };
        self.refuse_now(message, out);
    }

    /// A launch half done (registering its outputs failed): kill it and
    /// give everything back.
    pub(super) fn abandon(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(self.pid, Signal::SIGKILL);
            let _ = child.wait();
        }
        self.sources.clear();
        self.applied.cleanup();
        self.pid = 0;
    }

    /// This worker, not launched, cannot be: its `error`, then its `exit`
    /// with code 127.
    pub fn refuse_now(&mut self, message: String, out: &mut Vec<u8>) {
        self.emit(out, ErrorEvent { message });
        self.launch_failed = true;
        self.finish(out, None);
    }

    /// Not launched after all (interrupted while it was being prepared):
    /// a `skip` with the reason.
    pub fn cancel(&mut self, reason: &str, out: &mut Vec<u8>) {
        if !self.life.cancel() {
            return;
        }
        let skip = Skip {
            reason: reason.to_owned(),
            done: false,
        };
        self.emit(out, skip);
        self.exit_code = Some(1);
    }

    pub(super) fn adopt(
        &mut self,
        launched: Launched,
        spec: &Spec,
        cwd: &std::path::Path,
        registry: &Registry,
        tokens: super::Tokens,
    ) -> io::Result<()> {
        self.pid = launched.pid;
        self.applied = launched.limits;
        self.sandbox = launched.sandbox;
        if let Some((proxy, reports)) = launched.net {
            self.net = Some(super::refusals::NetWatch::new(
                proxy, reports, registry, tokens[3],
            )?);
        }
        self.child = Some(launched.child);
        let local = self.relayed.is_none();
        match &mut self.relayed {
            Some(relayed) => relayed.connected(launched.stdin, self.seq, self.opts.first_seq),
            // Each attempt's lines are read anew.
            None => {
                self.watch = self.opts.agent.as_ref().map(|agent| {
                    let mut watch = AgentWatch::new(agent.reader(), self.opts.agent_grace);
                    watch.reader_mut().launched(&spec.argv);
                    watch
                });
                let input = spec.input.as_deref();
                // `--ask` (or an agent driven over a protocol on its
                // stdin): its stdin is held, for the prompt and the answers;
                // without `--ask` its grant alone answers.
                let policy = self.opts.ask.clone().unwrap_or_else(AskPolicy::grant_only);
                self.conversation = match (launched.stdin, &mut self.watch) {
                    (Some(stdin), Some(watch)) => {
                        // The reader knows its protocol: what goes now.
                        let input = input.map(|bytes| watch.reader_mut().opened(bytes, cwd));
                        Some(Conversation::new(
                            stdin,
                            input.as_deref(),
                            policy,
                            Some((registry, tokens[2])),
                        ))
                    }
                    _ => None,
                };
            }
        }
        for ((stream, fd), token) in launched.outputs.into_iter().zip(&tokens[..2]) {
            let token = *token;
            // (The third token is the stdin's, above.)
            let mut rx = Receiver::from(fd);
            rx.set_nonblocking(true)?;
            registry.register(&mut rx, token, Interest::READABLE)?;
            self.sources.push(Source {
                stream,
                rx: Some(rx),
                token,
                framer: Framer::new(self.opts.max_event_bytes, self.opts.flush),
                encoder: sc_events::OutputEncoder::new(&self.opts.id, stream),
                // Read once before the first readiness event: cheap, and it
                // catches output written before registration.
                readable: true,
                mid_line: false,
                nest: (self.opts.nested && stream != Stream::Stderr).then(Nest::default),
                tapped: local && stream != Stream::Stderr && self.watch.is_some(),
            });
        }
        Ok(())
    }

    /// The next attempt (or, for a remote worker whose link was lost, the
    /// same attempt followed again from where it broke off).
    pub(super) fn relaunch(&mut self, registry: &Registry, out: &mut Vec<u8>) {
        let (Some(mut spec), Some(tokens)) = (self.spec.clone(), self.tokens) else {
            return;
        };
        match self
            .relayed
            .as_ref()
            .and_then(|r| r.reconnect_argv(&self.opts.id))
        {
            Some(argv) => spec.argv = argv,
            None => {
                if let Err(message) = self.attempts.next(&mut spec) {
                    self.emit(out, ErrorEvent { message });
                }
            }
        }
        if let Err(e) = self.launch(&spec, registry, tokens, out) {
            self.refuse_launch(&spec, &e, out);
        }
    }

    /// The limits as the start event reports them.
    pub(super) fn limits_report(&self) -> Option<LimitsReport> {
        let limits = self.limits.clone()?;
        Some(LimitsReport {
            limits,
            memory_by: self.applied.memory_by.map(|by| by.as_str().to_owned()),
        })
    }
}
