//! Showing sc event streams to people.
//!
//! - [`agent`]: agent workers' annotations as lines people read.
//! - [`event`]: a flat, borrowed view of any event line, read fast.
//! - [`model`]: what the stream says about each worker, built event by event.
//! - [`text`]: lines assembled from output (`\r` redraws collapsed), control
//!   characters escaped, secrets masked.
//! - [`plain`]: the view for CI logs and files.
//! - [`term`]: the live terminal view (indicatif).
//! - [`table`]: the summary table both views end with.
//! - [`failures`]: what failed, said before the terminal view's table.
//! - [`check`]: proof that a stream is whole.
//! - [`glob`]: `--worker` patterns.
//! - [`joblog`]: GNU parallel's job log.
//! - [`web`]: the model as the web page's rows (`sc-view --serve`).

pub mod agent;
pub mod check;
pub mod event;
pub mod failures;
pub mod fmt;
pub mod glob;
pub mod joblog;
pub mod junit;
pub mod model;
pub mod plain;
pub mod table;
pub mod term;
pub mod text;
pub mod timeline;
pub mod usage;
pub mod web;

pub use event::ViewEvent;
pub use model::{Change, Model, Status};
pub use text::Safety;
