//! Answers bound to the request they were given for: ask ids unique within
//! a run (across attempts), a late answer to an ask that is gone refused
//! and said, policy commands with a deadline and a process group of their
//! own, and a broken policy failing closed.

use std::path::{Path, PathBuf};

use crate::util::*;

/// A fake Claude Code under `--ask`: each attempt (counted in `dir/n`)
/// asks to run `commands[attempt]` under the same request id, `r1`. With
/// more than one command the first attempt exits 1 at once, without
/// waiting for its answer (a retry follows); an attempt that waits runs
/// the command's stand-in (a marker file named after the attempt) only
/// when allowed.
fn fake_claude_asking(dir: &Path, commands: &[&str]) -> PathBuf {
    fake_claude(dir, commands, commands.len() > 1, 0)
}

/// The fake Claude Code of these tests: attempt N asks to run
/// `commands[N-1]`; with `exit_first` attempt 1 exits 1 without waiting
/// for its answer; attempts before `fail_until` exit 1 after theirs.
pub(crate) fn fake_claude(
    dir: &Path,
    commands: &[&str],
    exit_first: bool,
    fail_until: u32,
) -> PathBuf {
    let cases: String = commands
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}) cmd='{c}';;\n", i + 1))
        .collect();
    let path = dir.join("claude");
    executable(
        &path,
        &format!(
            "#!/bin/sh\n\
             n=$(cat '{dir}/n' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{dir}/n'\n\
             case $n in\n{cases}esac\n\
             read prompt\n\
             echo '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\",\"model\":\"claude-sonnet-4-5\"}}'\n\
             printf '%s\\n' \"{{\\\"type\\\":\\\"control_request\\\",\\\"request_id\\\":\\\"r1\\\",\\\"request\\\":{{\\\"subtype\\\":\\\"can_use_tool\\\",\\\"tool_name\\\":\\\"Bash\\\",\\\"input\\\":{{\\\"command\\\":\\\"$cmd\\\"}}}}}}\"\n\
             [ $n = 1 ] && [ {exit_first} = true ] && exit 1\n\
             read answer\n\
             case \"$answer\" in *'\"behavior\":\"allow\"'*) touch '{dir}'/ran-$n;; esac\n\
             [ $n -lt {fail_until} ] && exit 1\n\
             echo '{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done\",\"session_id\":\"s\",\"total_cost_usd\":0.01}}'\n\
             while read line; do :; done\n",
            dir = dir.display()
        ),
    );
    path
}

/// The pid a policy wrote to `file`, once it did.
fn policy_pid(file: &Path) -> Option<i32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

fn sc_spawn_fake(fake: &Path, args: &[&str]) -> std::process::Command {
    let mut command = sc_spawn();
    command
        .args(["--kind", "claude-code", "--id", "w", "--prompt", "go"])
        .args(["--heartbeat", "0", "--kill-grace", "0.5", "--ask"])
        .args(["--retries", "1", "--retry-delay", "0.05"])
        .args(args)
        .env("SC_CLAUDE", fake);
    command
}

