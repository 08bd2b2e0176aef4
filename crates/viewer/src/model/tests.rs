use super::*;

#[test]
fn running_usage_counts_each_message_once() {
    let mut model = Model::new(Safety::default(), 0);
    let out = |seq: u64, agent: &str| {
        format!(
            r#"{{"type":"output","worker":"a","seq":{seq},"ts":1,"stream":"stdout","text":"{{}}\n","agent":{agent}}}"#
        )
    };
    let lines = [
        r#"{"type":"start","worker":"a","seq":0,"ts":1,"argv":["claude"],"pid":1,"cwd":"/","kind":"claude-code","pty":false,"schema":1}"#.to_owned(),
        out(1, r#"{"kind":"text","text":"x","delta":false,"usage":{"message":"m1","input_tokens":10,"output_tokens":5}}"#),
        out(2, r#"{"kind":"tool_call","id":"t","tool":"Bash","input":{},"usage":{"message":"m1","input_tokens":10,"output_tokens":7}}"#),
        out(3, r#"{"kind":"text","text":"y","delta":false,"usage":{"message":"m2","input_tokens":20,"output_tokens":3}}"#),
    ];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    apply_all(&mut model, &refs);
    let usage = model.get("a").unwrap().usage;
    assert_eq!(
        (usage.input_tokens, usage.output_tokens),
        (Some(30), Some(10))
    );
}

fn apply_all(model: &mut Model, lines: &[&str]) -> Vec<Change> {
    let mut changes = Vec::new();
    for line in lines {
        let event = ViewEvent::parse(line.as_bytes()).unwrap();
        model.apply(&event, &mut changes);
    }
    changes
}

#[test]
fn a_worker_from_start_to_exit() {
    let mut model = Model::new(Safety::default(), 2);
    let changes = apply_all(
        &mut model,
        &[
            r#"{"type":"start","worker":"w","seq":0,"ts":10,"argv":["make"],"pid":1,"cwd":"/","kind":"shell","pty":false,"schema":1}"#,
            r#"{"type":"output","worker":"w","seq":1,"ts":11,"stream":"stdout","text":"a\nb\nc\n"}"#,
            r#"{"type":"output","worker":"w","seq":2,"ts":12,"stream":"stderr","text":"50%\r"}"#,
            r#"{"type":"output","worker":"w","seq":5,"ts":12,"stream":"stdout","text":"late"}"#,
            r#"{"type":"exit","worker":"w","seq":6,"ts":13,"code":0,"signal":null,"duration_ms":3000,"timed_out":false,"lines":4,"bytes":14}"#,
        ],
    );
    let w = model.get("w").unwrap();
    assert_eq!(w.status, Status::Succeeded);
    assert_eq!(w.tail, ["b", "c"]);
    assert_eq!((w.lines, w.bytes, w.lost), (5, 14, 2));
    assert_eq!(w.elapsed(), 3.0);
    assert!(changes.contains(&Change::Lost {
        worker: 0,
        from: 3,
        to: 4
    }));
    assert!(changes.contains(&Change::Line {
        worker: 0,
        stderr: true,
        text: "50%".into(),
        dropped: 0
    }));
    assert_eq!(model.exit_code(), 0);
    assert!(model.all_ended());
}

#[test]
fn failures_timeouts_and_skips() {
    let mut model = Model::new(Safety::default(), 0);
    apply_all(
        &mut model,
        &[
            r#"{"type":"exit","worker":"a","seq":0,"ts":1,"code":2,"signal":null,"duration_ms":1,"timed_out":false,"lines":0,"bytes":0}"#,
            r#"{"type":"exit","worker":"b","seq":0,"ts":1,"code":null,"signal":"SIGTERM","duration_ms":1,"timed_out":true,"lines":0,"bytes":0}"#,
            r#"{"type":"task","worker":"c","seq":0,"ts":1,"id":"c"}"#,
            r#"{"type":"skip","worker":"c","seq":1,"ts":1,"reason":"a failed"}"#,
        ],
    );
    let status: Vec<Status> = model.workers.iter().map(|w| w.status).collect();
    assert_eq!(status, [Status::Failed, Status::TimedOut, Status::Skipped]);
    assert_eq!(model.exit_code(), 1);
}

#[test]
fn agent_results_carry_cost_and_verdict() {
    let mut model = Model::new(Safety::default(), 0);
    apply_all(
        &mut model,
        &[
            r#"{"type":"output","worker":"a","seq":0,"ts":1,"stream":"stdout","text":"{}\n","agent":{"kind":"result","ok":false,"cost_usd":0.25,"input_tokens":100,"output_tokens":20,"turns":2}}"#,
            r#"{"type":"exit","worker":"a","seq":1,"ts":1,"code":0,"signal":null,"duration_ms":1,"timed_out":false,"lines":1,"bytes":3}"#,
        ],
    );
    let w = model.get("a").unwrap();
    assert_eq!(w.usage.cost_usd, Some(0.25));
    assert_eq!(
        w.status,
        Status::Failed,
        "a result with is_error fails even with exit 0"
    );
    assert_eq!(model.total_usage().input_tokens, Some(100));
}

#[test]
fn a_retried_agents_cost_is_what_its_exit_counts_over_every_attempt() {
    let mut model = Model::new(Safety::default(), 0);
    apply_all(
        &mut model,
        &[
            r#"{"type":"start","worker":"a","seq":0,"ts":1,"argv":["claude"],"pid":1,"cwd":"/","kind":"claude-code","pty":false,"schema":1}"#,
            r#"{"type":"output","worker":"a","seq":1,"ts":2,"stream":"stdout","text":"{}\n","agent":{"kind":"result","ok":false,"cost_usd":0.5}}"#,
            r#"{"type":"retry","worker":"a","seq":2,"ts":3,"attempt":1,"delay_ms":0}"#,
            r#"{"type":"start","worker":"a","seq":3,"ts":3,"argv":["claude"],"pid":2,"cwd":"/","kind":"claude-code","pty":false,"schema":1,"attempt":2}"#,
            r#"{"type":"output","worker":"a","seq":4,"ts":4,"stream":"stdout","text":"{}\n","agent":{"kind":"result","ok":true,"cost_usd":0.3}}"#,
            r#"{"type":"exit","worker":"a","seq":5,"ts":5,"code":0,"signal":null,"duration_ms":4000,"timed_out":false,"lines":2,"bytes":6,"cost_usd":0.8}"#,
        ],
    );
    assert_eq!(model.get("a").unwrap().usage.cost_usd, Some(0.8));
}

#[test]
fn the_eta_is_the_work_left_over_the_slots_in_use() {
    let mut model = Model::new(Safety::default(), 0);
    let task = |id: &str| {
        format!(r#"{{"type":"task","worker":"{id}","seq":0,"ts":10,"id":"{id}","argv":["x"]}}"#)
    };
    let start = |id: &str, ts: f64| {
        format!(r#"{{"type":"start","worker":"{id}","seq":1,"ts":{ts},"argv":["x"],"pid":1}}"#)
    };
    let exit = |id: &str, ts: f64| {
        format!(
            r#"{{"type":"exit","worker":"{id}","seq":2,"ts":{ts},"code":0,"signal":null,"duration_ms":2000,"timed_out":false,"lines":0,"bytes":0}}"#
        )
    };
    let lines = [
        task("a"),
        task("b"),
        task("c"),
        task("d"),
        task("e"),
        start("a", 10.0),
        exit("a", 12.0),
        start("b", 10.0),
        exit("b", 12.0),
        start("c", 12.0),
    ];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(model.eta(12.0), None, "nothing has finished yet");
    apply_all(&mut model, &refs);
    // Two tasks took 2 s; one runs since 1 s (1 s left), two wait (4 s),
    // on one slot: 5 s.
    let eta = model.eta(13.0).unwrap();
    assert!((eta - 5.0).abs() < 1e-9, "{eta}");
}
