//! The output layer: bytes a worker writes made into events (framed per the
//! lossless rule, progress found, nested streams routed), and the stream's
//! way out with backpressure.

pub mod framer;
pub mod lines;
pub mod log;
pub mod nest;
pub mod progress;
pub mod sink;
