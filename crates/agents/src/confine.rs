//! What each CLI needs of sc's sandbox to work inside it: its state
//! folders writable (sessions, settings, logs), and its model's API on the
//! network allow-list — the base URL it is given (by a variable, or by the
//! configuration on its command line), else the CLI's default hosts. Only
//! those places are read: never the prompt, whose URLs are the model's to
//! ask for and the allow-list's to refuse.

use std::ffi::OsString;
use std::path::PathBuf;

use sc_capture::agent::{Fit, SandboxNeeds};
use sc_capture::process::program::on_path;
use serde_json::Value;

use crate::AgentKind;

/// A variable of the worker's environment.
type Var<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// How a CLI fits where it is run: what it needs of sc's sandbox (when
/// it is confined), and what keeps it from working here.
pub fn fit(
    kind: AgentKind,
    confined: bool,
    permissions: Option<&Value>,
    argv: &[OsString],
    var: Var<'_>,
) -> Fit {
    Fit {
        needs: needs(kind, permissions, argv, var),
        warnings: warnings(kind, confined, permissions, argv, var),
    }
}

fn needs(
    kind: AgentKind,
    permissions: Option<&Value>,
    argv: &[OsString],
    var: Var<'_>,
) -> SandboxNeeds {
    let (state, write) = state(kind, var);
    // Codex's own sandbox keeps a read-only grant's directory read-only;
    // turned off inside sc's, sc's keeps it so.
    let read_only = kind == AgentKind::Codex && codex_sandbox(permissions) == "read-only";
    SandboxNeeds {
        state,
        write,
        net: api(kind, argv, var),
        read_only,
    }
}

/// The CLI's state: its folders (made if missing) and its files.
fn state(kind: AgentKind, var: Var<'_>) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let under_home = |rel: &str| var("HOME").map(|h| PathBuf::from(h).join(rel));
    let dir_or = |variable: &str, rel: &str| var(variable).map(PathBuf::from).or(under_home(rel));
    let opencode =
        |variable: &str, default: &str| dir_or(variable, default).map(|d| d.join("opencode"));
    let (dirs, files) = match kind {
        AgentKind::ClaudeCode => (
            vec![dir_or("CLAUDE_CONFIG_DIR", ".claude")],
            vec![under_home(".claude.json")],
        ),
        AgentKind::Codex => (vec![codex_home(var)], vec![]),
        AgentKind::Gemini => (
            vec![
                var("GEMINI_CLI_HOME")
                    .map(|h| PathBuf::from(h).join(".gemini"))
                    .or(under_home(".gemini")),
            ],
            vec![],
        ),
        AgentKind::QwenCode => (vec![under_home(".qwen")], vec![]),
        AgentKind::Copilot => (vec![dir_or("COPILOT_HOME", ".copilot")], vec![]),
        AgentKind::OpenCode => (
            vec![
                opencode("XDG_CONFIG_HOME", ".config"),
                opencode("XDG_DATA_HOME", ".local/share"),
                opencode("XDG_CACHE_HOME", ".cache"),
                opencode("XDG_STATE_HOME", ".local/state"),
            ],
            vec![],
        ),
        // Aider writes in its directory; any ACP agent's state is the
        // run's --sandbox-write to say.
        AgentKind::Aider | AgentKind::Acp => (vec![], vec![]),
    };
    let known = |paths: Vec<Option<PathBuf>>| paths.into_iter().flatten().collect();
    (known(dirs), known(files))
}

/// The CLI's model API (`HOST:PORT`s): the base URLs it is given, else its
/// default hosts. Any ACP agent: none (the run's --sandbox-net says it).
fn api(kind: AgentKind, argv: &[OsString], var: Var<'_>) -> Vec<String> {
    let (urls, defaults): (Vec<String>, &[&str]) = match kind {
        AgentKind::ClaudeCode => (
            vars(var, &["ANTHROPIC_BASE_URL"]),
            &["api.anthropic.com:443"],
        ),
        AgentKind::Codex => {
            let mut urls = vars(var, &["OPENAI_BASE_URL"]);
            urls.extend(config_urls(argv, "base_url"));
            (urls, &["api.openai.com:443", "chatgpt.com:443"])
        }
        AgentKind::Gemini => (
            vars(var, &["GOOGLE_GEMINI_BASE_URL", "GOOGLE_VERTEX_BASE_URL"]),
            &[
                "generativelanguage.googleapis.com:443",
                "cloudcode-pa.googleapis.com:443",
                "oauth2.googleapis.com:443",
            ],
        ),
        AgentKind::QwenCode => (
            vars(var, &["OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"]),
            &["dashscope.aliyuncs.com:443", "portal.qwen.ai:443"],
        ),
        AgentKind::Copilot => (
            vars(var, &["COPILOT_PROVIDER_BASE_URL"]),
            &[
                "api.githubcopilot.com:443",
                "*.githubcopilot.com:443",
                "api.github.com:443",
            ],
        ),
        AgentKind::OpenCode => {
            let config = var("OPENCODE_CONFIG_CONTENT")
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                urls_after(&config, "baseURL"),
                &[
                    "api.anthropic.com:443",
                    "api.openai.com:443",
                    "opencode.ai:443",
                ],
            )
        }
        AgentKind::Aider => (
            vars(var, &["OPENAI_API_BASE", "ANTHROPIC_BASE_URL"]),
            &["api.openai.com:443", "api.anthropic.com:443"],
        ),
        AgentKind::Acp => (vec![], &[]),
    };
    let given: Vec<String> = urls.iter().filter_map(|u| host_port(u)).collect();
    match given.is_empty() {
        true => defaults.iter().map(|d| (*d).to_owned()).collect(),
        false => given,
    }
}

