//! End-to-end tests: the real binaries on real pipes, PTYs, signals and
//! processes.

mod agents;
mod background;
mod budget;
mod chores;
mod claude;
mod codex_gemini;
mod docs;
mod hardening;
mod matrix;
mod merge;
mod mock_model;
mod plan;
mod planner;
mod reconnect;
mod remote;
mod reports;
mod resume;
mod retry;
mod slurm;
mod spawn;
mod spool;
mod terminal;
mod util;
mod view;
mod wild;
