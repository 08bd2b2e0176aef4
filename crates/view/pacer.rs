//! `--replay`: a saved stream shown at its recorded pace.

/// --replay: hold each event until its recorded moment.
pub struct Pacer {
    pub speed: f64,
    pub started: std::time::Instant,
    pub first_ts: Option<f64>,
}

impl Pacer {
    pub fn stream_now(&self) -> Option<f64> {
        Some(self.first_ts? + self.started.elapsed().as_secs_f64() * self.speed)
    }
}
