//! The run's control socket from outside: `sc-ctl` answers an ask of a
//! run that is going, says it, stops it, and refuses what is not a
//! request; `sc-view --attach` follows a run that is going.

use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sys::signal::Signal;
use sc_events::Body;

use crate::asks::asking;
use crate::mock_model::MockModel;
use crate::util::*;

pub(crate) fn sc_ctl(runtime: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sc-ctl"))
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime)
        .output()
        .unwrap()
}

/// `sc-ctl ARGS` as a person runs it, which must succeed (what it said on
/// stderr otherwise).
pub(crate) fn sc_ctl_ok(runtime: &Path, args: &[&str]) {
    let out = sc_ctl(runtime, args);
    assert!(
        out.status.success(),
        "sc-ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A person answers from another terminal: `sc-ctl asks` finds the run
/// with no flags (this user's runtime folder), `sc-ctl answer` decides,
/// the stream says `by: "person"`, and a second answer is refused.
#[test]
fn sc_ctl_answers_an_ask_from_another_process() {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let mock = MockModel::start();
    let runtime = temp_dir("ask-runtime");
    let (mut command, dir) = asking(&claude, &mock, "ask-person", &["--ask-timeout", "0"]);
    command.env("XDG_RUNTIME_DIR", &runtime);
    let mut live = Live::start_with(&mut command);
    let asked = live.until(|e| e.type_name() == "ask");
    let Body::Ask(ask) = &asked.body else {
        unreachable!()
    };
    // The socket and its folder are the user's alone.
    let control = PathBuf::from(
        ask.control
            .clone()
            .expect("the ask names its control socket"),
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode(control.parent().unwrap()), 0o700);
    assert_eq!(mode(&control), 0o600);
    let listed = sc_ctl(&runtime, &["asks", "--json"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed: serde_json::Value =
        serde_json::from_slice(listed.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(listed["ask"], ask.ask.as_str());
    assert_eq!(listed["worker"], asked.worker.as_str());
    let answered = sc_ctl(&runtime, &["answer", &ask.ask, "allow"]);
    assert!(
        answered.status.success(),
        "{}",
        String::from_utf8_lossy(&answered.stderr)
    );
    let again = sc_ctl(&runtime, &["answer", &ask.ask, "deny"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no open ask"));
    let (stream, status) = live.finish_bytes();
    assert_view_checks(&stream);
    let run = Captured::parse(&stream);
    let (_, answers) = run.asks_and_answers();
    assert_eq!(answers.len(), 1);
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("allow", "person")
    );
    assert_eq!(status.code(), Some(0));
    assert!(
        dir.join("marker.txt").exists(),
        "allowed by a person: the tool ran"
    );
    // The run is over: its socket is gone, and sc-ctl says there is no run.
    assert!(!control.exists());
    let none = sc_ctl(&runtime, &["asks"]);
    assert_eq!(none.status.code(), Some(3));
}

/// What reaches the control socket is checked: garbage, unknown requests,
/// bad decisions and overlong lines get an error reply each, and nothing
/// changes; the connection stays usable.
#[test]
fn the_control_socket_refuses_what_is_not_a_request() {
    use std::io::{BufRead, BufReader, Write};
    let runtime = temp_dir("ask-fuzz");
    let control = runtime.join("sc").join("fuzz.sock");
    let mut live = Live::start_with(
        sc_spawn()
            .arg("--ask")
            .arg(format!("--control={}", control.display()))
            .args(["--", "sleep", "30"]),
    );
    live.until(|e| e.type_name() == "start");
    let stream = std::os::unix::net::UnixStream::connect(&control).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let long = "x".repeat(100_000);
    for garbage in [
        "not json",
        "\u{1b}[2J",
        r#"{"op":"shell","cmd":"touch /tmp/sc-pwned"}"#,
        r#"{"op":"answer","ask":"w/1","decision":"sure"}"#,
        r#"{"op":"answer","ask":"w/1","decision":"allow"}"#,
        long.as_str(),
    ] {
        writer.write_all(garbage.as_bytes()).unwrap();
        writer.write_all(b"\n").unwrap();
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["ok"], false, "{garbage:.40}: {reply}");
        assert!(reply["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    writer.write_all(b"{\"op\":\"asks\"}\n").unwrap();
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    assert_eq!(reply.trim(), r#"{"ok":true}"#);
    live.signal(Signal::SIGTERM);
    let (run, _) = live.finish();
    assert!(run.of_type("answer").is_empty());
    assert!(!Path::new("/tmp/sc-pwned").exists());
}

/// `sc-ctl say` reaches the model in the same session; `sc-ctl stop` ends
/// the worker as Ctrl-C would, its open ask answered first.
#[test]
fn sc_ctl_says_and_stops() {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let mock = MockModel::start();
    let runtime = temp_dir("ask-say-runtime");
    let (mut command, _dir) = asking(
        &claude,
        &mock,
        "ask-say",
        &["--id", "fixer", "--ask-timeout", "0", "--kill-grace", "2"],
    );
    command.env("XDG_RUNTIME_DIR", &runtime);
    let mut live = Live::start_with(&mut command);
    let asked = live.until(|e| e.type_name() == "ask");
    let Body::Ask(ask) = &asked.body else {
        unreachable!()
    };
    let said = sc_ctl(
        &runtime,
        &["say", "fixer", "Remember the style guide, please."],
    );
    assert!(
        said.status.success(),
        "{}",
        String::from_utf8_lossy(&said.stderr)
    );
    let unknown = sc_ctl(&runtime, &["say", "nobody", "hello"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no running worker"));
    let answered = sc_ctl(&runtime, &["answer", &ask.ask, "allow"]);
    assert!(answered.status.success());
    // The message reached the model with the rest of the conversation.
    eventually("the model hears what was said", || {
        mock.heard("Remember the style guide")
    });
    let (stream, _) = live.finish_bytes();
    assert_view_checks(&stream);
    // What the person did is in the stream: who, what, through what.
    let run = Captured::parse(&stream);
    let said: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Say(said) => Some(said.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(said.len(), 1, "{:?}", run.events);
    assert_eq!(said[0].text, "Remember the style guide, please.");
    assert_eq!(
        (said[0].by.as_str(), said[0].via.as_deref()),
        ("person", Some("sc-ctl"))
    );
    let (_, answers) = run.asks_and_answers();
    assert_eq!(answers[0].via.as_deref(), Some("sc-ctl"));

    // stop: a worker waiting on an ask is ended; its ask answered first.
    let (mut command, _dir) = asking(
        &claude,
        &mock,
        "ask-stop",
        &["--id", "stopper", "--ask-timeout", "0", "--kill-grace", "2"],
    );
    command.env("XDG_RUNTIME_DIR", &runtime);
    let mut live = Live::start_with(&mut command);
    let pid = start_pid(&live.until(|e| e.type_name() == "start"));
    live.until(|e| e.type_name() == "ask");
    sc_ctl_ok(&runtime, &["stop", "stopper"]);
    let (stream, _) = live.finish_bytes();
    assert_view_checks(&stream);
    let run = Captured::parse(&stream);
    assert_eq!(run.exit().ended_by.as_deref(), Some("interrupted"));
    let (_, answers) = run.asks_and_answers();
    assert_eq!(answers.len(), 1);
    let stop = run
        .events
        .iter()
        .find(|e| e.type_name() == "stop")
        .expect("a stop event");
    assert!(matches!(&stop.body, Body::Stop(s) if s.via.as_deref() == Some("sc-ctl")));
    assert!(
        stop.seq
            < run
                .events
                .iter()
                .find(|e| e.type_name() == "exit")
                .unwrap()
                .seq
    );
    eventually("the agent is gone", || !alive(pid));
}

/// `sc-view --attach`: a run already going is watched from its first
/// event, with no --log set up, until it ends; the run's own copy of its
/// stream goes with it.
#[test]
fn sc_view_attaches_to_a_run_that_is_going() {
    let runtime = temp_dir("attach-runtime");
    let dir = temp_dir("attach");
    let gate = dir.join("gate");
    nix::unistd::mkfifo(&gate, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let script = format!("echo one; cat '{}'; echo two", gate.display());
    let mut live = Live::start_with(
        sc_spawn()
            .args(["--ask", "--id", "job", "--", "sh", "-c", &script])
            .env("XDG_RUNTIME_DIR", &runtime),
    );
    live.until(|e| output(e).is_some() && text(e) == "one\n");
    // No RUN: this user's newest run.
    let mut viewer = Command::new(env!("CARGO_BIN_EXE_sc-view"))
        .args(["--plain", "--attach"])
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(viewer.stdout.take().unwrap()));
    let mut text = String::new();
    // The run goes on only once the viewer has shown its first line.
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.contains("[job] one") {
            break;
        }
    }
    std::fs::write(&gate, "").unwrap();
    let (_, status) = live.finish();
    assert!(status.success());
    for line in lines {
        text.push_str(&line.unwrap());
        text.push('\n');
    }
    assert!(wait_with_deadline(&mut viewer).success(), "{text}");
    assert!(text.contains("[job] one"), "{text}");
    assert!(text.contains("[job] two"), "{text}");
    assert!(text.contains("1 worker, 1 ok"), "{text}");
    let left: Vec<_> = std::fs::read_dir(runtime.join("sc"))
        .unwrap()
        .flatten()
        .collect();
    assert!(
        left.is_empty(),
        "the run's socket and stream are gone: {left:?}"
    );
}
