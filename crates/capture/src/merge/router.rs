//! Routing event lines from many inputs into one stream.
//!
//! The router keeps worker ids unique across inputs (the first input to use
//! an id owns it; another input's worker of that id becomes `LABEL/ID`),
//! watches each worker's `seq` for gaps, and wraps whatever is not an event
//! (plain text, truncated JSON, over-long lines) as `output` of a worker named
//! after the input, bytes kept exactly. Lines that need no renaming pass
//! through byte for byte.

use std::collections::HashMap;

use sc_events::{
    ErrorEvent, Event, OutputEncoder, ReadError, Stream, TsText, encode, now_ts, parse_head,
    rename_line,
};

use crate::merge::ahead::ReadLine;
use crate::merge::heads::LineHead;
use crate::output::lines::Piece;

/// How an input's worker ids appear in the merged stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Naming {
    /// As given, unless another input already uses the id.
    #[default]
    Unique,
    /// Always `LABEL/ID`.
    Prefixed,
}

/// One upstream worker as it appears downstream.
#[derive(Debug)]
struct Route {
    upstream: String,
    id: String,
    /// `id` is not `upstream`: every line is written anew.
    renamed: bool,
    /// The upstream seq expected next.
    expected: u64,
}

/// The router's view of one input.
#[derive(Debug)]
struct InputRoutes {
    label: String,
    routes: Vec<Route>,
    /// Upstream id → index in `routes`.
    index: HashMap<String, usize>,
    /// The route of the last line: consecutive lines of an input mostly
    /// come from one worker, and a string compare beats a hash.
    last: usize,
    /// The worker that carries this input's non-event lines and errors.
    own: Option<OwnWorker>,
    malformed: u64,
    events: u64,
}

#[derive(Debug)]
struct OwnWorker {
    id: String,
    seq: u64,
    encoder: OutputEncoder,
}

impl InputRoutes {
    /// The route of `upstream`: mostly the worker of the line before, its
    /// bytes compared (no UTF-8 check or hash needed).
    fn find(&mut self, upstream: &[u8]) -> Option<usize> {
        if self
            .routes
            .get(self.last)
            .is_some_and(|r| same_bytes(r.upstream.as_bytes(), upstream))
        {
            return Some(self.last);
        }
        let found = self
            .index
            .get(std::str::from_utf8(upstream).ok()?)
            .copied()?;
        self.last = found;
        Some(found)
    }

    fn add_route(&mut self, upstream: &str, id: String, seq: u64) -> usize {
        self.routes.push(Route {
            upstream: upstream.to_owned(),
            renamed: id != upstream,
            id,
            expected: seq,
        });
        self.last = self.routes.len() - 1;
        self.index.insert(upstream.to_owned(), self.last);
        self.last
    }
}

/// `a == b` for a worker id of a few bytes, inline: a call to memcmp for
/// each line was a tenth of sc-merge's routing.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// What happened to an input, for the summary at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InputCounts {
    pub events: u64,
    pub malformed: u64,
}

#[derive(Debug, Default)]
pub struct Router {
    naming: Naming,
    /// Downstream id → the input that owns it.
    owners: HashMap<String, usize>,
    inputs: Vec<InputRoutes>,
}

impl Router {
    pub fn new(naming: Naming) -> Router {
        Router {
            naming,
            ..Router::default()
        }
    }

    /// Register an input; returns its number for [`Router::route`].
    pub fn add_input(&mut self, label: &str) -> usize {
        self.inputs.push(InputRoutes {
            label: label.to_owned(),
            routes: Vec::new(),
            index: HashMap::new(),
            last: 0,
            own: None,
            malformed: 0,
            events: 0,
        });
        self.inputs.len() - 1
    }

    pub fn label(&self, input: usize) -> &str {
        &self.inputs[input].label
    }

    pub fn counts(&self, input: usize) -> InputCounts {
        let routes = &self.inputs[input];
        InputCounts {
            events: routes.events,
            malformed: routes.malformed,
        }
    }

    /// Route one piece of `input` into `out`.
    pub fn route(&mut self, input: usize, piece: Piece<'_>, out: &mut Vec<u8>) {
        match piece {
            Piece::Line(line) => self.route_line(input, line, out),
            Piece::Fragment { bytes, first } => {
                if first {
                    self.inputs[input].malformed += 1;
                    let message = format!(
                        "input {}: a line longer than the maximum line length; its bytes follow as output of this worker",
                        self.inputs[input].label
                    );
                    self.own_error(input, message, out);
                }
                self.wrap(input, bytes, out);
            }
            Piece::Unterminated(bytes) => {
                self.inputs[input].malformed += 1;
                let message = format!(
                    "input {} ended in the middle of a line ({} bytes without a newline); they follow as output of this worker",
                    self.inputs[input].label,
                    bytes.len()
                );
                self.own_error(input, message, out);
                self.wrap(input, bytes, out);
            }
        }
    }

