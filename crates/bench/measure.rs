//! Run a command; report wall time, CPU time and peak RSS as JSON on stderr.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Instant;

pub fn main(args: &[String]) -> i32 {
    let Some(sep) = args.iter().position(|a| a == "--") else {
        eprintln!("usage: sc-bench measure -- CMD [ARGS...]");
        return 2;
    };
    let command = &args[sep + 1..];
    if command.is_empty() {
        eprintln!("usage: sc-bench measure -- CMD [ARGS...]");
        return 2;
    }
    let started = Instant::now();
    let child = match Command::new(&command[0])
        .args(&command[1..])
        .process_group(0)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("sc-bench measure: {}: {e}", command[0]);
            return 2;
        }
    };
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we started.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as i32;
    // SAFETY: status and usage are valid for writes for the whole call.
    if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != pid {
        eprintln!("sc-bench measure: wait4 failed");
        return 2;
    }
    let wall = started.elapsed();
    let ms = |tv: libc::timeval| tv.tv_sec as f64 * 1000.0 + tv.tv_usec as f64 / 1000.0;
    eprintln!(
        "{{\"wall_ms\":{:.1},\"user_ms\":{:.1},\"sys_ms\":{:.1},\"max_rss_kib\":{}}}",
        wall.as_secs_f64() * 1000.0,
        ms(usage.ru_utime),
        ms(usage.ru_stime),
        usage.ru_maxrss
    );
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        1
    }
}
