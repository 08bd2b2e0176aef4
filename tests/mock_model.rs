//! A mock of the Anthropic Messages API on 127.0.0.1, for running the real
//! Claude Code CLI offline: it streams a reply token by token, asks for one
//! Bash tool call, and answers the tool's result with a last message.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the mock says, and what it was asked.
pub struct MockModel {
    pub port: u16,
    /// Bodies of the requests to /v1/messages, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
}

/// One assistant turn of a scripted conversation: text streamed in
/// pieces, then maybe a tool call (name, input).
#[derive(Clone)]
pub struct Turn {
    pub pieces: Vec<String>,
    pub tool: Option<(String, serde_json::Value)>,
}

/// What the mock answers a conversation request with.
#[derive(Clone)]
pub enum Reply {
    Turn(Turn),
    /// An HTTP error, as the API sends it (529 overloaded, 500, 429).
    Error(u16),
}

/// A server on 127.0.0.1 that hands each connection to `serve` (in a
/// thread of its own); the request bodies it keeps are shared.
fn listen(
    serve: impl Fn(TcpStream, &Mutex<Vec<String>>) -> std::io::Result<()> + Send + Sync + 'static,
) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mock");
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let serve = Arc::new(serve);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (seen, serve) = (seen.clone(), serve.clone());
            thread::spawn(move || {
                let _ = serve(stream, &seen);
            });
        }
    });
    (port, requests)
}

/// The built-in script: text, a Bash call, and the last word.
pub fn default_script() -> Vec<Turn> {
    vec![
        Turn {
            pieces: DELTAS.iter().map(|s| s.to_string()).collect(),
            tool: Some((
                "Bash".into(),
                serde_json::json!({"command": TOOL_COMMAND, "description": "Write the marker"}),
            )),
        },
        Turn {
            pieces: vec![FINAL_TEXT.into()],
            tool: None,
        },
    ]
}

/// The text the first turn streams, one delta per piece.
pub const DELTAS: [&str; 4] = ["Checking ", "the ", "repository ", "now."];
/// The command the first turn asks Bash to run.
pub const TOOL_COMMAND: &str = "echo tool-ran-for-real > marker.txt && echo done";
pub const FINAL_TEXT: &str = "The marker file is written.";
/// The last turn's text when the tool call was denied.
pub const DENIED_TEXT: &str = "I was not allowed to run it: the marker file is not written.";

impl MockModel {
    pub fn start() -> MockModel {
        MockModel::scripted(default_script())
    }

    /// Whether a request the model was sent holds `text` (a person's words
    /// reached it, say).
    pub fn heard(&self, text: &str) -> bool {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.contains(text))
    }

    /// A mock that plays `script`: the turn after N tool results is turn N.
    pub fn scripted(script: Vec<Turn>) -> MockModel {
        MockModel::choosing(move |body| {
            let done = body.matches("\"tool_use_id\"").count();
            script.get(done).or(script.last()).cloned()
        })
    }

    /// A mock whose every conversation turn is chosen by `choose` from the
    /// request's body.
    pub fn choosing(choose: impl Fn(&str) -> Option<Turn> + Send + Sync + 'static) -> MockModel {
        MockModel::replying(move |body| choose(body).map(Reply::Turn))
    }

    /// A mock whose every conversation reply (a turn, or an HTTP error) is
    /// chosen by `reply` from the request's body.
    pub fn replying(reply: impl Fn(&str) -> Option<Reply> + Send + Sync + 'static) -> MockModel {
        let counter = AtomicUsize::new(0);
        let (port, requests) = listen(move |stream, seen| serve(stream, seen, &counter, &reply));
        MockModel { port, requests }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve(
    stream: TcpStream,
    seen: &Mutex<Vec<String>>,
    counter: &AtomicUsize,
    choose: &dyn Fn(&str) -> Option<Reply>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let Some((request_line, body)) = read_request(&mut reader)? else {
            return Ok(());
        };
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned();
        if !(request_line.starts_with("POST") && path.starts_with("/v1/messages"))
            || path.contains("count_tokens")
        {
            let reply = "{}";
            write!(
                writer,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                reply.len()
            )?;
            writer.flush()?;
            continue;
        }
        seen.lock().unwrap().push(body.clone());
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let conversation = body.contains("\"tools\"");
        let reply = if conversation { choose(&body) } else { None };
        if let Some(Reply::Error(status)) = reply {
            let (kind, reason) = match status {
                529 => ("overloaded_error", "Overloaded"),
                429 => ("rate_limit_error", "Too Many Requests"),
                400 => ("invalid_request_error", "Bad Request"),
                _ => ("api_error", "Internal server error"),
            };
            let body =
                format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"{reason}"}}}}"#);
            write!(
                writer,
                "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )?;
            writer.flush()?;
            return Ok(());
        }
        write!(
            writer,
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
        )?;
        writer.flush()?;
        if !conversation {
            // A side request (a title, a summary): a short plain answer.
            reply_text(&mut writer, n, &["ok"], "end_turn")?;
            return Ok(());
        }
        let turn = match reply {
            Some(Reply::Turn(turn)) => Some(turn),
            _ => None,
        };
        let turn = turn.unwrap_or(Turn {
            pieces: vec!["Done.".into()],
            tool: None,
        });
        let pieces: Vec<&str> = turn.pieces.iter().map(String::as_str).collect();
        match &turn.tool {
            Some((name, input)) => reply_tool_use(&mut writer, n, &pieces, name, input)?,
            None => reply_text(&mut writer, n, &pieces, "end_turn")?,
        }
        return Ok(());
    }
}

