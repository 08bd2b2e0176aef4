//! What the run keeps beside its stream, and what it says of itself: the
//! log (`--log`, or the run's own for `sc-view --attach`) and sc-spawn's
//! own `error` events about the run.

use super::Supervisor;

impl Supervisor {
    /// Say where the log is (for the control socket's `log`).
    pub fn set_log_path(&mut self, path: std::path::PathBuf) {
        self.log_path = Some(path);
    }

    /// Also write the stream to `file`: the user's `--log` (`required`: a
    /// failure to write it fails the run), or the run's own.
    /// When the run started (Unix seconds).
    pub fn started(&self) -> f64 {
        self.started
    }

    pub fn set_log(&mut self, file: std::fs::File, required: bool) -> std::io::Result<()> {
        self.sink.set_log(file, required, self.waker.clone())
    }

    /// sc-spawn's own problem with the run, not with a worker: an `error`
    /// event of worker `sc-spawn`.
    pub fn say_error(&mut self, message: String) {
        let event = sc_events::Event::new(
            "sc-spawn".to_owned(),
            self.own_seq,
            sc_events::now_ts(),
            sc_events::ErrorEvent { message },
        );
        self.own_seq += 1;
        self.sink
            .buffer()
            .extend_from_slice(&sc_events::to_line(&event));
    }
}
