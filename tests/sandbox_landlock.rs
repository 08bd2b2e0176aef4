//! `--sandbox=landlock`: the kernel's Landlock where bubblewrap cannot run
//! (user namespaces off). Writes confined, secrets unreadable, TCP only
//! through the allow-list's proxy, signals as for any worker, and what it
//! cannot do said in the stream.

use sc_events::{Body, Stream};

use crate::sandbox::stdout_of;
use crate::sandbox_net::{FETCH, Site};
use crate::util::*;

/// Whether this kernel has the Landlock the kind needs (ABI 4), asked of
/// sc-spawn itself; said when not (and a failure under .ci/run).
pub fn landlock() -> bool {
    let out = sc_spawn()
        .args(["--sandbox=landlock", "--", "true"])
        .output()
        .unwrap();
    if out.status.success() {
        return true;
    }
    let run = Captured::parse(&out.stdout);
    let why = run.errors().join("; ");
    assert!(why.contains("Landlock"), "{why}");
    engine_missing(
        "the --sandbox=landlock tests",
        "Landlock (ABI 4)",
        "a Linux 6.7 kernel",
    );
    false
}

#[test]
fn landlock_confines_writes_secrets_and_tcp_and_says_what_it_cannot() {
    if !landlock() {
        return;
    }
    let (allowed, other) = (Site::start(), Site::start());
    let dir = temp_dir("landlock-work");
    // The home and the place outside are outside the temp folder, which a
    // Landlock sandbox shares with the machine (it has no private /tmp).
    let target = |name: &str| disk_dir(name);
    let home = target("landlock-home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "SECRET KEY").unwrap();
    std::fs::write(home.join(".profile"), "readable").unwrap();
    let outside = target("landlock-outside").join("escaped.txt");
    let (a, o) = (allowed.port, other.port);
    let script = format!(
        "echo inside > marker.txt && echo wrote-inside; \
         echo escaped > {out} 2>/dev/null || echo refused-outside; \
         cat $HOME/.ssh/id_ed25519 2>/dev/null || echo no-key; cat $HOME/.profile; echo; \
         python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {o}), 2)' \
           2>/dev/null && echo direct-connected || echo direct-refused; \
         python3 -c '{FETCH}' http://127.0.0.1:{a}/plain tunnel:127.0.0.1:{a} \
           http://127.0.0.1:{o}/other",
        out = outside.display(),
        FETCH = FETCH.replace('\'', "\\'"),
    );
    let ran = run_bounded(
        sc_spawn()
            .env("HOME", &home)
            .current_dir(&dir)
            .args([
                "--sandbox=landlock",
                &format!("--sandbox-net=127.0.0.1:{a}"),
            ])
            .args(["--", "sh", "-c", &script]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(
        stdout_of(&ran),
        "wrote-inside\nrefused-outside\nno-key\nreadable\ndirect-refused\n\
         site says /plain\nsite says /tunnelled\nfailed: 403\n",
        "{}",
        ran.stderr
    );
    assert!(dir.join("marker.txt").exists() && !outside.exists());
    assert_eq!(allowed.connections(), 2);
    assert_eq!(other.connections(), 0, "the other host was never reached");
    assert_eq!(starts_of(&run)[0].sandbox.as_deref(), Some("landlock"));
    let notes: Vec<&sc_events::SandboxNote> = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Sandbox(note) => Some(note),
            _ => None,
        })
        .collect();
    // What it cannot do, said first; then the refusal, with its host.
    assert_eq!(notes[0].decision, "limited");
    assert!(notes[0].message.contains("UDP"), "{}", notes[0].message);
    assert_eq!(notes[1].decision, "refused");
    assert_eq!(
        notes[1].net.as_deref(),
        Some(format!("127.0.0.1:{o}").as_str())
    );
    assert_eq!(run.exit().code, Some(0));
    // sc-view says both.
    let view = std::process::Command::new(env!("CARGO_BIN_EXE_sc-view"))
        .arg("--plain")
        .stdin(std::fs::File::open(temp_file("landlock.ndjson", &ran.stdout)).unwrap())
        .output()
        .unwrap();
    let view = String::from_utf8_lossy(&view.stdout);
    assert!(view.contains("(confined: landlock)"), "{view}");
    assert!(
        view.contains(&format!("sandbox refused: 127.0.0.1:{o}")),
        "{view}"
    );
}

/// No namespaces: the worker is sc-spawn's child as any worker is, and a
/// polite end reaches its trap; the relay to the proxy ends with it.
#[test]
fn a_landlocked_worker_is_ended_politely_and_leaves_nothing() {
    if !landlock() {
        return;
    }
    let run = crate::sandbox::ended_politely(sc_spawn().arg("--sandbox=landlock"));
    let pid = starts_of(&run)[0].pid;
    eventually("the worker's group is gone, its relay with it", || {
        !std::path::Path::new("/proc")
            .read_dir()
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .any(|p| {
                nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(p))).ok()
                    == Some(nix::unistd::Pid::from_raw(pid as i32))
            })
    });
}

/// A plan line's `sandbox` names its kind; a kind sc does not know is the
/// task's error, and it does not run.
#[test]
fn a_tasks_sandbox_names_its_kind() {
    if !landlock() {
        return;
    }
    let dir = temp_dir("landlock-task");
    let line = |id: &str, sandbox: &str| {
        format!(
            "{{\"type\":\"task\",\"id\":\"{id}\",\"argv\":[\"sh\",\"-c\",\"touch /etc/sc-probe 2>/dev/null && echo open || echo confined\"],\"sandbox\":{sandbox}}}\n"
        )
    };
    let plan = [
        line("landlocked", r#"{"kind":"landlock"}"#),
        line("unknown", r#"{"kind":"chroot"}"#),
    ]
    .concat();
    let ran = run_bounded(sc_spawn().current_dir(&dir), plan.into_bytes());
    let run = Captured::parse(&ran.stdout);
    let starts = starts_of(&run);
    assert_eq!(starts.len(), 1, "the unknown kind did not run");
    assert_eq!(starts[0].sandbox.as_deref(), Some("landlock"));
    let said = String::from_utf8_lossy(&run.bytes(Stream::Stdout)).into_owned();
    assert_eq!(said, "confined\n");
    let errors = run.errors().join("\n");
    assert!(errors.contains("unknown sandbox kind `chroot`"), "{errors}");
}

/// Landlock makes no PID namespace whose end would take the worker with
/// it (bubblewrap's `--die-with-parent`): a SIGKILLed sc-spawn would leave
/// it running, unwatched. It gets a parent-death signal instead.
#[test]
fn a_landlocked_worker_ends_with_a_killed_sc_spawn() {
    if !landlock() {
        return;
    }
    let dir = temp_dir("landlock-orphan");
    let mut child = sc_spawn()
        .current_dir(&dir)
        .args(["--sandbox=landlock", "--", "sh", "-c"])
        .arg("echo up; while :; do sleep 0.1; done")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = std::io::BufRead::lines(stdout).map(|l| l.unwrap());
    let start = Captured::parse(format!("{}\n", lines.next().unwrap()).as_bytes());
    let pid = starts_of(&start)[0].pid;
    assert!(lines.any(|l| l.contains("\"type\":\"output\"")));
    child.kill().unwrap();
    child.wait().unwrap();
    eventually("the worker ended with sc-spawn", || !alive(pid));
}
