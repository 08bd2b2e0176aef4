//! Worker output made safe to show: lines assembled from events (with `\r`
//! redraws collapsed), control characters escaped, secrets masked.
//!
//! Worker output is untrusted. Shown raw on a terminal it could move the
//! cursor, clear the screen, set the title, write the clipboard (OSC 52),
//! ring the bell, or reorder text with bidi overrides. Only SGR colour may
//! pass, and only when asked for.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The longest line kept for display; the rest is counted, not kept, so a
/// 300 MB line costs nothing.
pub const MAX_LINE: usize = 64 * 1024;

/// Builds lines from a stream's text, the way a terminal would show them.
#[derive(Debug, Default)]
pub struct LineAssembler {
    current: String,
    /// The last character was a lone `\r`: the next text redraws the line.
    redraw: bool,
    /// Bytes of the current line dropped past MAX_LINE.
    dropped: usize,
}

impl LineAssembler {
    /// Feed text; `on_line` gets each finished line (without its newline).
    pub fn push(&mut self, text: &str, on_line: &mut impl FnMut(&str, usize)) {
        // The common case: one whole line, nothing pending. No copy.
        if self.current.is_empty()
            && let Some(line) = text.strip_suffix('\n')
            && memchr::memchr2(b'\n', b'\r', line.as_bytes()).is_none()
        {
            self.redraw = false;
            on_line(line, 0);
            return;
        }
        let mut rest = text;
        while !rest.is_empty() {
            let Some(at) = memchr::memchr2(b'\n', b'\r', rest.as_bytes()) else {
                self.append(rest);
                return;
            };
            self.append(&rest[..at]);
            if rest.as_bytes()[at] == b'\n' {
                on_line(&self.current, self.dropped);
                self.current.clear();
                self.dropped = 0;
                self.redraw = false;
            } else {
                // `\r\n` ends the line; a lone `\r` redraws it.
                self.redraw = true;
            }
            rest = &rest[at + 1..];
        }
    }

    fn append(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if self.redraw {
            self.current.clear();
            self.dropped = 0;
            self.redraw = false;
        }
        let room = MAX_LINE.saturating_sub(self.current.len());
        if text.len() <= room {
            self.current.push_str(text);
        } else {
            let mut cut = room;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            self.current.push_str(&text[..cut]);
            self.dropped += text.len() - cut;
        }
    }

    /// The line being written (what a terminal shows on its last line).
    pub fn partial(&self) -> &str {
        &self.current
    }

    /// Take the unfinished line, if any, as if it had ended.
    pub fn take_partial(&mut self) -> Option<(String, usize)> {
        if self.current.is_empty() {
            return None;
        }
        self.redraw = false;
        let dropped = std::mem::take(&mut self.dropped);
        Some((std::mem::take(&mut self.current), dropped))
    }
}

/// How to make text safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Safety {
    /// Let SGR colour sequences (`ESC [ ... m`) through (each line that
    /// sets one ends with a reset, so that no colour bleeds on).
    pub keep_sgr: bool,
    /// Without `keep_sgr`: leave SGR sequences out rather than show them
    /// escaped (a log's colour is noise as text).
    pub strip_sgr: bool,
    /// Mask what looks like API keys and tokens.
    pub redact: bool,
}

/// Append `text` to `out` made safe: secrets masked (if asked), control
/// characters shown escaped (`\x1b`, `\x07`, `\u{202e}`).
pub fn push_safe(out: &mut String, text: &str, safety: Safety) {
    let text = if safety.redact {
        redact(text)
    } else {
        Cow::Borrowed(text)
    };
    // Most text has nothing to escape: one scan decides, a block at a
    // time with no early exit inside a block, which the compiler turns
    // into vector instructions (a byte at a time it cannot).
    let plain = |b: u8| b >= 0x20 && b != 0x7f && b != 0xc2 && b != 0xe2;
    if text
        .as_bytes()
        .chunks(32)
        .all(|block| block.iter().fold(true, |ok, &b| ok & plain(b)))
    {
        out.push_str(&text);
        return;
    }
    let mut chars = text.char_indices().peekable();
    let mut coloured = false;
    while let Some((at, c)) = chars.next() {
        match c {
            '\t' => out.push('\t'),
            '\x1b' if safety.keep_sgr || safety.strip_sgr => match sgr_len(&text[at..]) {
                Some(len) => {
                    if safety.keep_sgr {
                        out.push_str(&text[at..at + len]);
                        coloured = true;
                    }
                    while chars.peek().is_some_and(|(i, _)| *i < at + len) {
                        chars.next();
                    }
                }
                None => out.push_str("\\x1b"),
            },
            '\0'..='\x1f' | '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    if coloured && !out.ends_with("\x1b[0m") && !out.ends_with("\x1b[m") {
        out.push_str("\x1b[0m");
    }
}

/// `text` made safe, as a new string.
pub fn safe(text: &str, safety: Safety) -> String {
    let mut out = String::with_capacity(text.len());
    push_safe(&mut out, text, safety);
    out
}

/// The length of an SGR sequence at the start of `text`: `ESC [`, digits,
/// `;` and `:`, then `m`. Anything else (cursor moves, clears) is not SGR.
fn sgr_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.get(1) != Some(&b'[') {
        return None;
    }
    let params = bytes[2..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b';' || **b == b':')
        .count();
    (bytes.get(2 + params) == Some(&b'm')).then_some(3 + params)
}

