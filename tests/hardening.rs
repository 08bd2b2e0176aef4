//! The promises at scale and under load: long and layered plans,
//! low descriptor limits, slow readers, floods, shared
//! stdout, terminals, nested streams with holes, and git that is slow.
//! Each reproduces a reported failure of an earlier build.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use sc_events::{Body, Event, Stream, Task, to_line};

use crate::util::*;

fn task(id: &str, argv: &[&str], deps: &[String]) -> Vec<u8> {
    let task = Task {
        id: id.into(),
        argv: Some(argv.iter().map(|a| a.to_string()).collect()),
        depends_on: deps.to_vec(),
        ..Task::default()
    };
    to_line(&Event::new(id, 0, 1.0, task))
}

fn sh_task(id: &str, script: &str, deps: &[String]) -> Vec<u8> {
    task(id, &["sh", "-c", script], deps)
}

/// Run `sc-spawn ARGS` on `plan` under `ulimit -n LIMIT` (when given),
/// bounded by PATIENCE: a hang fails the test instead of stalling it.
pub(crate) fn run_plan(
    limit: Option<u32>,
    args: &[&str],
    plan: Vec<u8>,
) -> (Captured, i32, String) {
    let mut command = match limit {
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(env!("CARGO_BIN_EXE_sc-spawn"));
            c
        }
        None => sc_spawn(),
    };
    let ran = run_bounded(command.args(args), plan);
    assert!(
        !ran.stderr.contains("panicked"),
        "sc-spawn panicked: {}",
        ran.stderr
    );
    let stream = Captured::parse(&ran.stdout);
    (stream, ran.status.code().unwrap_or(-1), ran.stderr)
}

pub(crate) fn texts_of(run: &Captured, worker: &str) -> String {
    run.events
        .iter()
        .filter(|e| e.worker == worker)
        .filter_map(|e| output(e).map(|(_, p)| String::from_utf8_lossy(p.as_bytes()).into_owned()))
        .collect()
}

/// Reproduced: two descriptors leaked per finished worker (812 open after
/// 400 tasks).
#[test]
fn finished_workers_give_their_descriptors_back() {
    let mut plan = Vec::new();
    let ids: Vec<String> = (0..300).map(|i| format!("t{i}")).collect();
    for id in &ids {
        plan.extend(task(id, &["true"], &[]));
    }
    // Runs after all 300 (a fan-in): counts sc-spawn's open descriptors.
    plan.extend(sh_task("count", "ls /proc/$PPID/fd | wc -l", &ids));
    let (run, code, _) = run_plan(None, &["-j", "8"], plan);
    assert_eq!(code, 0);
    let open: usize = texts_of(&run, "count").trim().parse().unwrap();
    assert!(
        open < 40,
        "{open} descriptors open after 300 finished workers"
    );
}

/// Reproduced: under `ulimit -n 1024` a plan of 2,000 failed from task ~550
/// on with `Too many open files`, then hung for good.
#[test]
fn two_thousand_tasks_run_under_a_low_descriptor_limit() {
    let mut plan = Vec::new();
    for i in 0..2000 {
        plan.extend(task(&format!("t{i}"), &["echo", &i.to_string()], &[]));
    }
    let (run, code, stderr) = run_plan(Some(256), &["-j", "8"], plan);
    assert_eq!(code, 0, "{stderr}");
    let exits = run.exits();
    assert_eq!(exits.len(), 2000);
    assert!(exits.iter().all(|(_, e)| e.code == Some(0)));
    assert_eq!(texts_of(&run, "t1999"), "1999\n");
    assert!(run.of_type("error").is_empty());
}

/// More at once than there are descriptors for: the plan runs at the
/// concurrency the limit allows, and says so once, instead of failing tasks.
#[test]
fn running_out_of_descriptors_lowers_concurrency_and_loses_no_task() {
    let mut plan = Vec::new();
    for i in 0..60 {
        plan.extend(task(&format!("t{i}"), &["sleep", "0.2"], &[]));
    }
    let (run, code, stderr) = run_plan(Some(48), &["-j", "60"], plan);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(run.exits().len(), 60);
    assert!(run.of_type("error").is_empty());
    assert_eq!(
        stderr.matches("out of file descriptors").count(),
        1,
        "said once: {stderr}"
    );
}

/// `layers` layers of 3 tasks running `argv`, each task depending on the
/// whole layer before it: 3^layers paths through the plan.
fn layered(layers: usize, argv: &[&str]) -> Vec<u8> {
    let mut plan = Vec::new();
    for layer in 0..layers {
        for k in 0..3 {
            let deps: Vec<String> = if layer == 0 {
                Vec::new()
            } else {
                (0..3).map(|j| format!("l{}k{j}", layer - 1)).collect()
            };
            plan.extend(task(&format!("l{layer}k{k}"), argv, &deps));
        }
    }
    plan
}

