//! The real agent CLIs inside `--sandbox`, against the tests' mock models:
//! each does its work (its state folders writable, its model's API reached
//! through the allow-list by itself), and its tools stay confined: a write
//! outside the worker's directory is refused, the user's secrets unseen.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::mock_model::{MockModel, Turn};
use crate::util::*;

/// A HOME outside the worker's directory (and outside /tmp, the sandbox's
/// own), with a secret in it.
fn home_outside(name: &str) -> PathBuf {
    let home = disk_dir(&format!("sandbox-agent-{name}"));
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "SECRET KEY").unwrap();
    home
}

/// The command the model asks the agent's shell tool to run: a write in
/// its directory, one outside, and a look at the user's key.
fn probe(outside: &Path) -> String {
    format!(
        "echo inside > marker.txt; echo escaped > {} 2>/dev/null || echo refused-outside; \
         cat $HOME/.ssh/id_ed25519 2>/dev/null || echo no-key",
        outside.display()
    )
}

/// A finished agent run: its stream, its annotations, and both as text for
/// a failed assertion's message.
struct AgentRun {
    run: Captured,
    notes: Vec<Value>,
    described: String,
}

fn agent_run(ran: &Ran) -> AgentRun {
    let run = Captured::parse(&ran.stdout);
    let notes = run.agent_notes();
    let described = notes
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
        + &ran.stderr;
    AgentRun {
        run,
        notes,
        described,
    }
}

#[test]
fn claude_code_works_inside_the_sandbox_and_its_tool_stays_confined() {
    let Some(bwrap) = crate::sandbox::bwrap() else {
        return;
    };
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let dir = temp_dir("sandbox-claude");
    let home = home_outside("claude");
    let outside = home.join("escaped.txt");
    let mock = MockModel::scripted(vec![
        Turn {
            pieces: vec!["Probing.".into()],
            tool: Some((
                "Bash".into(),
                serde_json::json!({"command": probe(&outside), "description": "probe"}),
            )),
        },
        Turn {
            pieces: vec!["Done.".into()],
            tool: None,
        },
    ]);
    let ran = run_bounded(
        sc_spawn_claude(&claude, &mock.url(), &dir)
            .env("HOME", &home)
            .env("SC_BWRAP", &bwrap)
            .args([
                "--sandbox",
                "--role",
                "bug-fixer",
                "--prompt",
                "Probe the sandbox.",
            ]),
        Vec::new(),
    );
    let AgentRun {
        run,
        notes,
        described,
    } = agent_run(&ran);
    assert_eq!(ran.status.code(), Some(0), "{}", described);
    assert_eq!(starts_of(&run)[0].sandbox.as_deref(), Some("bwrap"));
    assert!(
        notes
            .iter()
            .any(|a| a["kind"] == "result" && a["ok"] == true),
        "{}",
        described
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("marker.txt"))
            .ok()
            .as_deref(),
        Some("inside\n"),
        "its tool wrote in its directory"
    );
    assert!(!outside.exists(), "its tool wrote outside");
    // What the tool said went back to the model: refused, no key.
    let requests = mock.requests.lock().unwrap().join("\n");
    assert!(requests.contains("refused-outside"), "{requests}");
    assert!(requests.contains("no-key") && !requests.contains("SECRET KEY"));
    // Its state was kept where it keeps it (a writable ~/.claude).
    assert!(home.join(".claude").is_dir(), "{}", described);
}

/// Codex inside: its own sandbox (bubblewrap, which cannot be made inside
/// sc's) is turned off and sc's holds its grant: `workspace-write` writes
/// its directory, the default `read-only` cannot. Its home outside is
/// its own to write.
#[test]
fn codex_works_inside_the_sandbox_with_its_grant_kept_by_scs() {
    let Some(bwrap) = crate::sandbox::bwrap() else {
        return;
    };
    let Some(codex) = agent_cli("codex", "SC_CODEX") else {
        return;
    };
    for (role, writes) in [(Some("code-generator"), true), (None, false)] {
        let mock = crate::mock_model::MockResponses::start();
        let dir = temp_dir(&format!("sandbox-codex-{writes}"));
        let codex_home = home_outside(&format!("codex-{writes}"));
        let mut command = crate::codex_gemini::sc_spawn_codex(&codex, mock.port, &dir);
        command
            .env("CODEX_HOME", &codex_home)
            .env("HOME", &codex_home)
            .env("SC_BWRAP", &bwrap)
            .args(["--sandbox", "--prompt", "Write the marker file."]);
        if let Some(role) = role {
            command.args(["--role", role]);
        }
        let ran = run_bounded(&mut command, Vec::new());
        let AgentRun {
            run,
            notes,
            described,
        } = agent_run(&ran);
        assert_eq!(
            ran.status.code(),
            Some(0),
            "{}\n{}",
            described,
            String::from_utf8_lossy(&ran.stdout)
        );
        let argv = &starts_of(&run)[0].argv;
        assert!(
            argv.iter().any(|a| a == "danger-full-access"),
            "its own sandbox is off: {argv:?}"
        );
        assert!(
            notes.iter().any(|a| a["kind"] == "tool_call"),
            "it ran its command: {}",
            described
        );
        let marker = std::fs::read_to_string(dir.join("marker.txt")).ok();
        match writes {
            true => assert_eq!(marker.as_deref(), Some("codex-tool-ran\n"), "{}", described),
            false => assert_eq!(marker, None, "a read-only grant wrote: {}", described),
        }
        assert!(
            codex_home.join("sessions").is_dir(),
            "its session was kept: {}",
            described
        );
    }
}

