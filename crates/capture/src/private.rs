//! One checked way to make and open sc's private state: the runs folder
//! (control sockets, side logs, ssh masters, usage files), its folders and
//! its files.
//!
//! The runs folder lives in `$XDG_RUNTIME_DIR/sc`, else `sc-UID` in the
//! temp folder, where any user of the machine may have been first: a
//! folder of someone else's there, or a link planted in its place, would
//! let a neighbour read sc's sockets, or have sc delete or chmod what the
//! link points at. So every folder is opened without following links
//! (`O_NOFOLLOW`) and checked on the descriptor it gave (`fstat`: a
//! folder, owned by this user, mode 0700), else refused with a message
//! that says what to do; nothing is chmodded. A file is made with
//! `O_CREAT|O_EXCL|O_NOFOLLOW` (never an existing one, never through a
//! link), and only what sc made is removed.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, mkdir, unlinkat};

/// The folder of this user's runs: `$XDG_RUNTIME_DIR/sc`, else `sc-UID`
/// in the temp folder. Only its path: [`runs_dir`] makes and checks it.
pub fn runs_path() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Path::new(&dir).join("sc"),
        None => std::env::temp_dir().join(format!("sc-{}", nix::unistd::getuid())),
    }
}

/// A private folder, checked: the descriptor it was checked on, through
/// which its files are made (`openat`), so that what was checked is what
/// is written in, whatever happens to its path meanwhile.
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
    fd: OwnedFd,
}

impl PrivateDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new private file `name` in it (0600), never an existing one and
    /// never through a link; its path beside it.
    pub fn create_file(&self, name: &str) -> io::Result<(File, PathBuf)> {
        let path = self.path.join(name);
        let flags = OFlag::O_WRONLY
            | OFlag::O_CREAT
            | OFlag::O_EXCL
            | OFlag::O_NOFOLLOW
            | OFlag::O_CLOEXEC
            | OFlag::O_APPEND;
        let fd = openat(&self.fd, name, flags, Mode::S_IRUSR | Mode::S_IWUSR)
            .map_err(|e| context(&path, "cannot make", e.into()))?;
        Ok((File::from(fd), path))
    }

    /// [`PrivateDir::create_file`], replacing a file of the same name that
    /// a run killed before its end left there (a name with a pid in it
    /// comes round again): only a regular file of this user's, never a
    /// link.
    pub fn create_file_anew(&self, name: &str) -> io::Result<(File, PathBuf)> {
        match self.create_file(name) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let own_file = fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .is_ok_and(|stat| is_kind(&stat, SFlag::S_IFREG) && stat.st_uid == me());
                if !own_file {
                    return Err(e);
                }
                unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir)
                    .map_err(|e| context(&self.path.join(name), "cannot remove", e.into()))?;
                self.create_file(name)
            }
            made => made,
        }
    }
}

impl PrivateDir {
    /// A file `name` of this user's in it that holds exactly `contents`
    /// (a configuration sc hands to a program by its path): made if it is
    /// not there, kept if it is and holds them, made anew if it holds
    /// anything else. Read without following a link.
    pub fn file_holding(&self, name: &str, contents: &[u8]) -> io::Result<PathBuf> {
        use std::io::{Read, Write};
        let path = self.path.join(name);
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        if let Ok(fd) = openat(&self.fd, name, flags, Mode::empty()) {
            let own = fstat(&fd).is_ok_and(|stat| {
                is_kind(&stat, SFlag::S_IFREG) && stat.st_uid == me() && stat.st_mode & 0o077 == 0
            });
            let mut held = Vec::new();
            if own && File::from(fd).read_to_end(&mut held).is_ok() && held == contents {
                return Ok(path);
            }
        }
        match self.create_file_anew(name) {
            Ok((mut file, _)) => {
                file.write_all(contents)
                    .map_err(|e| context(&path, "cannot write", e))?;
                Ok(path)
            }
            // Another run made it meanwhile.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(path),
            Err(e) => Err(e),
        }
    }
}

/// This user's runs folder, made if need be and checked private.
pub fn runs_dir() -> io::Result<PrivateDir> {
    make_dir(&runs_path())
}

/// The runs folder as it is, checked private, without making it (what
/// `sc-ctl` and `sc-view --attach` look in): NotFound when there is none.
pub fn existing_runs_dir() -> io::Result<PrivateDir> {
    check_dir(&runs_path())
}

/// `path` made a private folder (0700) if it is not there, then checked:
/// a real folder, this user's, 0700. Its parent must exist.
pub fn make_dir(path: &Path) -> io::Result<PrivateDir> {
    match mkdir(path, Mode::S_IRWXU) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(context(path, "cannot make the folder", e.into())),
    }
    check_dir(path)
}

