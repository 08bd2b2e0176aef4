//! The process layer: a worker as an operating-system process group, its
//! limits, its resource use, and the signals it is sent.

pub mod cgroup;
pub mod gone;
pub mod inside;
pub mod landlock;
pub mod launch;
pub mod limits;
pub mod net;
pub mod podman;
pub mod proctree;
pub mod program;
pub mod proxy;
pub mod sandbox;
pub mod signals;
pub mod wrap;
