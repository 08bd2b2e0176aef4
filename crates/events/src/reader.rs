//! Reading events from NDJSON lines, tolerant of anything.
//!
//! A line from outside (a file, a pipe, another host) may be anything: plain
//! text, truncated JSON, JSON of another shape. [`parse_line`] never panics; it
//! returns an event or a [`ReadError`] whose message names the problem.
//! Unknown event types are not errors: they come back as [`Body::Other`] so a
//! newer producer's additions pass through older tools.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::event::{
    Body, ErrorEvent, Event, Exit, Heartbeat, Output, ProgressEvent, Retry, Skip, Stall, Start,
    Task,
};

/// Why a line is not an sc event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The line is not valid UTF-8 (so not JSON either).
    NotUtf8 { valid_up_to: usize },
    /// The line is not a JSON object (plain text, truncated JSON, an array).
    NotJson(String),
    /// One of the four fields every event has is missing or of the wrong type.
    Field {
        field: &'static str,
        problem: String,
    },
    /// A known event type whose own fields are wrong.
    Body { type_name: String, problem: String },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotUtf8 { valid_up_to } => write!(
                f,
                "not an sc event: invalid UTF-8 after byte {valid_up_to} (sc streams are UTF-8 NDJSON)"
            ),
            ReadError::NotJson(problem) => {
                write!(f, "not an sc event: not a JSON object ({problem})")
            }
            ReadError::Field { field, problem } => write!(
                f,
                "not an sc event: field `{field}` {problem} (every event has `type`, `worker`, `seq` and `ts`)"
            ),
            ReadError::Body { type_name, problem } => {
                write!(f, "malformed `{type_name}` event: {problem}")
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// The four fields every event has, borrowed from the line where possible.
#[derive(Debug, Clone)]
pub struct Head<'a> {
    pub type_name: Cow<'a, str>,
    pub worker: Cow<'a, str>,
    pub seq: u64,
    /// `ts` as written (a JSON number): routing tools never need the time,
    /// and turning 16 digits into an f64 was a sixth of sc-merge's work.
    /// See [`Head::ts`].
    pub ts_text: &'a str,
}

/// The head as serde reads it (the reference path).
#[derive(Deserialize)]
pub(crate) struct SerdeHead<'a> {
    #[serde(rename = "type", borrow)]
    pub type_name: Cow<'a, str>,
    #[serde(borrow)]
    pub worker: Cow<'a, str>,
    pub seq: u64,
    #[serde(borrow, rename = "ts")]
    pub ts_text: &'a RawValue,
}

impl<'a> From<crate::scan::FastHead<'a>> for Head<'a> {
    fn from(fast: crate::scan::FastHead<'a>) -> Head<'a> {
        Head {
            type_name: Cow::Borrowed(fast.type_name),
            worker: Cow::Borrowed(fast.worker),
            seq: fast.seq,
            ts_text: fast.ts,
        }
    }
}

impl Head<'_> {
    /// The event's `ts`.
    pub fn ts(&self) -> f64 {
        self.ts_text.parse().unwrap_or(f64::NAN)
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn as_str(line: &[u8]) -> Result<&str, ReadError> {
    std::str::from_utf8(trim_newline(line)).map_err(|e| ReadError::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })
}

/// Read only the four common fields of a line, skipping the rest without
/// building it: the fast path for tools that route events without reading
/// their bodies.
pub fn parse_head(line: &[u8]) -> Result<Head<'_>, ReadError> {
    // The fast path checks the line's UTF-8 as it goes.
    if let Some(fast) = crate::scan::scan_head(trim_newline(line)) {
        return Ok(Head::from(fast));
    }
    let text = as_str(line)?;
    match serde_json::from_str::<SerdeHead<'_>>(text) {
        // RawValue took any JSON value: `ts` must be a number.
        Ok(head)
            if head
                .ts_text
                .get()
                .starts_with(|c: char| c == '-' || c.is_ascii_digit()) =>
        {
            Ok(Head {
                type_name: head.type_name,
                worker: head.worker,
                seq: head.seq,
                ts_text: head.ts_text.get(),
            })
        }
        // Say precisely what is wrong: the slow path names the field.
        Ok(_) | Err(_) => Err(parse_line(line)
            .err()
            .unwrap_or_else(|| ReadError::NotJson("not an event head".into()))),
    }
}

