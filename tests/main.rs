//! End-to-end tests: the real binaries on real pipes, PTYs, signals and
//! processes.

mod spawn;
mod util;
