//! The real agent CLIs in the tests: where each is found, and the command
//! lines and homes that run them offline against the tests' mock models.

use std::path::PathBuf;
use std::process::Command;

use crate::util::{Captured, sc_spawn, skipped, starts_of};

/// An installed agent CLI: $VARIABLE, .ci/run's install (.ci/node), or
/// PATH; None (said on stderr) on a machine without it, and a failure
/// where CI requires the CLIs (SC_REQUIRE_AGENT_CLIS).
pub fn agent_cli(name: &str, variable: &str) -> Option<PathBuf> {
    let found = std::env::var_os(variable).map(PathBuf::from).or_else(|| {
        let ci = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(".ci/node/node_modules/.bin")
            .join(name);
        if ci.exists() {
            return Some(ci);
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var_os("SC_REQUIRE_AGENT_CLIS").is_none(),
            "{name} is not installed: run .ci/run, or set {variable}"
        );
        skipped(
            &format!("tests with the real {name} CLI"),
            &format!("not installed: .ci/run installs it from npm, or set {variable}"),
        );
    }
    found
}

/// sc-spawn running the real Claude Code (`claude`) offline against the
/// mock model at `url`, in `dir`, with a HOME of its own there.
pub fn sc_spawn_claude(claude: &std::path::Path, url: &str, dir: &std::path::Path) -> Command {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("a HOME for the CLI");
    let mut command = sc_spawn();
    command
        .args(["--kind", "claude-code", "--timeout", "120"])
        .arg("--cwd")
        .arg(dir)
        .env("SC_CLAUDE", claude)
        .env("ANTHROPIC_BASE_URL", url)
        .env("ANTHROPIC_API_KEY", "sk-ant-test-key-for-the-mock")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("HOME", &home);
    command
}

/// A retried agent resumed its session: the second attempt's `start` says
/// which, its command line carries `flag` and the session id, and the
/// model saw the first attempt's conversation (`asked`, the task, in the
/// resumed request beside the retry's restatement of it).
pub fn assert_resumed(run: &Captured, requests: &[String], flag: &str, asked: &str) {
    let starts = starts_of(run);
    let session = starts
        .get(1)
        .and_then(|s| s.resumes.clone())
        .expect("the retry resumes a session");
    assert!(
        starts[1].argv.iter().any(|a| a == flag) && starts[1].argv.contains(&session),
        "{:?}",
        starts[1].argv
    );
    assert_conversation_resumed(requests, asked);
}

/// The model's resumed request (the one whose prompt says a previous
/// attempt ended) carries the first attempt's conversation, `asked` in it.
pub fn assert_conversation_resumed(requests: &[String], asked: &str) {
    let resumed = requests
        .iter()
        .rfind(|b| b.contains("previous attempt"))
        .expect("a resumed request");
    assert!(
        resumed.matches(asked).count() >= 2,
        "the first attempt's conversation is not in the resumed request: {resumed}"
    );
}

/// The arguments that point the real Codex at the tests' mock Responses API
/// on `port`, its own retries off, each behind `prefix` (`--agent-arg=` for
/// sc-spawn, `--planner-arg=` for sc-plan).
pub fn codex_mock_args(port: u16, prefix: &str) -> Vec<String> {
    let provider = format!(
        "model_providers.mock={{name=\"mock\",base_url=\"http://127.0.0.1:{port}/v1\",wire_api=\"responses\",request_max_retries=0,stream_max_retries=0}}"
    );
    [
        "-m",
        "gpt-5.5",
        "-c",
        "model_provider=mock",
        "-c",
        &provider,
    ]
    .iter()
    .map(|a| format!("{prefix}{a}"))
    .collect()
}

/// A home for the real Gemini CLI in `dir`, set up to use an API key (the
/// mock's): its path, for GEMINI_CLI_HOME.
pub fn gemini_home(dir: &std::path::Path) -> PathBuf {
    let home = dir.join("gemini-home");
    std::fs::create_dir_all(home.join(".gemini")).expect("a home for gemini");
    std::fs::write(
        home.join(".gemini/settings.json"),
        r#"{"security":{"auth":{"selectedType":"gemini-api-key"}},"general":{"enableAutoUpdate":false}}"#,
    )
    .expect("gemini settings");
    home
}

/// sc-spawn running the real Qwen Code offline against the Anthropic-style
/// mock at `url`, in `dir`, with a HOME of its own there (its settings: no
/// background memory calls).
pub fn sc_spawn_qwen(qwen: &std::path::Path, url: &str, dir: &std::path::Path) -> Command {
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".qwen")).expect("a HOME for qwen");
    std::fs::write(
        home.join(".qwen/settings.json"),
        r#"{"memory":{"enableManagedAutoMemory":false}}"#,
    )
    .expect("qwen settings");
    let mut command = sc_spawn();
    command
        .args(["--kind", "qwen-code", "--timeout", "120"])
        .current_dir(dir)
        .env("SC_QWEN", qwen)
        .env("HOME", &home)
        .env("ANTHROPIC_API_KEY", "sk-ant-test-key-for-the-mock")
        .env("ANTHROPIC_MODEL", "claude-sonnet-4-5")
        .env("ANTHROPIC_BASE_URL", url);
    command
}

/// sc-spawn running the real Copilot CLI with its own key (bring your
/// own: the mock at `url`), no login, in `dir`.
pub fn sc_spawn_copilot(copilot: &std::path::Path, url: &str, dir: &std::path::Path) -> Command {
    let mut command = sc_spawn();
    command.args(["--kind", "copilot", "--timeout", "120"]);
    copilot_env(&mut command, copilot, url, dir);
    command
}

/// The environment that runs the real Copilot CLI offline, in `dir`.
pub fn copilot_env(
    command: &mut Command,
    copilot: &std::path::Path,
    url: &str,
    dir: &std::path::Path,
) {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("a HOME for copilot");
    command
        .current_dir(dir)
        .env("SC_COPILOT", copilot)
        .env("HOME", &home)
        .env("COPILOT_HOME", home.join(".copilot"))
        .env("COPILOT_OFFLINE", "true")
        .env("COPILOT_PROVIDER_TYPE", "anthropic")
        .env("COPILOT_PROVIDER_BASE_URL", url)
        .env("COPILOT_PROVIDER_API_KEY", "sk-ant-test-key-for-the-mock")
        .env("COPILOT_MODEL", "claude-sonnet-4.5");
}

/// sc-spawn running the real OpenCode with its anthropic provider pointed
/// at the mock at `url`, in `dir`, its homes there.
pub fn sc_spawn_opencode(opencode: &std::path::Path, url: &str, dir: &std::path::Path) -> Command {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("a HOME for opencode");
    let config = serde_json::json!({
        "model": "anthropic/claude-sonnet-4-5", "autoupdate": false, "share": "disabled",
        "provider": {"anthropic": {"options": {"baseURL": format!("{url}/v1"), "apiKey": "any"}}},
    });
    let mut command = sc_spawn();
    command
        .args(["--kind", "opencode", "--timeout", "120"])
        .current_dir(dir)
        .env("SC_OPENCODE", opencode)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("OPENCODE_DISABLE_MODELS_FETCH", "1")
        .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
        .env("OPENCODE_DISABLE_LSP_DOWNLOAD", "1")
        .env("OPENCODE_CONFIG_CONTENT", config.to_string());
    command
}