    fn route_line(&mut self, input: usize, line: &[u8], out: &mut Vec<u8>) {
        match parse_head(line) {
            Ok(head) => self.route_event(input, line, &head.worker, head.seq, out),
            Err(e) => self.not_an_event(input, line, &e, out),
        }
    }

    /// Route a whole line whose head was read elsewhere (on the thread that
    /// read the line).
    pub fn route_read(
        &mut self,
        input: usize,
        line: &[u8],
        head: &Result<LineHead, ReadError>,
        out: &mut Vec<u8>,
    ) {
        match head {
            Ok(head) => self.route_event(input, line, head.worker(line), head.seq, out),
            Err(e) => self.not_an_event(input, line, e, out),
        }
    }

    /// Route whole lines of `data` from `start`, read ahead with their
    /// heads. The lines that pass on unchanged, nearly all of them, are
    /// copied together rather than one at a time.
    pub fn route_lines(
        &mut self,
        input: usize,
        data: &[u8],
        start: usize,
        lines: &[ReadLine],
        out: &mut Vec<u8>,
    ) {
        let (mut unchanged, mut at) = (start, start);
        for line in lines {
            let bytes = &data[at..line.end];
            let passes = line
                .head
                .as_ref()
                .is_ok_and(|head| self.passes(input, head.worker_bytes(bytes), head.seq));
            if !passes {
                out.extend_from_slice(&data[unchanged..at]);
                self.route_read(input, bytes, &line.head, out);
                unchanged = line.end;
            }
            at = line.end;
        }
        out.extend_from_slice(&data[unchanged..at]);
    }

    /// Whether an event of `worker` numbered `seq` passes on unchanged (a
    /// known worker, its id its own, no gap); if so it is counted as
    /// routed. Otherwise nothing is changed.
    fn passes(&mut self, input: usize, worker: &[u8], seq: u64) -> bool {
        let routes = &mut self.inputs[input];
        let Some(index) = routes.find(worker) else {
            return false;
        };
        let route = &mut routes.routes[index];
        if route.expected != seq || route.renamed {
            return false;
        }
        route.expected = seq + 1;
        routes.events += 1;
        true
    }

    fn not_an_event(&mut self, input: usize, line: &[u8], e: &ReadError, out: &mut Vec<u8>) {
        let routes = &mut self.inputs[input];
        routes.malformed += 1;
        if routes.malformed == 1 {
            // Said once per input: plain text would otherwise say it on
            // every line. The count comes with the input's end.
            let message = format!(
                "input {}: {e}; the line, and any others like it, follow as output of this worker",
                routes.label
            );
            self.own_error(input, message, out);
        }
        self.wrap(input, line, out);
    }

    fn route_event(
        &mut self,
        input: usize,
        line: &[u8],
        worker: &str,
        seq: u64,
        out: &mut Vec<u8>,
    ) {
        if self.passes(input, worker.as_bytes(), seq) {
            // The common case: nothing to say, nothing to change.
            out.extend_from_slice(line);
            return;
        }
        self.inputs[input].events += 1;
        let index = match self.inputs[input].find(worker.as_bytes()) {
            Some(index) => index,
            None => {
                let id = self.claim(input, worker, self.naming);
                self.inputs[input].add_route(worker, id, seq)
            }
        };
        let route = &mut self.inputs[input].routes[index];
        let gap = (seq != route.expected).then_some((route.expected, seq));
        route.expected = seq + 1;
        let id = route.id.clone();
        if let Some((expected, got)) = gap {
            self.report_gap(input, &id, expected, got, out);
        }
        if id == worker {
            out.extend_from_slice(line);
        } else if rename_line(line, &id, seq, out).is_err() {
            // parse_head accepted the line, so this does not happen; if it
            // did, the bytes would still be kept.
            self.wrap(input, line, out);
        }
    }

