//! The sc event contract, schema v1.
//!
//! An sc stream is NDJSON: one event per line. This crate holds the typed
//! events ([`Event`], [`Body`] and one struct per event type), the writer
//! ([`encode`], and [`OutputEncoder`] for the hot path of a capture) and a
//! reader ([`parse_line`]) that turns any line, however malformed, into an
//! event or a [`ReadError`] that says what is wrong, and never panics.
//!
//! ```
//! use sc_events::{Body, parse_line};
//! let event = parse_line(br#"{"type":"stall","worker":"w","seq":4,"ts":1.5,"idle_ms":120000}"#).unwrap();
//! assert_eq!(event.type_name(), "stall");
//! assert!(matches!(event.body, Body::Stall(ref s) if s.idle_ms == 120000));
//! ```

mod agent;
pub mod agents;
mod base64_field;
mod blocks;
mod ended;
mod escape;
mod event;
pub mod find;
mod limits;
mod reader;
mod rename;
mod scan;
mod time;
mod writer;

pub use agent::{AgentNote, MessageUsage};
pub use agents::{AGENT_KINDS, AgentKindInfo, agent_kind, agent_kind_names};
pub use ended::{EndedBy, LimitsReport, WorktreeReport};
pub use event::{
    Answer, Ask, Body, ErrorEvent, Event, Exit, Heartbeat, Limits, Output, Payload, Progress,
    ProgressEvent, Retry, SCHEMA_VERSION, Said, SandboxNote, SandboxSettings, Skip, SlurmTask,
    Stall, Start, Stopped, Stream, Task, TaskSandbox, WorktreeAt,
};
pub use reader::{Head, ReadError, parse_first_head, parse_head, parse_line};
pub use rename::{rename_line, restamp_line};
pub use scan::{OutputLine, read_output_line};
pub use time::{MAX_SECS, clamped_duration, duration_from_secs, now_ts, to_ts};
pub use writer::{OutputEncoder, TsText, encode, push_json_str, to_line};
