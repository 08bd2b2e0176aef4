//! How a worker's end is told: the status sc-spawn reports (DESIGN.md),
//! which limit ended it, and the words of launch failures.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use sc_events::{EndedBy, Limits};

use crate::process::limits::{Applied, MemoryBy};
use crate::process::signals::name;

/// The status of a local worker: its code, 128+N for signal N, 124 for a
/// timeout, 127 when it could not be launched. An agent is judged by its
/// result: one that exits 0 without a successful result did not succeed
/// (1), and one ended for lingering after its result (`ended_by`: result
/// without exit) succeeded or failed as that result says.
pub fn status_code(
    status: Option<ExitStatus>,
    launch_failed: bool,
    ended_by: Option<&EndedBy>,
    verdict: Option<&str>,
) -> i32 {
    if launch_failed {
        return 127;
    }
    match ended_by {
        Some(EndedBy::Timeout) => return 124,
        Some(EndedBy::ResultWithoutExit) => return i32::from(verdict != Some("ok")),
        _ => {}
    }
    let code = status.map_or(1, |status| {
        status
            .code()
            .or_else(|| status.signal().map(|n| 128 + n))
            .unwrap_or(1)
    });
    if code == 0 && verdict.is_some_and(|r| r != "ok") {
        return 1;
    }
    code
}

/// Which limit ended the worker, if one did. CPU: the kernel's SIGXCPU, or
/// its SIGKILL at the hard limit. Memory: the cgroup's OOM kill; with
/// RLIMIT_DATA, a death by SIGABRT, SIGSEGV or SIGBUS or a SIGKILL sc did
/// not send (a failed allocation ends most programs so).
pub fn limit_hit(
    limits: Option<&Limits>,
    applied: &Applied,
    status: Option<ExitStatus>,
) -> Option<EndedBy> {
    let limits = limits?;
    let signal = status.and_then(|s| s.signal());
    if limits.cpu_s.is_some() && matches!(signal, Some(libc::SIGXCPU | libc::SIGKILL)) {
        return Some(EndedBy::CpuLimit);
    }
    match applied.memory_by? {
        MemoryBy::Cgroup => applied.oom_killed().then_some(EndedBy::MemoryLimit),
        MemoryBy::RlimitData => matches!(
            signal,
            Some(libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS | libc::SIGKILL)
        )
        .then_some(EndedBy::MemoryLimit),
    }
}

pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why `program` could not be launched, and what to do.
pub fn launch_error_message(program: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => format!(
            "cannot run `{program}`: command not found (check the name, or give its full path; PATH is searched)"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "cannot run `{program}`: permission denied (is it executable? `chmod +x {program}`)"
        ),
        _ if is_out_of_descriptors(e) => format!(
            "cannot run `{program}`: {e}: sc-spawn is out of file descriptors (each running worker \
             holds two); raise the limit with `ulimit -n`, or run fewer at once with -j"
        ),
        _ => format!("cannot run `{program}`: {e}"),
    }
}

/// The process (EMFILE) or the system (ENFILE) has no file descriptor left.
pub fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// A number in [0, 1) that differs from call to call and process to
/// process (std's hasher keys are random), for retry jitter.
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// An exit status as words.
pub fn describe(code: i32) -> String {
    match code {
        c if c > 128 => format!("exit {c}, {}", name(c - 128)),
        c => format!("exit {c}"),
    }
}

/// The first line of `text`, at most 200 characters of it.
pub fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(200) {
        Some((at, _)) => &line[..at],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(code: i32) -> Option<ExitStatus> {
        Some(ExitStatus::from_raw(code << 8))
    }

    fn killed(signal: i32) -> Option<ExitStatus> {
        Some(ExitStatus::from_raw(signal))
    }

    #[test]
    fn statuses_follow_the_design() {
        let timeout = Some(&EndedBy::Timeout);
        let lingered = Some(&EndedBy::ResultWithoutExit);
        assert_eq!(status_code(exited(0), false, None, None), 0);
        assert_eq!(status_code(exited(3), false, None, None), 3);
        assert_eq!(status_code(killed(libc::SIGTERM), false, None, None), 143);
        assert_eq!(
            status_code(killed(libc::SIGKILL), false, timeout, None),
            124
        );
        assert_eq!(status_code(None, true, None, None), 127);
        assert_eq!(status_code(exited(0), false, None, Some("missing")), 1);
        assert_eq!(status_code(exited(0), false, None, Some("ok")), 0);
        assert_eq!(status_code(exited(2), false, None, Some("error")), 2);
        let term = killed(libc::SIGTERM);
        assert_eq!(status_code(term, false, lingered, Some("ok")), 0);
        assert_eq!(status_code(term, false, lingered, Some("error")), 1);
    }

    #[test]
    fn a_cpu_limit_is_named_only_where_one_was_set() {
        let applied = Applied::default();
        let cpu = Limits {
            cpu_s: Some(1),
            ..Limits::default()
        };
        assert_eq!(
            limit_hit(Some(&cpu), &applied, killed(libc::SIGXCPU)),
            Some(EndedBy::CpuLimit)
        );
        assert_eq!(limit_hit(None, &applied, killed(libc::SIGXCPU)), None);
        assert_eq!(limit_hit(Some(&cpu), &applied, exited(1)), None);
    }

    #[test]
    fn words_for_ends() {
        assert_eq!(describe(137), "exit 137, SIGKILL");
        assert_eq!(describe(2), "exit 2");
        assert_eq!(first_line("one\ntwo"), "one");
        assert_eq!(first_line(&"é".repeat(300)).chars().count(), 200);
        assert!((0.0..1.0).contains(&jitter()));
    }
}
