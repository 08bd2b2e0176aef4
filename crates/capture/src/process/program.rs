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
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or(Missing::NotOnPath)
}
