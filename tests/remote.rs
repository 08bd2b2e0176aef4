//! Workers on another host over ssh, against a real sshd on 127.0.0.1
//! (started here; .ci/run installs openssh-server). Locally without sshd
//! the tests say they were skipped; in CI a missing sshd fails them.

use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use sc_events::{Body, Stream};

use crate::sshd::{over_ssh, sshd};
use crate::util::*;

#[test]
fn a_remote_worker_is_a_local_one_byte_for_byte() {
    let Some(config) = sshd() else { return };
    let script =
        "printf 'one\\ntwo \\377 bytes\\nContinue? '; sleep 0.2; echo yes; echo err >&2; exit 3";
    let ran = run_bounded(
        &mut over_ssh(config, "lab", &["--id", "far", "--", "sh", "-c", script]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(3), "{}", ran.stderr);
    assert!(
        run.events.iter().all(|e| e.worker == "far"),
        "the same worker id"
    );
    let start = starts_of(&run)[0];
    assert_eq!(start.host.as_deref(), Some("lab"));
    assert_eq!(
        start.argv,
        ["sh", "-c", script],
        "the remote command, as given"
    );
    assert_eq!(
        run.bytes(Stream::Stdout),
        b"one\ntwo \xff bytes\nContinue? yes\n"
    );
    assert_eq!(run.bytes(Stream::Stderr), b"err\n");
    assert_eq!(run.exit().code, Some(3));
}

#[test]
fn hostile_arguments_arrive_exactly() {
    let Some(config) = sshd() else { return };
    let hostile = [
        "it's",
        "$(touch /tmp/sc-pwned)",
        "two words",
        "new\nline",
        "back\\slash",
        "\"quoted\"",
        "*",
        "",
    ];
    let mut args = vec![
        "--",
        "sh",
        "-c",
        "for a in \"$@\"; do printf '[%s]' \"$a\"; done",
        "argv0",
    ];
    args.extend(hostile);
    let ran = run_bounded(&mut over_ssh(config, "lab", &args), Vec::new());
    let run = Captured::parse(&ran.stdout);
    let want: String = hostile.iter().map(|a| format!("[{a}]")).collect();
    assert_eq!(String::from_utf8_lossy(&run.bytes(Stream::Stdout)), want);
    assert!(
        !Path::new("/tmp/sc-pwned").exists(),
        "nothing was run by the remote shell"
    );
}

#[test]
fn death_by_signal_stays_a_signal_over_ssh() {
    let Some(config) = sshd() else { return };
    let ran = run_bounded(
        &mut over_ssh(config, "lab", &["--", "sh", "-c", "kill -TERM $$"]),
        Vec::new(),
    );
    assert_eq!(
        ran.status.code(),
        Some(143),
        "128+15, not ssh's 255: {}",
        ran.stderr
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(run.exit().signal.as_deref(), Some("SIGTERM"));
}

#[test]
fn a_host_that_refuses_the_connection_is_said() {
    let Some(config) = sshd() else { return };
    let ran = run_bounded(
        &mut over_ssh(config, "refused", &["--", "true"]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(255));
    let exit = run.exit();
    assert_eq!(exit.ended_by.as_deref(), Some("connection lost"));
    let error = run
        .events
        .iter()
        .find_map(|e| match &e.body {
            Body::Error(x) => Some(x.message.clone()),
            _ => None,
        })
        .expect("an error");
    assert!(
        error.starts_with("could not reach refused: ") && error.contains("Connection refused"),
        "{error}"
    );
}

#[test]
fn an_interrupt_ends_the_remote_worker_too() {
    let Some(config) = sshd() else { return };
    let mut live = Live::start_with(&mut over_ssh(
        config,
        "lab",
        &["--kill-grace", "2", "--", "sleep", "60"],
    ));
    let start = live.until(|e| e.type_name() == "start");
    let remote_pid = start_pid(&start);
    live.signal(Signal::SIGINT);
    let (run, _) = live.finish();
    let exit = run.exit();
    // The spooled worker there gets Ctrl-C's own signal, as here.
    assert_eq!(exit.signal.as_deref(), Some("SIGINT"), "{exit:?}");
    assert_eq!(exit.ended_by.as_deref(), Some("interrupted"));
    eventually("the remote worker is gone", || !alive(remote_pid));
}

/// Two hosts (two aliases of 127.0.0.1) and this machine share a plan;
/// dependencies hold across them.
#[test]
fn two_hosts_and_this_one_share_a_plan() {
    let Some(config) = sshd() else { return };
    let task = |id: &str, host: Option<&str>, script: &str, deps: &[&str]| {
        sc_events::to_line(&sc_events::Event::new(
            id,
            0,
            1.0,
            sc_events::Task {
                id: id.into(),
                argv: Some(vec!["sh".into(), "-c".into(), script.into()]),
                host: host.map(str::to_owned),
                depends_on: deps.iter().map(|d| d.to_string()).collect(),
                env: Some([("GREETING".to_string(), "hello there".to_string())].into()),
                ..sc_events::Task::default()
            },
        ))
    };
    let plan = [
        task("a", Some("lab"), "echo \"$GREETING from a\"", &[]),
        task("b", Some("lab2"), "echo b; exit 0", &["a"]),
        task("c", None, "echo c here", &["b"]),
    ]
    .concat();
    let ran = run_bounded(
        sc_spawn()
            .arg("--ssh")
            .arg(format!("ssh -F {}", config.display()))
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")]),
        plan,
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    let hosts: Vec<(String, Option<String>)> = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Start(s) => Some((e.worker.clone(), s.host.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        hosts,
        [
            ("a".into(), Some("lab".into())),
            ("b".into(), Some("lab2".into())),
            ("c".into(), None)
        ]
    );
    let a: Vec<u8> = run
        .events
        .iter()
        .filter(|e| e.worker == "a")
        .filter_map(|e| match &e.body {
            Body::Output(o) => Some(o.payload.as_bytes().to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        a, b"hello there from a\n",
        "the task's env reached the remote"
    );
}

#[test]
fn a_remote_timeout_is_a_timeout() {
    let Some(config) = sshd() else { return };
    let ran = run_bounded(
        &mut over_ssh(
            config,
            "lab",
            &["--timeout", "0.5", "--kill-grace", "1", "--", "sleep", "30"],
        ),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(124), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    assert!(run.exit().timed_out);
    assert_eq!(run.exit().ended_by.as_deref(), Some("timeout"));
}

/// `--hosts 1/lab,1/lab2`: tasks that name no host spread over the list,
/// never more than a host's slots at once on it.
#[test]
fn a_host_list_spreads_the_plan_within_its_slots() {
    let Some(config) = sshd() else { return };
    let plan: Vec<u8> = (0..6)
        .flat_map(|i| {
            sc_events::to_line(&sc_events::Event::new(
                format!("t{i}"),
                0,
                1.0,
                sc_events::Task {
                    id: format!("t{i}"),
                    argv: Some(vec!["sh".into(), "-c".into(), "sleep 0.2".into()]),
                    ..sc_events::Task::default()
                },
            ))
        })
        .collect();
    let ran = run_bounded(
        sc_spawn()
            .args(["-j", "8", "--hosts", "1/lab,1/lab2"])
            .arg("--ssh")
            .arg(format!("ssh -F {}", config.display()))
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")]),
        plan,
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    // Walk the stream: how many run on each host at once.
    let mut host_of = std::collections::HashMap::new();
    let mut running: std::collections::HashMap<String, usize> = Default::default();
    let mut used = std::collections::HashSet::new();
    for e in &run.events {
        match &e.body {
            Body::Start(s) => {
                let host = s.host.clone().expect("every task on a listed host");
                used.insert(host.clone());
                let n = running.entry(host.clone()).or_default();
                *n += 1;
                assert!(*n <= 1, "two at once on {host}");
                host_of.insert(e.worker.clone(), host);
            }
            Body::Exit(_) => {
                *running.get_mut(&host_of[&e.worker]).unwrap() -= 1;
            }
            _ => {}
        }
    }
    assert_eq!(used.len(), 2, "both hosts used");
    assert_eq!(host_of.len(), 6);
}

/// An agent kind on a host: the CLI is the one on that host's PATH (this
/// machine's PATH has none here), run by the sc-spawn there, which reads
/// its output; the stream is as a local agent's.
#[test]
fn a_real_claude_code_runs_on_a_host() {
    let Some(config) = sshd() else { return };
    let Some(claude) = crate::util::agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let mock = crate::mock_model::MockModel::start();
    let dir = temp_dir("remote-claude");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let claude_dir = claude.parent().unwrap().display().to_string();
    let mut command = over_ssh(
        config,
        "lab",
        &[
            "--kind",
            "claude-code",
            "--role",
            "bug-fixer",
            "--timeout",
            "120",
        ],
    );
    command
        .args(["--prompt", "Write the marker file, then say so."])
        .arg("--cwd")
        .arg(&dir)
        .arg("--env")
        .arg(format!("PATH={claude_dir}:/usr/local/bin:/usr/bin:/bin"))
        .arg("--env")
        .arg(format!("ANTHROPIC_BASE_URL={}", mock.url()))
        .args(["--env", "ANTHROPIC_API_KEY=sk-ant-test-key-for-the-mock"])
        .args(["--env", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"])
        .arg("--env")
        .arg(format!("HOME={}", home.display()))
        .env_remove("SC_CLAUDE")
        .env("PATH", "/usr/bin:/bin");
    let (run, status) = Live::start_with(&mut command).finish();
    let exit = run.exit();
    assert_eq!(status.code(), Some(0), "{exit:?}");
    assert_eq!(exit.agent_result.as_deref(), Some("ok"));
    let Body::Start(start) = &run.of_type("start")[0].body else {
        unreachable!()
    };
    assert_eq!(start.host.as_deref(), Some("lab"));
    assert_eq!(
        start.argv[0], "claude",
        "the remote's own claude: {:?}",
        start.argv
    );
    let tool = run.events.iter().find_map(|e| match &e.body {
        Body::Output(o) => o.agent.clone().filter(|a| a["kind"] == "tool_call"),
        _ => None,
    });
    assert_eq!(tool.expect("a tool call, read there")["tool"], "Bash");
    assert_eq!(
        std::fs::read_to_string(dir.join("marker.txt"))
            .ok()
            .as_deref(),
        Some("tool-ran-for-real\n"),
        "the tool ran in the task's cwd there: {start:?} {}",
        String::from_utf8_lossy(&run.bytes(Stream::Stdout))
    );
    run.check_contract();

    // A plan's agent task with a host: the same, from the task's fields.
    let env: serde_json::Map<String, serde_json::Value> = [
        ("PATH", format!("{claude_dir}:/usr/local/bin:/usr/bin:/bin")),
        ("ANTHROPIC_BASE_URL", mock.url()),
        ("ANTHROPIC_API_KEY", "sk-ant-test-key-for-the-mock".into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
        ("HOME", home.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into()))
    .collect();
    let task = serde_json::json!({
        "type": "task", "worker": "ask", "seq": 0, "ts": 1.0, "id": "ask",
        "kind": "claude-code", "host": "lab", "prompt": "Say hello.",
        "cwd": dir, "env": env,
    });
    let ran = run_bounded(
        sc_spawn()
            .arg("--ssh")
            .arg(format!("ssh -F {}", config.display()))
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")])
            .env_remove("SC_CLAUDE")
            .env("PATH", "/usr/bin:/bin"),
        format!("{task}\n").into_bytes(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    assert_eq!(run.exit().agent_result.as_deref(), Some("ok"));
    assert_eq!(starts_of(&run)[0].host.as_deref(), Some("lab"));
    run.check_contract();
}

/// `--transfer`: a host without sc-spawn gets this one, into a cache named
/// by its content, once; without it the task fails saying so.
#[test]
fn transfer_puts_this_sc_spawn_on_a_host_that_lacks_it() {
    let Some(config) = sshd() else { return };
    let ssh = format!("ssh -F {}", config.display());
    // No sc-spawn on the host's PATH: the connection says so.
    let ran = run_bounded(
        sc_spawn()
            .args(["--host", "lab", "--reconnect", "0", "--ssh", &ssh])
            .args(["--", "echo", "hi"]),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(255), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    assert!(
        run.events.iter().any(|e| matches!(&e.body,
            Body::Error(error) if error.message.contains("sc-spawn") && error.message.contains("not found"))),
        "{:?}",
        run.events
    );
    let copy = |plan: bool| {
        let mut command = sc_spawn();
        command.args(["--transfer", "--ssh", &ssh]);
        if plan {
            let task = r#"{"type":"task","worker":"t","seq":0,"ts":1,"id":"t","host":"lab","argv":["echo","hi"]}"#;
            run_bounded(&mut command, format!("{task}\n").into_bytes())
        } else {
            command.args(["--host", "lab", "--", "echo", "hi"]);
            run_bounded(&mut command, Vec::new())
        }
    };
    let ran = copy(false);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    assert_eq!(run.bytes(Stream::Stdout), b"hi\n");
    // The copy is this very binary, in the remote user's cache.
    // The ssh_config logs in as root: its home, from the password file.
    let home = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("root:")
                .map(|rest| rest.split(':').nth(4).unwrap_or("/root").to_owned())
        })
        .unwrap();
    let ours = std::fs::read(env!("CARGO_BIN_EXE_sc-spawn")).unwrap();
    let cached: Vec<PathBuf> = std::fs::read_dir(Path::new(&home).join(".cache/sc"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| std::fs::read(p).is_ok_and(|bytes| bytes == ours))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let copied_at = std::fs::metadata(&cached[0]).unwrap().modified().unwrap();
    // A plan's task on the host: there already, not copied again.
    let ran = copy(true);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert_eq!(Captured::parse(&ran.stdout).bytes(Stream::Stdout), b"hi\n");
    assert_eq!(
        std::fs::metadata(&cached[0]).unwrap().modified().unwrap(),
        copied_at
    );
}

/// The reader of the stream goes away (`| head`): the remote worker is
/// ended too, and sc-spawn exits 0.
#[test]
fn a_reader_that_goes_away_ends_the_remote_worker() {
    use std::io::BufRead;
    let Some(config) = sshd() else { return };
    let mut child = over_ssh(
        config,
        "lab",
        &["--", "sh", "-c", "while :; do echo tick; sleep 0.05; done"],
    )
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).unwrap();
    let start = sc_events::parse_line(&line).unwrap();
    let remote_pid = start_pid(&start);
    line.clear();
    reader.read_until(b'\n', &mut line).unwrap();
    assert!(alive(remote_pid));
    drop(reader);
    let status = wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(0));
    eventually("the remote worker is gone", || !alive(remote_pid));
}

/// Kind `sc` on a host: the remote sc-spawn nests the inner stream
/// (`far/inner`), and it arrives here as it was nested there.
#[test]
fn a_nested_sc_stream_runs_on_a_host() {
    let Some(config) = sshd() else { return };
    let ran = run_bounded(
        &mut over_ssh(
            config,
            "lab",
            &[
                "--id",
                "far",
                "--kind",
                "sc",
                "--",
                env!("CARGO_BIN_EXE_sc-spawn"),
                "--id",
                "inner",
                "--",
                "echo",
                "deep",
            ],
        ),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    run.check_contract();
    let inner: Vec<&sc_events::Event> = run
        .events
        .iter()
        .filter(|e| e.worker == "far/inner")
        .collect();
    assert!(
        inner
            .iter()
            .any(|e| output(e).is_some_and(|(_, p)| p.as_bytes() == b"deep\n")),
        "{:?}",
        run.events
    );
    assert_eq!(starts_of(&run)[0].host.as_deref(), Some("lab"));
}