/// The head of the first line of `run` (whole lines, each ending in `\n`)
/// and that line's length, newline included, when the fast path reads it:
/// the line's end found in the same pass. None says nothing about the
/// line: find its end and ask [`parse_head`], which names any problem.
pub fn parse_first_head(run: &[u8]) -> Option<(Head<'_>, usize)> {
    let (fast, len) = crate::scan::scan_first_line(run)?;
    Some((Head::from(fast), len))
}

/// Parse one line (with or without its `\n`) into an event.
pub fn parse_line(line: &[u8]) -> Result<Event, ReadError> {
    let text = as_str(line)?;
    let value: Value = serde_json::from_str(text).map_err(|e| ReadError::NotJson(e.to_string()))?;
    let Value::Object(mut fields) = value else {
        return Err(ReadError::NotJson(format!(
            "found {}",
            json_kind(&serde_json::from_str(text).unwrap_or(Value::Null))
        )));
    };
    let type_name = take_string(&mut fields, "type")?;
    let worker = take_string(&mut fields, "worker")?;
    let seq = match fields.remove("seq") {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| ReadError::Field {
            field: "seq",
            problem: format!("is {n}, not a whole number from 0"),
        })?,
        Some(other) => return Err(wrong_type("seq", "a whole number", &other)),
        None => return Err(missing("seq")),
    };
    let ts = match fields.remove("ts") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(other) => return Err(wrong_type("ts", "a number", &other)),
        None => return Err(missing("ts")),
    };
    let body = body_of(type_name, fields)?;
    Ok(Event {
        worker,
        seq,
        ts,
        body,
    })
}

fn body_of(type_name: String, fields: Map<String, Value>) -> Result<Body, ReadError> {
    fn typed<T: DeserializeOwned>(
        type_name: &str,
        fields: Map<String, Value>,
    ) -> Result<T, ReadError> {
        serde_json::from_value(Value::Object(fields)).map_err(|e| ReadError::Body {
            type_name: type_name.to_owned(),
            problem: e.to_string(),
        })
    }
    Ok(match type_name.as_str() {
        "task" => Body::Task(typed::<Task>(&type_name, fields)?),
        "start" => Body::Start(typed::<Start>(&type_name, fields)?),
        "output" => Body::Output(typed::<Output>(&type_name, fields)?),
        "progress" => Body::Progress(typed::<ProgressEvent>(&type_name, fields)?),
        "heartbeat" => Body::Heartbeat(typed::<Heartbeat>(&type_name, fields)?),
        "stall" => Body::Stall(typed::<Stall>(&type_name, fields)?),
        "skip" => Body::Skip(typed::<Skip>(&type_name, fields)?),
        "error" => Body::Error(typed::<ErrorEvent>(&type_name, fields)?),
        "exit" => Body::Exit(typed::<Exit>(&type_name, fields)?),
        "retry" => Body::Retry(typed::<Retry>(&type_name, fields)?),
        "ask" => Body::Ask(typed::<crate::event::Ask>(&type_name, fields)?),
        "answer" => Body::Answer(typed::<crate::event::Answer>(&type_name, fields)?),
        "sandbox" => Body::Sandbox(typed::<crate::event::SandboxNote>(&type_name, fields)?),
        "say" => Body::Say(typed::<crate::event::Said>(&type_name, fields)?),
        "stop" => Body::Stop(typed::<crate::event::Stopped>(&type_name, fields)?),
        _ => Body::Other { type_name, fields },
    })
}

fn take_string(fields: &mut Map<String, Value>, field: &'static str) -> Result<String, ReadError> {
    match fields.remove(field) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(wrong_type(field, "a string", &other)),
        None => Err(missing(field)),
    }
}

fn missing(field: &'static str) -> ReadError {
    ReadError::Field {
        field,
        problem: "is missing".into(),
    }
}

