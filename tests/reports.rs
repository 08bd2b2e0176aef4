//! sc-view's reports of a run: the JUnit report CI tools read (checked
//! against their schema) and the timeline SVG (drawn by a real browser).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::util::*;
use crate::view::sc_view;

/// `--junit FILE`: a JUnit report of a real run, live through a pipe and
/// from the saved stream, that the schema CI tools read accepts: one case
/// per worker, failures, a timeout and a skip said as such, output
/// redacted and XML-escaped (markup, escapes, a NUL).
#[test]
fn junit_report_of_a_run_is_valid_and_says_each_outcome() {
    if Command::new("xmllint").arg("--version").output().is_err() {
        engine_missing("the JUnit schema test", "xmllint", "libxml2-utils");
        return;
    }
    let dir = temp_dir("junit");
    let line = |value: serde_json::Value| format!("{value}\n");
    let plan = [
        line(serde_json::json!({"type":"task","worker":"build","seq":0,"ts":1.0,"id":"build","role":"implementer",
            "argv":["printf","<ok> & \"done\" \u{1b}[31mred\u{1b}[0m \\000 key sk-ant-api03-abcdefghijklmnop\\n"]})),
        line(serde_json::json!({"type":"task","worker":"tests","seq":0,"ts":1.0,"id":"tests",
            "argv":["sh","-c","echo 'assertion failed: ]]>' >&2; exit 3"]})),
        line(serde_json::json!({"type":"task","worker":"slow","seq":0,"ts":1.0,"id":"slow","timeout_s":0.3,
            "argv":["sleep","30"]})),
        line(serde_json::json!({"type":"task","worker":"docs","seq":0,"ts":1.0,"id":"docs",
            "argv":["true"],"depends_on":["tests"]})),
    ]
    .concat();
    let log = dir.join("run.ndjson");
    let live_report = dir.join("live.xml");
    // Live: sc-spawn's stream piped into sc-view.
    let mut spawn = sc_spawn()
        .args(["--kill-grace", "1", "--log"])
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    spawn
        .stdin
        .take()
        .unwrap()
        .write_all(plan.as_bytes())
        .unwrap();
    let spawn_out = spawn.stdout.take().unwrap();
    let viewed = sc_view()
        .arg("--junit")
        .arg(&live_report)
        .stdin(spawn_out)
        .output()
        .unwrap();
    assert_eq!(viewed.status.code(), Some(1), "a task failed");
    assert_eq!(wait_with_deadline(&mut spawn).code(), Some(1));
    let saved_report = dir.join("saved.xml");
    let saved = sc_view()
        .arg("--junit")
        .arg(&saved_report)
        .stdin(std::fs::File::open(&log).unwrap())
        .output()
        .unwrap();
    assert_eq!(saved.status.code(), Some(1));
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit.xsd");
    for report in [&live_report, &saved_report] {
        let valid = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg(report)
            .output()
            .unwrap();
        assert!(
            valid.status.success(),
            "{}: {}",
            report.display(),
            String::from_utf8_lossy(&valid.stderr)
        );
        let xml = std::fs::read_to_string(report).unwrap();
        assert!(
            xml.contains(r#"tests="4" failures="2" errors="0" skipped="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testcase name="build" classname="implementer""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure type="exit" message="exited with code 3">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure type="timeout" message="timed out">"#),
            "{xml}"
        );
        assert!(xml.contains(r#"<skipped message="#), "{xml}");
        assert!(
            xml.contains("&lt;ok&gt; &amp; &quot;done&quot; \\u{1b}[31mred"),
            "{xml}"
        );
        assert!(xml.contains("\\u{0}"), "a NUL, visible: {xml}");
        assert!(
            xml.contains("<system-err>assertion failed: ]]&gt;\n</system-err>"),
            "{xml}"
        );
        assert!(
            !xml.contains("abcdefghijklmnop"),
            "redacted as the view: {xml}"
        );
    }
}

/// `--timeline FILE`: a real run drawn as an SVG that a real browser
/// (headless Chromium) renders with a lane per worker, in the outcome's
/// colours; the dependency arrow and the retry are in it.
#[test]
fn timeline_of_a_run_renders_in_a_browser() {
    let Some(chromium) = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
    else {
        engine_missing("the timeline browser test", "chromium", "chromium");
        return;
    };
    let dir = temp_dir("timeline");
    let flaky = dir.join("flaky");
    let line = |value: serde_json::Value| format!("{value}\n");
    let plan = [
        line(serde_json::json!({"type":"task","worker":"build","seq":0,"ts":1.0,"id":"build",
            "argv":["sh","-c","sleep 0.3"]})),
        line(serde_json::json!({"type":"task","worker":"tests","seq":0,"ts":1.0,"id":"tests",
            "argv":["sh","-c","sleep 0.2; exit 3"],"depends_on":["build"]})),
        line(serde_json::json!({"type":"task","worker":"slow","seq":0,"ts":1.0,"id":"slow","timeout_s":0.4,
            "argv":["sleep","30"]})),
        line(serde_json::json!({"type":"task","worker":"flaky","seq":0,"ts":1.0,"id":"flaky","retries":1,
            "argv":["sh","-c", format!("[ -e '{0}' ] || {{ touch '{0}'; exit 1; }}; sleep 0.2", flaky.display())]})),
        line(serde_json::json!({"type":"task","worker":"docs","seq":0,"ts":1.0,"id":"docs",
            "argv":["true"],"depends_on":["tests"]})),
    ]
    .concat();
    let ran = run_bounded(
        sc_spawn().args([
            "--kill-grace",
            "1",
            "--retry-on",
            "any",
            "--retry-delay",
            "0.1",
        ]),
        plan.into_bytes(),
    );
    let svg = dir.join("run.svg");
    let viewed = sc_view()
        .arg("--timeline")
        .arg(&svg)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(&ran.stdout)?;
            child.wait()
        })
        .unwrap();
    assert_eq!(viewed.code(), Some(1));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(!text.contains("<script"), "no script");
    assert_eq!(
        text.matches(r#"class="dep""#).count(),
        1,
        "build → tests (docs never ran)"
    );
    assert_eq!(text.matches(r#"class="retry""#).count(), 1);
    assert_eq!(text.matches(r#"class="skip""#).count(), 1);
    let png = dir.join("run.png");
    let shot = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg("--window-size=1100,250")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .output()
        .unwrap();
    assert!(png.exists(), "{}", String::from_utf8_lossy(&shot.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    // The rows that hold a pixel of each outcome's colour.
    let rows_with = |rgb: [u8; 3]| -> usize {
        (0..info.height as usize)
            .filter(|&row| {
                let start = row * info.line_size;
                pixels[start..start + info.line_size]
                    .chunks(channels)
                    .any(|px| px[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 8))
            })
            .count()
    };
    let green = rows_with([0x2e, 0x7d, 0x32]);
    let red = rows_with([0xc6, 0x28, 0x28]);
    let orange = rows_with([0xef, 0x6c, 0x00]);
    // Two green lanes (build, flaky) and the legend; bars are 16 px high.
    assert!(green >= 30, "green rows {green}");
    assert!(red >= 14, "red rows {red}");
    assert!(orange >= 14, "orange rows {orange}");
}