/// The prefixes of secrets, what must follow them, and what stays visible.
struct Rule {
    prefix: &'static str,
    /// The shortest run of token characters after the prefix.
    min: usize,
    /// Token characters beyond ASCII alphanumerics.
    extra: &'static [u8],
    case_insensitive: bool,
}

const RULES: &[Rule] = &[
    Rule {
        prefix: "sk-ant-",
        min: 8,
        extra: b"-_",
        case_insensitive: false,
    },
    Rule {
        prefix: "sk-",
        min: 20,
        extra: b"-_",
        case_insensitive: false,
    },
    Rule {
        prefix: "github_pat_",
        min: 20,
        extra: b"_",
        case_insensitive: false,
    },
    Rule {
        prefix: "ghp_",
        min: 20,
        extra: b"",
        case_insensitive: false,
    },
    Rule {
        prefix: "gho_",
        min: 20,
        extra: b"",
        case_insensitive: false,
    },
    Rule {
        prefix: "ghu_",
        min: 20,
        extra: b"",
        case_insensitive: false,
    },
    Rule {
        prefix: "ghs_",
        min: 20,
        extra: b"",
        case_insensitive: false,
    },
    Rule {
        prefix: "ghr_",
        min: 20,
        extra: b"",
        case_insensitive: false,
    },
    Rule {
        prefix: "AKIA",
        min: 16,
        extra: b"",
        case_insensitive: false,
    },
    Rule {
        prefix: "ASIA",
        min: 16,
        extra: b"",
        case_insensitive: false,
    },
    Rule {
        prefix: "AIza",
        min: 30,
        extra: b"-_",
        case_insensitive: false,
    },
    Rule {
        prefix: "xoxb-",
        min: 10,
        extra: b"-",
        case_insensitive: false,
    },
    Rule {
        prefix: "xoxp-",
        min: 10,
        extra: b"-",
        case_insensitive: false,
    },
    Rule {
        prefix: "xoxa-",
        min: 10,
        extra: b"-",
        case_insensitive: false,
    },
    // Header values: the scheme stays readable, the credential does not.
    Rule {
        prefix: "authorization: bearer ",
        min: 1,
        extra: b"-_.~+/=",
        case_insensitive: true,
    },
    Rule {
        prefix: "authorization: basic ",
        min: 1,
        extra: b"+/=",
        case_insensitive: true,
    },
    Rule {
        prefix: "authorization: token ",
        min: 1,
        extra: b"-_.",
        case_insensitive: true,
    },
    Rule {
        prefix: "authorization: ",
        min: 1,
        extra: b"-_.~+/=",
        case_insensitive: true,
    },
    Rule {
        prefix: "x-api-key: ",
        min: 1,
        extra: b"-_.~+/=",
        case_insensitive: true,
    },
    Rule {
        prefix: "aws_secret_access_key=",
        min: 20,
        extra: b"/+=",
        case_insensitive: true,
    },
    Rule {
        prefix: "aws_secret_access_key = ",
        min: 20,
        extra: b"/+=",
        case_insensitive: true,
    },
    Rule {
        prefix: "aws_secret_access_key: ",
        min: 20,
        extra: b"/+=",
        case_insensitive: true,
    },
];

/// `text` with what looks like an API key or token replaced by its prefix
/// and `****`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    // Every rule's prefix holds `-`, `_` or `:`, or starts with `A` (AKIA,
    // ASIA, AIza): a line with none of those is let through after two fast
    // scans, without looking at each byte.
    if memchr::memchr3(b'-', b'_', b':', bytes).is_none() && memchr::memchr(b'A', bytes).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        // Only a few letters can start a secret; skip the rest quickly.
        if !matches!(bytes[at], b's' | b'g' | b'A' | b'x' | b'X' | b'a')
            || (at > 0 && bytes[at - 1].is_ascii_alphanumeric())
        {
            at += 1;
            continue;
        }
        let Some((prefix_len, token_len)) =
            RULES.iter().find_map(|rule| matches(rule, &bytes[at..]))
        else {
            at += 1;
            continue;
        };
        let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
        out.push_str(&text[copied..at + prefix_len]);
        out.push_str("****");
        at += prefix_len + token_len;
        copied = at;
    }
    match out {
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(text),
    }
}

