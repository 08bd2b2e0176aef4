//! Placed tasks kept to what they promise: host names that cannot reach
//! a shell through ssh's config, worktrees that are made where the agent
//! runs or refused, tasks naming a host that do not wait for `--hosts`
//! slots, and a plan's budget that holds across hosts.

use sc_events::Body;

use crate::util::{Captured, run_bounded, sc_spawn, scratch_root};

/// A host name reaches ssh, and through `ProxyCommand %h` or `Match exec`
/// a shell: one with `$ ( ) ; |` or quotes in it is refused before ssh
/// runs, in a plan line (the task fails, the rest runs) and in `--hosts`
/// (a usage error).
#[test]
fn host_names_with_shell_characters_are_refused() {
    let planted = scratch_root().join("pwned");
    let evil = format!("lab$(touch {})", planted.display());
    let plan = [
        serde_json::json!({"type": "task", "worker": "evil", "seq": 0, "ts": 1.0,
            "id": "evil", "host": evil, "argv": ["true"]}),
        serde_json::json!({"type": "task", "worker": "fine", "seq": 1, "ts": 1.0,
            "id": "fine", "argv": ["echo", "ran"]}),
    ]
    .map(|t| format!("{t}\n"))
    .concat();
    let ran = run_bounded(&mut sc_spawn(), plan.into_bytes());
    let run = Captured::parse(&ran.stdout);
    let exits = run.exits();
    let code = |id: &str| exits.iter().find(|(w, _)| *w == id).map(|(_, e)| e.code);
    assert_eq!(code("evil"), Some(Some(127)), "{:?}", run.errors());
    assert_eq!(code("fine"), Some(Some(0)));
    assert!(
        run.events.iter().any(|e| matches!(&e.body,
        Body::Error(error) if error.message.contains("no host name")
            && error.message.contains("`$`"))),
        "{:?}",
        run.errors()
    );
    assert!(!planted.exists());

    for hosts in ["a;b", "2/lab|x", "x'y", "lab`id`"] {
        let ran = run_bounded(
            sc_spawn().args(["--hosts", hosts]),
            b"{\"type\":\"task\",\"worker\":\"t\",\"seq\":0,\"ts\":1.0,\"id\":\"t\",\"argv\":[\"true\"]}\n"
                .to_vec(),
        );
        assert_eq!(ran.status.code(), Some(2), "--hosts {hosts}");
        let stderr = &ran.stderr;
        assert!(stderr.contains("no host name"), "--hosts {hosts}: {stderr}");
    }
}

/// A plan line of a task.
fn task_line(id: &str, host: Option<&str>, script: &str) -> String {
    let mut task = serde_json::json!({"type": "task", "worker": id, "seq": 0, "ts": 1.0,
        "id": id, "argv": ["sh", "-c", script]});
    if let Some(host) = host {
        task["host"] = host.into();
    }
    format!("{task}\n")
}

