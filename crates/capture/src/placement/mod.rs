//! The placement layer: where a worker runs when that is not this machine
//! (another host over ssh, a Slurm job step), the sc-spawn copied there,
//! and the stream relayed back from it.

pub mod relay;
pub mod remote;
pub mod transfer;
