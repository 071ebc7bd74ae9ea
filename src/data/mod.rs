//! Data: reading MNIST-style IDX files (raw or gzip), checking them, and holding them as
//! [`Dataset`]s of raw bytes `(N, C, H, W)` plus labels `(N)`, with batch gathering and a
//! seeded validation split, the training-time [`augment`]ation, and MNIST-style preprocessing
//! of digit pictures ([`preprocess`]).

pub mod augment;
pub mod dataset;
pub mod idx;
pub mod preprocess;

pub use dataset::{Dataset, TrainTest, load_dir};
pub use idx::{IdxArray, read_idx};