/// Reproduced: 20 layers of 3, each task depending on the whole layer
/// before, took 160 s before anything ran, deaf to signals meanwhile.
#[test]
fn layered_chained_and_fanned_in_plans_start_at_once() {
    let mut plan = layered(30, &["true"]);
    for i in 0..1000 {
        let deps = if i == 0 {
            Vec::new()
        } else {
            vec![format!("c{}", i - 1)]
        };
        plan.extend(task(&format!("c{i}"), &["true"], &deps));
    }
    let wide: Vec<String> = (0..200).map(|i| format!("w{i}")).collect();
    for id in &wide {
        plan.extend(task(id, &["true"], &[]));
    }
    plan.extend(task("fan-in", &["echo", "all in"], &wide));
    let (run, code, _) = run_plan(None, &["-j", "8"], plan);
    assert_eq!(code, 0);
    assert_eq!(run.exits().len(), 90 + 1000 + 201);
    assert_eq!(texts_of(&run, "fan-in"), "all in\n");
}

/// The plan's shape never makes sc deaf: SIGTERM is served at once while
/// a deep plan is read and run.
#[test]
fn a_signal_is_served_during_a_deep_plan() {
    let plan = layered(40, &["sleep", "30"]);
    let mut live = Live::start_fed(sc_spawn().args(["-j", "3"]), &plan);
    live.until(|e| e.type_name() == "start");
    live.signal(Signal::SIGTERM);
    let (run, _) = live.finish();
    let skipped = run.of_type("skip").len();
    assert_eq!(skipped, 117, "every task not started is skipped");
}

/// Reported by review: the drain timer ran while sc itself had stopped
/// reading because its own reader was slow, so a grandchild's last bytes
/// were cut off and called leaked.
#[test]
fn a_slow_reader_costs_no_bytes_of_a_draining_worker() {
    let size = 4_000_000;
    let mut child = sc_spawn()
        .args(["--drain-ms", "1000", "--", "sh", "-c"])
        .arg(format!("(head -c {size} /dev/zero | tr '\\0' x) & exit 0"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // The reader is slow: it reads nothing for three drain periods. (This
    // is the scenario, not a wait for something to happen.)
    std::thread::sleep(Duration::from_secs(3));
    let mut out = Vec::new();
    stdout.read_to_end(&mut out).unwrap();
    wait_with_deadline(&mut child);
    let run = Captured::parse(&out);
    let exit = run.exit();
    assert_eq!(exit.bytes, size);
    assert!(!exit.leaked, "{exit:?}");
    assert_eq!(run.bytes(Stream::Stdout).len() as u64, size);
}

/// Reported by review: a `return` in the read loop let a flooding stdout
/// starve stderr for as long as the flood lasted.
#[test]
fn stderr_is_read_while_stdout_floods() {
    let line = "x".repeat(1000);
    let mut live = Live::start(&[
        "--",
        "sh",
        "-c",
        &format!("echo marker >&2; exec yes {line}"),
    ]);
    let mut flood = 0;
    loop {
        let event = live.next().expect("stream");
        match output(&event) {
            Some((Stream::Stderr, _)) => break,
            Some(_) => flood += 1,
            None => {}
        }
        assert!(
            flood < 20_000,
            "stderr not read after {flood} stdout events"
        );
    }
    live.signal(Signal::SIGTERM);
    let (run, _) = live.finish();
    assert_eq!(run.bytes(Stream::Stderr), b"marker\n");
}

/// Reported by review: O_NONBLOCK was set on the stdout sc-spawn shares
/// with other processes, who then saw EAGAIN.
#[test]
fn a_shared_stdout_is_left_blocking() {
    // The worker looks at its parent's fd 1 (sc-spawn's stdout, a pipe it
    // shares with whoever else writes there) while sc-spawn runs.
    let (run, _) = capture(&["--", "sh", "-c", "grep flags /proc/$PPID/fdinfo/1"]);
    let flags = texts_of(&run, "sh");
    let octal = flags.trim().trim_start_matches("flags:").trim();
    let flags = u32::from_str_radix(octal, 8).unwrap();
    assert_eq!(flags & libc::O_NONBLOCK as u32, 0, "{octal}");
}

/// A nested stream through `--kind sc` in single mode is nested, as in
/// plan mode; a hole in it is said.
#[test]
fn kind_sc_nests_and_a_hole_in_the_nested_stream_is_said() {
    let (run, status) = capture(&[
        "--kind",
        "sc",
        "--id",
        "outer",
        "--",
        env!("CARGO_BIN_EXE_sc-spawn"),
        "--",
        "echo",
        "inside",
    ]);
    assert!(status.success());
    assert_eq!(texts_of(&run, "outer/echo"), "inside\n");

    let inner = [
        start_event("w", 0, 1.0, &["x"]),
        output_line("w", 1, "a\n"),
        output_line("w", 4, "b\n"),
        output_line("w", 5, "c\n"),
        exit_event("w", 6, 2.0, Some(0), None, 1000, 6),
    ]
    .concat();
    let file = temp_file("holey.ndjson", &inner);
    let (run, _) = capture(&[
        "--kind",
        "sc",
        "--id",
        "outer",
        "--",
        "cat",
        file.to_str().unwrap(),
    ]);
    let errors: Vec<&Event> = run
        .of_type("error")
        .into_iter()
        .filter(|e| e.worker == "outer/w")
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", run.events);
    match &errors[0].body {
        Body::Error(e) => assert!(e.message.contains("events 2 to 3"), "{}", e.message),
        _ => unreachable!(),
    }
    assert_eq!(texts_of(&run, "outer/w"), "a\nb\nc\n");
}

/// sc-spawn on a terminal: run `script` in a pseudo-terminal of its own,
/// with the stream on a pipe; returns the stream and what the terminal got.
fn on_a_terminal(args: &[&str], typed: &[u8]) -> Captured {
    let (mut master, slave) = pty(24, 80);
    let mut command = sc_spawn();
    command
        .args(args)
        .stdin(slave.try_clone().unwrap())
        .stdout(Stdio::piped())
        .stderr(slave);
    on_its_terminal(&mut command);
    let mut child = command.spawn().unwrap();
    master.write_all(typed).unwrap();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = master.read_to_end(&mut sink);
    });
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    // Bounded: a worker stopped on the terminal used to hang sc-spawn.
    wait_with_deadline(&mut child);
    Captured::parse(&reader.join().unwrap())
}

