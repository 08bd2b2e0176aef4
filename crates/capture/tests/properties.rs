//! Properties of the capture core's pure parts, over generated input: any
//! bytes in, no panic and no hang, and the lossless rule holds for what was
//! a valid stream.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sc_capture::agent::{Agent, Agents};
use sc_capture::merge::router::{Naming, Router};
use sc_capture::output::framer::Framer;
use sc_capture::output::lines::{LineSplitter, Piece};
use sc_capture::output::nest::Nest;
use sc_capture::plan::scheduler::{Line, PlanOptions, Scheduler};

/// A plan's placement engines, with no connection of their own.
fn placements() -> sc_capture::placement::registry::Placements {
    let settings = sc_capture::placement::registry::Where {
        plan: true,
        no_multiplex: true,
        ..Default::default()
    };
    sc_capture::placement::registry::Placements::new(&settings)
        .expect("no setting to refuse")
        .0
}
use sc_capture::plan::{Planner, TaskState};

/// No agent kinds: plan lines of kind shell and sc only.
struct NoAgents;

impl Agents for NoAgents {
    fn kind(&self, _: &str) -> Option<std::sync::Arc<dyn Agent>> {
        None
    }

    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}
use sc_capture::{Spec, WorkerOptions};
use sc_events::{Body, Event, Output, Payload, Stream, Task, parse_line, to_line};

/// Bytes that favour what framing cares about: newlines, carriage
/// returns, NULs, and the pieces of multi-byte characters.
fn tricky_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<u8>(),
            2 => Just(b'\n'),
            1 => Just(b'\r'),
            1 => Just(0u8),
            1 => Just(0xE2u8),
            1 => Just(0x82u8),
            1 => Just(0xACu8),
        ],
        0..max,
    )
}