#[test]
fn a_policy_answer_for_an_earlier_attempt_never_reaches_a_later_ask() {
    let dir = temp_dir("stale-policy");
    let fake = fake_claude_asking(&dir, &["cat README", "rm -rf HOME"]);
    // Allows `cat README` only, and takes its time: its answer to attempt
    // 1 comes while attempt 2 waits on its own ask.
    let policy = "read ask; sleep 1; case \"$ask\" in *'cat README'*) echo allow;; *) sleep 4; echo deny no;; esac";
    let ran = run_bounded(
        &mut sc_spawn_fake(&fake, &["--ask-cmd", policy, "--ask-timeout", "20"]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    let (asks, answers) = run.asks_and_answers();
    assert_eq!(asks.len(), 2, "{:?}", run.events);
    assert_ne!(
        asks[0].ask, asks[1].ask,
        "each ask its own id within the run"
    );
    assert!(
        !dir.join("ran-2").exists(),
        "the allow given for `cat README` ran `rm -rf HOME`: {:?}",
        run.events
    );
    let second: Vec<_> = answers.iter().filter(|a| a.ask == asks[1].ask).collect();
    assert_eq!(second.len(), 1, "{answers:?}");
    assert_eq!(
        (second[0].decision.as_str(), second[0].by.as_str()),
        ("deny", "command")
    );
    // Attempt 1's ask was answered as its attempt ended; its policy was
    // ended with it, so no answer of it is left to come late.
    assert!(
        answers
            .iter()
            .any(|a| a.ask == asks[0].ask && a.by == "agent"),
        "{answers:?}"
    );
    assert_view_checks(&ran.stdout);
}

#[test]
fn a_policy_that_hangs_is_ended_with_its_ask_and_holds_nothing_up() {
    let dir = temp_dir("hung-policy");
    let fake = fake_claude_asking(&dir, &["cat README"]);
    let pid_file = dir.join("policy.pid");
    // It starts a grandchild too, in its group: both go.
    let policy = format!(
        "echo $$ > '{}'; sleep 300 & exec sleep 300",
        pid_file.display()
    );
    let started = std::time::Instant::now();
    let ran = run_bounded(
        &mut sc_spawn_fake(&fake, &["--ask-cmd", &policy, "--ask-timeout", "1"]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    let (_, answers) = run.asks_and_answers();
    assert_eq!(answers.len(), 1, "{:?}", run.events);
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("deny", "timeout")
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let pid = policy_pid(&pid_file).expect("the policy ran");
    eventually("the policy's group is gone", || {
        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), None).is_err()
    });
    assert_view_checks(&ran.stdout);
}

#[test]
fn ctrl_c_ends_a_run_whose_policy_waits_for_ever() {
    let dir = temp_dir("policy-ctrl-c");
    let fake = fake_claude_asking(&dir, &["cat README"]);
    let pid_file = dir.join("policy.pid");
    let policy = format!("echo $$ > '{}'; exec sleep 300", pid_file.display());
    let mut live = Live::start_with(&mut sc_spawn_fake(
        &fake,
        &["--ask-cmd", &policy, "--ask-timeout", "0"],
    ));
    live.until(|e| matches!(e.body, sc_events::Body::Ask(_)));
    eventually("the policy runs", || policy_pid(&pid_file).is_some());
    live.signal(nix::sys::signal::Signal::SIGINT);
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(130), "{:?}", run.events);
    let (asks, answers) = run.asks_and_answers();
    assert_eq!((asks.len(), answers.len()), (1, 1), "every ask answered");
    let pid = policy_pid(&pid_file).unwrap();
    eventually("the policy's group is gone", || {
        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), None).is_err()
    });
}

#[test]
fn a_broken_policy_fails_closed_and_is_said_even_when_the_default_allows() {
    for (policy, why) in [
        ("/nonexistent/policy.sh", "failed"),
        ("echo allow; exit 3", "failed"),
        ("cat > /dev/null", "no decision"),
        ("echo maybe", "no answer to"),
    ] {
        let dir = temp_dir("broken-policy");
        let fake = fake_claude_asking(&dir, &["cat README"]);
        let ran = run_bounded(
            &mut sc_spawn_fake(
                &fake,
                &[
                    "--ask-cmd",
                    policy,
                    "--ask-timeout",
                    "30",
                    "--ask-default",
                    "allow",
                ],
            ),
            Vec::new(),
        );
        let run = Captured::parse(&ran.stdout);
        let (_, answers) = run.asks_and_answers();
        assert_eq!(answers.len(), 1, "{policy}: {:?}", run.events);
        assert_eq!(
            (answers[0].decision.as_str(), answers[0].by.as_str()),
            ("deny", "command"),
            "{policy}"
        );
        assert!(!dir.join("ran-1").exists(), "{policy}: denied, not run");
        let errors = run.errors();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("policy command") && e.contains(policy) && e.contains(why)),
            "{policy}: {errors:?}"
        );
        assert_view_checks(&ran.stdout);
    }
}

