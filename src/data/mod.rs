//! Data: reading MNIST-style IDX files (raw or gzip, header first under a memory limit),
//! checking them and their labels, and holding them as
//! [`Dataset`]s of raw bytes `(N, C, H, W)` plus labels `(N)`, with batch gathering and a
//! seeded validation split, the training-time [`augment`]ation, and MNIST-style preprocessing
//! of digit pictures ([`preprocess`]).

pub mod augment;
pub mod dataset;
mod gzip;
pub mod idx;
mod labels;
pub mod preprocess;
pub mod tta;

pub use dataset::{
    Dataset, IdxBytes, LoadOptions, TrainTest, load_bytes, load_dir, load_dir_with,
    load_test_bytes, load_test_dir,
};
pub use idx::{DEFAULT_DATA_LIMIT, IdxArray, read_idx, read_idx_bytes, read_idx_limited};
