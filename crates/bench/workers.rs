//! `sc-bench workers N`: the stream of N workers that have ended, one
//! line of output each, every tenth failed. What a page opened on a big
//! finished run is sent at once: the page's benchmark and its tests load it.

pub fn main(args: &[String]) -> i32 {
    let Some(count) = args.first().and_then(|n| n.parse::<u32>().ok()) else {
        eprintln!("usage: sc-bench workers N");
        return 2;
    };
    let mut out = String::new();
    for i in 0..count {
        let w = format!("w{i:04}");
        let ts = 1.0 + f64::from(i) / 1000.0;
        let text = format!("line of {w}\n");
        for event in [
            serde_json::json!({"type":"start","worker":w,"seq":0,"ts":ts,"argv":["sh"],"pid":100+i,
                "cwd":"/","kind":"shell","pty":false,"schema":1}),
            serde_json::json!({"type":"output","worker":w,"seq":1,"ts":ts+0.5,"stream":"stdout",
                "text":text}),
            serde_json::json!({"type":"exit","worker":w,"seq":2,"ts":ts+1.0,"code":i32::from(i % 10 == 0),
                "signal":null,"duration_ms":1000,"timed_out":false,"lines":1,"bytes":text.len()}),
        ] {
            out.push_str(&event.to_string());
            out.push('\n');
        }
    }
    print!("{out}");
    0
}
