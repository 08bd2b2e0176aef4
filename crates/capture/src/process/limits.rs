//! Resource limits of a worker, applied at launch: niceness, CPU seconds
//! (RLIMIT_CPU), and memory — its cgroup v2's `memory.max` where one can be
//! made (it counts the whole process tree and the kernel ends it on
//! excess), RLIMIT_DATA otherwise (per process: allocations beyond it
//! fail). The worker joins its cgroup here too, limits or none: what it
//! leaves behind is found there at its end.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use sc_events::Limits;

use crate::process::cgroup::Cgroup;

/// How the memory limit is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryBy {
    Cgroup,
    RlimitData,
}

impl MemoryBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryBy::Cgroup => "cgroup v2 memory.max",
            MemoryBy::RlimitData => "RLIMIT_DATA",
        }
    }
}

/// Limits set up for one launch, and the worker's cgroup.
#[derive(Debug, Default)]
pub struct Applied {
    pub memory_by: Option<MemoryBy>,
    /// The worker's cgroup: its OOM kills, and what it left behind.
    pub cgroup: Option<Cgroup>,
    /// The cgroup's `cgroup.procs`, open until the child has joined:
    /// [`Applied::launched`] closes it.
    procs: Option<OwnedFd>,
}

impl Applied {
    /// The kernel ended a process of the worker for its memory limit.
    pub fn oom_killed(&self) -> bool {
        self.cgroup.as_ref().is_some_and(Cgroup::oom_killed)
    }

    /// The child is started: the parent's part is done.
    pub fn launched(&mut self) {
        self.procs = None;
    }

    /// The worker has exited: what it left running in its cgroup (a
    /// daemon in a session of its own) is sent SIGTERM, and the cgroup
    /// handed over, to be ended for good after the grace.
    pub fn take_leftover(&mut self) -> Option<Cgroup> {
        let cgroup = self.cgroup.take_if(|c| c.is_populated())?;
        cgroup.signal(nix::sys::signal::Signal::SIGTERM);
        Some(cgroup)
    }

    /// Give the worker's cgroup back (call after the end).
    pub fn cleanup(&mut self) {
        if let Some(cgroup) = self.cgroup.take() {
            cgroup.give_back();
        }
    }
}

/// Arrange `limits` for the process `command` starts.
/// With `cgroup`, the process joins a cgroup of its own where one can be
/// made; with a memory limit it does regardless (the limit is held there).
pub fn apply(command: &mut Command, limits: Option<&Limits>, cgroup: bool) -> Applied {
    let default = Limits::default();
    let limits = limits.unwrap_or(&default);
    let mut applied = Applied::default();
    let mut data_bytes = None;
    let memory = limits
        .max_rss_mib
        .map(|mib| mib.saturating_mul(1024 * 1024));
    let taken = match memory {
        Some(bytes) => match Cgroup::take(Some(bytes)) {
            Some(taken) => {
                applied.memory_by = Some(MemoryBy::Cgroup);
                Some(taken)
            }
            None => {
                applied.memory_by = Some(MemoryBy::RlimitData);
                data_bytes = Some(bytes);
                cgroup.then(|| Cgroup::take(None)).flatten()
            }
        },
        None if cgroup => Cgroup::take(None),
        None => None,
    };
    if let Some((cgroup, procs)) = taken {
        applied.cgroup = Some(cgroup);
        applied.procs = Some(procs);
    }
    let nice = limits.nice.map(|n| n.clamp(0, 19));
    let cpu = limits.cpu_s;
    let procs_fd = applied.procs.as_ref().map(AsRawFd::as_raw_fd);
    // Nothing to do in the child: no closure, so that the worker can be
    // started with posix_spawn (vfork) rather than fork, which copies
    // sc-spawn's page tables (2,000 trivial tasks took 1.6× as long).
    if procs_fd.is_none() && nice.is_none() && cpu.is_none() && data_bytes.is_none() {
        return applied;
    }
    // SAFETY: only async-signal-safe system calls on plain values and a
    // descriptor the parent opened; nothing is allocated after the fork.
    unsafe {
        command.pre_exec(move || {
            if let Some(fd) = procs_fd {
                // "0" moves the writing process itself into the cgroup.
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(nice) = nice
                && libc::setpriority(libc::PRIO_PROCESS, 0, nice) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if let Some(cpu) = cpu {
                // SIGXCPU at the limit; SIGKILL five seconds later for a
                // process that ignores it.
                let limit = libc::rlimit {
                    rlim_cur: cpu,
                    rlim_max: cpu.saturating_add(5),
                };
                if libc::setrlimit(libc::RLIMIT_CPU, &limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(bytes) = data_bytes {
                let limit = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(limits: Limits, script: &str) -> (std::process::Output, Applied) {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        let mut applied = apply(&mut command, Some(&limits), true);
        let out = command.output().unwrap();
        applied.launched();
        (out, applied)
    }

    #[test]
    fn nice_and_cpu_limits_reach_the_process() {
        let limits = Limits {
            nice: Some(7),
            cpu_s: Some(30),
            max_rss_mib: None,
        };
        let (out, applied) = run_with(limits, "ps -o ni= -p $$; ulimit -t");
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines().map(str::trim);
        assert_eq!(lines.next(), Some("7"));
        assert_eq!(lines.next(), Some("30"));
        assert_eq!(applied.memory_by, None);
    }

    #[test]
    fn a_memory_limit_holds() {
        let limits = Limits {
            max_rss_mib: Some(64),
            ..Limits::default()
        };
        // 256 MiB in one allocation: refused under either mechanism.
        let (out, mut applied) = run_with(
            limits,
            "python3 -c 'b = bytearray(256 * 1024 * 1024); print(len(b))'",
        );
        assert!(
            !out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(applied.memory_by.is_some());
        applied.cleanup();
    }
}