fn event(w: &mut impl Write, name: &str, data: serde_json::Value) -> std::io::Result<()> {
    write!(w, "event: {name}\ndata: {data}\n\n")?;
    w.flush()
}

fn message_start(w: &mut impl Write, n: usize) -> std::io::Result<()> {
    event(
        w,
        "message_start",
        serde_json::json!({"type": "message_start", "message": {
            "id": format!("msg_mock_{n}"), "type": "message", "role": "assistant", "content": [],
            "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 2400, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 6100}}}),
    )
}

fn message_end(w: &mut impl Write, stop: &str, output_tokens: u64) -> std::io::Result<()> {
    event(
        w,
        "message_delta",
        serde_json::json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
            "usage": {"output_tokens": output_tokens}}),
    )?;
    event(
        w,
        "message_stop",
        serde_json::json!({"type": "message_stop"}),
    )
}

fn text_block(w: &mut impl Write, index: usize, pieces: &[&str]) -> std::io::Result<()> {
    event(
        w,
        "content_block_start",
        serde_json::json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
    )?;
    for piece in pieces {
        event(
            w,
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}),
        )?;
        // Apart in time, so that streaming is observable downstream.
        thread::sleep(Duration::from_millis(60));
    }
    event(
        w,
        "content_block_stop",
        serde_json::json!({"type": "content_block_stop", "index": index}),
    )
}

fn reply_text(w: &mut impl Write, n: usize, pieces: &[&str], stop: &str) -> std::io::Result<()> {
    message_start(w, n)?;
    text_block(w, 0, pieces)?;
    message_end(w, stop, 180)
}

fn reply_tool_use(
    w: &mut impl Write,
    n: usize,
    pieces: &[&str],
    name: &str,
    input: &serde_json::Value,
) -> std::io::Result<()> {
    message_start(w, n)?;
    text_block(w, 0, pieces)?;
    event(
        w,
        "content_block_start",
        serde_json::json!({"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": format!("toolu_mock_{n}"), "name": name, "input": {}}}),
    )?;
    let input = input.to_string();
    let (first, second) = input.split_at(input.len() / 2);
    for part in [first, second] {
        event(
            w,
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": part}}),
        )?;
    }
    event(
        w,
        "content_block_stop",
        serde_json::json!({"type": "content_block_stop", "index": 1}),
    )?;
    message_end(w, "tool_use", 420)
}

/// The OpenAI Responses API as Codex uses it (POST /v1/responses, SSE):
/// first a function call to run a command, then a message.
pub struct MockResponses {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

pub const CODEX_COMMAND: &str = "echo codex-tool-ran > marker.txt";
pub const CODEX_TEXT: &str = "The marker is written.";

impl MockResponses {
    pub fn start() -> MockResponses {
        let (port, requests) = listen(serve_responses);
        MockResponses { port, requests }
    }

