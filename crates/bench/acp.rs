//! `sc-bench fake-acp`: a scripted agent that speaks the Agent Client
//! Protocol on its stdio, for the tests of what the real agents cannot be
//! made to do on demand: protocol version 2's shapes, a cancel while a
//! permission request waits, dying mid-turn, loading a session again.
//!
//! Flags: `--version N` (the version it answers `initialize` with),
//! `--load` (it can load sessions: it replays their history first),
//! `--ask` (its turn asks to run `touch asked`, and runs it if allowed),
//! `--die-once FILE` (the first run, while FILE is absent, dies mid-turn),
//! `--deaf` (it ignores SIGINT and SIGTERM: only `session/cancel` and EOF
//! end it), `--log FILE` (every line it gets, appended).

use std::io::{BufRead, Write};

use serde_json::{Value, json};

use crate::flag;

struct Agent {
    version: u64,
    load: bool,
    ask: bool,
    die_once: Option<String>,
    log: Option<String>,
    out: std::io::Stdout,
}

impl Agent {
    fn send(&mut self, value: Value) {
        let mut out = self.out.lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }

    fn update(&mut self, session: &str, update: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": "session/update",
            "params": {"sessionId": session, "update": update}}));
    }

    fn text(&mut self, session: &str, text: &str) {
        let content = match self.version {
            1 => json!({"type": "text", "text": text}),
            _ => json!([{"type": "text", "text": text}]),
        };
        self.update(
            session,
            json!({"sessionUpdate": "agent_message_chunk", "messageId": "m", "content": content}),
        );
    }

    fn logged(&self, line: &str) {
        if let Some(path) = &self.log
            && let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        {
            let _ = writeln!(file, "{line}");
        }
    }

    /// The turn's end: v1 answers the prompt, v2 goes idle.
    fn end_turn(&mut self, prompt_id: &Value, session: &str, stop: &str) {
        let usage = json!({"inputTokens": 120, "outputTokens": 30, "totalTokens": 150});
        match self.version {
            1 => self.send(json!({"jsonrpc": "2.0", "id": prompt_id,
                "result": {"stopReason": stop, "usage": usage}})),
            _ => self.update(
                session,
                json!({"sessionUpdate": "state_update", "state": "idle", "stopReason": stop, "usage": usage}),
            ),
        }
    }
}

pub fn main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--deaf") {
        // SAFETY: setting signal dispositions before any thread exists.
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            libc::signal(libc::SIGINT, libc::SIG_IGN);
        }
    }
    let text_flag = |name: &str| Some(flag(args, name, String::new())).filter(|s| !s.is_empty());
    let mut agent = Agent {
        version: flag(args, "--version", 1),
        load: args.iter().any(|a| a == "--load"),
        ask: args.iter().any(|a| a == "--ask"),
        die_once: text_flag("--die-once"),
        log: text_flag("--log"),
        out: std::io::stdout(),
    };
    let stdin = std::io::stdin();
    let mut session = String::new();
    // The prompt being worked on, and the permission request waiting.
    let mut prompt: Option<Value> = None;
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        agent.logged(&line);
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let id = message["id"].clone();
        match message["method"].as_str() {
            Some("initialize") => agent.send(json!({"jsonrpc": "2.0", "id": id, "result": {
                "protocolVersion": agent.version,
                "agentCapabilities": {"loadSession": agent.load},
                "authMethods": []}})),
            Some("session/new") => {
                session = format!("fake-{}", std::process::id());
                agent.send(json!({"jsonrpc": "2.0", "id": id, "result": {"sessionId": session}}));
            }
            Some("session/load") => {
                session = message["params"]["sessionId"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                agent.update(
                    &session,
                    json!({"sessionUpdate": "user_message_chunk",
                    "content": {"type": "text", "text": "the earlier prompt"}}),
                );
                agent.text(&session, "what I said before");
                agent.send(json!({"jsonrpc": "2.0", "id": id, "result": null}));
            }
            Some("session/prompt") => {
                let text = message["params"]["prompt"][0]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                if agent.version >= 2 {
                    agent.send(json!({"jsonrpc": "2.0", "id": id, "result": {}}));
                    agent.update(
                        &session,
                        json!({"sessionUpdate": "state_update", "state": "running"}),
                    );
                }
                agent.text(&session, &format!("working on: {text}"));
                agent.update(
                    &session,
                    json!({"sessionUpdate": "plan", "entries": [
                    {"content": "look", "priority": "high", "status": "completed"},
                    {"content": "change", "priority": "high", "status": "in_progress"}]}),
                );
                if let Some(marker) = agent.die_once.clone()
                    && !std::path::Path::new(&marker).exists()
                {
                    let _ = std::fs::write(&marker, &session);
                    return 3;
                }
                if agent.ask {
                    let call = json!({"toolCallId": "call-1", "title": "touch asked",
                        "kind": "execute", "status": "pending", "rawInput": {"command": "touch asked"}});
                    let mut update = call.clone();
                    update["sessionUpdate"] = "tool_call".into();
                    agent.update(&session, update);
                    agent.send(
                        json!({"jsonrpc": "2.0", "id": 0, "method": "session/request_permission",
                        "params": {"sessionId": session, "toolCall": call, "options": [
                            {"optionId": "yes-always", "name": "Always", "kind": "allow_always"},
                            {"optionId": "yes", "name": "Allow", "kind": "allow_once"},
                            {"optionId": "no", "name": "Reject", "kind": "reject_once"}]}}),
                    );
                    prompt = Some(id);
                    continue;
                }
                agent.end_turn(&id, &session, "end_turn");
            }
            Some("session/cancel") => {
                if let Some(id) = prompt.take() {
                    agent.end_turn(&id, &session, "cancelled");
                }
            }
            // The answer to its permission request.
            None if id == 0 => {
                let Some(prompt_id) = prompt.take() else {
                    continue;
                };
                let outcome = &message["result"]["outcome"];
                match (outcome["outcome"].as_str(), outcome["optionId"].as_str()) {
                    (Some("selected"), Some("yes")) => {
                        let _ = std::fs::write("asked", "");
                        agent.update(
                            &session,
                            json!({"sessionUpdate": "tool_call_update",
                            "toolCallId": "call-1", "status": "completed"}),
                        );
                        agent.text(&session, "ran it");
                        agent.end_turn(&prompt_id, &session, "end_turn");
                    }
                    (Some("cancelled"), _) => agent.end_turn(&prompt_id, &session, "cancelled"),
                    _ => {
                        agent.update(
                            &session,
                            json!({"sessionUpdate": "tool_call_update",
                            "toolCallId": "call-1", "status": "failed"}),
                        );
                        agent.text(&session, "not allowed, so I stopped");
                        agent.end_turn(&prompt_id, &session, "end_turn");
                    }
                }
            }
            _ => {}
        }
    }
    0
}
