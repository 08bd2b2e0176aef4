//! The Agent Client Protocol (ACP: JSON-RPC 2.0 on stdio), with sc as the
//! client: the opening (`initialize` with the protocol version, then
//! `session/load` of a session to resume where the agent can, else
//! `session/new`, then `session/prompt`), each step sent when the agent
//! has answered the one before; its `session/update` notifications (v1,
//! and v2's upserts and `state_update`) and `session/request_permission`
//! requests read into the same annotations as a CLI's own headless output;
//! a decision answered with the option of its kind; `session/cancel` when
//! the worker is ended; and a request sc does not serve answered with an
//! error, so that the agent goes on.

use serde_json::{Map, Value, json};

use crate::json::str_of;

mod updates;

/// The protocol versions sc speaks; it offers the first (the stable one),
/// and follows an agent that answers with the other.
const VERSIONS: [u64; 2] = [1, 2];

/// Our requests' ids. (The agent's requests have ids of their own, told
/// apart by their `method`.)
const INITIALIZE: u64 = 1;
const SESSION: u64 = 2;
const PROMPT: u64 = 3;
/// `session/new` after a `session/load` the agent refused.
const SESSION_AGAIN: u64 = 4;

/// What sc asks of an ACP agent: the command's `input`, read back by the
/// reader (which speaks the protocol) when the worker starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Opening {
    pub prompt: String,
    /// A session of the agent's to resume (a retry, a plan resumed).
    pub resume: Option<String>,
}

impl Opening {
    pub fn line(&self) -> Vec<u8> {
        let line = json!({"sc_acp": {"prompt": self.prompt, "resume": self.resume}});
        format!("{line}\n").into_bytes()
    }

    fn read(input: &[u8]) -> Option<Opening> {
        let value: Value = serde_json::from_slice(input).ok()?;
        let opening = value.get("sc_acp")?;
        Some(Opening {
            prompt: opening["prompt"].as_str()?.to_owned(),
            resume: opening["resume"].as_str().map(str::to_owned),
        })
    }
}

/// Where the client's side of one connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Step {
    #[default]
    Unopened,
    Initializing,
    /// `session/load` (true) or `session/new` sent.
    Opening {
        load: bool,
    },
    Prompting,
    Done,
}

/// sc as the ACP client of one worker.
#[derive(Debug, Clone, Default)]
pub struct Client {
    step: Step,
    opening: Option<Opening>,
    /// The worker's directory, a JSON string.
    cwd: Value,
    version: u64,
    session: Option<String>,
    model: Value,
    replies: Vec<Vec<u8>>,
    /// Permission requests not answered yet (their JSON-RPC ids), answered
    /// `cancelled` when the turn is.
    asking: Vec<Value>,
    pub(crate) turns: u64,
}

impl Client {
    /// The worker starts with `input` on its stdin: what is sent now (the
    /// `initialize` request), or None when `input` is no ACP opening.
    pub fn open(&mut self, input: &[u8], cwd: &std::path::Path) -> Option<Vec<u8>> {
        let opening = Opening::read(input)?;
        self.opening = Some(opening);
        self.cwd = cwd.to_string_lossy().into_owned().into();
        self.step = Step::Initializing;
        Some(request(
            INITIALIZE,
            "initialize",
            json!({
                "protocolVersion": VERSIONS[0],
                "clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}, "terminal": false},
                "clientInfo": {"name": "sc", "version": env!("CARGO_PKG_VERSION")},
            }),
        ))
    }

    pub fn is_open(&self) -> bool {
        self.step != Step::Unopened
    }

