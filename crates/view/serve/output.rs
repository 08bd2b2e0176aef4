//! A worker's whole output for the page (`GET /output?worker=ID`), read
//! again from the stream's files: the page holds only the newest lines.

use std::io::{self, BufRead};
use std::path::PathBuf;

use tiny_http::Response;

use super::{h, refused};

/// The most of a worker's output one page request is sent.
const MAX_OUTPUT: usize = 8 << 20;

/// A worker's whole output (`/output?worker=ID`), read again from the
/// stream's files, each line made safe as the view makes it (control
/// characters escaped, secrets masked); at most [`MAX_OUTPUT`].
pub(super) fn whole(files: &[PathBuf], url: &str) -> Response<io::Cursor<Vec<u8>>> {
    let Some(worker) = worker_asked(url) else {
        return refused(400, "give worker");
    };
    if files.is_empty() {
        return refused(
            409,
            "a worker's whole output is read from the stream's file: serve a file, \
             --follow one, or --attach a run",
        );
    }
    let mut text = String::new();
    let mut found = false;
    let mut line = Vec::new();
    'files: for path in files {
        let Ok(file) = std::fs::File::open(path) else {
            continue;
        };
        let mut reader = io::BufReader::new(file);
        loop {
            line.clear();
            if !matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                break;
            }
            let Ok(event) = sc_viewer::ViewEvent::parse(&line) else {
                continue;
            };
            if event.worker != worker.as_str() {
                continue;
            }
            found = true;
            if let Some((payload, _)) = event.payload_text().filter(|_| event.type_name == "output")
            {
                push_safe(&mut text, &payload);
                if text.len() > MAX_OUTPUT {
                    text.push_str(&format!(
                        "\n[cut at {} MiB: `sc-view --plain --worker {worker} FILE` shows it all]\n",
                        MAX_OUTPUT >> 20
                    ));
                    break 'files;
                }
            }
        }
    }
    if !found {
        return refused(404, "no such worker in the stream");
    }
    Response::from_data(text.into_bytes())
        .with_header(h("Content-Type", "text/plain; charset=utf-8"))
}

/// `from`, each line made safe as the view makes it (control characters
/// escaped, secrets masked), its newlines kept, appended to `text`.
pub(super) fn push_safe(text: &mut String, from: &str) {
    for piece in from.split_inclusive('\n') {
        let ends = piece.ends_with('\n');
        let piece = piece.strip_suffix('\n').unwrap_or(piece);
        text.push_str(&sc_viewer::text::safe(piece, sc_viewer::Safety::default()));
        if ends {
            text.push('\n');
        }
    }
}

/// The worker a page request names (`?worker=ID`), decoded.
pub(super) fn worker_asked(url: &str) -> Option<String> {
    url.split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("worker=")))
        .and_then(percent_decoded)
}

/// A query value, percent-decoded (`+` is a space); None when it is not
/// UTF-8.
fn percent_decoded(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded_or_refused() {
        assert_eq!(percent_decoded("a%2Fb+c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decoded("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decoded("bad%"), None);
        assert_eq!(percent_decoded("bad%zz"), None);
        assert_eq!(percent_decoded("%ff"), None, "not UTF-8");
    }
}