    /// The downstream id for `wanted` of `input`.
    fn claim(&mut self, input: usize, wanted: &str, naming: Naming) -> String {
        let label = &self.inputs[input].label;
        let mut candidate = match naming {
            Naming::Unique => wanted.to_owned(),
            Naming::Prefixed => format!("{label}/{wanted}"),
        };
        if self
            .owners
            .get(&candidate)
            .is_some_and(|owner| *owner != input)
        {
            candidate = format!("{label}/{wanted}");
        }
        let base = candidate.clone();
        let mut n = 2;
        while self
            .owners
            .get(&candidate)
            .is_some_and(|owner| *owner != input)
        {
            candidate = format!("{base}~{n}");
            n += 1;
        }
        self.owners.insert(candidate.clone(), input);
        candidate
    }

    fn report_gap(&mut self, input: usize, id: &str, expected: u64, got: u64, out: &mut Vec<u8>) {
        let label = &self.inputs[input].label;
        if got > expected {
            // The error takes the first missing number: the rest of the gap
            // stays visible, and nothing collides with a later event.
            let message = format!(
                "seq gap in input {label}: events {expected} to {} of this worker are missing (lost before sc-merge)",
                got - 1
            );
            encode(
                &Event::new(id, expected, now_ts(), ErrorEvent { message }),
                out,
            );
        } else {
            let message = format!(
                "input {label}: worker {id} went back from seq {} to {got} (a restarted or repeated stream)",
                expected.saturating_sub(1)
            );
            self.own_error(input, message, out);
        }
    }

    fn own(&mut self, input: usize) -> &mut OwnWorker {
        if self.inputs[input].own.is_none() {
            let label = self.inputs[input].label.clone();
            // The input's own worker is named after it, never prefixed.
            let id = self.claim(input, &label, Naming::Unique);
            self.inputs[input].own = Some(OwnWorker {
                encoder: OutputEncoder::new(&id, Stream::Stdout),
                id,
                seq: 0,
            });
        }
        self.inputs[input].own.as_mut().expect("just set")
    }

    /// An `error` event of the input's own worker.
    pub fn own_error(&mut self, input: usize, message: String, out: &mut Vec<u8>) {
        let own = self.own(input);
        encode(
            &Event::new(own.id.clone(), own.seq, now_ts(), ErrorEvent { message }),
            out,
        );
        own.seq += 1;
    }

    /// Carry bytes that are not an event as output of the input's own worker.
    fn wrap(&mut self, input: usize, bytes: &[u8], out: &mut Vec<u8>) {
        let own = self.own(input);
        own.encoder
            .encode(out, own.seq, &TsText::new(now_ts()), bytes, None);
        own.seq += 1;
    }