    pub fn take_replies(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.replies)
    }

    /// One JSON-RPC message of the agent's: its annotation, and what sc
    /// sends back (kept for [`Client::take_replies`]).
    pub fn message(&mut self, o: &Map<String, Value>) -> Option<Value> {
        match (str_of(o, "method"), o.get("id")) {
            (Some(method), Some(id)) => self.request(method, id.clone(), o),
            (Some("session/update"), None) => self.update(&o.get("params")?["update"]),
            (Some(_), None) => None,
            (None, Some(id)) => self.response(id.as_u64()?, o),
            (None, None) => None,
        }
    }

    fn request(&mut self, method: &str, id: Value, o: &Map<String, Value>) -> Option<Value> {
        if method != "session/request_permission" {
            let error = json!({"jsonrpc": "2.0", "id": id, "error": {
                "code": -32601, "message": format!("sc does not serve {method}")}});
            self.replies.push(format!("{error}\n").into_bytes());
            return None;
        }
        self.asking.push(id.clone());
        let params = o.get("params")?;
        let call = &params["toolCall"];
        let tool = call["kind"]
            .as_str()
            .or(call["title"].as_str())
            .unwrap_or("tool");
        // What it would run (its raw input, where it gives one) first, for
        // people; the call and the options, for the answer.
        let mut input = match &call["rawInput"] {
            Value::Object(raw) => raw.clone(),
            _ => Map::new(),
        };
        input.insert("title".into(), call["title"].clone());
        input.insert("toolCall".into(), call.clone());
        input.insert("options".into(), params["options"].clone());
        Some(json!({
            "kind": "ask", "id": id, "tool": tool, "input": input,
            "description": call["title"],
        }))
    }

    fn response(&mut self, id: u64, o: &Map<String, Value>) -> Option<Value> {
        if let Some(error) = o.get("error") {
            let message = error["message"].as_str().unwrap_or("an error").to_owned();
            if id == SESSION && self.step == (Step::Opening { load: true }) {
                // It could not load that session: a new one, said so.
                let session = self.resumed().unwrap_or_default();
                self.new_session(SESSION_AGAIN);
                return Some(json!({"kind": "error", "message": format!(
                    "the agent could not load session {session} ({message}): a new session instead")}));
            }
            let what = match id {
                INITIALIZE => "initialize",
                SESSION | SESSION_AGAIN => "opening a session",
                _ => "the prompt",
            };
            return Some(self.ended(false, Some(format!("ACP {what} failed: {message}")), None));
        }
        let result = o.get("result")?;
        match id {
            INITIALIZE if self.step == Step::Initializing => self.initialized(result),
            SESSION | SESSION_AGAIN if matches!(self.step, Step::Opening { .. }) => {
                let session = result["sessionId"]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| self.resumed());
                self.session = session.clone();
                self.model = result["models"]["currentModelId"].clone();
                self.prompt();
                Some(json!({"kind": "init", "session": session, "model": self.model}))
            }
            // v1: the prompt's answer ends the turn; v2 only acknowledges
            // it (a `state_update` ends it).
            PROMPT if self.step == Step::Prompting && self.version == 1 => {
                Some(self.turn_over(result))
            }
            _ => None,
        }
    }

    fn initialized(&mut self, result: &Value) -> Option<Value> {
        let version = result["protocolVersion"].as_u64().unwrap_or(1);
        if !VERSIONS.contains(&version) {
            return Some(self.ended(
                false,
                Some(format!(
                    "the agent speaks ACP version {version}; sc speaks versions 1 and 2"
                )),
                None,
            ));
        }
        self.version = version;
        let can_load = result["agentCapabilities"]["loadSession"] == true;
        match self.resumed() {
            Some(session) if can_load => {
                self.step = Step::Opening { load: true };
                let params = json!({"sessionId": session, "cwd": self.cwd, "mcpServers": []});
                self.replies.push(request(SESSION, "session/load", params));
                None
            }
            Some(session) => {
                self.new_session(SESSION);
                Some(json!({"kind": "error", "message": format!(
                    "the agent cannot load sessions (no loadSession capability): session {session} \
                     is not resumed, a new one is opened")}))
            }
            None => {
                self.new_session(SESSION);
                None
            }
        }
    }

    fn resumed(&self) -> Option<String> {
        self.opening.as_ref()?.resume.clone()
    }

    fn new_session(&mut self, id: u64) {
        self.step = Step::Opening { load: false };
        let params = json!({"cwd": self.cwd, "mcpServers": []});
        self.replies.push(request(id, "session/new", params));
    }

    fn prompt(&mut self) {
        self.step = Step::Prompting;
        let text = self
            .opening
            .as_ref()
            .map(|o| o.prompt.clone())
            .unwrap_or_default();
        let params = json!({"sessionId": self.session, "prompt": [{"type": "text", "text": text}]});
        self.replies.push(request(PROMPT, "session/prompt", params));
    }

    /// A turn ended with `result` (v1's prompt answer, v2's idle state):
    /// the verdict by its stop reason, and the tokens where the agent gives
    /// them (standard `usage`, or Gemini's `_meta.quota.token_count`).
    fn turn_over(&mut self, result: &Value) -> Value {
        let stop = result["stopReason"].as_str().unwrap_or("end_turn");
        let tokens = &result["_meta"]["quota"]["token_count"];
        let usage = &result["usage"];
        let n = |key: &str, alt: &str| tokens[key].as_u64().or_else(|| usage[alt].as_u64());
        let text = (stop != "end_turn").then(|| format!("the turn ended: {stop}"));
        let mut note = self.ended(stop == "end_turn", text, None);
        note["input_tokens"] = n("input_tokens", "inputTokens").into();
        note["output_tokens"] = n("output_tokens", "outputTokens").into();
        if let Some(cached) = usage["cachedReadTokens"].as_u64() {
            note["cache_read_input_tokens"] = cached.into();
        }
        note
    }

    fn ended(&mut self, ok: bool, text: Option<String>, cost: Option<f64>) -> Value {
        self.step = Step::Done;
        self.turns += 1;
        json!({
            "kind": "result", "ok": ok, "text": text, "cost_usd": cost,
            "input_tokens": null, "output_tokens": null, "turns": self.turns,
        })
    }

    /// The worker is being ended: the turn is cancelled (`session/cancel`)
    /// and the permission requests still open are answered `cancelled`, as
    /// the protocol asks of a client.
    pub fn cancel(&mut self) -> Vec<u8> {
        let mut lines = Vec::new();
        if self.step == Step::Prompting {
            let cancel = json!({"jsonrpc": "2.0", "method": "session/cancel",
                "params": {"sessionId": self.session}});
            lines.extend(format!("{cancel}\n").into_bytes());
        }
        for id in self.asking.drain(..) {
            let reply = json!({"jsonrpc": "2.0", "id": id,
                "result": {"outcome": {"outcome": "cancelled"}}});
            lines.extend(format!("{reply}\n").into_bytes());
        }
        lines
    }

    /// The answer to permission request `ask`: the option of the kind the
    /// decision means (`allow_once`, `reject_once`; option ids differ from
    /// agent to agent), or `cancelled` when it offers none.
    pub fn answer(&mut self, ask: &sc_capture::agent::AgentAsk, allow: bool) -> Vec<u8> {
        let id: Value = ask
            .id
            .parse::<u64>()
            .map_or_else(|_| ask.id.clone().into(), Into::into);
        self.asking.retain(|a| *a != id);
        answer_line(id, &ask.input["options"], allow)
    }
}

fn request(id: u64, method: &str, params: Value) -> Vec<u8> {
    let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    format!("{line}\n").into_bytes()
}

fn answer_line(id: Value, options: &Value, allow: bool) -> Vec<u8> {
    let options = options.as_array().cloned().unwrap_or_default();
    let kind = |k: &str| options.iter().find(|o| o["kind"] == k);
    // An allow is for this call only: never `allow_always`, which would let
    // later calls past both the policy and the person. (An agent that
    // offers no `allow_once` gets only `deny` as a choice: see the ask.)
    let chosen = match allow {
        true => kind("allow_once"),
        false => kind("reject_once").or_else(|| kind("reject_always")),
    }
    .and_then(|o| o["optionId"].as_str());
    let outcome = match chosen {
        Some(id) => json!({"outcome": "selected", "optionId": id}),
        None => json!({"outcome": "cancelled"}),
    };
    format!(
        "{}\n",
        json!({"jsonrpc": "2.0", "id": id, "result": {"outcome": outcome}})
    )
    .into_bytes()
}

#[cfg(test)]
mod tests;