    /// A Responses API that answers 503 until a request says
    /// `previous attempt` (sc-spawn's resumed retry), then says RESUMED.
    pub fn unavailable_until_resumed() -> MockResponses {
        let (port, requests) = listen(|stream, seen| {
            let Some((mut writer, body)) = responses_request(stream, seen)? else {
                return Ok(());
            };
            if !body.contains("previous attempt") {
                let reply = r#"{"error":{"message":"Service Unavailable","type":"server_error"}}"#;
                write!(
                    writer,
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                )?;
                return writer.flush();
            }
            responses_message(&mut writer, "resp_r", RESUMED, (100, 5))
        });
        MockResponses { port, requests }
    }
}

impl MockResponses {
    /// A Responses API whose every answer is one assistant message of
    /// `text` (a planner's plan, or anything else).
    pub fn answering(text: String) -> MockResponses {
        let (port, requests) = listen(move |stream, seen| {
            let Some((mut writer, _)) = responses_request(stream, seen)? else {
                return Ok(());
            };
            responses_message(&mut writer, "resp_p", &text, (800, 90))
        });
        MockResponses { port, requests }
    }
}

/// Answer a Responses API request with one assistant message of `text`.
fn responses_message(
    writer: &mut TcpStream,
    id: &str,
    text: &str,
    tokens: (u64, u64),
) -> std::io::Result<()> {
    write!(
        writer,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
    )?;
    let sse = |w: &mut TcpStream, data: serde_json::Value| -> std::io::Result<()> {
        let kind = data["type"].as_str().unwrap_or("").to_owned();
        write!(w, "event: {kind}\ndata: {data}\n\n")?;
        w.flush()
    };
    sse(
        writer,
        serde_json::json!({"type": "response.created", "response": {"id": id}}),
    )?;
    sse(
        writer,
        serde_json::json!({"type": "response.output_item.done", "output_index": 0,
        "item": {"type": "message", "role": "assistant", "id": format!("msg_{id}"),
            "content": [{"type": "output_text", "text": text}]}}),
    )?;
    let (input, output) = tokens;
    sse(
        writer,
        serde_json::json!({"type": "response.completed", "response": {"id": id, "usage": {
        "input_tokens": input, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output}}}),
    )
}

/// What the mock says to a resumed Codex.
pub const RESUMED: &str = "Resumed, and done.";

/// Read one HTTP request: its request line and body.
fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<(String, String)>> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(None);
    }
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some((
        request_line,
        String::from_utf8_lossy(&body).into_owned(),
    )))
}

/// Read a request to the Responses API: the stream to answer on and its
/// body (kept in `seen`); other requests get a 404 and None.
fn responses_request(
    stream: TcpStream,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<Option<(TcpStream, String)>> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let Some((request_line, body)) = read_request(&mut reader)? else {
        return Ok(None);
    };
    if !(request_line.starts_with("POST") && request_line.contains("/responses")) {
        write!(
            writer,
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )?;
        return Ok(None);
    }
    seen.lock().unwrap().push(body.clone());
    Ok(Some((writer, body)))
}

fn serve_responses(stream: TcpStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let Some((mut writer, body)) = responses_request(stream, seen)? else {
        return Ok(());
    };
    write!(
        writer,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
    )?;
    let n = seen.lock().unwrap().len();
    let id = format!("resp_mock_{n}");
    let sse = |w: &mut TcpStream, data: serde_json::Value| -> std::io::Result<()> {
        let kind = data["type"].as_str().unwrap_or("").to_owned();
        write!(w, "event: {kind}\ndata: {data}\n\n")?;
        w.flush()
    };
    sse(
        &mut writer,
        serde_json::json!({"type": "response.created", "response": {"id": id}}),
    )?;
    let item = if body.contains("function_call_output") {
        serde_json::json!({"type": "message", "role": "assistant", "id": format!("msg_{n}"),
            "content": [{"type": "output_text", "text": CODEX_TEXT}]})
    } else {
        serde_json::json!({"type": "function_call", "id": format!("fc_{n}"), "call_id": "call_mock_1",
            "name": "exec_command", "arguments": serde_json::json!({"cmd": CODEX_COMMAND}).to_string()})
    };
    sse(
        &mut writer,
        serde_json::json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
    )?;
    sse(
        &mut writer,
        serde_json::json!({"type": "response.completed", "response": {"id": id, "usage": {
            "input_tokens": 1500, "input_tokens_details": {"cached_tokens": 500},
            "output_tokens": 60, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 1560}}}),
    )
}