fn matches(rule: &Rule, bytes: &[u8]) -> Option<(usize, usize)> {
    let prefix = rule.prefix.as_bytes();
    let head = bytes.get(..prefix.len())?;
    let same = if rule.case_insensitive {
        head.eq_ignore_ascii_case(prefix)
    } else {
        head == prefix
    };
    if !same {
        return None;
    }
    let token = bytes[prefix.len()..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || rule.extra.contains(b))
        .count();
    (token >= rule.min).then_some((prefix.len(), token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(reads: &[&str]) -> (Vec<String>, String) {
        let mut asm = LineAssembler::default();
        let mut out = Vec::new();
        for read in reads {
            asm.push(read, &mut |line: &str, _| out.push(line.to_owned()));
        }
        (out, asm.partial().to_owned())
    }

    #[test]
    fn redraws_collapse_to_the_last() {
        assert_eq!(
            lines(&["10%\r20%\r", "30%\r\n", "done\n"]).0,
            ["30%", "done"]
        );
        assert_eq!(
            lines(&["abc\r", "\nx"]),
            (vec!["abc".to_owned()], "x".to_owned())
        );
        assert_eq!(lines(&["[1/3]\r[2/3]\r"]).1, "[2/3]");
        assert_eq!(lines(&["Continue? "]).1, "Continue? ");
    }

    #[test]
    fn long_lines_are_bounded() {
        let mut asm = LineAssembler::default();
        let mut got = Vec::new();
        asm.push(&"é".repeat(MAX_LINE), &mut |_, _| {});
        asm.push("\n", &mut |line: &str, dropped| {
            got.push((line.len(), dropped))
        });
        assert_eq!(got, [(MAX_LINE, MAX_LINE)]);
    }

    #[test]
    fn hostile_sequences_are_shown_not_obeyed() {
        let safety = Safety::default();
        assert_eq!(safe("\x1b[2J\x1b[H", safety), "\\x1b[2J\\x1b[H");
        assert_eq!(safe("\x1b]0;title\x07", safety), "\\x1b]0;title\\x07");
        assert_eq!(
            safe("\x1b]52;c;ZXZpbA==\x07", safety),
            "\\x1b]52;c;ZXZpbA==\\x07"
        );
        assert_eq!(safe("a\u{9b}31m\u{202e}b", safety), "a\\u{9b}31m\\u{202e}b");
        assert_eq!(safe("tab\tok", safety), "tab\tok");
        assert_eq!(safe("\x1b[31mred\x1b[0m", safety), "\\x1b[31mred\\x1b[0m");
        let color = Safety {
            keep_sgr: true,
            ..Safety::default()
        };
        assert_eq!(safe("\x1b[1;31mred\x1b[0m", color), "\x1b[1;31mred\x1b[0m");
        assert_eq!(safe("\x1b[2Jno", color), "\\x1b[2Jno");
        assert_eq!(
            safe("\x1b[1;31mred", color),
            "\x1b[1;31mred\x1b[0m",
            "no bleeding"
        );
        let strip = Safety {
            strip_sgr: true,
            ..Safety::default()
        };
        assert_eq!(
            safe("\x1b[1;31mred\x1b[0m \x1b[2Jno", strip),
            "red \\x1b[2Jno"
        );
    }

    #[test]
    fn a_hostile_byte_anywhere_in_a_long_line_is_caught() {
        // The first scan goes a block at a time: the byte is caught in
        // every place, at the edges of blocks too.
        let safety = Safety::default();
        for at in 0..70 {
            for hostile in ["\x1b", "\x07", "\x7f", "\u{9b}", "\u{202e}"] {
                let line = format!("{}{hostile}{}", "a".repeat(at), "b".repeat(70 - at));
                let shown = safe(&line, safety);
                assert!(!shown.contains(hostile), "{hostile:?} at {at}: {shown:?}");
                assert!(
                    shown.starts_with(&"a".repeat(at)) && shown.ends_with(&"b".repeat(70 - at))
                );
            }
            let plain = "x".repeat(at);
            assert_eq!(safe(&plain, safety), plain);
        }
    }

    #[test]
    fn secrets_are_masked() {
        let cases = [
            (
                "key sk-ant-api03-AbCdEf123456_-xyz end",
                "key sk-ant-**** end",
            ),
            ("OPENAI=sk-proj-abcdefghijklmnopqrstuvwx", "OPENAI=sk-****"),
            (
                "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "token ghp_****",
            ),
            ("id AKIAIOSFODNN7EXAMPLE", "id AKIA****"),
            (
                "Authorization: Bearer eyJhbGciOi.abc.def",
                "Authorization: Bearer ****",
            ),
            (
                "authorization: Basic dXNlcjpwYXNz",
                "authorization: Basic ****",
            ),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_secret_access_key = ****",
            ),
            ("x-api-key: abc123", "x-api-key: ****"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
        for harmless in [
            "task-runner",
            "desk-top",
            "sk-short",
            "ASIA is big",
            "ghp_",
            "risk-free approach",
        ] {
            assert_eq!(redact(harmless), harmless);
        }
    }
}
