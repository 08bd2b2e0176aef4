//! The report files sc-view writes at the end (`--junit`, `--timeline`,
//! `--joblog`), each whole under a temporary name and renamed, so that a CI
//! step never reads half of one.

use std::path::Path;

use sc_viewer::Model;
use sc_viewer::junit::Outputs;
use sc_viewer::timeline::Timeline;

use crate::cli::Cli;

/// Every report asked for; the error names the one that could not be
/// written. `interrupted`: the signal that cut the view short.
pub fn write(
    cli: &Cli,
    model: &Model,
    junit: Option<&Outputs>,
    timeline: Option<&Timeline>,
    interrupted: Option<&str>,
) -> Result<(), String> {
    if let (Some(path), Some(outputs)) = (&cli.junit, junit) {
        // When the report is written, in UTC, as JUnit readers take it
        // (no zone suffix).
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .trim_end_matches('Z')
            .to_owned();
        let xml = sc_viewer::junit::render(model, outputs, &stamp, interrupted);
        write_whole(path, &xml, "the JUnit report")?;
    }
    if let (Some(path), Some(timeline)) = (&cli.timeline, timeline) {
        write_whole(path, &timeline.render(model), "the timeline")?;
    }
    if let Some(path) = &cli.joblog {
        write_whole(path, &sc_viewer::joblog::render(model), "the job log")?;
    }
    Ok(())
}

fn write_whole(path: &Path, text: &str, what: &str) -> Result<(), String> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| format!("cannot write {what} {}: {e}", path.display()))
}
