//! Event-stream inputs in the poller: files, FIFOs, stdin and producer
//! commands opened, read as they are ready (files in their turn), and
//! stopped.

use super::*;

impl Supervisor {
    /// Open an input of event lines. When it cannot be opened, an `error`
    /// event of a worker named after it says so, and the error is returned.
    pub fn add_input(&mut self, spec: &InputSpec, label: String) -> io::Result<usize> {
        let route = self.router.add_input(&label);
        let opened = self.open_input(spec, label, route);
        if let Err(e) = &opened {
            self.cannot_open(spec, route, e);
        }
        opened
    }

    /// As [`Supervisor::add_input`], but an input refused a file
    /// descriptor (the limit reached) while others are open waits, named
    /// already, until one of them ends and gives its descriptor back; as
    /// `cat` opens one file after another, a merge of more files than the
    /// limit allows still merges them all.
    pub fn add_input_or_wait(&mut self, spec: &InputSpec, label: String) -> io::Result<()> {
        let route = self.router.add_input(&label);
        let waiting = Waiting {
            spec: spec.clone(),
            label,
            route,
        };
        match self.open_or_wait(waiting) {
            Ok(Some(waiting)) => {
                self.waiting.push_back(waiting);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err((_, e)) => Err(e),
        }
    }

    /// How many inputs wait for a file descriptor.
    pub fn inputs_waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Open the inputs that wait for a descriptor, as far as those that
    /// ended gave theirs back. One that is refused with none of ours open
    /// (nothing of the run's will free one) fails, said as any other.
    pub(super) fn open_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        if self.open_inputs() >= self.open_when_refused {
            return; // none ended since the last refusal
        }
        while let Some(waiting) = self.waiting.pop_front() {
            match self.open_or_wait(waiting) {
                Ok(None) => {}
                Ok(Some(waiting)) => return self.waiting.push_front(waiting),
                Err((message, _)) => self.unopened.push(message),
            }
        }
    }

    /// Open an input, or hand it back to wait when it was refused a
    /// descriptor while others of the run are open (one of them will give
    /// one back); otherwise a refusal is said (the message and the error).
    fn open_or_wait(&mut self, waiting: Waiting) -> Result<Option<Waiting>, (String, io::Error)> {
        let Waiting { spec, label, route } = &waiting;
        match self.open_input(spec, label.clone(), *route) {
            Ok(_) => Ok(None),
            Err(e) if is_out_of_descriptors(&e) && self.open_inputs() > 0 => {
                self.open_when_refused = self.open_inputs();
                Ok(Some(waiting))
            }
            Err(e) => Err((self.cannot_open(spec, *route, &e), e)),
        }
    }

    fn open_inputs(&self) -> usize {
        self.inputs.iter().filter(|i| i.is_open()).count()
    }

    fn open_input(&mut self, spec: &InputSpec, label: String, route: usize) -> io::Result<usize> {
        let index = self.inputs.len();
        let token = Token(FIRST_INPUT + index);
        let registry = self.poll.registry();
        let (max_line, threads) = (self.max_line, &mut self.read_ahead);
        let input = Input::open(spec, label, route, registry, token, max_line, threads)?;
        self.inputs.push(input);
        Ok(index)
    }

    /// An input that could not be opened, said in the stream by a worker
    /// named after it; the message.
    fn cannot_open(&mut self, spec: &InputSpec, route: usize, e: &io::Error) -> String {
        let label = self.router.label(route).to_owned();
        let message = match spec {
            InputSpec::Command(command) => {
                format!("cannot run input {label} (`{command}`): {e}")
            }
            InputSpec::Path(path) => format!("cannot open input {}: {e}", path.display()),
            InputSpec::Stdin => format!("cannot read stdin: {e}"),
        };
        self.router
            .own_error(route, message.clone(), self.sink.buffer());
        message
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

    /// Stop reading inputs that did not end by themselves after an
    /// interrupt; what they had is still routed. Inputs still waiting for a
    /// descriptor are said never to have been read.
    pub(super) fn stop_inputs(&mut self, graceful: bool) {
        self.stop_inputs_at = None;
        let registry = self.poll.registry();
        for input in &mut self.inputs {
            if graceful && input.is_command() {
                input.interrupt(Signal::SIGKILL, true);
            }
            input.close(self.sink.buffer(), &mut self.router, registry);
        }
        for Waiting { label, route, .. } in std::mem::take(&mut self.waiting) {
            let message = format!(
                "input {label} was not read: the merge was stopped while it waited for a file \
                 descriptor"
            );
            self.router.own_error(route, message, self.sink.buffer());
        }
    }
}

/// An input that waits for a file descriptor (see
/// [`Supervisor::add_input_or_wait`]).
pub(super) struct Waiting {
    spec: InputSpec,
    label: String,
    route: usize,
}
