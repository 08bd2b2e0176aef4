//! The timeline's time axis: ticks at round values (0, 0.5 s, 1 s, … or
//! 0, 1 min, 2 min, …) rather than fifths of whatever the run lasted.

/// The step between ticks for a span of `span` seconds: 1, 2 or 5 times a
/// power of ten (seconds), or whole minutes and hours for long runs, so
/// that about six ticks fit.
pub fn step(span: f64) -> f64 {
    let raw = (span / 6.0).max(1e-3);
    for (at_least, steps) in [
        (3600.0, &[3600.0, 7200.0, 10800.0, 21600.0, 43200.0][..]),
        (
            60.0,
            &[60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0][..],
        ),
    ] {
        if raw >= at_least {
            return steps.iter().copied().find(|&s| s >= raw).unwrap_or(raw);
        }
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw * 0.999)
        .unwrap_or(raw)
}

/// The ticks for `span` seconds: their times, from 0.
pub fn ticks(span: f64) -> Vec<f64> {
    let step = step(span);
    (0..)
        .map(|k| f64::from(k) * step)
        .take_while(|&t| t <= span * 1.0001)
        .take(50)
        .collect()
}

/// A tick's label, as precise as the step needs: `0`, `0.5 s`, `2 s`,
/// `1 min 30 s`, `2 h`.
pub fn label(t: f64, step: f64) -> String {
    if t == 0.0 {
        return "0".into();
    }
    if step >= 3600.0 {
        return format!("{} h", trim(t / 3600.0, 1));
    }
    if step >= 60.0 {
        let minutes = (t / 60.0).floor();
        let seconds = (t - minutes * 60.0).round();
        return match seconds {
            0.0 => format!("{minutes} min"),
            s => format!("{minutes} min {s} s"),
        };
    }
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{} s", trim(t, decimals))
}

/// `x` with at most `decimals` digits after the point, trailing zeros cut.
fn trim(x: f64, decimals: usize) -> String {
    let text = format!("{x:.decimals$}");
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_owned(),
        false => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_values() {
        let labels = |span: f64| -> Vec<String> {
            let step = step(span);
            ticks(span).iter().map(|&t| label(t, step)).collect()
        };
        assert_eq!(labels(5.2), ["0", "1 s", "2 s", "3 s", "4 s", "5 s"]);
        assert_eq!(labels(2.6), ["0", "0.5 s", "1 s", "1.5 s", "2 s", "2.5 s"]);
        assert_eq!(labels(0.617), ["0", "0.2 s", "0.4 s", "0.6 s"]);
        assert_eq!(
            labels(0.05),
            ["0", "0.01 s", "0.02 s", "0.03 s", "0.04 s", "0.05 s"]
        );
        assert_eq!(
            labels(600.0),
            ["0", "2 min", "4 min", "6 min", "8 min", "10 min"]
        );
        assert_eq!(labels(3.0 * 3600.0 + 5.0), ["0", "1 h", "2 h", "3 h"]);
        for span in [0.001, 0.3, 7.0, 45.0, 99.0, 1234.0, 86400.0] {
            let n = ticks(span).len();
            assert!((2..=11).contains(&n), "{span}: {n} ticks");
        }
    }
}
