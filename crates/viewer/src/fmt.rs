//! Numbers as people read them, and the colours of sc-view's own marks.

use anstyle::{AnsiColor, Style};

/// The styles of sc-view's own marks; all plain when colour is off, so
/// nothing needs stripping afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub ok: Style,
    pub bad: Style,
    pub warn: Style,
    pub dim: Style,
    pub bold: Style,
}

impl Palette {
    pub fn new(color: bool) -> Palette {
        if !color {
            let plain = Style::new();
            return Palette {
                ok: plain,
                bad: plain,
                warn: plain,
                dim: plain,
                bold: plain,
            };
        }
        Palette {
            ok: AnsiColor::Green.on_default(),
            bad: AnsiColor::Red.on_default(),
            warn: AnsiColor::Yellow.on_default(),
            dim: Style::new().dimmed(),
            bold: Style::new().bold(),
        }
    }
}

/// `850ms`, `1.2s`, `2m03s`, `1h02m`.
pub fn duration(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 1.0 {
        format!("{}ms", (secs * 1000.0).round() as u64)
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        let s = secs.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = (secs / 60.0).round() as u64;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

/// `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `999`, `1.2k`, `3.4M`.
pub fn count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1000.0),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// `n` things, counted as [`count`] does: `1 line`, `2 lines`, `1.2k lines`.
pub fn counted(n: u64, one: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        _ => format!("{} {one}s", count(n)),
    }
}

/// `n` things, exactly: `1 worker`, `12345 lines`.
pub fn plural(n: u64, one: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        _ => format!("{n} {one}s"),
    }
}

/// Cost and tokens, when reported: `$0.25 · 1.2k/300 tok`.
pub fn usage(usage: &crate::usage::Usage) -> String {
    let mut parts = Vec::new();
    if let Some(cost) = usage.cost_usd {
        parts.push(format!("${cost:.2}"));
    }
    if usage.input_tokens.is_some() || usage.output_tokens.is_some() {
        parts.push(format!(
            "{}/{} tok",
            count(usage.input_tokens.unwrap_or(0)),
            count(usage.output_tokens.unwrap_or(0))
        ));
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable() {
        assert_eq!(duration(0.85), "850ms");
        assert_eq!(duration(1.25), "1.2s");
        assert_eq!(duration(123.0), "2m03s");
        assert_eq!(duration(3720.0), "1h02m");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(count(12_345), "12.3k");
    }
}
