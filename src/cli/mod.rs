//! The subcommands of the `shadernet` binary, one file per family; the flags and helpers that
//! several of them share are in [`common`].

pub(crate) mod common;
pub(crate) mod evaluate;
pub(crate) mod flags;
pub(crate) mod memory;
pub(crate) mod output;
pub(crate) mod progress;
pub(crate) mod tools;
pub(crate) mod train;
