//! Data: reading MNIST-style IDX files (raw or gzip), checking them, and holding them as
//! [`Dataset`]s of raw bytes `(N, C, H, W)` plus labels `(N)`, with batch gathering and a
//! seeded validation split, and the training-time [`augment`]ation.

pub mod augment;
pub mod dataset;
pub mod idx;

pub use dataset::{Dataset, TrainTest, load_dir};
pub use idx::{IdxArray, read_idx};
