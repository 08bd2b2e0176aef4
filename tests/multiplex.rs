//! One ssh connection per host for a run, against an sshd of this test
//! file's own (its log counts the connections that reach it): tasks share
//! it, and it is closed when the run ends, when it is interrupted, and —
//! for a run that was killed — by the next run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use nix::sys::signal::Signal;

use crate::sshd::sshd_of_its_own;
use crate::util::*;

/// This file's sshd: its ssh_config. Its tests take turns (a lock), each
/// counting the connections its own run made.
fn own_sshd() -> Option<(&'static Path, std::sync::MutexGuard<'static, ()>)> {
    static SSHD: OnceLock<Option<PathBuf>> = OnceLock::new();
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let config = SSHD
        .get_or_init(|| sshd_of_its_own("multiplex"))
        .as_deref()?;
    Some((config, TURN.lock().unwrap_or_else(|e| e.into_inner())))
}

/// Connections the sshd has accepted so far.
fn connections(config: &Path) -> usize {
    std::fs::read_to_string(config.with_file_name("sshd.log"))
        .unwrap_or_default()
        .matches("Accepted publickey")
        .count()
}

fn plan_of(n: usize, argv: &str) -> Vec<u8> {
    (0..n)
        .map(|i| {
            format!("{{\"type\":\"task\",\"worker\":\"t{i}\",\"seq\":0,\"ts\":1,\"id\":\"t{i}\",\"argv\":{argv}}}\n")
        })
        .collect::<String>()
        .into_bytes()
}

/// sc-spawn reaching hosts with `ssh -F config`, itself there too.
fn sc_spawn_via(config: &Path) -> Command {
    let mut command = sc_spawn();
    command
        .arg("--ssh")
        .arg(format!("ssh -F {}", config.display()))
        .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")]);
    command
}

fn sc_spawn_on(config: &Path, hosts: &str) -> Command {
    let mut command = sc_spawn_via(config);
    command.args(["--hosts", hosts]);
    command
}

/// How many ssh masters of run `pid` still run.
fn masters_of(pid: u32) -> usize {
    master_pids(pid).len()
}

/// Run `command` over `plan` to its end: sc-spawn's pid (to look for its
/// masters after it) and its stream. It must succeed.
fn run_to_end(command: &mut Command, plan: &[u8]) -> (u32, Captured) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), plan).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(wait_with_deadline(&mut child).success());
    (pid, Captured::parse(&out))
}

