//! A worker whose stdout is itself an sc stream (kind `sc`: a nested
//! `sc-plan | sc-spawn`, or `ssh host sc-spawn ...`) is not wrapped: its
//! events are re-emitted with `worker` = `outer/inner` and fresh `seq`
//! numbers for those ids, so hierarchies and remote hosts compose. A gap in
//! an inner worker's `seq` (events lost before they reached sc) would vanish
//! in the renumbering, so it is said as an `error` event of that worker.

use std::collections::HashMap;

use sc_events::{ErrorEvent, Event, encode, now_ts, parse_head, rename_line};

use crate::output::lines::{LineSplitter, Piece};

/// The longest nested event line kept whole.
const MAX_LINE: usize = 8 * 1024 * 1024;

#[derive(Debug)]
pub struct Nest {
    splitter: LineSplitter,
    /// Inner id → its next seq downstream, and the seq expected next from
    /// the inner stream.
    next_seq: HashMap<String, Seqs>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Seqs {
    downstream: u64,
    inner: u64,
}

impl Default for Nest {
    fn default() -> Self {
        Nest {
            splitter: LineSplitter::new(MAX_LINE),
            next_seq: HashMap::new(),
        }
    }
}

impl Nest {
    /// Feed the child's stdout. Events go to `out` renamed under `outer`;
    /// whatever is not an event goes to `wrap`, to be kept as the outer
    /// worker's own output.
    pub fn push(
        &mut self,
        data: &[u8],
        outer: &str,
        out: &mut Vec<u8>,
        wrap: &mut impl FnMut(&[u8], &mut Vec<u8>),
    ) {
        let next_seq = &mut self.next_seq;
        self.splitter
            .push(data, &mut |piece| route(piece, outer, next_seq, out, wrap));
    }

    /// The child's stdout ended.
    pub fn finish(
        &mut self,
        outer: &str,
        out: &mut Vec<u8>,
        wrap: &mut impl FnMut(&[u8], &mut Vec<u8>),
    ) {
        let next_seq = &mut self.next_seq;
        self.splitter
            .finish(&mut |piece| route(piece, outer, next_seq, out, wrap));
    }
}

fn route(
    piece: Piece<'_>,
    outer: &str,
    next_seq: &mut HashMap<String, Seqs>,
    out: &mut Vec<u8>,
    wrap: &mut impl FnMut(&[u8], &mut Vec<u8>),
) {
    let line = match piece {
        Piece::Line(line) => line,
        Piece::Fragment { bytes, .. } | Piece::Unterminated(bytes) => return wrap(bytes, out),
    };
    let Ok(head) = parse_head(line) else {
        return wrap(line, out);
    };
    let id = format!("{outer}/{}", head.worker);
    let seqs = next_seq.entry(head.worker.to_string()).or_default();
    if head.seq != seqs.inner {
        let message = if head.seq > seqs.inner {
            format!(
                "seq gap in the nested stream: events {} to {} of worker {} are missing (lost before sc read them)",
                seqs.inner,
                head.seq - 1,
                head.worker
            )
        } else {
            format!(
                "the nested stream's worker {} went back from seq {} to {} (a restarted or repeated stream)",
                head.worker,
                seqs.inner.saturating_sub(1),
                head.seq
            )
        };
        encode(
            &Event::new(
                id.clone(),
                seqs.downstream,
                now_ts(),
                ErrorEvent { message },
            ),
            out,
        );
        seqs.downstream += 1;
    }
    seqs.inner = head.seq + 1;
    let mark = out.len();
    if rename_line(line, &id, seqs.downstream, out).is_ok() {
        seqs.downstream += 1;
    } else {
        out.truncate(mark);
        wrap(line, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sc_events::parse_line;

    #[test]
    fn inner_events_are_renamed_and_renumbered() {
        let mut nest = Nest::default();
        let mut out = Vec::new();
        let mut wrapped = Vec::new();
        let stream = concat!(
            r#"{"type":"task","worker":"tests","seq":0,"ts":1,"id":"tests"}"#,
            "\n",
            r#"{"type":"stall","worker":"tests","seq":5,"ts":1,"idle_ms":1}"#,
            "\n",
            "not an event\n",
            r#"{"type":"stall","worker":"a/b","seq":0,"ts":1,"idle_ms":1}"#,
        );
        let mut wrap = |bytes: &[u8], _: &mut Vec<u8>| wrapped.extend_from_slice(bytes);
        nest.push(stream.as_bytes(), "meta", &mut out, &mut wrap);
        nest.push(b"\n", "meta", &mut out, &mut wrap);
        nest.finish("meta", &mut out, &mut wrap);
        let events: Vec<(String, u64)> = out
            .split_inclusive(|b| *b == b'\n')
            .map(|l| parse_line(l).unwrap())
            .map(|e| (e.worker, e.seq))
            .collect();
        assert_eq!(
            events,
            [
                ("meta/tests".into(), 0),
                // The inner stream jumped from 0 to 5: said, then the event.
                ("meta/tests".into(), 1),
                ("meta/tests".into(), 2),
                ("meta/a/b".into(), 0)
            ]
        );
        let said = String::from_utf8_lossy(&out);
        assert!(
            said.contains("events 1 to 4 of worker tests are missing"),
            "{said}"
        );
        assert_eq!(wrapped, b"not an event\n");
    }
}
