//! The GPU side: adapter discovery now; the wgpu executor (one WGSL shader per op and
//! direction, a whole step recorded into one command encoder) builds on it.

pub mod context;

pub use context::{AdapterSummary, list_adapters};
