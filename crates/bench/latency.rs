//! Write→arrival latency of stamped lines, read from an sc stream or raw.

use std::io::{BufRead, BufReader};

use sc_events::{Body, parse_line};

use crate::now_ns;

pub fn main(args: &[String]) -> i32 {
    let raw = args.iter().any(|a| a == "--raw");
    let mut micros: Vec<f64> = Vec::new();
    let mut stdin = BufReader::new(std::io::stdin().lock());
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let arrived = now_ns();
        let text = if raw {
            String::from_utf8_lossy(&line).into_owned()
        } else {
            match parse_line(&line) {
                Ok(event) => match event.body {
                    Body::Output(out) => {
                        String::from_utf8_lossy(out.payload.as_bytes()).into_owned()
                    }
                    _ => continue,
                },
                Err(_) => continue,
            }
        };
        if let Some(written) = stamp(&text) {
            micros.push(arrived.saturating_sub(written) as f64 / 1000.0);
        }
    }
    if micros.is_empty() {
        eprintln!("sc-bench latency: no stamped lines read");
        return 1;
    }
    println!("{}", crate::percentiles(&mut micros, ""));
    0
}

fn stamp(text: &str) -> Option<u128> {
    let rest = &text[text.find("stamp ")? + 6..];
    rest.split(' ').next()?.trim().parse().ok()
}