#[test]
fn what_a_policy_says_on_stderr_is_in_the_stream_not_on_the_terminal() {
    let dir = temp_dir("policy-stderr");
    let fake = fake_claude_asking(&dir, &["cat README"]);
    let policy = "echo 'policy: looked at it' >&2; echo allow";
    let ran = run_bounded(
        &mut sc_spawn_fake(&fake, &["--ask-cmd", policy]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    assert!(dir.join("ran-1").exists(), "allowed");
    assert!(
        run.errors()
            .iter()
            .any(|e| e.contains("policy: looked at it")),
        "{:?}",
        run.errors()
    );
    assert!(!ran.stderr.contains("looked at it"), "{}", ran.stderr);
}

/// A plan task that asks (`"ask": true`) in a run without `--ask` can be
/// answered: the run serves its control socket, and the ask names it.
#[test]
fn a_plan_tasks_ask_without_the_flag_can_be_answered() {
    let dir = temp_dir("plan-task-asks");
    let runtime = dir.join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    let fake = fake_claude_asking(&dir, &["cat README"]);
    let task = serde_json::json!({"type": "task", "worker": "w", "seq": 0, "ts": 1.0, "id": "w",
        "kind": "claude-code", "prompt": "go", "ask": true});
    let mut live = Live::start_fed(
        sc_spawn()
            .args(["--heartbeat", "0", "--ask-timeout", "60"])
            .env("SC_CLAUDE", &fake)
            .env("XDG_RUNTIME_DIR", &runtime),
        format!("{task}\n").as_bytes(),
    );
    let asked = live.until(|e| matches!(e.body, sc_events::Body::Ask(_)));
    let sc_events::Body::Ask(ask) = asked.body else {
        unreachable!()
    };
    assert!(ask.control.is_some(), "the ask names where to answer it");
    let answered = crate::control::sc_ctl(&runtime, &["answer", &ask.ask, "allow"]);
    assert!(
        answered.status.success(),
        "{}",
        String::from_utf8_lossy(&answered.stderr)
    );
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(0), "{:?}", run.events);
    assert!(dir.join("ran-1").exists(), "allowed by the person");
    let (_, answers) = run.asks_and_answers();
    assert_eq!(answers[0].by, "person");
}

/// A flag that would do nothing is a usage error that says what to add.
#[test]
fn flags_that_would_do_nothing_are_usage_errors() {
    for (args, says) in [
        (&["--ask-cmd", "echo allow", "--", "true"][..], "add --ask"),
        (&["--ask-timeout", "5", "--", "true"][..], "add --ask"),
        (&["--ask-default", "allow", "--", "true"][..], "add --ask"),
        (&["-j", "2", "--", "true"][..], "drop -j"),
        (&["--job-per-task", "--", "true"][..], "add --slurm"),
        (
            &[
                "--ask",
                "--ask-cmd",
                "./policy.sh",
                "--host",
                "lab",
                "--",
                "true",
            ][..],
            "absolute path",
        ),
    ] {
        let ran = run_bounded(sc_spawn().args(args), Vec::new());
        assert_eq!(ran.status.code(), Some(2), "{args:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(says), "{args:?}: {}", ran.stderr);
        assert!(ran.stdout.is_empty(), "{args:?}: nothing ran");
    }
    // Where they take effect, they are taken.
    let ran = run_bounded(
        sc_spawn().args(["--ask", "--ask-timeout", "5", "--", "true"]),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
}

/// A plan task placed on a host with a relative policy is refused (the
/// file would be another there), and says so; the rest of the plan runs.
#[test]
fn a_relative_policy_never_goes_to_a_host() {
    let task = |id: &str, host: Option<&str>| {
        let mut task = serde_json::json!({"type": "task", "worker": id, "seq": 0, "ts": 1.0,
            "id": id, "kind": "shell", "argv": ["true"]});
        if let Some(host) = host {
            task["host"] = host.into();
        }
        format!("{task}\n")
    };
    let ran = run_bounded(
        sc_spawn().args(["--ask", "--ask-cmd", "./policy.sh"]),
        (task("here", None) + &task("there", Some("sc-test-nohost.invalid"))).into_bytes(),
    );
    let run = Captured::parse(&ran.stdout);
    let exits = run.exits();
    assert!(exits.iter().any(|(w, e)| *w == "here" && e.code == Some(0)));
    assert!(
        run.errors()
            .iter()
            .any(|e| e.contains("./policy.sh") && e.contains("absolute path")),
        "{:?}",
        run.errors()
    );
    assert_view_checks(&ran.stdout);
}

/// A person's answer for an ask of an earlier attempt is refused, and
/// reaches nothing: the ask of the attempt that runs now has an id of its
/// own.
#[test]
fn a_persons_late_answer_for_an_earlier_attempt_is_refused() {
    let dir = temp_dir("stale-person");
    let runtime = dir.join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    let fake = fake_claude_asking(&dir, &["cat README", "rm -rf HOME"]);
    let mut live = Live::start_with(
        sc_spawn_fake(&fake, &["--ask-timeout", "60"]).env("XDG_RUNTIME_DIR", &runtime),
    );
    let ask_of = |event: sc_events::Event| match event.body {
        sc_events::Body::Ask(ask) => ask.ask,
        _ => unreachable!(),
    };
    let first = ask_of(live.until(|e| matches!(e.body, sc_events::Body::Ask(_))));
    let second = ask_of(live.until(|e| matches!(e.body, sc_events::Body::Ask(_))));
    assert_ne!(first, second);
    let late = crate::control::sc_ctl(&runtime, &["answer", &first, "allow"]);
    assert_eq!(late.status.code(), Some(1), "refused");
    assert!(
        String::from_utf8_lossy(&late.stderr).contains("no open ask"),
        "{}",
        String::from_utf8_lossy(&late.stderr)
    );
    let now = crate::control::sc_ctl(&runtime, &["answer", &second, "deny"]);
    assert!(now.status.success());
    let (run, _) = live.finish();
    assert!(
        !dir.join("ran-2").exists(),
        "the late allow reached nothing"
    );
    let (_, answers) = run.asks_and_answers();
    let second_answer = answers.iter().find(|a| a.ask == second).unwrap();
    assert_eq!(
        (second_answer.decision.as_str(), second_answer.by.as_str()),
        ("deny", "person")
    );
}

/// An ask the agent withdraws ends its policy command at once, as any
/// other answer does: the fake agent goes on only once the policy is gone.
#[test]
fn a_withdrawn_ask_ends_its_policy() {
    let dir = temp_dir("withdrawn-policy");
    let pid_file = dir.join("policy.pid");
    let fake = dir.join("claude");
    executable(
        &fake,
        &format!(
            "#!/bin/sh\nread prompt\n\
             echo '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\",\"model\":\"claude-sonnet-4-5\"}}'\n\
             echo '{{\"type\":\"control_request\",\"request_id\":\"r1\",\"request\":{{\"subtype\":\"can_use_tool\",\"tool_name\":\"Bash\",\"input\":{{\"command\":\"ls\"}}}}}}'\n\
             while [ ! -s '{pid}' ]; do sleep 0.05; done\n\
             echo '{{\"type\":\"control_cancel_request\",\"request_id\":\"r1\"}}'\n\
             while kill -0 $(cat '{pid}') 2>/dev/null; do sleep 0.05; done\n\
             echo '{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done\",\"session_id\":\"s\",\"total_cost_usd\":0.01}}'\n\
             while read line; do :; done\n",
            pid = pid_file.display()
        ),
    );
    let policy = format!("echo $$ > '{}'; exec sleep 300", pid_file.display());
    let ran = run_bounded(
        &mut sc_spawn_fake(&fake, &["--ask-cmd", &policy, "--ask-timeout", "120"]),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    let (_, answers) = run.asks_and_answers();
    assert_eq!(answers.len(), 1, "{:?}", run.events);
    assert_eq!(answers[0].by, "agent");
    assert_view_checks(&ran.stdout);
}

/// Two runs whose workers have the same id ask under the same ask id:
/// `sc-ctl asks` shows each ask's run, and an answer (or `stop`) that
/// could go to either is refused until `--control` says which run.
#[test]
fn sc_ctl_tells_two_runs_asks_apart() {
    let dir = temp_dir("two-runs-asks");
    let runtime = dir.join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    let mut runs = Vec::new();
    for name in ["one", "two"] {
        let own = dir.join(name);
        std::fs::create_dir(&own).unwrap();
        let fake = fake_claude_asking(&own, &["cat README"]);
        let mut live = Live::start_with(
            sc_spawn_fake(&fake, &["--ask-timeout", "60"]).env("XDG_RUNTIME_DIR", &runtime),
        );
        let asked = live.until(|e| matches!(e.body, sc_events::Body::Ask(_)));
        let sc_events::Body::Ask(ask) = asked.body else {
            unreachable!()
        };
        runs.push((own, live, ask));
    }
    let (id, controls) = (
        runs[0].2.ask.clone(),
        runs.iter()
            .map(|r| r.2.control.clone().unwrap())
            .collect::<Vec<_>>(),
    );
    assert_eq!(runs[1].2.ask, id, "the same ask id in both runs");
    let ctl = |args: &[&str]| crate::control::sc_ctl(&runtime, args);
    let listed = String::from_utf8(ctl(&["asks"]).stdout).unwrap();
    for control in &controls {
        assert_eq!(
            listed
                .lines()
                .filter(|l| l.starts_with(&id) && l.contains(control.as_str()))
                .count(),
            1,
            "{listed}"
        );
    }
    for args in [&["answer", &id, "allow"][..], &["stop", "w"]] {
        let refused = ctl(args);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            controls.iter().all(|c| stderr.contains(c.as_str())) && stderr.contains("--control"),
            "{args:?}: {stderr}"
        );
    }
    let chosen = ctl(&["--control", &controls[1], "answer", &id, "allow"]);
    assert!(
        chosen.status.success(),
        "{}",
        String::from_utf8_lossy(&chosen.stderr)
    );
    // Now only the first run has it open: no flag needed.
    let other = ctl(&["answer", &id, "deny"]);
    assert!(
        other.status.success(),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    let mut ran = Vec::new();
    for (own, live, _) in runs {
        let (run, _) = live.finish();
        let (_, answers) = run.asks_and_answers();
        ran.push((own.join("ran-1").exists(), answers[0].decision.clone()));
    }
    assert_eq!(
        ran,
        [(false, "deny".to_owned()), (true, "allow".to_owned())]
    );
}
