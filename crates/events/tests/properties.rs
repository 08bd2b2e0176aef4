//! Properties of the reader and writer over generated input: the tolerant
//! reader never panics on any bytes, and what the writer writes is read
//! back as it was meant.

use proptest::prelude::*;
use sc_events::{Body, OutputEncoder, Stream, TsText, parse_head, parse_line, rename_line};

/// Bytes that look like event lines often enough to reach deep into the
/// reader: JSON punctuation, field names, escapes, digits, bad UTF-8.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let atoms: Vec<&'static [u8]> = vec![
        b"{",
        b"}",
        b"[",
        b"]",
        b":",
        b",",
        b"\"",
        b"\\",
        b"\\u0000",
        b"\\ud800",
        b"\"type\"",
        b"\"worker\"",
        b"\"seq\"",
        b"\"ts\"",
        b"\"output\"",
        b"\"task\"",
        b"\"exit\"",
        b"\"text\"",
        b"\"bytes\"",
        b"\"stream\"",
        b"\"stdout\"",
        b"\"id\"",
        b"\"timeout_s\"",
        b"\"depends_on\"",
        b"\"argv\"",
        b"1e300",
        b"-1",
        b"0",
        b"18446744073709551616",
        b"null",
        b"true",
        b"\xff",
        b"\xe2\x82",
        b" ",
        b"\n",
    ];
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(atoms).prop_map(|a| a.to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..4),
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes: the reader answers, never panics.
    #[test]
    fn reading_any_bytes_never_panics(line in jsonish()) {
        let _ = parse_line(&line);
        let _ = parse_head(&line);
        let mut out = Vec::new();
        // Callers rename what parse_head read as an event (rename_line does
        // not check that again): it stays one, with the new names.
        if parse_head(&line).is_ok() && rename_line(&line, "a/b", 7, &mut out).is_ok() {
            let renamed = parse_head(&out);
            prop_assert!(renamed.is_ok(), "{:?}", String::from_utf8_lossy(&out));
            let head = renamed.unwrap();
            prop_assert_eq!(head.worker.as_ref(), "a/b");
            prop_assert_eq!(head.seq, 7);
        }
    }

    /// An output event of any bytes is read back with exactly those bytes,
    /// whatever the worker id.
    #[test]
    fn output_events_round_trip(
        data in prop::collection::vec(any::<u8>(), 0..300),
        worker in "\\PC{0,12}",
        seq in any::<u64>(),
    ) {
        let encoder = OutputEncoder::new(&worker, Stream::Stderr);
        let mut line = Vec::new();
        encoder.encode(&mut line, seq, &TsText::new(1764056142.00452), &data, None);
        prop_assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one line");
        prop_assert_eq!(line.last(), Some(&b'\n'));
        let event = parse_line(&line);
        prop_assert!(event.is_ok(), "{:?}", String::from_utf8_lossy(&line));
        let event = event.unwrap();
        prop_assert_eq!(&event.worker, &worker);
        prop_assert_eq!(event.seq, seq);
        match event.body {
            Body::Output(out) => {
                prop_assert_eq!(out.stream, Stream::Stderr);
                prop_assert_eq!(out.payload.as_bytes(), &data[..]);
            }
            other => prop_assert!(false, "read back as {:?}", other),
        }
    }
}