fn wrong_type(field: &'static str, wanted: &str, found: &Value) -> ReadError {
    ReadError::Field {
        field,
        problem: format!("should be {wanted} but is {}", json_kind(found)),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Payload, Stream};
    use crate::writer::to_line;

    #[test]
    fn round_trips_every_known_type() {
        let line = br#"{"type":"output","worker":"a/b","seq":3,"ts":1.25,"stream":"stderr","bytes":"/w=="}"#;
        let event = parse_line(line).unwrap();
        let Body::Output(ref out) = event.body else {
            panic!("not output: {event:?}")
        };
        assert_eq!(out.stream, Stream::Stderr);
        assert_eq!(out.payload, Payload::Bytes(vec![0xff]));
        assert_eq!(
            String::from_utf8(to_line(&event)).unwrap(),
            format!("{}\n", std::str::from_utf8(line).unwrap())
        );
        for line in [
            r#"{"type":"task","worker":"t","seq":0,"ts":1.0,"id":"t","role":"bug-fixer","kind":"shell","argv":["make"],"timeout_s":5.0,"depends_on":["a"]}"#,
            r#"{"type":"start","worker":"t","seq":1,"ts":1.0,"argv":["make"],"pid":42,"cwd":"/tmp","kind":"shell","pty":false,"schema":1}"#,
            r#"{"type":"progress","worker":"t","seq":2,"ts":1.0,"percent":null,"message":"compiling"}"#,
            r#"{"type":"heartbeat","worker":"t","seq":3,"ts":1.0,"idle_ms":5000,"lines":1,"bytes":2,"cpu_ms":null,"rss_kib":128}"#,
            r#"{"type":"stall","worker":"t","seq":4,"ts":1.0,"idle_ms":120000}"#,
            r#"{"type":"skip","worker":"t","seq":5,"ts":1.0,"reason":"dependency a failed"}"#,
            r#"{"type":"error","worker":"t","seq":6,"ts":1.0,"message":"boom"}"#,
            r#"{"type":"exit","worker":"t","seq":7,"ts":1.0,"code":null,"signal":"SIGKILL","duration_ms":9,"timed_out":true,"lines":1,"bytes":2}"#,
        ] {
            let event = parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(
                String::from_utf8(to_line(&event)).unwrap(),
                format!("{line}\n")
            );
        }
    }

    #[test]
    fn unknown_types_pass_through_unchanged() {
        let line = r#"{"type":"future","worker":"w","seq":0,"ts":1.0,"x":[1,2],"y":{"z":null}}"#;
        let event = parse_line(line.as_bytes()).unwrap();
        assert_eq!(event.type_name(), "future");
        assert_eq!(
            String::from_utf8(to_line(&event)).unwrap(),
            format!("{line}\n")
        );
    }

    #[test]
    fn malformed_lines_are_errors_with_reasons() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain text", "not a JSON object"),
            (b"{\"type\":\"output\",", "not a JSON object"),
            (b"[1,2]", "found an array"),
            (b"\xff\xfe", "invalid UTF-8"),
            (
                br#"{"worker":"w","seq":0,"ts":1}"#,
                "field `type` is missing",
            ),
            (
                br#"{"type":"stall","worker":"w","seq":-1,"ts":1}"#,
                "field `seq` is -1",
            ),
            (
                br#"{"type":"stall","worker":7,"seq":0,"ts":1}"#,
                "`worker` should be a string",
            ),
            (
                br#"{"type":"stall","worker":"w","seq":0,"ts":"x"}"#,
                "`ts` should be a number",
            ),
            (
                br#"{"type":"stall","worker":"w","seq":0,"ts":1}"#,
                "malformed `stall` event",
            ),
            (
                br#"{"type":"output","worker":"w","seq":0,"ts":1,"stream":"stdout","bytes":"!!"}"#,
                "not valid base64",
            ),
            (b"", "not a JSON object"),
        ];
        for (line, want) in cases {
            let err = parse_line(line).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{:?}: {err}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn head_reads_the_four_fields_only() {
        let head = parse_head(
            br#"{"type":"output","worker":"x","seq":12,"ts":3.5,"stream":"stdout","text":"hi\n"}"#,
        )
        .unwrap();
        assert_eq!(
            (head.type_name.as_ref(), head.worker.as_ref(), head.seq),
            ("output", "x", 12)
        );
        assert!(parse_head(b"nope").is_err());
        assert!(parse_head(br#"{"type":"a","worker":"x","ts":1}"#).is_err());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A cheap deterministic fuzz: every prefix of valid lines, and noise.
        let line = br#"{"type":"output","worker":"w","seq":1,"ts":1.0,"stream":"stdout","text":"\u00e9\n"}"#;
        for end in 0..=line.len() {
            let _ = parse_line(&line[..end]);
            let _ = parse_head(&line[..end]);
        }
        let alphabet = b"{}[]\":,0123456789.-eEtrufalsn \\u\xff";
        let mut state: u32 = 12345;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..(state % 64))
                .map(|_| {
                    state = state.wrapping_mul(1103515245).wrapping_add(12345);
                    alphabet[(state >> 16) as usize % alphabet.len()]
                })
                .collect();
            let _ = parse_line(&bytes);
        }
    }
}
