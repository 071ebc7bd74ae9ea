//! Hostile data files against the IDX reader, under a counting global allocator (which is why
//! this is its own test binary): a gzip bomb costs neither its decompressed size in memory nor
//! the time to decompress it, and random or mutated files (raw and gzip) never panic, never
//! hang and never allocate more than a bound set by the file's size. Property tests run
//! proptest's default number of cases (256); `PROPTEST_CASES=N` runs more.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use shadernet::data::{LoadOptions, load_dir_with, read_idx};

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// [`counting::measured`], failing the test on a hang or panic.
fn measured<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> (T, usize) {
    counting::measured(f).expect("the reader hung (or panicked) on this input")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The most a read of a `len`-byte file may allocate: its data can be at most 1032 times its
/// size (deflate's limit), reserved at most twice over as it grows, plus the decoder's state
/// and buffers.
fn bound(len: usize) -> usize {
    2 * 1032 * len + (1 << 20)
}

/// Reads `bytes` as the file `name` in `dir`, checking the bound and, on success, that the
/// data is as long as the dimensions say.
fn read_checked(dir: &Path, name: &str, bytes: Vec<u8>) -> std::result::Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap();
    let (result, peak) = measured(move || read_idx(&path).map(|a| (a.dims, a.data.len())));
    if peak > bound(bytes.len()) {
        return Err(format!(
            "{peak} bytes allocated reading a {}-byte file",
            bytes.len()
        ));
    }
    if let Ok((dims, len)) = result
        && dims.iter().product::<usize>() != len
    {
        return Err(format!("dims {dims:?} but {len} bytes of data"));
    }
    Ok(())
}

#[test]
fn a_gzip_bomb_costs_neither_memory_nor_time() {
    let _serial = counting::serial();
    let dir = common::temp_dir("data-files-bomb");
    // 1 GiB of zeros after a valid 10-byte labels file, compressed to about 1 MB.
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder
        .write_all(&common::idx_bytes(&[10], &[1; 10]))
        .unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    drop(zeros);
    assert!(bomb.len() < 2 << 20, "the bomb is {} bytes", bomb.len());
    let path = dir.join("bomb.gz");
    std::fs::write(&path, &bomb).unwrap();
    let (result, peak) = measured(move || read_idx(&path).map(|_| ()));
    let text = result.expect_err("the bomb loaded").to_string();
    for part in [
        "bomb.gz",
        "junk after the data: header says 10 bytes of data (10)",
        "more bytes (decompressed) after them, expected the file to end there",
    ] {
        assert!(text.contains(part), "{text:?} does not contain {part:?}");
    }
    assert!(peak < 1 << 20, "{peak} bytes allocated reading the bomb");

    // A header declaring 1000 x 1000 x 1000 bytes over 16 MiB of zeros: more than the file
    // can hold, refused before allocating or decompressing.
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder
        .write_all(&common::idx_bytes(&[1000, 1000, 1000], &[]))
        .unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..16 {
        encoder.write_all(&zeros).unwrap();
    }
    let claim = encoder.finish().unwrap();
    let path = dir.join("claim.gz");
    std::fs::write(&path, &claim).unwrap();
    let (result, peak) = measured(move || read_idx(&path).map(|_| ()));
    let text = result.expect_err("the claim loaded").to_string();
    assert!(text.contains("decompresses to at most"), "{text}");
    assert!(peak < 1 << 20, "{peak} bytes allocated reading the claim");
}

/// One way to damage a file.
#[derive(Clone, Debug)]
enum Mutation {
    /// Sets the byte at this position (modulo the length) to a value.
    Set(usize, u8),
    /// Cuts the file to this length (modulo the length + 1).
    Truncate(usize),
    /// Inserts bytes at this position (modulo the length + 1).
    Insert(usize, Vec<u8>),
    /// Overwrites the 4-byte size at this position (modulo the header's sizes) with a value.
    Size(usize, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Mutation::Size(i, v)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    match mutation {
        Mutation::Set(i, b) if !bytes.is_empty() => {
            let n = bytes.len();
            bytes[i % n] = *b;
        }
        Mutation::Set(..) => {}
        Mutation::Truncate(i) => bytes.truncate(i % (bytes.len() + 1)),
        Mutation::Insert(i, new) => {
            let at = i % (bytes.len() + 1);
            bytes.splice(at..at, new.iter().copied());
        }
        Mutation::Size(i, v) => {
            let sizes = bytes.get(3).map_or(0, |&n| usize::from(n));
            if sizes > 0 {
                let at = 4 + 4 * (i % sizes);
                if at + 4 <= bytes.len() {
                    bytes[at..at + 4].copy_from_slice(&v.to_be_bytes());
                }
            }
        }
    }
}

/// A valid IDX file of 1 to 4 small dimensions with arbitrary data.
fn valid_idx() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u32..6, 1..5).prop_flat_map(|dims| {
        let n = dims.iter().product::<u32>() as usize;
        prop::collection::vec(any::<u8>(), n).prop_map(move |data| common::idx_bytes(&dims, &data))
    })
}