/// `--hosts 1/:` has one place, taken by a task that waits for a task
/// naming its own host; a second task that names no host waits for the
/// place. The task naming its host must not wait behind it (it did: the
/// run hung until the first timed out).
#[test]
fn a_task_naming_its_host_does_not_wait_for_a_host_list_slot() {
    let Some(config) = crate::sshd::sshd() else {
        return;
    };
    let dir = crate::util::temp_dir("named-host-not-behind");
    let fifo = dir.join("go");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let f = fifo.display();
    let plan = [
        task_line(
            "holder",
            None,
            &format!("timeout 60 sh -c 'read x < {f}' && echo released"),
        ),
        task_line("queued", None, "echo queued"),
        task_line("named", Some("lab"), &format!("echo go > {f}")),
    ]
    .concat();
    let ran = run_bounded(
        sc_spawn()
            .args(["-j", "4", "--hosts", "1/:"])
            .arg("--ssh")
            .arg(format!("ssh -F {}", config.display()))
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")]),
        plan.into_bytes(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    // The holder was released by the named task (not by its timeout), and
    // the queued task waited for the holder's place.
    let exits = run.exits();
    let code = |id: &str| exits.iter().find(|(w, _)| *w == id).map(|(_, e)| e.code);
    assert_eq!(code("holder"), Some(Some(0)), "{:?}", run.errors());
    let position = |id: &str, kind: &str| {
        run.events
            .iter()
            .position(|e| e.worker == id && e.type_name() == kind)
            .unwrap()
    };
    assert!(position("holder", "exit") < position("queued", "start"));
    assert_eq!(run.exits().len(), 3);
}

/// `--worktree` with a task on a host: the worktree would be made here
/// while the agent edits the checkout there. The task is refused (the
/// checkout untouched, the rest of the plan runs); with every task placed
/// (`--slurm`, `--host`, `--hosts` without `:`) it is a usage error.
#[test]
fn worktree_with_a_task_on_a_host_is_refused_not_ignored() {
    let Some(config) = crate::sshd::sshd() else {
        return;
    };
    let repo = crate::util::temp_dir("worktree-placed");
    crate::git::repo_with_one_commit(&repo, "shared.txt", "base\n");
    let plan = [
        task_line("there", Some("lab"), "echo there > shared.txt"),
        task_line("here", None, "echo here > shared.txt"),
    ]
    .concat()
    .replace(
        "\"argv\"",
        &format!("\"cwd\":{:?},\"argv\"", repo.display().to_string()),
    );
    let ssh = format!("ssh -F {}", config.display());
    let ran = run_bounded(
        sc_spawn()
            .args(["--worktree", "--ssh", &ssh])
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")])
            .current_dir(&repo),
        plan.into_bytes(),
    );
    let run = Captured::parse(&ran.stdout);
    let exits = run.exits();
    let code = |id: &str| exits.iter().find(|(w, _)| *w == id).map(|(_, e)| e.code);
    assert_eq!(code("there"), Some(Some(127)), "{:?}", run.errors());
    assert_eq!(code("here"), Some(Some(0)), "{:?}", run.errors());
    assert!(
        run.errors()
            .iter()
            .any(|m| m.contains("--worktree") && m.contains("lab")),
        "{:?}",
        run.errors()
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("shared.txt")).unwrap(),
        "base\n"
    );

    for placed in [
        vec!["--slurm"],
        vec!["--host", "lab", "--", "true"],
        vec!["--hosts", "2/lab,lab2"],
    ] {
        let ran = run_bounded(
            sc_spawn()
                .arg("--worktree")
                .args(&placed)
                .current_dir(&repo),
            task_line("t", None, "true").into_bytes(),
        );
        assert_eq!(ran.status.code(), Some(2), "{placed:?}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("--worktree"),
            "{placed:?}: {}",
            ran.stderr
        );
    }
}

/// `--budget-usd 1` with two agents at once on a host, each spending $0.60
/// there and going on: the plan's budget trips on their running cost,
/// counted here from what they relay, and both are ended (`budget`) and
/// the third task skipped — not each given the whole $1 to spend.
#[test]
fn a_plans_budget_holds_across_hosts() {
    let Some(config) = crate::sshd::sshd() else {
        return;
    };
    let dir = crate::util::temp_dir("budget-hosts");
    // One fake `claude` on the host's PATH: 200,000 input tokens of
    // claude-sonnet-4-5 ($0.60 at list price), then it lingers.
    crate::util::executable(
        &dir.join("claude"),
        "#!/bin/sh\n\
         echo '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\",\"model\":\"claude-sonnet-4-5-20250929\"}'\n\
         echo '{\"type\":\"assistant\",\"message\":{\"id\":\"m1\",\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":\"working\"}],\"usage\":{\"input_tokens\":200000,\"output_tokens\":10}}}'\n\
         exec sleep 20\n",
    );
    let path = format!("{}:/usr/bin:/bin", dir.display());
    let task = |id: &str| {
        let task = serde_json::json!({"type": "task", "worker": id, "seq": 0, "ts": 1.0, "id": id,
            "kind": "claude-code", "prompt": "go", "host": "lab", "env": {"PATH": path}});
        format!("{task}\n")
    };
    let plan = [task("a"), task("b"), task("c")].concat();
    let ran = run_bounded(
        sc_spawn()
            .args(["-j", "2", "--budget-usd", "1", "--kill-grace", "0.3"])
            .arg("--ssh")
            .arg(format!("ssh -F {}", config.display()))
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")]),
        plan.into_bytes(),
    );
    let run = Captured::parse(&ran.stdout);
    for id in ["a", "b"] {
        let exit = run
            .exits()
            .into_iter()
            .find(|(w, _)| *w == id)
            .map(|(_, e)| e.clone());
        let exit = exit.unwrap_or_else(|| panic!("{id} exits: {:?}", run.events));
        assert_eq!(exit.ended_by.as_deref(), Some("budget"), "{id}: {exit:?}");
        let cost = exit.cost_usd.expect("the cost in the exit");
        assert!((cost - 0.6).abs() < 0.01, "{id}: {cost}");
    }
    let skipped = run.events.iter().find_map(|e| match &e.body {
        Body::Skip(s) if e.worker == "c" => Some(s.reason.clone()),
        _ => None,
    });
    assert_eq!(skipped.as_deref(), Some("budget"));
    assert_ne!(ran.status.code(), Some(0));
}
