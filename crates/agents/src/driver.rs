//! The CLIs as the capture core knows agents (`sc_capture::agent`): each
//! kind's command line, and a reader of its output that keeps the run's
//! verdict, session, open background work and spending.

use std::sync::Arc;

use serde_json::Value;

use sc_capture::agent::{Agent, AgentAsk, AgentCommand, AgentReader, Agents, Ask, Decision, Spend};

use crate::prices::Prices;
use crate::{AgentKind, AgentOptions, Parser, Watch, command};

/// The agent CLIs sc knows, with what every launch of them adds (model,
/// turns, extra arguments) and the price table their spending is counted
/// with.
pub struct Catalog {
    options: AgentOptions,
    prices: Arc<Prices>,
}

impl Catalog {
    pub fn new(options: AgentOptions, prices: Arc<Prices>) -> Catalog {
        Catalog { options, prices }
    }
}

impl Agents for Catalog {
    fn kind(&self, kind: &str) -> Option<Arc<dyn Agent>> {
        let kind = AgentKind::from_name(kind)?;
        Some(Arc::new(Cli {
            kind,
            options: self.options.clone(),
            prices: Arc::clone(&self.prices),
        }))
    }

    fn names(&self) -> Vec<String> {
        AgentKind::ALL.iter().map(|k| k.name().to_owned()).collect()
    }
}

/// One CLI.
#[derive(Debug)]
struct Cli {
    kind: AgentKind,
    options: AgentOptions,
    prices: Arc<Prices>,
}

impl Agent for Cli {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn command(&self, ask: &Ask<'_>) -> Result<AgentCommand, String> {
        let options = AgentOptions {
            resume: ask.resume.map(str::to_owned),
            acp_agent: ask
                .acp_agent
                .map(str::to_owned)
                .or_else(|| self.options.acp_agent.clone()),
            max_budget_usd: ask.max_budget_usd.or(self.options.max_budget_usd),
            converse: ask.converse && self.converses(),
            confined: ask.confined,
            ..self.options.clone()
        };
        command(
            self.kind,
            ask.prompt,
            ask.instructions,
            ask.permissions,
            &options,
        )
        .map(|launch| AgentCommand {
            argv: launch.argv,
            env: launch.env,
            input: launch.input,
            granted: launch.granted,
        })
    }

    fn converses(&self) -> bool {
        self.kind.info().asks.is_some()
    }

    fn fit(
        &self,
        ask: &Ask<'_>,
        argv: &[std::ffi::OsString],
        var: &dyn Fn(&str) -> Option<std::ffi::OsString>,
    ) -> sc_capture::agent::Fit {
        crate::confine::fit(self.kind, ask.confined, ask.permissions, argv, var)
    }

    fn reader(&self) -> Box<dyn AgentReader> {
        Box::new(Reader {
            parser: Parser::new(self.kind),
            watch: Watch::default(),
            prices: Arc::clone(&self.prices),
            later: None,
            replies: Vec::new(),
            usage_file: None,
        })
    }
}

/// A CLI's output lines into annotations, and the run's state from them.
#[derive(Debug)]
struct Reader {
    parser: Parser,
    watch: Watch,
    prices: Arc<Prices>,
    /// Codex's app-server: the `turn/start` line, sent once its thread is
    /// there.
    later: Option<String>,
    replies: Vec<Vec<u8>>,
    /// Copilot's final usage, written to this file at its exit.
    usage_file: Option<std::path::PathBuf>,
}

impl Reader {
    fn kind(&self) -> AgentKind {
        self.parser.kind()
    }
}

impl AgentReader for Reader {
    fn line(&mut self, line: &[u8]) -> Option<Value> {
        let note = self.parser.line(line);
        self.replies.extend(self.parser.acp.take_replies());
        let note = note?;
        self.watch.note(&note);
        // Codex's thread is there: its turn goes now.
        if note["kind"] == "init"
            && let (Some(thread), Some(later)) = (note["session"].as_str(), self.later.take())
        {
            let line = later.replace(crate::CODEX_THREAD, thread);
            self.replies.push(format!("{line}\n").into_bytes());
        }
        Some(note)
    }

    fn launched(&mut self, argv: &[std::ffi::OsString]) {
        self.usage_file = argv
            .iter()
            .position(|a| a == crate::copilot::USAGE_FLAG)
            .and_then(|at| argv.get(at + 1))
            .map(std::path::PathBuf::from);
    }

    fn exited(&mut self) {
        let Some(path) = self.usage_file.take() else {
            return;
        };
        if let Some(note) = crate::copilot::usage_file(&path) {
            self.watch.note(&note);
        }
        let _ = std::fs::remove_file(&path);
    }

    fn opened(&mut self, input: &[u8], cwd: &std::path::Path) -> Vec<u8> {
        if let Some(first) = self.parser.acp.open(input, cwd) {
            return first;
        }
        let text = String::from_utf8_lossy(input);
        if !text.contains(crate::CODEX_THREAD) && !text.contains(crate::WORKER_CWD) {
            return input.to_vec();
        }
        // JSON strings: the directory as one.
        let cwd = serde_json::to_string(&cwd.to_string_lossy()).unwrap_or_default();
        let quoted = format!("\"{}\"", crate::WORKER_CWD);
        let mut now = String::new();
        for line in text.lines() {
            let line = line.replace(&quoted, &cwd);
            match line.contains(crate::CODEX_THREAD) {
                true => self.later = Some(line),
                false => {
                    now.push_str(&line);
                    now.push('\n');
                }
            }
        }
        now.into_bytes()
    }

    fn take_replies(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.replies)
    }

    fn result(&self) -> Option<bool> {
        self.watch.result()
    }

    fn results(&self) -> u32 {
        self.watch.results()
    }

    fn settled(&self) -> bool {
        self.watch.settled()
    }

    fn session(&self) -> Option<&str> {
        self.watch.session()
    }

    fn trouble(&self) -> Option<&str> {
        self.watch.trouble()
    }

    fn model(&self) -> Option<&str> {
        self.watch.model()
    }

    fn note(&mut self, annotation: &Value) {
        self.watch.note(annotation);
    }

    fn spend(&self, model: Option<&str>) -> Spend {
        let spend = self.watch.spend(&self.prices, model);
        Spend {
            usd: spend.usd,
            tokens: spend.tokens,
        }
    }

    fn take_asks(&mut self) -> Vec<AgentAsk> {
        self.watch.take_asks()
    }

    fn take_withdrawn(&mut self) -> Vec<String> {
        self.watch.take_withdrawn()
    }

    fn say(&self, text: &str) -> Vec<u8> {
        if !matches!(self.kind(), AgentKind::ClaudeCode | AgentKind::QwenCode) {
            return Vec::new();
        }
        let line = serde_json::json!({
            "type": "user",
            "message": {"role": "user", "content": text},
        });
        format!("{line}\n").into_bytes()
    }

    fn answer(&mut self, ask: &AgentAsk, decision: Decision<'_>, message: Option<&str>) -> Vec<u8> {
        if self.parser.acp.is_open() {
            return self.parser.acp.answer(ask, decision == Decision::Allow);
        }
        crate::parse::answer_line(self.kind(), ask, decision, message)
    }

    fn cancel(&mut self) -> Vec<u8> {
        self.parser.acp.cancel()
    }
}
