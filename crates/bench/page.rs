//! `sc-bench page URL`: a page's client of `sc-view --serve`, as a browser
//! reads its event stream: each row's newest line that carries a stamp
//! (`sc-bench timed-writer`) gives the time from the line's write to its
//! arrival at the page. Reads until the stream's end; prints percentiles.
//! `--ready FILE`: FILE is written once the stream is open (what comes
//! after that is all seen).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use crate::now_ns;

pub fn main(args: &[String]) -> i32 {
    let Some(url) = args.first() else {
        eprintln!("usage: sc-bench page URL (as sc-view --serve says it)");
        return 2;
    };
    let Some((addr, token)) = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once("/?token="))
    else {
        eprintln!("sc-bench page: not a URL of sc-view --serve: {url}");
        return 2;
    };
    let Ok(mut conn) = TcpStream::connect(addr) else {
        eprintln!("sc-bench page: cannot connect to {addr}");
        return 1;
    };
    let request =
        format!("GET /events HTTP/1.1\r\nHost: {addr}\r\nCookie: sc_view={token}\r\n\r\n");
    if conn.write_all(request.as_bytes()).is_err() {
        return 1;
    }
    let ready = args
        .iter()
        .position(|a| a == "--ready")
        .and_then(|i| args.get(i + 1));
    let mut micros: Vec<f64> = Vec::new();
    let mut rows = 0u64;
    for line in BufReader::new(conn).lines() {
        let Ok(line) = line else { break };
        // The response's head ended: the stream is open.
        if line.is_empty()
            && let Some(file) = ready
            && !std::path::Path::new(file).exists()
        {
            let _ = std::fs::write(file, "open\n");
        }
        if line == "event: end" {
            break;
        }
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let arrived = now_ns();
        // An event holds the rows that changed since the last one.
        let Ok(batch) = serde_json::from_str::<Vec<serde_json::Value>>(data) else {
            continue;
        };
        for row in batch {
            rows += 1;
            let written = row["latest"]
                .as_str()
                .and_then(|t| t.strip_prefix("stamp "))
                .and_then(|rest| rest.split(' ').next()?.parse::<u128>().ok());
            if let Some(written) = written {
                micros.push(arrived.saturating_sub(written) as f64 / 1000.0);
            }
        }
    }
    if micros.is_empty() {
        eprintln!("sc-bench page: no stamped row read ({rows} rows)");
        return 1;
    }
    println!(
        "{}",
        crate::percentiles(&mut micros, &format!("\"rows\":{rows},"))
    );
    0
}
