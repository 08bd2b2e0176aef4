//! Event-stream inputs in the poller: files, FIFOs, stdin and producer
//! commands opened, read as they are ready (files in their turn), and
//! stopped.

use super::*;

impl Supervisor {
    /// Open an input of event lines. When it cannot be opened, an `error`
    /// event of a worker named after it says so, and the error is returned.
    pub fn add_input(&mut self, spec: &InputSpec, label: String) -> io::Result<usize> {
        let route = self.router.add_input(&label);
        let index = self.inputs.len();
        let token = Token(FIRST_INPUT + index);
        let registry = self.poll.registry();
        let (max_line, threads) = (self.max_line, &mut self.read_ahead);
        match Input::open(
            spec,
            label.clone(),
            route,
            registry,
            token,
            max_line,
            threads,
        ) {
            Ok(input) => {
                self.inputs.push(input);
                Ok(index)
            }
            Err(e) => {
                let message = match spec {
                    InputSpec::Command(command) => {
                        format!("cannot run input {label} (`{command}`): {e}")
                    }
                    InputSpec::Path(path) => format!("cannot open input {}: {e}", path.display()),
                    InputSpec::Stdin => format!("cannot read stdin: {e}"),
                };
                self.router.own_error(route, message, self.sink.buffer());
                Err(e)
            }
        }
    }

    /// Read the inputs the poller said are ready, while the sink has room.
    pub(super) fn pump_inputs(&mut self) {
        for input in &mut self.inputs {
            if !self.sink.is_full() {
                let registry = self.poll.registry();
                input.pump(
                    &mut self.scratch,
                    &mut self.sink,
                    &mut self.router,
                    registry,
                );
            }
        }
    }

    /// Route what the threads reading files ahead have handed over, the
    /// files taking turns (see [`Input::take_turn`]), a bounded amount.
    pub(super) fn take_file_turns(&mut self) {
        // Until a file says it has nothing yet: more may be waiting, to be
        // taken as soon as the sink has room (its thread woke the loop
        // already, and will not again).
        self.files_ready = true;
        let count = self.inputs.len();
        for _ in 0..FILE_TURNS {
            if self.sink.is_full() {
                return;
            }
            let Some(next) = (0..count)
                .map(|k| (self.file_turn + k) % count)
                .find(|&i| self.inputs[i].takes_turns())
            else {
                self.files_ready = false;
                return;
            };
            let registry = self.poll.registry();
            let input = &mut self.inputs[next];
            match input.take_turn(&mut self.sink, &mut self.router, registry) {
                Turn::NotYet => {
                    self.files_ready = false; // its thread wakes the loop
                    return;
                }
                Turn::Taken => self.file_turn = next + 1,
            }
        }
    }

    pub(super) fn stop_inputs(&mut self, graceful: bool) {
        self.stop_inputs_at = None;
        let registry = self.poll.registry();
        for input in &mut self.inputs {
            if graceful && input.is_command() {
                input.interrupt(Signal::SIGKILL, true);
            }
            input.close(self.sink.buffer(), &mut self.router, registry);
        }
    }
}