/// The Gemini API as Gemini CLI uses it (streamGenerateContent, SSE):
/// text in chunks and a shell command first, then a last message.
pub struct MockGemini {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

pub const GEMINI_COMMAND: &str = "echo gemini-tool-ran > marker.txt";
pub const GEMINI_CHUNKS: [&str; 3] = ["Writing ", "the marker ", "now."];

impl MockGemini {
    pub fn start() -> MockGemini {
        let (port, requests) = listen(serve_gemini);
        MockGemini { port, requests }
    }

    /// A Gemini API whose every conversation answer is `text`.
    pub fn answering(text: String) -> MockGemini {
        let (port, requests) = listen(move |stream, seen| {
            let mut reader = BufReader::new(stream.try_clone()?);
            let mut writer = stream;
            let Some((request_line, body)) = read_request(&mut reader)? else {
                return Ok(());
            };
            if !request_line.contains(":streamGenerateContent") {
                return gemini_side_answer(&mut writer);
            }
            seen.lock().unwrap().push(body);
            write!(
                writer,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
            )?;
            let data = serde_json::json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                "index": 0, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 900, "candidatesTokenCount": 30, "totalTokenCount": 930}});
            write!(writer, "data: {data}\r\n\r\n")?;
            writer.flush()
        });
        MockGemini { port, requests }
    }

    /// A Gemini API that says it is overloaded to the first conversation
    /// request, then says RESUMED.
    pub fn unavailable_until_resumed() -> MockGemini {
        let (port, requests) = listen(|stream, seen| {
            let mut reader = BufReader::new(stream.try_clone()?);
            let mut writer = stream;
            let Some((request_line, body)) = read_request(&mut reader)? else {
                return Ok(());
            };
            let conversation = request_line.contains(":streamGenerateContent");
            if conversation {
                seen.lock().unwrap().push(body.clone());
            }
            // Only the first conversation request fails.
            if conversation && seen.lock().unwrap().len() == 1 {
                // 400, which Gemini does not retry itself (it would back off
                // for minutes on a 503), with the words of an overload.
                let reply = r#"{"error":{"code":400,"message":"The model is overloaded. Please try again later.","status":"FAILED_PRECONDITION"}}"#;
                write!(
                    writer,
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                )?;
                return writer.flush();
            }
            if !conversation {
                let reply = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]},"finishReason":"STOP"}]}"#;
                write!(
                    writer,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                )?;
                return writer.flush();
            }
            write!(
                writer,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
            )?;
            let data = serde_json::json!({"candidates": [{"content": {"role": "model", "parts": [{"text": RESUMED}]},
                "index": 0, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 900, "candidatesTokenCount": 30, "totalTokenCount": 930}});
            write!(writer, "data: {data}\r\n\r\n")?;
            writer.flush()
        });
        MockGemini { port, requests }
    }
}

/// A Gemini request that is not the conversation (a count, a title): ok.
fn gemini_side_answer(writer: &mut TcpStream) -> std::io::Result<()> {
    let reply = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]},"finishReason":"STOP"}]}"#;
    write!(
        writer,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    )?;
    writer.flush()
}

fn serve_gemini(stream: TcpStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let Some((request_line, body)) = read_request(&mut reader)? else {
        return Ok(());
    };
    if !request_line.contains(":streamGenerateContent") {
        return gemini_side_answer(&mut writer);
    }
    seen.lock().unwrap().push(body.clone());
    write!(
        writer,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
    )?;
    let usage = serde_json::json!({"promptTokenCount": 900, "candidatesTokenCount": 30, "totalTokenCount": 930});
    let chunk = |w: &mut TcpStream, parts: serde_json::Value, last: bool| -> std::io::Result<()> {
        let mut candidate =
            serde_json::json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if last {
            candidate["finishReason"] = "STOP".into();
        }
        let data = serde_json::json!({"candidates": [candidate], "usageMetadata": usage});
        write!(w, "data: {data}\r\n\r\n")?;
        w.flush()?;
        thread::sleep(Duration::from_millis(60));
        Ok(())
    };
    if body.contains("functionResponse") {
        chunk(
            &mut writer,
            serde_json::json!([{"text": "The marker is written."}]),
            true,
        )
    } else {
        for piece in GEMINI_CHUNKS {
            chunk(&mut writer, serde_json::json!([{"text": piece}]), false)?;
        }
        chunk(
            &mut writer,
            serde_json::json!([{"functionCall": {"name": "run_shell_command", "args": {"command": GEMINI_COMMAND}}}]),
            true,
        )
    }
}