#[test]
fn gemini_works_inside_the_sandbox() {
    let Some(bwrap) = crate::sandbox::bwrap() else {
        return;
    };
    let Some(gemini) = agent_cli("gemini", "SC_GEMINI") else {
        return;
    };
    let mock = crate::mock_model::MockGemini::start();
    let dir = temp_dir("sandbox-gemini");
    let home = home_outside("gemini");
    let gemini_home = gemini_home(&home);
    let ran = run_bounded(
        crate::codex_gemini::sc_spawn_gemini(&gemini, mock.port, &dir)
            .env("GEMINI_CLI_HOME", &gemini_home)
            .env("HOME", &home)
            .env("SC_BWRAP", &bwrap)
            .args(["--sandbox", "--prompt", "Write the marker file."])
            .arg("--dangerously-skip-permissions"),
        Vec::new(),
    );
    let described = agent_run(&ran).described;
    assert_eq!(ran.status.code(), Some(0), "{}", described);
    assert_eq!(
        std::fs::read_to_string(dir.join("marker.txt"))
            .ok()
            .as_deref(),
        Some("gemini-tool-ran\n"),
        "{}",
        described
    );
}

/// Codex unconfined, with its CODEX_HOME under the temp folder and a
/// bubblewrap on its PATH: its own sandbox cannot run its shell calls
/// (Codex makes no helper there) and drops them from its stream in
/// silence. sc says so before it starts, naming the two ways out; under
/// `--sandbox` (Codex's own off) the same setting works.
#[test]
fn codex_is_warned_when_its_own_sandbox_would_drop_its_commands_and_sandbox_mends_it() {
    let Some(bwrap) = crate::sandbox::bwrap() else {
        return;
    };
    let Some(codex) = agent_cli("codex", "SC_CODEX") else {
        return;
    };
    let path = format!(
        "{}:{}",
        Path::new(&bwrap).parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for confined in [false, true] {
        let mock = crate::mock_model::MockResponses::start();
        let dir = temp_dir(&format!("codex-temp-home-{confined}"));
        let home_in_temp = dir.join("codex-home");
        std::fs::create_dir_all(&home_in_temp).unwrap();
        let mut command = crate::codex_gemini::sc_spawn_codex(&codex, mock.port, &dir);
        command
            .env("CODEX_HOME", &home_in_temp)
            .env("PATH", &path)
            .env("SC_BWRAP", &bwrap)
            .args([
                "--role",
                "code-generator",
                "--prompt",
                "Write the marker file.",
            ]);
        if confined {
            command.arg("--sandbox");
        }
        let ran = run_bounded(&mut command, Vec::new());
        let run = Captured::parse(&ran.stdout);
        assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
        let warned: Vec<String> = run
            .errors()
            .into_iter()
            .filter(|e| e.contains("CODEX_HOME"))
            .collect();
        let ran_its_command = run.agent_notes().iter().any(|a| a["kind"] == "tool_call");
        if confined {
            assert!(warned.is_empty(), "{warned:?}");
            assert!(ran_its_command, "confined by sc, Codex runs its command");
        } else {
            assert_eq!(warned.len(), 1, "{}", String::from_utf8_lossy(&ran.stdout));
            assert!(
                warned[0].contains(&home_in_temp.display().to_string())
                    && warned[0].contains("--sandbox"),
                "{}",
                warned[0]
            );
            // Said before it started, so that it is read before its output.
            let types: Vec<&str> = run.events.iter().map(|e| e.body.type_name()).collect();
            let error = types.iter().position(|t| *t == "error").unwrap();
            let start = types.iter().position(|t| *t == "start").unwrap();
            assert!(error < start, "{types:?}");
            // What the warning says is what happens: its command dropped.
            assert!(!ran_its_command, "the warning would be wrong here");
        }
    }
}
