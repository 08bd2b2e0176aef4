//! Waiting for processes that are not our children to be gone: nothing
//! would tell of their end, so each is watched through a pidfd.

use std::time::Instant;

/// Wait until these processes have all gone, or until `until`. They are
/// not our children, so nothing would tell of their end: each is watched
/// through a pidfd, and one blocking poll(2) waits on them all, without a
/// polling loop.
pub fn wait_gone(pids: &[i32], until: Instant) {
    let mut watched: Vec<std::os::fd::OwnedFd> = pids.iter().filter_map(|&p| pidfd(p)).collect();
    loop {
        let now = Instant::now();
        if watched.is_empty() || now >= until {
            break;
        }
        let wait = until - now;
        let mut fds: Vec<nix::poll::PollFd<'_>> = watched
            .iter()
            .map(|fd| {
                nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(fd), nix::poll::PollFlags::POLLIN)
            })
            .collect();
        let ms = u16::try_from(wait.as_millis().max(1)).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => break,
        }
        // A pidfd that polls readable (or hung up) is a process gone.
        let gone: Vec<bool> = fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut gone = gone.into_iter();
        watched.retain(|_| !gone.next().unwrap_or(false));
    }
}

/// A descriptor that becomes readable when process `pid` exits.
fn pidfd(pid: i32) -> Option<std::os::fd::OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // (or -1); nothing else is touched.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: the descriptor was just made and is owned by nobody else.
    Some(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}