/// Reported by review: a worker reading the terminal was stopped by SIGTTIN
/// and sc-spawn hung. With --stdin it is the terminal's foreground job and
/// reads it; without, its stop is said and it is ended.
#[test]
fn a_worker_and_the_terminal() {
    let run = on_a_terminal(
        &["--stdin", "--", "sh", "-c", "read x; echo got $x"],
        b"hello\n",
    );
    assert_eq!(texts_of(&run, "sh"), "got hello\n");
    assert_eq!(run.exit().code, Some(0));

    let run = on_a_terminal(&["--", "sh", "-c", "read x </dev/tty; echo got $x"], b"");
    let errors = run.of_type("error");
    assert_eq!(errors.len(), 1, "{:?}", run.events);
    match &errors[0].body {
        Body::Error(e) => assert!(e.message.contains("SIGTTIN"), "{}", e.message),
        _ => unreachable!(),
    }
    assert_eq!(
        run.exit().ended_by.as_deref(),
        Some("stopped on the terminal")
    );
}

/// Reported by review: git ran inside the poll loop, so while a worktree
/// was committed nobody else's output came through. Here git's commit
/// blocks until another task's output has been seen downstream.
#[test]
fn git_does_not_hold_up_other_workers() {
    let dir = temp_dir("slow-git");
    let repo = dir.join("repo");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    crate::git::repo_with_one_commit(&repo, "README", "x\n");
    let gate = dir.join("gate");
    let committing = dir.join("committing");
    let real_git = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    // A git whose commit waits for the gate file: as slow as the test says.
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\" commit \"*) touch {c}; while [ ! -e {g} ]; do sleep 0.02; done;; esac\nexec {real} \"$@\"\n",
        c = committing.display(),
        g = gate.display(),
        real = real_git.trim()
    );
    std::fs::write(bin.join("git"), script).unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("git"))
        .status()
        .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let plan = [
        sh_task("writer", "echo change > file", &[]),
        sh_task(
            "talker",
            &format!(
                "while [ ! -e {} ]; do sleep 0.02; done; echo while-git-commits",
                committing.display()
            ),
            &[],
        ),
    ]
    .concat();
    let mut live = Live::start_fed(
        sc_spawn()
            .args(["--worktree", "-j", "2"])
            .current_dir(&repo)
            .env("PATH", &path),
        &plan,
    );
    let said = live.until(|e| e.worker == "talker" && e.type_name() == "output");
    assert_eq!(text(&said), "while-git-commits\n");
    std::fs::write(&gate, "").unwrap();
    let (run, status) = live.finish();
    assert!(status.success());
    let writer = run
        .exits()
        .into_iter()
        .find(|(w, _)| *w == "writer")
        .map(|(_, e)| e.clone())
        .unwrap();
    let worktree = writer.worktree.expect("worktree report");
    assert!(worktree.diff.contains("1 file changed"), "{worktree:?}");
}

