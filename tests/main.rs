//! End-to-end tests: the real binaries on real pipes, PTYs, signals and
//! processes.

mod agents;
mod docs;
mod merge;
mod plan;
mod spawn;
mod util;
mod view;
