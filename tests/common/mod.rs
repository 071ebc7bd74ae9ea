//! Helpers shared by the integration tests.
#![allow(dead_code)]

use shadernet::cpu::CpuNet;
use shadernet::model::{Plan, Shape, parse_network};
use shadernet::rng::Rng;

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
