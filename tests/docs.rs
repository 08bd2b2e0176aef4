//! The documentation cannot drift from the code: the man pages are what the
//! binaries generate, and every example event in them is a valid event that
//! the JSON Schema accepts.

use std::path::Path;

use serde_json::Value;

use crate::util::sc_spawn;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn man_pages_are_generated_from_the_clis() {
    for (tool, binary) in [
        ("sc-spawn", env!("CARGO_BIN_EXE_sc-spawn")),
        ("sc-merge", env!("CARGO_BIN_EXE_sc-merge")),
        ("sc-view", env!("CARGO_BIN_EXE_sc-view")),
        ("sc-plan", env!("CARGO_BIN_EXE_sc-plan")),
        ("sc-ctl", env!("CARGO_BIN_EXE_sc-ctl")),
        ("sc-replay", env!("CARGO_BIN_EXE_sc-replay")),
    ] {
        let out = std::process::Command::new(binary)
            .args(["--generate", "man"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            repo_file(&format!("man/{tool}.1")),
            "man/{tool}.1 is stale: run scripts/gen-docs"
        );
    }
}

#[test]
fn completions_are_generated_from_the_clis() {
    for (tool, binary) in [
        ("sc-spawn", env!("CARGO_BIN_EXE_sc-spawn")),
        ("sc-merge", env!("CARGO_BIN_EXE_sc-merge")),
        ("sc-view", env!("CARGO_BIN_EXE_sc-view")),
        ("sc-plan", env!("CARGO_BIN_EXE_sc-plan")),
        ("sc-ctl", env!("CARGO_BIN_EXE_sc-ctl")),
        ("sc-replay", env!("CARGO_BIN_EXE_sc-replay")),
    ] {
        for (shell, file) in [
            ("bash", format!("{tool}.bash")),
            ("zsh", format!("_{tool}")),
            ("fish", format!("{tool}.fish")),
        ] {
            let out = std::process::Command::new(binary)
                .args(["--generate", shell])
                .output()
                .unwrap();
            assert!(out.status.success());
            let script = String::from_utf8(out.stdout).unwrap();
            assert!(script.contains(tool), "{shell} completions name {tool}");
            assert_eq!(
                script,
                repo_file(&format!("man/completions/{file}")),
                "man/completions/{file} is stale: run scripts/gen-docs"
            );
        }
    }
}

/// The bash completions work in bash: completing `sc-spawn --rec` offers
/// `--reconnect` and `--reconnect-lease`.
#[test]
fn bash_completes_a_flag() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/completions/sc-spawn.bash");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}'; COMP_WORDS=(sc-spawn --rec); COMP_CWORD=1; COMP_LINE='sc-spawn --rec'; COMP_POINT=${{#COMP_LINE}}; f=$(complete -p sc-spawn | sed 's/.*-F \\([^ ]*\\).*/\\1/'); \"$f\" sc-spawn --rec sc-spawn; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    let offered = String::from_utf8_lossy(&out.stdout);
    assert!(
        offered.lines().any(|l| l == "--reconnect"),
        "{offered} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        offered.lines().any(|l| l == "--reconnect-lease"),
        "{offered}"
    );
}

/// The example lines of sc-events(7), with roff's `\e` turned back into `\`.
fn man_examples() -> Vec<String> {
    repo_file("man/sc-events.7")
        .lines()
        .filter(|l| l.starts_with("{\"type\":"))
        .map(|l| l.replace("\\e", "\\"))
        .collect()
}

#[test]
fn every_event_type_has_a_valid_example_in_the_man_page() {
    let schema: Value =
        serde_json::from_str(&repo_file("crates/events/schema/sc-events-v1.schema.json")).unwrap();
    let examples = man_examples();
    let mut types: Vec<String> = Vec::new();
    for line in &examples {
        let event = sc_events::parse_line(line.as_bytes())
            .unwrap_or_else(|e| panic!("example does not parse: {line}: {e}"));
        assert!(
            !matches!(event.body, sc_events::Body::Other { .. }),
            "{line}"
        );
        // What the example says is what the writer writes.
        let written = String::from_utf8(sc_events::to_line(&event)).unwrap();
        assert_eq!(
            written.trim_end(),
            line,
            "example is not in the writer's form"
        );
        let value: Value = serde_json::from_str(line).unwrap();
        if let Err(e) = conforms(&schema, &value) {
            panic!("example does not conform to the schema: {line}: {e}");
        }
        types.push(event.type_name().to_owned());
    }
    types.sort();
    types.dedup();
    assert_eq!(
        types,
        [
            "answer",
            "ask",
            "error",
            "exit",
            "heartbeat",
            "output",
            "progress",
            "retry",
            "sandbox",
            "say",
            "skip",
            "stall",
            "start",
            "stop",
            "task"
        ]
    );
}

