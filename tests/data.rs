//! The data module against the real MNIST files and against malformed files written to
//! temporary directories.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use shadernet::Result;
use shadernet::data::{Dataset, TrainTest, load_dir, read_idx};

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

use common::mnist;

/// A fresh, empty directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    common::temp_dir(&format!("data-{test}"))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The four IDX files of a small valid set: 20 training and 4 test images of 2 x 3 pixels,
/// training labels cycling through 0..10, test labels 3, 1, 4, 1.
fn small_set() -> [(&'static str, Vec<u8>); 4] {
    let train_images: Vec<u8> = (0..20 * 6).map(|i| i as u8).collect();
    let train_labels: Vec<u8> = (0..20).map(|i| i % 10).collect();
    let test_images: Vec<u8> = (0..4 * 6).map(|i| 255 - i as u8).collect();
    [
        (TRAIN_IMAGES, common::idx_bytes(&[20, 2, 3], &train_images)),
        (TRAIN_LABELS, common::idx_bytes(&[20], &train_labels)),
        (TEST_IMAGES, common::idx_bytes(&[4, 2, 3], &test_images)),
        (TEST_LABELS, common::idx_bytes(&[4], &[3, 1, 4, 1])),
    ]
}

/// Writes `files` into `dir`, gzipped with a `.gz` suffix if `gz`.
fn write_files(dir: &Path, files: &[(&str, Vec<u8>)], gz: bool) {
    for (name, bytes) in files {
        if gz {
            std::fs::write(dir.join(format!("{name}.gz")), gzip(bytes)).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

/// Writes the small set (raw) into a fresh directory with the file `name` replaced by
/// `bytes`, loads it and returns the error text.
fn load_with(test: &str, name: &str, bytes: Vec<u8>) -> String {
    let dir = temp_dir(test);
    let files = small_set().map(|(n, b)| (n, if n == name { bytes.clone() } else { b }));
    write_files(&dir, &files, false);
    error_text(load_dir(&dir))
}

fn error_text<T>(result: Result<T>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{text:?} does not contain {part:?}");
    }
}

fn assert_same(a: &Dataset, b: &Dataset) {
    assert_eq!(a.images, b.images);
    assert_eq!(a.labels, b.labels);
    assert_eq!(
        (a.channels, a.height, a.width, a.classes),
        (b.channels, b.height, b.width, b.classes)
    );
}

#[test]
fn mnist_has_the_known_shapes_counts_and_labels() {
    let TrainTest { train, test } = mnist();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    for set in [train, test] {
        assert_eq!(
            (set.channels, set.height, set.width, set.classes),
            (1, 28, 28, 10)
        );
        assert_eq!(set.image_size(), 784);
        assert_eq!(set.images.len(), set.len() * 784);
    }
    assert_eq!(
        train.label_counts(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!((train.labels[0], test.labels[0]), (5, 7));
}

#[test]
fn gather_scales_bytes_to_unit_range() {
    let train = &mnist().train;
    let indices = [0u32, 59_999, 7];
    let mut images = vec![0.0f32; indices.len() * 784];
    let mut labels = vec![0u8; indices.len()];
    train.gather(&indices, &mut images, &mut labels);
    assert!(images.iter().all(|&x| (0.0..=1.0).contains(&x)));
    assert_eq!(
        labels,
        [train.labels[0], train.labels[59_999], train.labels[7]]
    );
    // The first lit pixel of image 59999 (second in the batch), and an unlit corner.
    let src = &train.images[59_999 * 784..60_000 * 784];
    let p = src.iter().position(|&b| b > 0).unwrap();
    assert_eq!(images[784 + p], f32::from(src[p]) / 255.0);
    assert!(images[784 + p] > 0.0);
    assert_eq!(images[784], 0.0);
}

#[test]
fn split_validation_is_seeded_and_sized() {
    let train = &mnist().train;
    let (t1, v1) = train.split_validation(5000, 1).unwrap();
    let (t2, v2) = train.split_validation(5000, 1).unwrap();
    let (_, v3) = train.split_validation(5000, 2).unwrap();
    assert_eq!((t1.len(), v1.len()), (55_000, 5000));
    assert_same(&t1, &t2);
    assert_same(&v1, &v2);
    assert_ne!(v1.images, v3.images);
    let counts: Vec<usize> = t1
        .label_counts()
        .iter()
        .zip(v1.label_counts())
        .map(|(a, b)| a + b)
        .collect();
    assert_eq!(counts, train.label_counts());
}

#[test]
fn split_validation_is_disjoint_complete_and_ordered() {
    // Each 2-byte image holds its own index, big-endian.
    let n = 60_000usize;
    let set = Dataset {
        images: (0..n as u16).flat_map(u16::to_be_bytes).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
        channels: 1,
        height: 1,
        width: 2,
        classes: 10,
    };
    let (train, validation) = set.split_validation(5000, 9).unwrap();
    let ids = |d: &Dataset| -> Vec<u16> {
        d.images
            .chunks_exact(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect()
    };
    let (train_ids, validation_ids) = (ids(&train), ids(&validation));
    assert_eq!((train_ids.len(), validation_ids.len()), (55_000, 5000));
    assert!(train_ids.is_sorted() && validation_ids.is_sorted());
    assert!(
        train
            .labels
            .iter()
            .zip(&train_ids)
            .all(|(&l, &i)| usize::from(l) == usize::from(i) % 10)
    );
    let mut all = [train_ids, validation_ids].concat();
    all.sort_unstable();
    assert_eq!(all, (0..n as u16).collect::<Vec<_>>());
    assert_contains(
        &error_text(set.split_validation(n, 9)),
        &["60000", "no training data"],
    );
}

#[test]
fn raw_files_load_the_same_as_gzip() {
    let (raw_dir, gz_dir) = (temp_dir("raw"), temp_dir("gz"));
    write_files(&raw_dir, &small_set(), false);
    write_files(&gz_dir, &small_set(), true);
    let raw = load_dir(&raw_dir).unwrap();
    let gz = load_dir(&gz_dir).unwrap();
    assert_same(&raw.train, &gz.train);
    assert_same(&raw.test, &gz.test);
    assert_eq!(
        (raw.train.len(), raw.test.len(), raw.train.classes),
        (20, 4, 10)
    );
    assert_eq!(raw.test.labels, [3, 1, 4, 1]);
    // The raw name wins over a (here corrupt) .gz beside it.
    std::fs::write(
        raw_dir.join(format!("{TRAIN_IMAGES}.gz")),
        [0x1f, 0x8b, 0, 0],
    )
    .unwrap();
    assert_same(&load_dir(&raw_dir).unwrap().train, &gz.train);
}

#[test]
fn four_dimensional_images_are_transposed_to_channels_first() {
    let dir = temp_dir("nhwc");
    // Two 1 x 2 images with 3 channels, (N, H, W, C); pixel values encode (n, w, c).
    let data: Vec<u8> = (0..2u8)
        .flat_map(|n| (0..2u8).flat_map(move |w| (0..3u8).map(move |c| 100 * n + 10 * w + c)))
        .collect();
    let mut files = small_set();
    files[0].1 = common::idx_bytes(&[2, 1, 2, 3], &data);
    files[1].1 = common::idx_bytes(&[2], &[0, 1]);
    files[2].1 = common::idx_bytes(&[1, 1, 2, 3], &data[..6]);
    files[3].1 = common::idx_bytes(&[1], &[1]);
    write_files(&dir, &files, false);
    let train = load_dir(&dir).unwrap().train;
    assert_eq!((train.channels, train.height, train.width), (3, 1, 2));
    assert_eq!(
        train.images,
        [0, 10, 1, 11, 2, 12, 100, 110, 101, 111, 102, 112]
    );
}

#[test]
fn truncated_file_is_reported() {
    let mut bytes = small_set()[0].1.clone();
    bytes.truncate(bytes.len() - 5);
    let text = load_with("truncated", TRAIN_IMAGES, bytes);
    assert_contains(
        &text,
        &[
            TRAIN_IMAGES,
            "truncated: header says 120 bytes of data",
            "file has 115",
        ],
    );
}

#[test]
fn wrong_magic_is_reported() {
    let mut bytes = small_set()[2].1.clone();
    bytes[..4].copy_from_slice(&[0x12, 0x34, 0x08, 0x03]);
    let text = load_with("magic", TEST_IMAGES, bytes);
    assert_contains(
        &text,
        &[
            TEST_IMAGES,
            "wrong magic number 0x12340803",
            "expected 0x000008NN",
        ],
    );
}

#[test]
fn image_and_label_count_mismatch_is_reported() {
    let text = load_with("count", TRAIN_LABELS, common::idx_bytes(&[19], &[1; 19]));
    assert_contains(
        &text,
        &[TRAIN_IMAGES, TRAIN_LABELS, "20 images", "19 labels"],
    );
}

#[test]
fn corrupt_gzip_is_reported() {
    let dir = temp_dir("gzip");
    write_files(&dir, &small_set(), true);
    let path = dir.join(format!("{TRAIN_IMAGES}.gz"));
    let good = std::fs::read(&path).unwrap();
    // Damaged in the middle of the deflate stream.
    let mut damaged = good.clone();
    for byte in &mut damaged[12..good.len() - 8] {
        *byte ^= 0x5a;
    }
    std::fs::write(&path, &damaged).unwrap();
    assert_contains(&error_text(load_dir(&dir)), &[TRAIN_IMAGES, "corrupt gzip"]);
    // Cut short.
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    assert_contains(&error_text(load_dir(&dir)), &[TRAIN_IMAGES, "corrupt gzip"]);
}

#[test]
fn empty_file_is_reported() {
    let text = load_with("empty", TRAIN_LABELS, Vec::new());
    assert_contains(&text, &[TRAIN_LABELS, "empty file"]);
}

#[test]
fn test_label_out_of_range_is_reported() {
    let text = load_with(
        "label",
        TEST_LABELS,
        common::idx_bytes(&[4], &[3, 1, 12, 1]),
    );
    assert_contains(
        &text,
        &[
            TEST_LABELS,
            "label out of range",
            "label 12 at index 2",
            "0..=9",
        ],
    );
}

#[test]
fn missing_file_or_directory_is_reported() {
    let dir = temp_dir("missing");
    write_files(&dir, &small_set()[..3], true);
    let text = error_text(load_dir(&dir));
    assert_contains(
        &text,
        &[
            &dir.display().to_string(),
            TEST_LABELS,
            &format!("{TEST_LABELS}.gz"),
        ],
    );
    let nowhere = dir.join("nowhere");
    assert_contains(
        &error_text(load_dir(&nowhere)),
        &["nowhere", "does not exist"],
    );
}

#[test]
fn wrong_dimension_count_is_reported() {
    let text = load_with(
        "dims-images",
        TRAIN_IMAGES,
        common::idx_bytes(&[20, 6], &[0; 120]),
    );
    assert_contains(
        &text,
        &[TRAIN_IMAGES, "2 dimensions", "expected 3 (N, H, W) or 4"],
    );
    let text = load_with(
        "dims-labels",
        TEST_LABELS,
        common::idx_bytes(&[4, 1], &[1; 4]),
    );
    assert_contains(&text, &[TEST_LABELS, "2 dimensions", "expected 1 (N)"]);
}

#[test]
fn malformed_idx_headers_are_reported() {
    let dir = temp_dir("headers");
    let cases: [(Vec<u8>, &str); 6] = [
        (vec![0, 0, 8], "header too short"),
        (
            vec![0, 0, 0x0D, 1, 0, 0, 0, 1, 0],
            "unsupported element type code 0x0D",
        ),
        (vec![0, 0, 8, 0], "zero dimensions"),
        (vec![0, 0, 8, 3, 0, 0, 0, 1], "header truncated"),
        (
            common::idx_bytes(&[2, 2], &[1, 2, 3, 4, 5, 6]),
            "has 2 extra bytes",
        ),
        (common::idx_bytes(&[u32::MAX; 4], &[]), "overflow"),
    ];
    for (k, (bytes, phrase)) in cases.into_iter().enumerate() {
        let path = dir.join(format!("case{k}.idx"));
        std::fs::write(&path, bytes).unwrap();
        assert_contains(
            &error_text(read_idx(&path)),
            &[&format!("case{k}.idx"), phrase],
        );
    }
    let missing = dir.join("absent.idx");
    assert_contains(&error_text(read_idx(&missing)), &["absent.idx", "opening"]);
}