/// Codex's home: `CODEX_HOME`, else `~/.codex`.
fn codex_home(var: Var<'_>) -> Option<PathBuf> {
    var("CODEX_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".codex")))
}

/// What keeps the CLI from working here, said before it starts.
///
/// Codex's own sandbox, when a `bwrap` is on its PATH, runs each shell
/// call through a helper it links into `CODEX_HOME`; it refuses to make
/// that helper under the temp folder (`TMPDIR`, else `/tmp`), and then
/// every shell call is refused and dropped from its stream without a
/// word (measured with Codex 0.169: no `command_execution` item, the turn
/// completes). Unconfined only: inside sc's sandbox Codex's own is off.
fn warnings(
    kind: AgentKind,
    confined: bool,
    permissions: Option<&Value>,
    argv: &[OsString],
    var: Var<'_>,
) -> Vec<String> {
    let open = argv.iter().any(|a| {
        a == "--dangerously-bypass-approvals-and-sandbox"
            || a.to_string_lossy().contains("danger-full-access")
    }) || codex_sandbox(permissions) == "danger-full-access";
    if kind != AgentKind::Codex || confined || open {
        return Vec::new();
    }
    let Some(home) = codex_home(var) else {
        return Vec::new();
    };
    let temp = var("TMPDIR")
        .filter(|t| !t.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let Some(bwrap) = var("PATH").and_then(|path| on_path("bwrap", &path)) else {
        return Vec::new();
    };
    if !under(&home, &temp) {
        return Vec::new();
    }
    vec![format!(
        "codex: its CODEX_HOME ({}) is under the temp folder ({}), where Codex makes no helper \
         for its own sandbox, and a bubblewrap is on its PATH ({}): every shell command it runs \
         will be refused and left out of its stream. Set CODEX_HOME outside {}, or run it with \
         --sandbox (sc confines it, and Codex's own sandbox is off)",
        home.display(),
        temp.display(),
        bwrap.display(),
        temp.display()
    )]
}

/// `path` is `dir` or under it, as written or with links resolved.
fn under(path: &std::path::Path, dir: &std::path::Path) -> bool {
    let real = |p: &std::path::Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    path.starts_with(dir) || real(path).starts_with(real(dir))
}

/// Codex's sandbox mode for a grant (its default: read-only).
pub fn codex_sandbox(permissions: Option<&Value>) -> &str {
    permissions
        .and_then(|p| p.get("sandbox"))
        .and_then(Value::as_str)
        .unwrap_or("read-only")
}

fn vars(var: Var<'_>, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| var(n))
        .map(|v| v.to_string_lossy().into_owned())
        .collect()
}

/// The URLs in `-c KEY=...` settings whose text names `key` (Codex's
/// `model_providers.X={...,base_url="URL",...}`).
fn config_urls(argv: &[OsString], key: &str) -> Vec<String> {
    argv.windows(2)
        .filter(|w| w[0] == "-c" || w[0] == "--config")
        .flat_map(|w| urls_after(&w[1].to_string_lossy(), key))
        .collect()
}

/// Each URL that follows `key` (and its `=`, `:` and quotes) in `text`.
fn urls_after(text: &str, key: &str) -> Vec<String> {
    text.match_indices(key)
        .filter_map(|(at, _)| {
            let rest = text[at + key.len()..].trim_start_matches(['"', '\'', ' ', '=', ':']);
            let end = rest
                .find(|c: char| c == '"' || c == '\'' || c == ',' || c == '}' || c.is_whitespace())
                .unwrap_or(rest.len());
            let url = &rest[..end];
            url.contains("://").then(|| url.to_owned())
        })
        .collect()
}

/// `scheme://host[:port]/...` as `host:port` (`[v6]:port`).
fn host_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => 443,
        "http" | "ws" => 80,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .map_or(Some(default), |p| p.parse().ok())?;
        return Some(format!("[{addr}]:{port}"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok()?),
        None => (authority, default),
    };
    (!host.is_empty()).then(|| format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn claude_gets_its_state_and_its_base_url_else_its_default_host() {
        let var = env(&[
            ("HOME", "/h"),
            ("ANTHROPIC_BASE_URL", "http://127.0.0.1:5005"),
        ]);
        let needs = needs(AgentKind::ClaudeCode, None, &[], &var);
        assert_eq!(needs.state, [PathBuf::from("/h/.claude")]);
        assert_eq!(needs.write, [PathBuf::from("/h/.claude.json")]);
        assert_eq!(needs.net, ["127.0.0.1:5005"]);
        let needs = super::needs(AgentKind::ClaudeCode, None, &[], &env(&[("HOME", "/h")]));
        assert_eq!(needs.net, ["api.anthropic.com:443"]);
        assert!(!needs.read_only);
    }

    #[test]
    fn codex_base_url_comes_from_its_config_never_from_the_prompt() {
        let argv: Vec<OsString> = [
            "codex",
            "exec",
            "-c",
            "model_providers.mock={name=\"mock\",base_url=\"http://127.0.0.1:9/v1\"}",
            "fetch https://evil.example/ base_url=https://evil.example",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let var = env(&[("HOME", "/h"), ("CODEX_HOME", "/c")]);
        let needs = needs(AgentKind::Codex, None, &argv, &var);
        assert_eq!(needs.net, ["127.0.0.1:9"]);
        assert_eq!(needs.state, [PathBuf::from("/c")]);
        assert!(needs.read_only, "its default grant reads only");
        let write = serde_json::json!({"sandbox": "workspace-write"});
        assert!(!super::needs(AgentKind::Codex, Some(&write), &argv, &var).read_only);
    }

    #[test]
    fn codex_is_warned_of_a_home_under_the_temp_folder_with_a_bwrap_on_its_path() {
        let dir = std::env::temp_dir().join(format!("sc-confine-{}", std::process::id()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let bwrap = bin.join("bwrap");
        std::fs::write(&bwrap, "").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bwrap, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = bin.to_str().unwrap();
        let home = dir.join("codex-home");
        let home = home.to_str().unwrap();
        let tmp = dir.to_str().unwrap();
        let said = |vars: &[(&str, &str)], confined: bool, argv: &[&str]| {
            let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
            warnings(AgentKind::Codex, confined, None, &argv, &env(vars))
        };
        let bad = [("CODEX_HOME", home), ("TMPDIR", tmp), ("PATH", bin)];
        let warned = said(&bad, false, &["codex", "exec"]);
        assert_eq!(warned.len(), 1);
        assert!(
            warned[0].contains("--sandbox") && warned[0].contains(home),
            "{warned:?}"
        );
        // Not when confined, not when its sandbox is off, not without a
        // bwrap, not with its home elsewhere.
        assert!(said(&bad, true, &["codex"]).is_empty());
        let open = ["codex", "--dangerously-bypass-approvals-and-sandbox"];
        assert!(said(&bad, false, &open).is_empty());
        let no_bwrap = [
            ("CODEX_HOME", home),
            ("TMPDIR", tmp),
            ("PATH", "/nonexistent"),
        ];
        assert!(said(&no_bwrap, false, &["codex"]).is_empty());
        let elsewhere = [("CODEX_HOME", "/h/.codex"), ("TMPDIR", tmp), ("PATH", bin)];
        assert!(said(&elsewhere, false, &["codex"]).is_empty());
        let gemini = warnings(AgentKind::Gemini, false, None, &[], &env(&bad));
        assert!(gemini.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn urls_become_host_and_port() {
        assert_eq!(
            host_port("https://api.x.com/v1").as_deref(),
            Some("api.x.com:443")
        );
        assert_eq!(host_port("http://u:p@h:8080").as_deref(), Some("h:8080"));
        assert_eq!(host_port("http://[::1]:9/").as_deref(), Some("[::1]:9"));
        assert_eq!(host_port("ftp://h"), None);
        assert_eq!(host_port("http://h:x"), None);
        let opencode =
            r#"{"provider":{"anthropic":{"options":{"baseURL":"http://127.0.0.1:7/v1"}}}}"#;
        assert_eq!(urls_after(opencode, "baseURL"), ["http://127.0.0.1:7/v1"]);
    }
}
