//! sc-bench: helpers for scripts/bench (not part of the product).
//!
//! - `sc-bench timed-writer`: a worker that writes lines (or prompts) stamped
//!   with the time of their write.
//! - `sc-bench latency`: reads a stream (sc events, or raw stamped lines) and
//!   reports write→arrival latency percentiles.
//! - `sc-bench page URL`: a page's client of `sc-view --serve`: stamped
//!   lines' time from their write to the page.
//! - `sc-bench measure`: runs a command and reports its wall time, CPU time
//!   and peak memory.
//! - `sc-bench asks`: the latency of `--ask`, from an agent's request to
//!   its `ask` event, and from an answer to the agent's stdin.
//! - `sc-bench fake-claude`, `sc-bench fake-acp`: scripted agents for the
//!   benchmarks and the tests.
//! - `sc-bench workers N`: the stream of N workers that have ended.

mod acp;
mod asks;
mod latency;
mod measure;
mod page;
mod workers;
mod writer;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("timed-writer") => writer::main(&args[1..]),
        Some("latency") => latency::main(&args[1..]),
        Some("measure") => measure::main(&args[1..]),
        Some("page") => page::main(&args[1..]),
        Some("asks") => asks::main(&args[1..]),
        Some("fake-claude") => asks::fake_claude(&args[1..]),
        Some("fake-acp") => acp::main(&args[1..]),
        Some("workers") => workers::main(&args[1..]),
        _ => {
            eprintln!("usage: sc-bench timed-writer|latency|measure ... (see scripts/bench)");
            2
        }
    };
    std::process::exit(code);
}

/// Nanoseconds since the Unix epoch: comparable across processes.
pub fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The value after `--name` in `args`, parsed, or `default`.
pub fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `micros` (sorted here) as the JSON line the benches print: how many,
/// p50, p99 and the most, in µs; `extra` goes first (`"rows":N,`).
pub fn percentiles(micros: &mut [f64], extra: &str) -> String {
    micros.sort_by(f64::total_cmp);
    let pct = |p: f64| micros[((micros.len() - 1) as f64 * p).round() as usize];
    format!(
        "{{{extra}\"n\":{},\"p50_us\":{:.1},\"p99_us\":{:.1},\"max_us\":{:.1}}}",
        micros.len(),
        pct(0.5),
        pct(0.99),
        micros[micros.len() - 1]
    )
}
