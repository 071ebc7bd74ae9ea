//! Helpers shared by the integration tests.
#![allow(dead_code)]

use shadernet::cpu::CpuNet;
use shadernet::data::{Dataset, TrainTest, load_dir};
use shadernet::model::{Plan, Shape, parse_network};
use shadernet::rng::Rng;
use std::path::Path;
use std::sync::OnceLock;

/// The bundled MNIST set (`data/mnist`), loaded once per test binary.
pub fn mnist() -> &'static TrainTest {
    static MNIST: OnceLock<TrainTest> = OnceLock::new();
    MNIST.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
        load_dir(&dir).unwrap_or_else(|e| panic!("loading MNIST: {e}"))
    })
}

/// MNIST's first `train` training images split into training and `validation` held-out images
/// (split seeded by `seed`), and its first `test` test images.
pub fn mnist_splits(
    train: u32,
    validation: usize,
    seed: u64,
    test: u32,
) -> (Dataset, Dataset, Dataset) {
    let data = mnist();
    let first = |n: u32| (0..n).collect::<Vec<u32>>();
    let (train_set, validation) = data
        .train
        .subset(&first(train))
        .split_validation(validation, seed)
        .unwrap();
    (train_set, validation, data.test.subset(&first(test)))
}

/// Plans the network `text` (the network file format) for `input` images and `classes` outputs.
pub fn plan(text: &str, input: Shape, classes: usize) -> Plan {
    parse_network(text, "test", "test")
        .and_then(|net| net.plan(input, classes))
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A CPU executor for `text` with seed 1 and `threads` threads.
pub fn cpu_net(text: &str, input: Shape, classes: usize, threads: usize) -> CpuNet {
    CpuNet::new(&plan(text, input, classes), 1, threads).unwrap()
}

/// A seeded batch: `n` images of `input` uniform in [0, 1) and labels below `classes`.
pub fn batch(input: Shape, classes: usize, n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let x = (0..n * input.size())
        .map(|_| rng.uniform() as f32)
        .collect();
    let labels = (0..n).map(|_| rng.below(classes) as u8).collect();
    (x, labels)
}

/// A fresh, empty directory under the system temp dir, unique to `name` and this process.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shadernet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The bytes of a raw IDX file of unsigned bytes with `dims`.
pub fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Writes a learnable synthetic dataset in the four MNIST file names (raw IDX) into `dir`:
/// 8x8 images of 3 classes, class `c` a bright bar on rows `2c + 1 ..= 2c + 2` plus noise.
pub fn write_synthetic_dataset(dir: &std::path::Path, train: usize, test: usize) {
    let mut rng = Rng::new(99);
    let mut make = |n: usize| {
        let mut images = Vec::with_capacity(n * 64);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let class = i % 3;
            labels.push(class as u8);
            for row in 0..8 {
                for _ in 0..8 {
                    let bar = row == 2 * class + 1 || row == 2 * class + 2;
                    let base = if bar { 180.0 } else { 20.0 };
                    images.push((base + 60.0 * rng.uniform()) as u8);
                }
            }
        }
        (images, labels)
    };
    for (prefix, n) in [("train", train), ("t10k", test)] {
        let (images, labels) = make(n);
        let images = idx_bytes(&[n as u32, 8, 8], &images);
        let labels = idx_bytes(&[n as u32], &labels);
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }
}

/// `a` and `b` hold the same floats bit for bit (and have the same length).
pub fn assert_bits_eq(name: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{name}: lengths differ");
    if let Some(i) = (0..a.len()).find(|&i| a[i].to_bits() != b[i].to_bits()) {
        panic!("{name}: first difference at {i}: {} vs {}", a[i], b[i]);
    }
}

/// The names in `dir`, sorted.
pub fn dir_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
