//! Detecting progress in ordinary output lines.
//!
//! Build and test tools print their progress in a few common shapes:
//! a percentage (`45%`, pytest's `[ 42%]`, curl and pip downloads), a count
//! in brackets (`[3/10]`, `(3/10)`), cargo's bar (`Building [===>  ] 45/120:`)
//! "Step 3/10" (docker), and a bare bar (`[######......]`, npm's gauge,
//! `[████░░░░]`) whose filled share is the progress. A line that only happens to hold a number and a
//! slash (`a/b`, dates, `1/2 cup`) is not progress, so a bare count is taken
//! only where one of those shapes frames it.

use sc_events::Progress;

/// The longest message carried in an annotation; the event has the full text.
const MAX_MESSAGE: usize = 200;

/// Progress in `text`, if it has any.
pub fn detect(text: &str) -> Option<Progress> {
    let bytes = text.as_bytes();
    // Most output has none of these: one fast scan decides.
    sc_events::find::find3(b'%', b'/', b'[', bytes)?;
    let percent = last_percent(bytes)
        .or_else(|| count_ratio(bytes))
        .or_else(|| bar_fill(text))?;
    Some(Progress {
        percent: Some(percent),
        message: message(text),
    })
}

fn message(text: &str) -> String {
    let trimmed = text.trim_matches(|c: char| c.is_whitespace() || c == '\r');
    if trimmed.len() <= MAX_MESSAGE {
        return trimmed.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    trimmed[..end].to_owned()
}

/// The last `N%` or `N.N%` with 0 <= N <= 100, preceded by a non-word byte.
fn last_percent(bytes: &[u8]) -> Option<f64> {
    let mut found = None;
    for pct in memchr::memchr_iter(b'%', bytes) {
        let mut start = pct;
        while start > 0 && (bytes[start - 1].is_ascii_digit() || bytes[start - 1] == b'.') {
            start -= 1;
        }
        let number = &bytes[start..pct];
        if number.is_empty() || number[0] == b'.' {
            continue;
        }
        if start > 0 && (bytes[start - 1].is_ascii_alphabetic() || bytes[start - 1] == b'_') {
            continue; // `x50%` is an identifier or a format string, not progress
        }
        if let Some(value) = std::str::from_utf8(number)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|v| (0.0..=100.0).contains(v))
        {
            found = Some(value);
        }
    }
    found
}

/// `[N/M]`, `(N/M)`, `] N/M` (cargo) or `step N/M`, with 0 <= N <= M, M > 0.
fn count_ratio(bytes: &[u8]) -> Option<f64> {
    for slash in memchr::memchr_iter(b'/', bytes) {
        let mut start = slash;
        while start > 0 && bytes[start - 1].is_ascii_digit() {
            start -= 1;
        }
        let mut end = slash + 1;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        if start == slash || end == slash + 1 {
            continue;
        }
        let before = trim_spaces_end(&bytes[..start]);
        let after = trim_spaces_start(&bytes[end..]);
        let framed = match before.last() {
            Some(b'[') => after.first() == Some(&b']'),
            Some(b'(') => after.first() == Some(&b')'),
            Some(b']') => true,
            _ => ends_with_word(before, b"step"),
        };
        if !framed {
            continue;
        }
        let done: f64 = std::str::from_utf8(&bytes[start..slash])
            .ok()?
            .parse()
            .ok()?;
        let total: f64 = std::str::from_utf8(&bytes[slash + 1..end])
            .ok()?
            .parse()
            .ok()?;
        if total > 0.0 && done <= total {
            return Some((done / total * 1000.0).round() / 10.0);
        }
    }
    None
}

/// The filled share of a bracketed bar of at least 10 cells: fill is `#`,
/// `=`, `>`, `█` or `▓`; empty is ` `, `.`, `-`, `░` or `▒`. Nothing else may
/// stand in the brackets, so `[INFO]` or `[ ]` are not bars.
fn bar_fill(text: &str) -> Option<f64> {
    let open = text.find('[')?;
    let close = open + text[open..].find(']')?;
    let (mut filled, mut cells) = (0u32, 0u32);
    for c in text[open + 1..close].chars() {
        match c {
            '#' | '=' | '>' | '█' | '▓' => filled += 1,
            ' ' | '.' | '-' | '░' | '▒' => {}
            _ => return None,
        }
        cells += 1;
    }
    (cells >= 10 && filled > 0)
        .then(|| (f64::from(filled) * 1000.0 / f64::from(cells)).round() / 10.0)
}

fn trim_spaces_end(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|b| *b != b' ').map_or(0, |i| i + 1);
    &bytes[..end]
}

fn trim_spaces_start(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != b' ').unwrap_or(bytes.len());
    &bytes[start..]
}

fn ends_with_word(bytes: &[u8], word: &[u8]) -> bool {
    bytes.len() >= word.len()
        && bytes[bytes.len() - word.len()..].eq_ignore_ascii_case(word)
        && (bytes.len() == word.len() || !bytes[bytes.len() - word.len() - 1].is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent(text: &str) -> Option<f64> {
        detect(text).and_then(|p| p.percent)
    }

    #[test]
    fn recognises_the_common_shapes() {
        assert_eq!(percent("Downloading 45%\r"), Some(45.0));
        assert_eq!(
            percent("tests/test_a.py ....                   [ 42%]\n"),
            Some(42.0)
        );
        assert_eq!(percent("  67.5% done"), Some(67.5));
        assert_eq!(percent("[3/10] Compiling foo\n"), Some(30.0));
        assert_eq!(percent("(1/3) installing"), Some(33.3));
        assert_eq!(
            percent("    Building [=======>          ] 45/120: sc-events\r"),
            Some(37.5)
        );
        assert_eq!(percent("Step 2/4 : RUN make"), Some(50.0));
        assert_eq!(percent("50% then 75%"), Some(75.0));
        assert_eq!(
            percent("[#####.....] \\ fetchMetadata: sill resolveWithNewModule"),
            Some(50.0)
        );
        assert_eq!(percent("[████░░░░░░░░░░░░] downloading"), Some(25.0));
    }

    #[test]
    fn ignores_lookalikes() {
        for text in [
            "hello world\n",
            "see src/lib.rs\n",
            "on 2024/11/25\n",
            "add 1/2 cup\n",
            "printf(\"%d\")\n",
            "x50% is a name\n",
            "150% overload\n",
            "[5/3] nonsense\n",
            "[3/0] nonsense\n",
            "%\n",
            "[INFO] building\n",
            "[          ] nothing filled yet\n",
            "[##] too short to be a bar\n",
        ] {
            assert_eq!(detect(text), None, "{text}");
        }
    }

    #[test]
    fn message_is_the_trimmed_line_bounded() {
        assert_eq!(detect(" 10% working\r\n").unwrap().message, "10% working");
        let long = format!("{}é 5%", "a".repeat(250));
        assert!(detect(&long).unwrap().message.len() <= MAX_MESSAGE);
    }
}
