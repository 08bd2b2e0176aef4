//! A worker's resource limits: what a task asks for, and what its start
//! reports applied.

use serde::{Deserialize, Serialize};

/// Resource limits of a worker (an addition to v1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory of the worker's process tree, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rss_mib: Option<u64>,
    /// CPU seconds of each process (RLIMIT_CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s: Option<u64>,
    /// Scheduling niceness, 0 to 19.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nice: Option<i32>,
}
