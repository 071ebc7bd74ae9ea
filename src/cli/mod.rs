//! The subcommands of the `shadernet` binary, one file per family; shared flags and helpers
//! stay in `main.rs`.

pub(crate) mod evaluate;
pub(crate) mod progress;
pub(crate) mod tools;
pub(crate) mod train;