#[test]
fn the_tasks_on_a_host_share_one_connection_closed_when_the_run_ends() {
    let Some((config, _turn)) = own_sshd() else {
        return;
    };
    let before = connections(config);
    let (pid, run) = run_to_end(
        &mut sc_spawn_on(config, "4/lab"),
        &plan_of(8, r#"["true"]"#),
    );
    assert_eq!(run.exits().len(), 8);
    assert_eq!(
        connections(config) - before,
        1,
        "eight tasks, four at once, one connection (its master, opened first)"
    );
    assert_eq!(masters_of(pid), 0, "the master is gone with the run");
    assert!(
        !sc_capture::private::runs_path()
            .join(format!("ssh-{pid}"))
            .exists(),
        "its folder too"
    );
    // And without: a connection per task.
    let before = connections(config);
    let ran = run_bounded(
        sc_spawn_on(config, "1/lab").arg("--no-multiplex"),
        plan_of(3, r#"["true"]"#),
    );
    assert!(ran.status.success());
    assert_eq!(connections(config) - before, 3);
}

/// Hosts named only by the plan's lines (not --hosts): the first burst of
/// tasks on a host waits for its one master rather than each making a
/// connection of its own. `lab` and `lab2` are two names of one host (one
/// address, port and user): one connection, and no master of the run left
/// after it (a second master for the same socket used to stay on as a
/// plain connection nobody closed).
#[test]
fn tasks_on_a_host_first_named_by_the_plan_share_one_connection() {
    let Some((config, _turn)) = own_sshd() else {
        return;
    };
    let before = connections(config);
    let plan: String = (0..6)
        .map(|i| {
            let host = if i % 2 == 0 { "lab" } else { "lab2" };
            format!(
                "{{\"type\":\"task\",\"worker\":\"t{i}\",\"seq\":0,\"ts\":1,\"id\":\"t{i}\",\"host\":\"{host}\",\"argv\":[\"echo\",\"{i}\"]}}\n"
            )
        })
        .collect();
    let (pid, run) = run_to_end(sc_spawn_via(config).args(["-j", "6"]), plan.as_bytes());
    assert_eq!(run.exits().len(), 6);
    assert!(run.exits().iter().all(|(_, e)| e.code == Some(0)));
    assert_eq!(
        connections(config) - before,
        1,
        "six tasks at once on two names of one host: one connection"
    );
    assert_eq!(masters_of(pid), 0, "no master of the run is left");
}

/// The same with the two names up front (`--hosts`): both masters are
/// opened side by side, yet one connection, and nothing left.
#[test]
fn two_names_of_one_host_up_front_are_one_connection_closed_at_the_end() {
    let Some((config, _turn)) = own_sshd() else {
        return;
    };
    let before = connections(config);
    let (pid, run) = run_to_end(
        &mut sc_spawn_on(config, "2/lab,2/lab2"),
        &plan_of(4, r#"["true"]"#),
    );
    assert_eq!(run.exits().len(), 4);
    assert_eq!(connections(config) - before, 1);
    assert_eq!(masters_of(pid), 0, "no master of the run is left");
}

/// A host whose own ssh configuration multiplexes is left to it: its
/// tasks (one at a time: the user's `auto` masters would race as ssh's
/// do) share the user's master, in the user's socket, which outlives the
/// run as the user's ControlPersist says.
#[test]
fn a_users_own_multiplexing_is_left_to_it() {
    left_to_the_user("mux-users-own", &["--hosts", "1/lab"], None);
}

/// The same for a host first named by a plan line: its configuration is
/// learnt when its first task is placed, before that task's ssh runs.
#[test]
fn a_users_own_multiplexing_is_left_to_it_for_a_host_named_by_a_plan_line() {
    left_to_the_user("mux-users-own-line", &["-j", "1"], Some("lab"));
}

/// Three tasks run with `args` (on `host`, when a plan line names it) under
/// an ssh config that multiplexes itself: one connection, the user's.
fn left_to_the_user(name: &str, args: &[&str], host: Option<&str>) {
    let Some((config, _turn)) = own_sshd() else {
        return;
    };
    let dir = temp_dir(name);
    let users = dir.join("ssh_config");
    let own = format!(
        "{}\nHost lab lab2\n  ControlMaster auto\n  ControlPath {}/u-%C\n  ControlPersist 30\n",
        std::fs::read_to_string(config).unwrap(),
        dir.display()
    );
    std::fs::write(&users, own).unwrap();
    let plan = match host {
        Some(host) => plan_of(3, r#"["true"]"#)
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                let mut task: serde_json::Value = serde_json::from_slice(line).unwrap();
                task["host"] = host.into();
                format!("{task}\n")
            })
            .collect::<String>()
            .into_bytes(),
        None => plan_of(3, r#"["true"]"#),
    };
    let before = connections(config);
    let (_, run) = run_to_end(sc_spawn_via(&users).args(args), &plan);
    assert_eq!(run.exits().len(), 3);
    assert_eq!(connections(config) - before, 1, "the user's one master");
    let sockets: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("u-"))
        .collect();
    assert_eq!(
        sockets.len(),
        1,
        "the user's socket, still there: {sockets:?}"
    );
    let _ = Command::new("ssh")
        .arg("-F")
        .arg(&users)
        .args(["-O", "exit", "lab"])
        .stderr(Stdio::null())
        .status();
}

/// A run with one long task on the host, followed until it started there.
fn run_holding_the_host(
    config: &Path,
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = sc_spawn_on(config, "1/lab")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(
        &mut stdin,
        &plan_of(1, r#"["sh","-c","echo up; exec sleep 120"]"#),
    )
    .unwrap();
    drop(stdin);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("up\\n") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the run ended first");
    }
    (child, out)
}

#[test]
fn an_interrupted_run_closes_its_connection_and_a_killed_one_is_cleaned_up_by_the_next() {
    let Some((config, _turn)) = own_sshd() else {
        return;
    };
    // Ctrl-C: the worker ended there, the master closed here.
    let (mut child, mut out) = run_holding_the_host(config);
    let pid = child.id();
    assert_eq!(masters_of(pid), 1, "the run's master, while it runs");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(
        wait_with_deadline(&mut child).code(),
        Some(130),
        "a plan cut short by Ctrl-C"
    );
    assert_eq!(masters_of(pid), 0, "no master left after Ctrl-C");

    // SIGKILL: nothing of sc-spawn runs to close it; the next run does.
    let (mut child, _out) = run_holding_the_host(config);
    let killed = child.id();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(killed as i32), Signal::SIGKILL).unwrap();
    let _ = child.wait();
    assert_eq!(masters_of(killed), 1, "left behind by the killed run");
    let next = run_bounded(&mut sc_spawn_on(config, "1/lab"), plan_of(1, r#"["true"]"#));
    assert!(next.status.success());
    assert_eq!(masters_of(killed), 0, "the next run closed it");
    assert!(
        !sc_capture::private::runs_path()
            .join(format!("ssh-{killed}"))
            .exists()
    );
}

/// The pids of run `pid`'s masters.
fn master_pids(pid: u32) -> Vec<i32> {
    let folder = format!("/ssh-{pid}/");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|cmd| {
                let cmd = String::from_utf8_lossy(&cmd);
                // Made by a task's ssh (`[mux]`), or opened up front.
                cmd.contains(&folder)
                    && (cmd.contains("[mux]") || cmd.contains("ControlMaster=yes"))
            })
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

#[test]
fn a_master_that_dies_is_replaced_and_the_stream_stays_whole() {
    let Some((config, _turn)) = own_sshd() else {
        return;
    };
    let dir = temp_dir("mux-dead-master");
    let go = dir.join("go");
    let script = format!(
        "echo before; while [ ! -e '{}' ]; do sleep 0.05; done; echo after; exit 4",
        go.display()
    );
    let mut live = Live::start_with(
        sc_spawn_via(config)
            .args(["--host", "lab", "--reconnect", "2"])
            .args(["--id", "far", "--", "sh", "-c", &script]),
    );
    live.until(|e| output(e).is_some_and(|(_, p)| p.as_bytes() == b"before\n"));
    // The link drops: its master dies, and every session on it.
    let masters = master_pids(live.child.id());
    assert_eq!(masters.len(), 1, "{masters:?}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(masters[0]), Signal::SIGKILL).unwrap();
    live.until(|e| e.type_name() == "error");
    std::fs::write(&go, "").unwrap();
    let pid = live.child.id();
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(4));
    assert_eq!(run.bytes(sc_events::Stream::Stdout), b"before\nafter\n");
    assert_eq!(run.of_type("start").len(), 1);
    run.check_contract();
    assert_eq!(masters_of(pid), 0, "the new master closed with the run");
}

/// A plan whose tasks all run here makes no ssh state at all: while it
/// runs, its private runs folder holds no connection folder (only what a
/// plan serves: its control socket).
#[test]
fn a_local_plan_makes_no_ssh_state() {
    let runtime = temp_dir("no-ssh-state");
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let plan = br#"{"type":"task","id":"look","argv":["sh","-c","ls -a \"$XDG_RUNTIME_DIR/sc\""]}
"#;
    let ran = run_bounded(sc_spawn().env("XDG_RUNTIME_DIR", &runtime), plan.to_vec());
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    let listed = String::from_utf8_lossy(&run.bytes(sc_events::Stream::Stdout)).into_owned();
    assert!(
        listed.contains("run-"),
        "the plan's control socket is there: {listed}"
    );
    assert!(!listed.contains("ssh-"), "no connection folder: {listed}");
}
