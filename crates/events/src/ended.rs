//! Typed values of the contract's fields that were plain strings and JSON:
//! why a worker was ended, its worktree report, its limits as applied.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::limits::Limits;

/// Why sc ended a worker (`exit.ended_by`), when it did not end by itself.
/// A value this version does not know (a later one's) is kept as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EndedBy {
    /// `--timeout` (or a task's `timeout_s`) ran out.
    Timeout,
    /// SIGINT, SIGTERM or SIGHUP to sc.
    Interrupted,
    /// The reader of the stream went away.
    DownstreamClosed,
    /// A process it started held its outputs open past the drain time.
    LeakedOutput,
    /// RLIMIT_CPU.
    CpuLimit,
    /// The memory limit (cgroup OOM kill, or a failed allocation under
    /// RLIMIT_DATA).
    MemoryLimit,
    /// An agent said its last result and did not exit within the grace.
    ResultWithoutExit,
    /// It was stopped by SIGTTIN/SIGTTOU for using a terminal it does not
    /// own.
    StoppedOnTheTerminal,
    /// Its cost (or its plan's) reached the cap.
    Budget,
    /// The connection to the host it ran on was lost.
    ConnectionLost,
    /// `--fail-fast`: another task of its plan failed.
    FailFast,
    Other(String),
}

impl EndedBy {
    /// Every value this version writes, in the contract's words.
    pub const ALL: [EndedBy; 11] = [
        EndedBy::Timeout,
        EndedBy::Interrupted,
        EndedBy::DownstreamClosed,
        EndedBy::LeakedOutput,
        EndedBy::CpuLimit,
        EndedBy::MemoryLimit,
        EndedBy::ResultWithoutExit,
        EndedBy::StoppedOnTheTerminal,
        EndedBy::Budget,
        EndedBy::ConnectionLost,
        EndedBy::FailFast,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            EndedBy::Timeout => "timeout",
            EndedBy::Interrupted => "interrupted",
            EndedBy::DownstreamClosed => "downstream closed",
            EndedBy::LeakedOutput => "leaked output",
            EndedBy::CpuLimit => "cpu limit",
            EndedBy::MemoryLimit => "memory limit",
            EndedBy::ResultWithoutExit => "result without exit",
            EndedBy::StoppedOnTheTerminal => "stopped on the terminal",
            EndedBy::Budget => "budget",
            EndedBy::ConnectionLost => "connection lost",
            EndedBy::FailFast => "fail fast",
            EndedBy::Other(other) => other,
        }
    }

    pub fn parse(text: &str) -> EndedBy {
        EndedBy::ALL
            .iter()
            .find(|e| e.as_str() == text)
            .cloned()
            .unwrap_or_else(|| EndedBy::Other(text.to_owned()))
    }
}

/// Reads as its words, so that code written when the field was a string
/// (`exit.ended_by.as_deref() == Some("timeout")`) keeps working.
impl std::ops::Deref for EndedBy {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for EndedBy {
    fn from(text: &str) -> EndedBy {
        EndedBy::parse(text)
    }
}

impl fmt::Display for EndedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for EndedBy {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EndedBy {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for EndedBy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EndedBy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(EndedBy::parse(&text))
    }
}

/// `exit.worktree` (`--worktree`): where the worker's work is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorktreeReport {
    pub path: String,
    pub branch: String,
    /// What the branch started from.
    pub base: String,
    /// A diff stat of what it changed (`no changes` when nothing).
    pub diff: String,
    /// Committing its changes failed: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `start.limits`: the limits applied at launch, and how the memory limit
/// is held (`cgroup` or `RLIMIT_DATA`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsReport {
    #[serde(flatten)]
    pub limits: Limits,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_by_round_trips_and_keeps_what_it_does_not_know() {
        for value in EndedBy::ALL {
            let json = serde_json::to_string(&value).unwrap();
            assert_eq!(serde_json::from_str::<EndedBy>(&json).unwrap(), value);
        }
        let later: EndedBy = serde_json::from_str("\"quota\"").unwrap();
        assert_eq!(later, EndedBy::Other("quota".into()));
        assert_eq!(serde_json::to_string(&later).unwrap(), "\"quota\"");
    }
}
