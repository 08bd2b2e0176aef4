//! Keys on the terminal view: `a` allows and `d` denies the oldest open
//! ask (`sc-spawn --ask`), through the control socket its `ask` event
//! names. The terminal is read without line editing or echo while the view
//! runs, and given back as it was however the view ends (Ctrl-C included).

use std::fs::File;
use std::io::Read;
use std::sync::mpsc::{Receiver, channel};

use nix::sys::termios::{
    LocalFlags, SetArg, SpecialCharacterIndices, Termios, tcgetattr, tcsetattr,
};

/// The terminal's keys, read in a thread of their own.
pub struct Keys {
    rx: Receiver<u8>,
    tty: File,
    saved: Termios,
}

impl Keys {
    /// Keys from the controlling terminal, else from the terminal the view
    /// is drawn on; None where there is none.
    pub fn start() -> Option<Keys> {
        let tty = File::options()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .or_else(|_| {
                File::options()
                    .read(true)
                    .write(true)
                    .open("/proc/self/fd/1")
            })
            .ok()?;
        let saved = tcgetattr(&tty).ok()?;
        let mut raw = saved.clone();
        // Each key as it is pressed, not echoed; Ctrl-C still interrupts.
        raw.local_flags
            .remove(LocalFlags::ICANON | LocalFlags::ECHO);
        raw.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        raw.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        tcsetattr(&tty, SetArg::TCSANOW, &raw).ok()?;
        let (tx, rx) = channel();
        let mut reader = tty.try_clone().ok()?;
        std::thread::spawn(move || {
            let mut key = [0u8; 1];
            while matches!(reader.read(&mut key), Ok(1)) {
                if tx.send(key[0]).is_err() {
                    return;
                }
            }
        });
        Some(Keys { rx, tty, saved })
    }

    /// A key pressed since the last call.
    pub fn key(&self) -> Option<u8> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let _ = tcsetattr(&self.tty, SetArg::TCSANOW, &self.saved);
    }
}

/// Answer ask `ask` at the control socket `control`: the error says why
/// not.
pub fn answer(control: &str, ask: &str, allow: bool) -> Result<(), String> {
    let request = sc_capture::control::Request::Answer {
        ask: ask.to_owned(),
        decision: if allow { "allow" } else { "deny" }.into(),
        message: None,
        via: Some("sc-view".into()),
    };
    let reply = sc_capture::control::request(std::path::Path::new(control), &request)
        .map_err(|e| format!("cannot reach {control}: {e}"))?;
    match reply.ok {
        true => Ok(()),
        false => Err(reply.error.unwrap_or_else(|| "refused".into())),
    }
}

/// A key on the terminal view: `a` (or `y`) allows, `d` (or `n`) denies
/// the oldest open ask.
pub fn answer_key(model: &sc_viewer::Model, key: u8) {
    let allow = match key {
        b'a' | b'y' => true,
        b'd' | b'n' => false,
        _ => return,
    };
    let Some(ask) = model.oldest_ask().cloned() else {
        return;
    };
    let control = ask.control.unwrap_or_default();
    // The decision taken comes back in the stream as its `answer`; a
    // refusal (answered meanwhile, the run gone) changes nothing.
    let _ = answer(&control, &ask.id, allow);
}
