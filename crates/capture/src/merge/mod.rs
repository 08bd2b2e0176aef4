//! The merge layer: event streams read from files, FIFOs, stdin and
//! producer commands, routed into one stream with worker ids kept unique.

pub mod ahead;
pub mod heads;
pub mod input;
pub mod pool;
pub mod router;