/// Cut `data` at the given proportions.
fn cut(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut from = 0;
    for p in points {
        pieces.push(data[from..p].to_vec());
        from = p;
    }
    pieces.push(data[from..].to_vec());
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The lossless rule at the framer: whatever the bytes and however
    /// they are read, the chunks give them back exactly, none is larger
    /// than the maximum, and a newline only ever ends a chunk.
    #[test]
    fn framing_loses_nothing(
        data in tricky_bytes(4096),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        max in 16usize..300,
        timers in prop::collection::vec(any::<bool>(), 12),
    ) {
        let mut framer = Framer::new(max, Duration::from_millis(50));
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let start = Instant::now();
        for (i, piece) in cut(&data, &cuts).iter().enumerate() {
            let now = start + Duration::from_millis(10 * i as u64);
            framer.push(piece, now, &mut |c| chunks.push(c.to_vec()));
            if timers[i % timers.len()] {
                // The flush interval passed with a partial line waiting.
                framer.on_timer(now + Duration::from_secs(1), &mut |c| chunks.push(c.to_vec()));
            }
        }
        framer.finish(&mut |c| chunks.push(c.to_vec()));
        prop_assert_eq!(chunks.concat(), data);
        for chunk in &chunks {
            prop_assert!(!chunk.is_empty());
            prop_assert!(chunk.len() <= max, "{} > {}", chunk.len(), max);
            if let Some(at) = chunk.iter().position(|b| *b == b'\n') {
                prop_assert_eq!(at, chunk.len() - 1);
            }
        }
    }

    /// Lines of any bytes, read in any pieces, come back whole.
    #[test]
    fn line_splitting_loses_nothing(
        data in tricky_bytes(4096),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        max in 1usize..200,
    ) {
        let mut splitter = LineSplitter::new(max);
        let mut back = Vec::new();
        let mut take = |piece: Piece<'_>| match piece {
            Piece::Line(b) | Piece::Unterminated(b) | Piece::Fragment { bytes: b, .. } => {
                back.extend_from_slice(b)
            }
        };
        for piece in cut(&data, &cuts) {
            splitter.push(&piece, &mut take);
        }
        splitter.finish(&mut take);
        prop_assert_eq!(back, data);
    }

    /// The router, fed a mix of valid event lines and garbage: every line
    /// it writes is an event; valid events pass through byte for byte;
    /// garbage is kept, byte for byte, as output of the input's own worker.
    #[test]
    fn routing_keeps_events_and_garbage(
        items in prop::collection::vec(
            prop_oneof![
                (0usize..3, tricky_bytes(40)).prop_map(|(w, text)| (Some(w), text)),
                tricky_bytes(60).prop_map(|g| (None, g)),
            ],
            0..40,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut seqs = [0u64; 3];
        let mut input = Vec::new();
        let mut valid = Vec::new();
        let mut garbage = Vec::new();
        for (worker, bytes) in items {
            match worker {
                Some(w) => {
                    let event = Event::new(
                        format!("w{w}"),
                        seqs[w],
                        1.5,
                        Output {
                            stream: Stream::Stdout,
                            payload: Payload::from_bytes(&bytes),
                            progress: None,
                            agent: None,
                        },
                    );
                    seqs[w] += 1;
                    let line = to_line(&event);
                    valid.push(line.clone());
                    input.extend(line);
                }
                None => {
                    let mut line: Vec<u8> = bytes.into_iter().filter(|b| *b != b'\n').collect();
                    if parse_line(&line).is_ok() || line.first() == Some(&b'{') {
                        continue; // by chance an event, or close enough to be judged one
                    }
                    line.push(b'\n');
                    garbage.extend_from_slice(&line);
                    input.extend(line);
                }
            }
        }
        let mut router = Router::new(Naming::Unique);
        let route = router.add_input("in");
        let mut splitter = LineSplitter::new(1 << 20);
        let mut out = Vec::new();
        for piece in cut(&input, &cuts) {
            splitter.push(&piece, &mut |p| router.route(route, p, &mut out));
        }
        splitter.finish(&mut |p| router.route(route, p, &mut out));
        router.finish_input(route, &mut out);
        let mut passed = Vec::new();
        let mut own = Vec::new();
        for line in out.split_inclusive(|b| *b == b'\n') {
            let event = parse_line(line);
            prop_assert!(event.is_ok(), "not an event: {:?}", String::from_utf8_lossy(line));
            let event = event.unwrap();
            if event.worker == "in" {
                if let Body::Output(o) = &event.body {
                    own.extend_from_slice(o.payload.as_bytes());
                }
            } else {
                passed.push(line.to_vec());
            }
        }
        prop_assert_eq!(passed, valid);
        prop_assert_eq!(own, garbage);
    }

    /// A nested stream of any bytes: every line written is an event.
    #[test]
    fn nesting_any_bytes_writes_only_events(
        data in tricky_bytes(2048),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut nest = Nest::default();
        let mut out = Vec::new();
        let mut wrapped = Vec::new();
        let mut wrap = |bytes: &[u8], _: &mut Vec<u8>| wrapped.extend_from_slice(bytes);
        for piece in cut(&data, &cuts) {
            nest.push(&piece, "outer", &mut out, &mut wrap);
        }
        nest.finish("outer", &mut out, &mut wrap);
        for line in out.split_inclusive(|b| *b == b'\n') {
            prop_assert!(parse_line(line).is_ok());
        }
    }

    /// Plan lines of any bytes never panic the scheduler, and whatever it
    /// writes is events.
    #[test]
    fn plan_lines_of_any_bytes(lines in prop::collection::vec(tricky_bytes(200), 0..20)) {
        let mut scheduler = Scheduler::new(PlanOptions {
            jobs: 4,
            template: WorkerOptions::default(),
            ask_policy: Default::default(),
            template_spec: Spec::default(),
            agents: std::sync::Arc::new(NoAgents),
            replay_speed: 1.0,
            path: None,
            placements: std::sync::Arc::new(placements()),
            remote_flags: Vec::new(),
            hosts: Vec::new(),
        });
        let mut out = Vec::new();
        for line in &lines {
            let line: Vec<u8> = line.iter().copied().filter(|b| *b != b'\n').collect();
            let _: Line = scheduler.take_line(&line, &mut out);
        }
        scheduler.input_ended(&mut out);
        while let Some(launch) = scheduler.next_launch(&mut out) {
            scheduler.ended(launch.task, false, &mut out);
        }
        prop_assert!(scheduler.is_resolved());
        for line in out.split_inclusive(|b| *b == b'\n') {
            prop_assert!(parse_line(line).is_ok());
        }
    }

    /// Any plan, any outcomes: a task starts only once every dependency
    /// succeeded, every task ends up run or skipped, and nothing that could
    /// still run is left waiting.
    #[test]
    fn plans_resolve_soundly(
        deps in prop::collection::vec(prop::collection::vec(0usize..40, 0..4), 1..40),
        outcomes in prop::collection::vec(any::<bool>(), 40),
        slots in 1usize..6,
        complete_after in 0usize..40,
    ) {
        let n = deps.len();
        let mut planner = Planner::default();
        let mut added = 0;
        let mut completed = false;
        let mut started = HashSet::new();
        let mut turn = 0;
        loop {
            if added < n {
                let task = Task {
                    id: format!("t{added}"),
                    // Ids past the plan's end name tasks that never come.
                    depends_on: deps[added].iter().map(|d| format!("t{d}")).collect(),
                    ..Task::default()
                };
                planner.add(task).unwrap();
                added += 1;
            }
            if !completed && added == n && turn >= complete_after {
                planner.complete();
                completed = true;
            }
            for t in planner.start(slots) {
                for dep in &deps[t] {
                    let d = *dep;
                    prop_assert!(d < n && *planner.state(d) == TaskState::Succeeded);
                }
                prop_assert!(started.insert(t));
                planner.finished(t, outcomes[t % outcomes.len()]);
            }
            turn += 1;
            if planner.is_resolved() {
                break;
            }
            prop_assert!(turn < 10 * n + 50, "no progress");
        }
        let mut by_id = HashMap::new();
        for t in 0..n {
            by_id.insert(t, planner.state(t).clone());
        }
        for t in 0..n {
            match &by_id[&t] {
                TaskState::Succeeded | TaskState::Failed => prop_assert!(started.contains(&t)),
                TaskState::Skipped(_) => {
                    // Something it needs did not succeed.
                    prop_assert!(deps[t].iter().any(|d| *d >= n
                        || by_id[d] != TaskState::Succeeded
                        || *d == t));
                }
                other => prop_assert!(false, "task {t} left {other:?}"),
            }
        }
    }
}

