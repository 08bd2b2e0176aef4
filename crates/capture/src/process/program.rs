//! Finding a program sc runs on the user's behalf (an agent CLI,
//! bubblewrap): the variable that names it, else the PATH.

use std::path::PathBuf;

/// Why a program was not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// The variable names this, which is no file.
    Named(PathBuf),
    /// Not on the PATH.
    NotOnPath,
}

/// `$variable` when it is set (it must name a file), else `name` on the
/// PATH.
pub fn find(name: &str, variable: &str) -> Result<PathBuf, Missing> {
    if let Some(path) = std::env::var_os(variable).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Missing::Named(path))
        };
    }
    std::env::var_os("PATH")
        .and_then(|path| on_path(name, &path))
        .ok_or(Missing::NotOnPath)
}

/// `name` as a PATH of `path`'s value finds it: the first executable file
/// of that name, as a shell would run it.
pub fn on_path(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