    /// The input ended: say how many of its lines were not events.
    pub fn finish_input(&mut self, input: usize, out: &mut Vec<u8>) {
        let routes = &self.inputs[input];
        if routes.malformed > 1 {
            let message = format!(
                "input {}: {} lines in all were not sc events (passed on as output of this worker)",
                routes.label, routes.malformed
            );
            self.own_error(input, message, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sc_events::{Body, parse_line};

    fn line(worker: &str, seq: u64) -> String {
        format!(r#"{{"type":"stall","worker":"{worker}","seq":{seq},"ts":1.0,"idle_ms":5}}"#) + "\n"
    }

    fn events(out: &[u8]) -> Vec<Event> {
        out.split_inclusive(|b| *b == b'\n')
            .map(|l| parse_line(l).unwrap())
            .collect()
    }

    #[test]
    fn passes_lines_through_unchanged() {
        let mut router = Router::new(Naming::Unique);
        let a = router.add_input("a");
        let mut out = Vec::new();
        for seq in 0..3 {
            router.route(a, Piece::Line(line("w", seq).as_bytes()), &mut out);
        }
        assert_eq!(
            out,
            [line("w", 0), line("w", 1), line("w", 2)]
                .concat()
                .into_bytes()
        );
    }

    #[test]
    fn the_later_input_of_a_duplicate_id_is_renamed() {
        let mut router = Router::new(Naming::Unique);
        let a = router.add_input("a");
        let b = router.add_input("b");
        let mut out = Vec::new();
        router.route(a, Piece::Line(line("w", 0).as_bytes()), &mut out);
        router.route(b, Piece::Line(line("w", 0).as_bytes()), &mut out);
        router.route(a, Piece::Line(line("w", 1).as_bytes()), &mut out);
        router.route(b, Piece::Line(line("w", 1).as_bytes()), &mut out);
        let ids: Vec<(String, u64)> = events(&out)
            .into_iter()
            .map(|e| (e.worker, e.seq))
            .collect();
        assert_eq!(
            ids,
            [
                ("w".into(), 0),
                ("b/w".into(), 0),
                ("w".into(), 1),
                ("b/w".into(), 1)
            ]
        );
    }

    #[test]
    fn prefixing_names_every_worker_by_its_input() {
        let mut router = Router::new(Naming::Prefixed);
        let a = router.add_input("a");
        let mut out = Vec::new();
        router.route(a, Piece::Line(line("w", 0).as_bytes()), &mut out);
        router.route(a, Piece::Line(b"text\n"), &mut out);
        let ids: Vec<String> = events(&out).into_iter().map(|e| e.worker).collect();
        assert_eq!(ids, ["a/w", "a", "a"]);
    }

    #[test]
    fn a_seq_gap_is_an_error_of_that_worker() {
        let mut router = Router::new(Naming::Unique);
        let a = router.add_input("a");
        let mut out = Vec::new();
        router.route(a, Piece::Line(line("w", 0).as_bytes()), &mut out);
        router.route(a, Piece::Line(line("w", 3).as_bytes()), &mut out);
        let events = events(&out);
        assert_eq!(events.len(), 3);
        assert_eq!((events[1].worker.as_str(), events[1].seq), ("w", 1));
        assert!(matches!(&events[1].body, Body::Error(e) if e.message.contains("events 1 to 2")));
        assert_eq!(events[2].seq, 3);
    }

    #[test]
    fn lines_routed_together_come_out_as_routed_one_by_one() {
        let lines = [
            line("w", 0),
            line("w", 1),
            "plain text\n".to_owned(),
            line("w", 3),
            line("v", 0),
            line("shared", 0),
            line("shared", 1),
            "{\"type\":\"x\"\n".to_owned(),
            line("w", 4),
        ];
        let data = lines.concat().into_bytes();
        let without_ts = |out: &[u8]| -> Vec<serde_json::Value> {
            out.split_inclusive(|b| *b == b'\n')
                .map(|l| {
                    let mut v: serde_json::Value = serde_json::from_slice(l).unwrap();
                    v.as_object_mut().unwrap().remove("ts");
                    v
                })
                .collect()
        };
        let mut outs = Vec::new();
        for together in [false, true] {
            let mut router = Router::new(Naming::Unique);
            let (a, b) = (router.add_input("a"), router.add_input("b"));
            let mut out = Vec::new();
            // Input a owns `shared`: b's is renamed.
            router.route(a, Piece::Line(line("shared", 0).as_bytes()), &mut out);
            if together {
                let mut end = 0;
                let read: Vec<ReadLine> = lines
                    .iter()
                    .map(|l| {
                        end += l.len();
                        ReadLine {
                            end,
                            head: LineHead::read(l.as_bytes()),
                        }
                    })
                    .collect();
                router.route_lines(b, &data, 0, &read, &mut out);
            } else {
                for l in &lines {
                    router.route(b, Piece::Line(l.as_bytes()), &mut out);
                }
            }
            router.finish_input(b, &mut out);
            outs.push(without_ts(&out));
        }
        assert_eq!(outs[0], outs[1]);
        let workers: Vec<&str> = outs[1]
            .iter()
            .map(|v| v["worker"].as_str().unwrap())
            .collect();
        assert_eq!(
            workers,
            [
                "shared", "w", "w", "b", "b", "w", "w", "v", "b/shared", "b/shared", "b", "w", "b"
            ],
            "renamed, the gap said, non-events wrapped, in order"
        );
    }

    #[test]
    fn malformed_lines_are_wrapped_exactly() {
        let mut router = Router::new(Naming::Unique);
        let a = router.add_input("log");
        let mut out = Vec::new();
        router.route(a, Piece::Line(b"plain \xff text\n"), &mut out);
        router.route(a, Piece::Line(b"{\"type\":\"output\",\n"), &mut out);
        router.route(a, Piece::Unterminated(b"{\"type\""), &mut out);
        router.finish_input(a, &mut out);
        let events = events(&out);
        let payload: Vec<u8> = events
            .iter()
            .filter_map(|e| match &e.body {
                Body::Output(o) => Some(o.payload.as_bytes().to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(
            payload,
            b"plain \xff text\n{\"type\":\"output\",\n{\"type\"".to_vec()
        );
        assert!(events.iter().all(|e| e.worker == "log"));
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (0..events.len() as u64).collect::<Vec<_>>()
        );
        let errors = events.iter().filter(|e| e.type_name() == "error").count();
        assert_eq!(
            errors, 3,
            "first malformed line, the unterminated end, the count"
        );
        assert_eq!(
            router.counts(a),
            InputCounts {
                events: 0,
                malformed: 3
            }
        );
    }
}
