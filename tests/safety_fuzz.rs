//! Generated input against a real run: random bytes and half lines on the
//! control socket, answers for unknown, closed and earlier-attempt asks
//! mixed with the one that counts, and random policy outputs. Nothing
//! panics, every request line gets its one reply, and no answer ever
//! reaches a request it was not given for.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sc_events::Body;

use crate::util::*;

/// A few cases each: every case is a real run.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// `bytes` written to `socket` in pieces cut at `cuts` (half lines), then
/// the replies read: one a line sent.
fn send_in_pieces(socket: &Path, bytes: &[u8], cuts: &[usize]) -> Vec<serde_json::Value> {
    let stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts.into_iter().chain([bytes.len()]) {
        if cut > at {
            writer.write_all(&bytes[at..cut]).unwrap();
            writer.flush().unwrap();
            at = cut;
        }
    }
    let lines = bytes.iter().filter(|b| **b == b'\n').count();
    let mut reader = BufReader::new(stream);
    (0..lines)
        .map(|i| {
            let mut reply = String::new();
            reader.read_line(&mut reply).unwrap();
            serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply {i} {reply:?}: {e}"))
        })
        .collect()
}

/// Bytes that favour what a line protocol cares about.
fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            6 => any::<u8>(),
            2 => Just(b'\n'),
            1 => Just(b'{'),
            1 => Just(b'"'),
        ],
        0..600,
    )
}

#[test]
fn the_control_socket_takes_any_bytes_in_any_pieces() {
    let dir = temp_dir("fuzz-control");
    let socket = dir.join("run.sock");
    let mut live = Live::start_with(
        sc_spawn()
            .arg("--ask")
            .arg(format!("--control={}", socket.display()))
            .args(["--", "sleep", "60"]),
    );
    live.until(|e| e.type_name() == "start");
    let strategy = (line_bytes(), prop::collection::vec(any::<usize>(), 0..8));
    runner(48)
        .run(&strategy, |(mut bytes, cuts)| {
            // Then a request that is one, on a line of its own.
            bytes.extend_from_slice(b"\n{\"op\":\"asks\"}\n");
            let replies = send_in_pieces(&socket, &bytes, &cuts);
            let (last, rest) = replies.split_last().unwrap();
            prop_assert_eq!(&last["ok"], &serde_json::Value::Bool(true));
            for reply in rest {
                prop_assert!(reply["ok"].is_boolean(), "{}", reply);
                if reply["ok"] == false {
                    prop_assert!(reply["error"].as_str().is_some_and(|e| !e.is_empty()));
                }
            }
            Ok(())
        })
        .unwrap();
    live.signal(nix::sys::signal::Signal::SIGTERM);
    let (stream, _) = live.finish_bytes();
    let run = Captured::parse(&stream);
    assert!(run.of_type("answer").is_empty());
    assert_view_checks(&stream);
}

/// A fake Claude Code under `--ask`: each attempt asks to run `step N`,
/// waits for its answer, runs the step's stand-in (a marker file) only
/// when allowed, and exits 1 before the third attempt (a retry follows).
fn fake_claude(dir: &Path) -> PathBuf {
    crate::safety_asks::fake_claude(dir, &["step 1", "step 2", "step 3"], false, 3)
}

/// A request that must be refused, sent before (and after) the answer
/// that counts.
#[derive(Debug, Clone)]
enum Stray {
    /// To an ask of an earlier attempt (answered, closed).
    Earlier(bool),
    /// To an ask nobody made.
    Unknown(String),
    /// To the open ask, with a decision that is none of its choices.
    NoChoice(String),
    /// Not a request at all (no newline in it).
    Garbage(Vec<u8>),
}

fn stray() -> impl Strategy<Value = Stray> {
    prop_oneof![
        any::<bool>().prop_map(Stray::Earlier),
        prop_oneof![
            Just("w/99".to_owned()),
            Just("x/1".to_owned()),
            Just("w/0".to_owned()),
            "[a-z/0-9]{0,8}",
        ]
        .prop_map(Stray::Unknown),
        prop_oneof![
            Just("sure".to_owned()),
            Just("ALLOW".to_owned()),
            Just("allow allow".to_owned()),
        ]
        .prop_map(Stray::NoChoice),
        prop::collection::vec(
            any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
            0..40
        )
        .prop_map(Stray::Garbage),
    ]
}

fn answer_line(ask: &str, decision: &str) -> Vec<u8> {
    let mut line = serde_json::to_vec(&serde_json::json!({
        "op": "answer", "ask": ask, "decision": decision, "message": "from the fuzz test"
    }))
    .unwrap();
    line.push(b'\n');
    line
}