#[test]
fn what_sc_spawn_writes_conforms_to_the_schema() {
    let schema: Value =
        serde_json::from_str(&repo_file("crates/events/schema/sc-events-v1.schema.json")).unwrap();
    let out = sc_spawn()
        .args(["--heartbeat", "0.05", "--stall", "0.1", "--timeout", "0.4"])
        .args(["--", "sh", "-c", "printf '50%%\\r\\377\\n'; sleep 1"])
        .output()
        .unwrap();
    let mut seen = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let value: Value = serde_json::from_str(line).unwrap();
        conforms(&schema, &value).unwrap_or_else(|e| panic!("{line}: {e}"));
        seen.push(value["type"].as_str().unwrap().to_owned());
    }
    for t in ["start", "output", "heartbeat", "stall", "exit"] {
        assert!(seen.iter().any(|s| s == t), "no {t} event in {seen:?}");
    }
    let out = sc_spawn()
        .args(["--", "/no/such/program"])
        .output()
        .unwrap();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        conforms(&schema, &serde_json::from_str(line).unwrap()).unwrap();
    }
}

/// The part of JSON Schema this schema uses: required fields, known fields,
/// and the type, enum or const of each.
fn conforms(schema: &Value, event: &Value) -> Result<(), String> {
    let object = event.as_object().ok_or("not an object")?;
    let type_name = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or("no type")?;
    let def = &schema["$defs"][type_name];
    if def.is_null() {
        return Err(format!("no schema for type {type_name}"));
    }
    let def = resolve(schema, def);
    let mut properties = schema["properties"].as_object().unwrap().clone();
    properties.extend(def["properties"].as_object().cloned().unwrap_or_default());
    let required = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .chain(def["required"].as_array().into_iter().flatten());
    for field in required {
        let field = field.as_str().unwrap();
        if !object.contains_key(field) {
            return Err(format!("missing required field {field}"));
        }
    }
    for (key, value) in object {
        let rule = properties
            .get(key)
            .ok_or_else(|| format!("field {key} is not in the schema"))?;
        check_value(schema, rule, value).map_err(|e| format!("{key}: {e}"))?;
    }
    if let Some(one_of) = def["oneOf"].as_array() {
        let matching = one_of
            .iter()
            .filter(|alt| {
                alt["required"]
                    .as_array()
                    .is_some_and(|r| r.iter().all(|f| object.contains_key(f.as_str().unwrap())))
            })
            .count();
        if matching != 1 {
            return Err(format!("{matching} of the oneOf alternatives match"));
        }
    }
    Ok(())
}

fn resolve<'a>(schema: &'a Value, rule: &'a Value) -> &'a Value {
    match rule["$ref"].as_str() {
        Some(path) => &schema["$defs"][path.trim_start_matches("#/$defs/")],
        None => rule,
    }
}

fn check_value(schema: &Value, rule: &Value, value: &Value) -> Result<(), String> {
    let rule = resolve(schema, rule);
    if let Some(constant) = rule.get("const") {
        return (constant == value)
            .then_some(())
            .ok_or(format!("is not {constant}"));
    }
    if let Some(choices) = rule["enum"].as_array() {
        return choices
            .contains(value)
            .then_some(())
            .ok_or(format!("{value} not in enum"));
    }
    let types: Vec<&str> = match &rule["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    let fits = types.iter().any(|t| match *t {
        "string" => value.is_string(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    });
    if !fits {
        return Err(format!("{value} is not of type {types:?}"));
    }
    if let (Some(required), Some(object)) = (rule["required"].as_array(), value.as_object()) {
        for field in required {
            if !object.contains_key(field.as_str().unwrap()) {
                return Err(format!("missing {field}"));
            }
        }
    }
    Ok(())
}