proptest! {
    /// Whatever reaches a connection's stdin there, or the control socket:
    /// no panic, and only a request that reads back as itself is taken.
    #[test]
    fn requests_on_the_wire_are_taken_only_when_whole(bytes in tricky_bytes(2048)) {
        use sc_capture::placement::run::{Request, read_requests};
        let mut seen = Vec::new();
        read_requests(&mut bytes.as_slice(), |request| seen.push(request));
        for request in seen {
            prop_assert_eq!(Request::parse(&request.line()), Some(request.clone()));
        }
        let _ = sc_capture::control::parse_request(&bytes);
    }

    /// Every request written is read back as itself, whatever its text.
    #[test]
    fn an_answer_crosses_the_wire_unchanged(
        ask in "[a-z/0-9-]{1,20}",
        allow in any::<bool>(),
        message in proptest::option::of(any::<String>()),
        via in proptest::option::of(any::<String>()),
    ) {
        use sc_capture::placement::run::{Request, read_requests};
        let request = Request::Answer(sc_capture::control::Request::Answer {
            ask,
            decision: if allow { "allow" } else { "deny" }.into(),
            message,
            via,
        });
        let line = request.line();
        let mut seen = Vec::new();
        read_requests(&mut line.as_slice(), |r| seen.push(r));
        prop_assert_eq!(seen, vec![request]);
    }
}
