//! Inside a sandbox with a network allow-list: sc-spawn's tiny relay mode.
//! The sandbox's network namespace has only its own loopback; the proxy
//! is on the host, behind a unix socket bound in. This listens on
//! 127.0.0.1:PORT (where the worker's `HTTP(S)_PROXY` point), forks a
//! relay that carries each connection to the socket, and becomes the
//! worker's command (exec): the worker keeps the pid bubblewrap reports,
//! its exit status is bubblewrap's, and when it ends, the PID namespace
//! ends and the relay with it.

use std::ffi::{OsStr, OsString};
use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;

/// The first argument that asks for this mode (never a user's: sc-spawn's
/// own line inside its sandbox).
pub const MODE: &str = "__sc-sandbox-relay";

/// Where the proxy's socket and this binary are bound inside the sandbox,
/// and the port the relay listens on. Under its /dev, a file system of
/// the sandbox's own that nothing of the host's is bound over (under its
/// /tmp, a worker with the host's /tmp writable had the mount points made
/// in the host's: measured).
pub const DIR: &str = "/dev/.sc-net";
pub const SOCKET: &str = "/dev/.sc-net/proxy.sock";
pub const RELAY: &str = "/dev/.sc-net/sc-spawn";
pub const PORT: u16 = 3128;

/// The words that run `command` behind the relay.
pub fn argv(command: &[OsString]) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![RELAY.into(), MODE.into(), SOCKET.into()];
    argv.push(PORT.to_string().into());
    argv.push("--".into());
    argv.extend(command.iter().cloned());
    argv
}

/// The relay mode's arguments (after [`MODE`]): the socket, the port, `--`
/// and the command. Runs the relay and becomes the command; returns only
/// when that cannot be done (the error says what).
pub fn run(args: &[OsString]) -> io::Error {
    let [socket, port, dashes, command @ ..] = args else {
        return io::Error::other("usage: SOCKET PORT -- COMMAND...");
    };
    let port: Option<u16> = port.to_str().and_then(|p| p.parse().ok());
    let (Some(port), true, Some(program)) = (port, dashes == "--", command.first()) else {
        return io::Error::other("usage: SOCKET PORT -- COMMAND...");
    };
    if let Err(e) = start_relay(Path::new(socket), port) {
        return e;
    }
    std::process::Command::new(program)
        .args(&command[1..])
        .exec()
}

/// Listens on 127.0.0.1:`port` (0: any free one) and forks the relay that
/// carries each connection there to `socket`; the port it got.
pub fn start_relay(socket: &Path, port: u16) -> io::Result<u16> {
    let listener = listen(port)?;
    let port = listener.local_addr()?.port();
    fork_relay(listener, socket)?;
    Ok(port)
}

/// The relay's listener on 127.0.0.1:`port` (0: any free one).
pub fn listen(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| io::Error::new(e.kind(), format!("the proxy's port 127.0.0.1:{port}: {e}")))
}

/// Forks the relay serving `listener`. It ends with the process that
/// started it (which then becomes the worker): in a sandbox of its own PID
/// namespace that is the namespace's end; where there is none (Landlock),
/// its parent-death signal (so it is forked inside the Landlock domain,
/// whose signal scope would stop a signal from the worker to a relay
/// outside it).
pub fn fork_relay(listener: TcpListener, socket: &Path) -> io::Result<()> {
    let parent = nix::unistd::getpid();
    // SAFETY: this runs first thing in sc-spawn's main, single-threaded:
    // the child may do anything after fork, threads included.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(io::Error::other(format!(
            "cannot start the network relay: {e}"
        ))),
        Ok(nix::unistd::ForkResult::Child) => {
            // SAFETY: prctl with an integer argument; no memory touched.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            if nix::unistd::getppid() != parent {
                std::process::exit(0);
            }
            serve(&listener, socket);
            std::process::exit(0)
        }
        Ok(nix::unistd::ForkResult::Parent { .. }) => Ok(()),
    }
}

/// The worker's proxy variables, naming the relay on `port`: each set
/// (Some) or unset (None). Both cases (curl reads only lower case
/// `http_proxy`); nothing bypasses it; Node reads them only when told to.
pub fn proxy_vars(port: u16) -> Vec<(&'static str, Option<String>)> {
    let url = format!("http://127.0.0.1:{port}");
    let mut vars: Vec<(&'static str, Option<String>)> =
        ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]
            .into_iter()
            .map(|var| (var, Some(url.clone())))
            .collect();
    vars.extend(["NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"].map(|var| (var, None)));
    vars.push(("NODE_USE_ENV_PROXY", Some("1".to_owned())));
    vars
}

/// The relay: each connection to the port carried to the socket, until the
/// sandbox ends. Polite signals (which reach the sandbox's whole session)
/// are the worker's business: the relay stays while it finishes, and
/// leaves the worker's outputs (its end of file is the worker's).
fn serve(listener: &TcpListener, socket: &Path) {
    use nix::sys::signal::{SigHandler, Signal, signal};
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGPIPE,
    ] {
        // SAFETY: ignoring a signal installs no handler.
        unsafe {
            let _ = signal(sig, SigHandler::SigIgn);
        }
    }
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors, which this
            // process holds and nothing else here uses.
            unsafe {
                libc::dup2(null.as_raw_fd(), fd);
            }
        }
    }
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        // A relay passes on what it gets as it gets it: Nagle would hold a
        // small write back for the peer's delayed ACK (40 ms, measured).
        let _ = conn.set_nodelay(true);
        let socket = socket.to_owned();
        let _ = std::thread::Builder::new().spawn(move || {
            if let Ok(proxy) = UnixStream::connect(&socket) {
                carry(conn, proxy);
            }
        });
    }
}

fn carry(conn: TcpStream, proxy: UnixStream) {
    let (Ok(mut conn_r), Ok(mut proxy_w)) = (conn.try_clone(), proxy.try_clone()) else {
        return;
    };
    let back = std::thread::spawn(move || {
        let (mut from, mut to) = (proxy, conn);
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut conn_r, &mut proxy_w);
    let _ = proxy_w.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// Whether `arg` asks for this mode.
pub fn requested(arg: Option<&OsStr>) -> bool {
    arg == Some(OsStr::new(MODE))
}