/// A fresh clone has nothing beside it: no test, source or script may read
/// the material that sits beside the checkout (the agent fixtures are
/// copied into tests/fixtures).
#[test]
fn nothing_reads_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Spelt in two pieces so that this file does not name it itself.
    let needle = ["..", "/shared/"].concat();
    let mut offenders = Vec::new();
    let mut dirs = vec![
        root.join("tests"),
        root.join("crates"),
        root.join("scripts"),
        root.join(".ci"),
    ];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.ends_with(".ci/node") || path.ends_with("fixtures") {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                if text.contains(&needle) {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these read outside the repository ({needle}), which a fresh clone does not have: {offenders:?}"
    );
}

#[test]
fn every_agent_kind_of_the_table_is_documented() {
    let readme = repo_file("docs/agents.md");
    let spawn = repo_file("man/sc-spawn.1");
    let events = repo_file("man/sc-events.7");
    for kind in sc_events::AGENT_KINDS {
        assert!(
            readme.contains(&format!("| `{}` |", kind.name)),
            "docs/agents.md's agent table lacks {}",
            kind.name
        );
        // roff escapes the hyphen.
        let roff = kind.name.replace('-', "\\-");
        assert!(spawn.contains(&roff), "sc-spawn(1) lacks {}", kind.name);
        if kind.json {
            assert!(
                events.contains(&roff) || events.contains(kind.name),
                "sc-events(7) lacks {}",
                kind.name
            );
        }
    }
}

/// What bash offers for the words `words` (the last one being completed)
/// with `tool`'s completion script.
fn bash_offers(tool: &str, words: &[&str]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("man/completions/{tool}.bash"));
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = words.join(" ");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; f=$(complete -p {tool} | sed 's/.*-F \\([^ ]*\\).*/\\1/'); \"$f\" {tool} '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            quoted.join(" "),
            words.len() - 1,
            words[words.len() - 1],
            words[words.len() - 2],
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn completions_offer_what_a_user_may_type_and_nothing_internal() {
    let flags = bash_offers("sc-spawn", &["sc-spawn", "--"]);
    assert!(flags.iter().any(|f| f == "--kind"), "{flags:?}");
    for internal in [
        "--spool",
        "--lease",
        "--attach",
        "--from-byte",
        "--slurm-step",
        "--generate",
    ] {
        assert!(
            !flags.iter().any(|f| f == internal),
            "{internal} offered: {flags:?}"
        );
    }
    // `--pty` takes its mode attached (`--pty=stdout`): the next word is the
    // worker's command, not a mode.
    let after_pty = bash_offers("sc-spawn", &["sc-spawn", "--pty", ""]);
    assert!(
        !after_pty.iter().any(|w| w == "all" || w == "stdout"),
        "{after_pty:?}"
    );
    let kinds = bash_offers("sc-spawn", &["sc-spawn", "--kind", ""]);
    for kind in sc_events::AGENT_KINDS {
        assert!(kinds.iter().any(|k| k == kind.name), "{kinds:?}");
    }
    for shell in ["_sc-spawn", "sc-spawn.fish"] {
        let text = repo_file(&format!("man/completions/{shell}"));
        assert!(
            !text.contains("'--spool") && !text.contains("-l spool"),
            "{shell}"
        );
    }
}

/// Every flag of every tool is explained in its man page: no option item
/// without words under it (a flag with no doc comment would have none).
#[test]
fn every_flag_is_explained_in_its_man_page() {
    for tool in [
        "sc-spawn",
        "sc-merge",
        "sc-view",
        "sc-plan",
        "sc-ctl",
        "sc-replay",
    ] {
        let page = repo_file(&format!("man/{tool}.1"));
        let lines: Vec<&str> = page.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if *line != ".TP" {
                continue;
            }
            let item = lines.get(i + 1).copied().unwrap_or("");
            let words = lines.get(i + 2).copied().unwrap_or("");
            assert!(
                !words.is_empty() && !words.starts_with('.'),
                "{tool}(1): `{item}` is not explained"
            );
        }
    }
}