#[test]
fn answers_reach_only_the_ask_they_were_given_for() {
    let attempt = (
        prop::collection::vec(stray(), 0..6),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<usize>(), 0..4),
    );
    let strategy = prop::collection::vec(attempt, 3);
    runner(6)
        .run(&strategy, |attempts| {
            let dir = temp_dir("fuzz-answers");
            let fake = fake_claude(&dir);
            std::fs::create_dir(dir.join("runtime")).unwrap();
            let mut live = Live::start_with(
                sc_spawn()
                    .args(["--kind", "claude-code", "--id", "w", "--prompt", "go"])
                    .args(["--heartbeat", "0", "--ask", "--ask-timeout", "60"])
                    .args(["--retries", "2", "--retry-delay", "0.05"])
                    .env("SC_CLAUDE", &fake)
                    .env("XDG_RUNTIME_DIR", dir.join("runtime")),
            );
            let mut ids: Vec<String> = Vec::new();
            for (n, (strays, allow, again, cuts)) in attempts.iter().enumerate() {
                let asked = live.until(|e| matches!(e.body, Body::Ask(_)));
                let Body::Ask(ask) = asked.body else {
                    unreachable!()
                };
                let socket = PathBuf::from(ask.control.clone().unwrap());
                let decision = if *allow { "allow" } else { "deny" };
                let mut bytes = Vec::new();
                for stray in strays {
                    match stray {
                        Stray::Earlier(allow) => {
                            let Some(earlier) = ids.first() else { continue };
                            bytes.extend(answer_line(
                                earlier,
                                if *allow { "allow" } else { "deny" },
                            ));
                        }
                        Stray::Unknown(id) => bytes.extend(answer_line(id, "allow")),
                        Stray::NoChoice(word) => bytes.extend(answer_line(&ask.ask, word)),
                        Stray::Garbage(junk) => {
                            bytes.extend(junk);
                            bytes.push(b'\n');
                        }
                    }
                }
                let counted = bytes.iter().filter(|b| **b == b'\n').count();
                bytes.extend(answer_line(&ask.ask, decision));
                // The last answer ends the run: what would come after it,
                // in a later piece, could find the socket gone.
                let last = n == attempts.len() - 1;
                if *again && !last {
                    // A second answer to the same ask: it is closed now.
                    bytes.extend(answer_line(&ask.ask, "allow"));
                }
                let cuts = if last { &[][..] } else { &cuts[..] };
                let replies = send_in_pieces(&socket, &bytes, cuts);
                for (i, reply) in replies.iter().enumerate() {
                    let ok = reply["ok"] == true;
                    prop_assert_eq!(
                        ok,
                        i == counted,
                        "attempt {}, reply {}: {}",
                        n + 1,
                        i,
                        reply
                    );
                }
                ids.push(ask.ask.clone());
            }
            let (stream, status) = live.finish_bytes();
            prop_assert_eq!(status.code(), Some(0));
            let run = Captured::parse(&stream);
            let (asks, answers) = run.asks_and_answers();
            prop_assert_eq!(
                asks.iter().map(|a| a.ask.clone()).collect::<Vec<_>>(),
                ids.clone()
            );
            prop_assert_eq!(answers.len(), 3, "{:?}", answers);
            for (n, ((_, allow, _, _), answer)) in attempts.iter().zip(&answers).enumerate() {
                let decision = if *allow { "allow" } else { "deny" };
                prop_assert_eq!(&answer.ask, &ids[n]);
                prop_assert_eq!(
                    (answer.decision.as_str(), answer.by.as_str()),
                    (decision, "person")
                );
                prop_assert_eq!(dir.join(format!("ran-{}", n + 1)).exists(), *allow);
            }
            assert_view_checks(&stream);
            Ok(())
        })
        .unwrap();
}

/// What a policy prints, in pieces that favour its first line.
fn policy_output() -> impl Strategy<Value = Vec<u8>> {
    let head = prop_oneof![
        Just(b"allow".to_vec()),
        Just(b"deny".to_vec()),
        Just(b"  allow  \r".to_vec()),
        Just(b"allow because".to_vec()),
        Just(b"allowed".to_vec()),
        Just(b"ALLOW".to_vec()),
        Just(b"\nallow".to_vec()),
        Just(b"deny allow".to_vec()),
        Just(Vec::new()),
    ];
    (head, line_bytes()).prop_map(|(mut head, tail)| {
        head.extend(tail);
        head
    })
}

#[test]
fn a_policy_allows_only_by_saying_allow_first() {
    let strategy = (policy_output(), any::<bool>());
    runner(12)
        .run(&strategy, |(printed, fails)| {
            let dir = temp_dir("fuzz-policy");
            let fake = fake_claude(&dir);
            // Its third attempt is the one that succeeds: start there.
            std::fs::write(dir.join("n"), "2").unwrap();
            let said = dir.join("said");
            std::fs::write(&said, &printed).unwrap();
            let policy = format!(
                "cat '{}'{}",
                said.display(),
                if fails { "; exit 3" } else { "" }
            );
            let ran = run_bounded(
                sc_spawn()
                    .args(["--kind", "claude-code", "--id", "w", "--prompt", "go"])
                    .args(["--heartbeat", "0", "--ask", "--ask-timeout", "30"])
                    .args(["--ask-cmd", &policy])
                    .env("SC_CLAUDE", &fake),
                Vec::new(),
            );
            let run = Captured::parse(&ran.stdout);
            let (asks, answers) = run.asks_and_answers();
            prop_assert_eq!(asks.len(), 1);
            prop_assert_eq!(answers.len(), 1, "{:?}", run.events);
            // The first line, trimmed; its first word decides.
            let text = String::from_utf8_lossy(&printed);
            let first = text.lines().next().unwrap_or("").trim();
            let word = first.split(char::is_whitespace).next().unwrap_or("");
            let allowed = !fails && word == "allow";
            let expected = if allowed { "allow" } else { "deny" };
            prop_assert_eq!(
                (answers[0].decision.as_str(), answers[0].by.as_str()),
                (expected, "command"),
                "{:?}",
                text
            );
            prop_assert_eq!(dir.join("ran-3").exists(), allowed);
            prop_assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
            Ok(())
        })
        .unwrap();
}
