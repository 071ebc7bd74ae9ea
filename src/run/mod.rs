//! What a training run leaves behind: checkpoints ([`checkpoint`], written atomically by
//! [`atomic`]), the run directory ([`rundir`]) and its pictures ([`plots`], drawn on a
//! [`canvas`]).

pub mod atomic;
pub mod canvas;
pub mod checkpoint;
mod history;
pub mod plots;
pub mod rundir;

pub use checkpoint::Checkpoint;
