//! A small text format for networks, one layer or setting per line.
//!
//! ```text
//! # comments start with '#'
//! conv 8 kernel=5 stride=1 padding=2   # F filters; kernel/stride/padding default 5/1/2 ('same')
//! relu
//! maxpool 2 stride=2                   # window size; stride defaults to the size
//! dropout 0.2
//! flatten
//! dense classes                        # or a number of units
//! softmax                              # also: tanh, batchnorm
//! loss cross_entropy smoothing=0.1     # or mse; smoothing: label smoothing (default 0)
//! optimizer adam beta1=0.9 beta2=0.999 epsilon=1e-8   # or sgd
//! lr 0.001
//! batch 16
//! epochs 3
//! init he                              # or glorot, uniform
//! schedule tunable halve_after=5 fast_after=20        # or constant, step every=10 factor=0.5,
//!                                                     # cosine warmup=2, onecycle warmup=0.3;
//!                                                     # per=step (default) or per=epoch
//! augment 0.25 rotation=25 scale_x=0.2 scale_y=0.2 zoom=0.2 translate=2 elastic=0  # chance, ranges
//! ema 0.999                            # weight averaging with this decay (default: none)
//! weight_decay 0.05                    # decoupled (AdamW) decay of conv and dense weights (default: 0)
//! matmul_precision bf16               # products of bfloat16 operands (default: f32)
//! early_stopping patience=20 min_delta_rel=0.005 monitor=validation   # or monitor=training
//! ```
//!
//! Settings not given keep the defaults of [`Training::default`](super::Training::default).
//! Errors carry the line and column of the offending word.
//!
//! The text is read in layers of concepts: `words` splits a line into words with their columns
//! (and quotes them in errors), `args` sorts the words after a keyword into values and options,
//! `parse` turns each line into a layer or a setting, `saved` reads a checkpoint's network as
//! older versions wrote it, and `write` writes a network back as text.

mod args;
mod parse;
mod saved;
mod words;
mod write;

pub use parse::{parse_network, parse_network_bytes};
pub use saved::parse_saved_network;
pub use write::network_to_text;

/// The largest size a layer line may give (filters, units, kernel, stride, padding, pool
/// window): any two multiply without overflow, and [`Network::plan`](super::Network::plan)
/// bounds their products.
pub const MAX_SIZE: usize = 1 << 20;

/// The most bytes a network file may hold: a network is a few hundred lines at most, and a
/// file past this (or a device such as `/dev/zero`) is refused before it fills memory.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