/// A directory for the property tests, made once per test.
fn prop_dir(name: &str) -> PathBuf {
    common::temp_dir(&format!("data-files-{name}"))
}

#[test]
fn random_bytes_never_panic_or_overallocate() {
    let _serial = counting::serial();
    let dir = prop_dir("random");
    proptest!(|(mut bytes in prop::collection::vec(any::<u8>(), 0..512), gz in any::<bool>(),
                magic in any::<bool>())| {
        if magic && bytes.len() >= 2 {
            // Half of the gzip cases start like gzip, to get past the magic.
            bytes[..2].copy_from_slice(&[0x1f, 0x8b]);
        }
        let bytes = if gz { gzip(&bytes) } else { bytes };
        read_checked(&dir, "random", bytes).map_err(TestCaseError::fail)?;
    });
}

#[test]
fn mutated_files_never_panic_or_overallocate() {
    let _serial = counting::serial();
    let dir = prop_dir("mutated");
    proptest!(|(file in valid_idx(), mutations in prop::collection::vec(mutation(), 1..4),
                gzip_first in any::<bool>(), members in 1usize..4)| {
        // The raw file damaged; the damaged file gzipped in `members` members; the gzip file
        // damaged.
        let mut raw = file.clone();
        for m in &mutations {
            apply(&mut raw, m);
        }
        read_checked(&dir, "raw", raw.clone()).map_err(TestCaseError::fail)?;
        let chunk = raw.len().div_ceil(members).max(1);
        let split: Vec<u8> = raw.chunks(chunk).flat_map(gzip).collect();
        read_checked(&dir, "members.gz", split).map_err(TestCaseError::fail)?;
        let mut gz = gzip(if gzip_first { &file } else { &raw });
        for m in &mutations {
            apply(&mut gz, m);
        }
        read_checked(&dir, "mutated.gz", gz).map_err(TestCaseError::fail)?;
    });
}

#[test]
fn mutated_label_files_load_or_fail_never_panic() {
    // Whole directories: a damaged labels file either loads with every label below the
    // classes (and each class present) or fails with a message naming the file.
    let _serial = counting::serial();
    let dir = prop_dir("labels");
    let images = common::idx_bytes(&[8, 2, 2], &[9; 32]);
    std::fs::write(dir.join("train-images-idx3-ubyte"), &images).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), &images).unwrap();
    std::fs::write(
        dir.join("t10k-labels-idx1-ubyte"),
        common::idx_bytes(&[8], &[0; 8]),
    )
    .unwrap();
    proptest!(|(labels in prop::collection::vec(any::<u8>(), 8),
                mutations in prop::collection::vec(mutation(), 0..3),
                classes in prop::option::of(0usize..300))| {
        let mut file = common::idx_bytes(&[8], &labels);
        for m in &mutations {
            apply(&mut file, m);
        }
        std::fs::write(dir.join("train-labels-idx1-ubyte"), &file).unwrap();
        let options = LoadOptions { classes, ..LoadOptions::default() };
        let path = dir.clone();
        let (result, peak) = measured(move || load_dir_with(&path, &options));
        prop_assert!(peak < bound(200), "{peak} bytes allocated");
        match result {
            Ok(data) => {
                let counts = data.train.label_counts();
                prop_assert!(data.train.classes >= 2);
                prop_assert!(classes.is_some() || counts.iter().all(|&c| c > 0));
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(
                    text.contains("train-labels-idx1-ubyte") || text.contains("classes asked"),
                    "{text}"
                );
            }
        }
    });
}