/// Reported by review: the worker was reaped as soon as it exited, so
/// signals sc sent its group later (a grandchild still draining, its
/// kill) could reach a stranger that had been given the same id. The
/// worker's pid is now held (a zombie) until its `exit` is written.
#[test]
fn the_workers_pid_is_held_until_its_exit_is_written() {
    let dir = temp_dir("held-pid");
    let gate = dir.join("gate");
    // The grandchild holds the outputs until the gate file appears.
    let script = format!(
        "(while [ ! -e {} ]; do sleep 0.02; done) & exit 0",
        gate.display()
    );
    let mut live = Live::start(&["--drain-ms", "30000", "--", "sh", "-c", &script]);
    let pid = start_pid(&live.until(|e| e.type_name() == "start"));
    eventually("the worker has exited", || !alive(pid));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    assert!(
        state.starts_with('Z'),
        "pid {pid} reaped while its group may still be signalled: {stat:?}"
    );
    std::fs::write(&gate, "").unwrap();
    let (run, _) = live.finish();
    assert_eq!(run.exit().code, Some(0));
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "reaped once the exit is written"
    );
}

/// Whatever number of descriptors is left when sc-spawn starts, a plan
/// ends: it runs, or sc-spawn says clearly that it is out of descriptors.
/// Never a hang. (Reproduced: at the limit, sc-spawn hung for good.)
#[test]
fn at_every_descriptor_count_a_plan_ends_with_a_clear_word() {
    let plan = [
        task("a", &["echo", "a"], &[]),
        task("b", &["echo", "b"], &[]),
    ]
    .concat();
    let limit = 32;
    let mut said_clearly = 0;
    for held in 0..limit - 3 {
        let devnull = std::fs::File::open("/dev/null").unwrap();
        let null_fd = std::os::fd::AsRawFd::as_raw_fd(&devnull);
        let mut command = sc_spawn();
        // SAFETY: setrlimit and dup2 are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                let rl = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
                for fd in 3..3 + held as i32 {
                    libc::dup2(null_fd, fd);
                }
                Ok(())
            });
        }
        // sc-spawn may give up before reading its plan.
        let ran = run_bounded(&mut command, plan.clone());
        let (out, err, status) = (ran.stdout, ran.stderr, ran.status);
        assert!(!err.contains("panicked"), "{held} held: {err}");
        let run = Captured::parse(&out);
        match status.code() {
            Some(0) => assert_eq!(texts_of(&run, "b"), "b\n"),
            // Could not even set up (sc-spawn's own failure): said on
            // stderr.
            Some(125) => assert!(!err.is_empty(), "{held} held: nothing said"),
            Some(1) => {
                let said = run.of_type("error").iter().any(|e| match &e.body {
                    Body::Error(error) => error.message.contains("out of file descriptors"),
                    _ => false,
                });
                assert!(said, "{held} held: {:?}", run.events);
                said_clearly += 1;
            }
            other => panic!("{held} held: exit {other:?}: {err}"),
        }
    }
    assert!(
        said_clearly > 0,
        "no count left the plan short of descriptors"
    );
}

#[test]
fn leftover_groups_end_together_within_the_kill_grace() {
    // Four tasks each leave a process that ignores SIGTERM and holds none
    // of their outputs: at the end, all four groups get their one grace
    // together, then SIGKILL (they were waited for one by one, 5 s each).
    let dir = temp_dir("leftovers");
    let pids = dir.join("pids");
    let lines: Vec<String> = (0..4)
        .map(|n| {
            // The worker exits only once its leftover has said it ignores
            // SIGTERM (it gets one the moment the worker exits).
            let mine = dir.join(format!("pid{n}"));
            let script = format!(
                "sh -c 'trap \"\" TERM; echo $$ > {mine}; echo $$ >> {pids}; exec sleep 60' >/dev/null 2>&1 </dev/null & \
                 while [ ! -s {mine} ]; do sleep 0.01; done; exit 0",
                mine = mine.display(),
                pids = pids.display()
            );
            format!(
                r#"{{"type":"task","worker":"t{n}","seq":0,"ts":0,"id":"t{n}","argv":["sh","-c",{}]}}"#,
                serde_json::Value::from(script)
            )
        })
        .collect();
    let started = std::time::Instant::now();
    let (run, code, _) = run_plan(
        None,
        &["-j", "4", "--kill-grace", "1"],
        lines.join("\n").into_bytes(),
    );
    let took = started.elapsed();
    assert_eq!(code, 0);
    assert_eq!(run.exits().len(), 4);
    assert!(
        took < std::time::Duration::from_secs(6),
        "one grace of 1 s for all four, not 4 × 5 s: {took:?}"
    );
    let text = std::fs::read_to_string(&pids).unwrap();
    let left: Vec<u32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    assert_eq!(left.len(), 4);
    for pid in left {
        eventually("the leftover is gone", || !alive(pid));
    }
}
