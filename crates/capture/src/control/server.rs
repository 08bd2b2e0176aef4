//! The run's side of the control socket, served by the one poller: a
//! listener and its connections, non-blocking, each request line handed to
//! the supervisor and its reply written back.

use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use super::{MAX_REQUEST, Reply, Request, parse_request};

/// One client.
struct Conn {
    stream: UnixStream,
    line: Vec<u8>,
    /// The line being read passed MAX_REQUEST: it is refused at its end.
    too_long: bool,
    /// Replies not written yet.
    out: Vec<u8>,
}

/// The listener and its clients; tokens from `first` on (the listener's,
/// then one per connection).
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    first: usize,
    conns: slab::Slab<Conn>,
}

impl ControlServer {
    /// Listen at `path` (its folder made the user's alone), registered
    /// with the poller under tokens from `first` on.
    pub fn bind(path: &Path, registry: &Registry, first: usize) -> io::Result<ControlServer> {
        // The default folder is made the user's alone; a path given (a
        // spool, a folder of the user's choosing) is taken as it is: the
        // socket itself is 0600 and a peer of another user is refused.
        match path.parent() {
            Some(dir) if dir == crate::private::runs_path() => {
                crate::private::make_dir(dir)?;
            }
            Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
            }
            _ => {}
        }
        // A socket left by a run that died is replaced; anything else is not.
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is no socket", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let mut listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        registry.register(&mut listener, Token(first), Interest::READABLE)?;
        Ok(ControlServer {
            listener,
            path: path.to_owned(),
            first,
            conns: slab::Slab::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `token` is ready: new clients taken, requests read. Each request
    /// read comes back with its client's number, for [`Self::reply`].
    pub fn on_ready(
        &mut self,
        token: Token,
        registry: &Registry,
    ) -> Vec<(usize, Result<Request, String>)> {
        let mut requests = Vec::new();
        if token.0 == self.first {
            self.accept(registry);
            return requests;
        }
        let key = token.0 - self.first - 1;
        let mut closed = false;
        if let Some(conn) = self.conns.get_mut(key) {
            let mut buf = [0u8; 4096];
            loop {
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => take_lines(conn, &buf[..n], key, &mut requests),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            flush(conn);
        }
        if closed && self.conns.get(key).is_some_and(|c| c.out.is_empty()) {
            self.drop_conn(key, registry);
        }
        requests
    }

    /// Write `reply` to client `key`.
    pub fn reply(&mut self, key: usize, reply: &Reply) {
        if let Some(conn) = self.conns.get_mut(key) {
            conn.out.extend_from_slice(&reply.line());
            flush(conn);
        }
    }

    fn accept(&mut self, registry: &Registry) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    // Only this user: the folder is private, and the peer
                    // is checked too.
                    if !same_user(&stream) {
                        continue;
                    }
                    let entry = self.conns.vacant_entry();
                    let token = Token(self.first + 1 + entry.key());
                    if registry
                        .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                        .is_ok()
                    {
                        entry.insert(Conn {
                            stream,
                            line: Vec::new(),
                            too_long: false,
                            out: Vec::new(),
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    fn drop_conn(&mut self, key: usize, registry: &Registry) {
        let mut conn = self.conns.remove(key);
        let _ = registry.deregister(&mut conn.stream);
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Complete request lines of `data`, bounded.
fn take_lines(
    conn: &mut Conn,
    data: &[u8],
    key: usize,
    requests: &mut Vec<(usize, Result<Request, String>)>,
) {
    for &byte in data {
        if byte != b'\n' {
            if conn.line.len() >= MAX_REQUEST {
                conn.too_long = true;
            } else {
                conn.line.push(byte);
            }
            continue;
        }
        let request = match std::mem::take(&mut conn.too_long) {
            true => Err(format!("a request of more than {MAX_REQUEST} bytes")),
            false => parse_request(&conn.line),
        };
        conn.line.clear();
        requests.push((key, request));
    }
}

/// Write what is waiting; a client that does not read loses its replies
/// rather than holding up the poller.
fn flush(conn: &mut Conn) {
    while !conn.out.is_empty() {
        match conn.stream.write(&conn.out) {
            Ok(0) => break,
            Ok(n) => {
                conn.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && conn.out.len() < 1 << 20 => break,
            Err(_) => {
                conn.out.clear();
                break;
            }
        }
    }
}

fn same_user(stream: &UnixStream) -> bool {
    super::peer_uid(stream).is_ok_and(|uid| uid == nix::unistd::getuid().as_raw())
}