/// `path` is a private folder: a folder and no link, owned by this user,
/// open to nobody else (mode 0700). The error names what is wrong and
/// what to do.
pub fn check_dir(path: &Path) -> io::Result<PrivateDir> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
            return Err(refused(
                path,
                "is not a folder (a link, or a file, stands in its place)",
            ));
        }
        Err(e) => return Err(context(path, "cannot open", e.into())),
    };
    let stat = fstat(&fd).map_err(|e| context(path, "cannot look at", e.into()))?;
    if !is_kind(&stat, SFlag::S_IFDIR) {
        return Err(refused(path, "is not a folder"));
    }
    if stat.st_uid != me() {
        return Err(refused(
            path,
            &format!("belongs to uid {}, not to you (uid {})", stat.st_uid, me()),
        ));
    }
    if stat.st_mode & 0o077 != 0 {
        return Err(refused(
            path,
            &format!(
                "is open to others (mode {:o}; it must be 0700)",
                stat.st_mode & 0o777
            ),
        ));
    }
    Ok(PrivateDir {
        path: path.to_owned(),
        fd,
    })
}

/// Whether `path` (in a private folder) is an entry this user made of the
/// kind `kind` (`S_IFSOCK`, `S_IFREG`, `S_IFDIR`), looked at without
/// following a link: what a sweep may remove.
pub fn is_own(path: &Path, kind: SFlag) -> bool {
    nix::sys::stat::lstat(path).is_ok_and(|stat| is_kind(&stat, kind) && stat.st_uid == me())
}

/// Removes from `dir` the entries `PREFIX-PID-…` or `PREFIX-PID.…` of the
/// kind `kind` (`S_IFSOCK`: a run's sockets; `S_IFREG`: its kept stream)
/// whose pid is gone: what a run killed outright (SIGKILL) could not take
/// away itself. Only this user's, looked at without following a link; a
/// pid in use again keeps its entries (never guessed).
pub fn sweep_dead(dir: &PrivateDir, prefix: &str, kind: SFlag) {
    let Ok(entries) = std::fs::read_dir(dir.path()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix)?.strip_prefix('-'))
            .and_then(|rest| rest.split(['-', '.']).next()?.parse::<i32>().ok())
            .filter(|pid| *pid > 0)
        else {
            continue;
        };
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH);
        if gone && is_own(&entry.path(), kind) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Removes from `dir` the files `PREFIX…SUFFIX` last written more than
/// `age` ago (ended runs' kept streams past their keeping): only this
/// user's regular files, looked at without following a link.
pub fn sweep_old_files(dir: &PrivateDir, prefix: &str, suffix: &str, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir.path()) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let ours = name
            .to_str()
            .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix));
        let old = entry
            .path()
            .symlink_metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| now.duration_since(at).is_ok_and(|d| d > age));
        if ours && old && is_own(&entry.path(), SFlag::S_IFREG) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn is_kind(stat: &FileStat, kind: SFlag) -> bool {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == kind
}

fn me() -> u32 {
    nix::unistd::getuid().as_raw()
}

fn refused(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{} {what}: sc keeps its private state only in a folder of yours that nobody else \
             can enter; remove it (or set XDG_RUNTIME_DIR or TMPDIR to a folder of your own)",
            path.display()
        ),
    )
}

fn context(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sc-private-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn a_private_folder_is_made_once_and_checked_every_time() {
        let base = scratch("made");
        let dir = base.join("runs");
        make_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        make_dir(&dir).expect("there already: checked, fine");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let refused = make_dir(&dir).unwrap_err().to_string();
        assert!(refused.contains("open to others"), "{refused}");
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "refused, not chmodded");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_link_in_place_of_the_folder_is_refused_and_not_followed() {
        let base = scratch("link");
        let target = base.join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dir = base.join("runs");
        std::os::unix::fs::symlink(&target, &dir).unwrap();
        let refused = make_dir(&dir).unwrap_err().to_string();
        assert!(refused.contains("is not a folder"), "{refused}");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "what the link points at is untouched");
        assert!(check_dir(&dir).is_err());
        assert!(!target.join("x").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn files_are_new_ones_never_an_existing_file_or_a_link() {
        let base = scratch("files");
        let dir = base.join("runs");
        let private = make_dir(&dir).unwrap();
        let (file, path) = private.create_file("log").unwrap();
        drop(file);
        assert_eq!(path, dir.join("log"));
        let mode = std::fs::metadata(dir.join("log"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            private.create_file("log").is_err(),
            "never an existing file"
        );
        private
            .create_file_anew("log")
            .expect("a leftover of sc's own is replaced");
        std::os::unix::fs::symlink(base.join("victim"), dir.join("planted")).unwrap();
        assert!(
            private.create_file("planted").is_err(),
            "never through a link"
        );
        assert!(
            private.create_file_anew("planted").is_err(),
            "a link is no leftover"
        );
        assert!(!base.join("victim").exists());
        assert!(is_own(&dir.join("log"), SFlag::S_IFREG));
        assert!(!is_own(&dir.join("planted"), SFlag::S_IFREG));
        assert!(!is_own(&dir.join("planted"), SFlag::S_IFDIR));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
