//! The data module against the real MNIST files and against malformed files written to
//! temporary directories.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use shadernet::Result;
use shadernet::data::{
    DEFAULT_DATA_LIMIT, Dataset, LoadOptions, TrainTest, load_dir, load_dir_with, load_test_dir,
    read_idx,
};

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
    // The channels-first copy counts against the memory limit while it is made: 12 bytes of
    // training pixels leave 11 of 23 for it.
    let options = |max_bytes| LoadOptions {
        max_bytes,
        ..LoadOptions::default()
    };
    assert_contains(
        &error_text(load_dir_with(&dir, &options(23))),
        &[
            TRAIN_IMAGES,
            "transposing 2 x 1 x 2 x 3 (N x H x W x C) images to channels first needs another 12 \
             bytes, more than the 11 bytes the data memory limit leaves",
        ],
    );
    assert_eq!(load_dir_with(&dir, &options(27)).unwrap().test.len(), 1);
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

/// Writes the small set (raw) into a fresh directory with training labels `labels` (20 of
/// them) and returns the directory.
fn dir_with_train_labels(test: &str, labels: &[u8]) -> PathBuf {
    let dir = temp_dir(test);
    let mut files = small_set();
    files[1].1 = common::idx_bytes(&[20], labels);
    write_files(&dir, &files, false);
    dir
}

/// Every file under `dir` with its bytes, sorted by name: the directory's state, to check that
/// loading changed nothing.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn multi_member_gzip_is_read_whole() {
    // What `cat a.gz b.gz c.gz`, pigz and bgzip write: the file's bytes in three members.
    let dir = temp_dir("multi-member");
    write_files(&dir, &small_set(), true);
    let raw = small_set()[0].1.clone();
    let members = [&raw[..5], &raw[5..40], &raw[40..]].map(gzip).concat();
    let path = dir.join(format!("{TRAIN_IMAGES}.gz"));
    std::fs::write(&path, &members).unwrap();
    let idx = read_idx(&path).unwrap();
    assert_eq!((idx.dims, idx.data), (vec![20, 2, 3], raw[16..].to_vec()));
    // An empty member among them changes nothing.
    let with_empty = [gzip(&raw[..40]), gzip(&[]), gzip(&raw[40..])].concat();
    std::fs::write(&path, &with_empty).unwrap();
    assert_eq!(load_dir(&dir).unwrap().train.images, &raw[16..]);
}

#[test]
fn junk_after_the_gzip_stream_is_an_error() {
    let dir = temp_dir("gzip-junk");
    let path = dir.join("junk.idx.gz");
    let raw = small_set()[3].1.clone();
    std::fs::write(&path, [gzip(&raw), b"junk".to_vec()].concat()).unwrap();
    assert_contains(
        &error_text(read_idx(&path)),
        &[
            "junk.idx.gz",
            "junk after the gzip stream",
            "byte 0x6A follows the last gzip member",
            "expected the file to end there",
        ],
    );
    // Zero padding too (as some tape and block tools leave).
    std::fs::write(&path, [gzip(&raw), vec![0; 512]].concat()).unwrap();
    assert_contains(
        &error_text(read_idx(&path)),
        &["junk.idx.gz", "junk after the gzip stream", "byte 0x00"],
    );
    // Garbage that starts like a member is a corrupt member.
    std::fs::write(&path, [gzip(&raw), vec![0x1f, 0x8b, 1, 2]].concat()).unwrap();
    assert_contains(
        &error_text(read_idx(&path)),
        &["junk.idx.gz", "corrupt gzip"],
    );
}

#[test]
fn junk_after_the_data_is_an_error_raw_or_gzip() {
    let dir = temp_dir("data-junk");
    let bytes = [small_set()[3].1.clone(), vec![7; 5]].concat();
    let raw = dir.join("labels.idx");
    std::fs::write(&raw, &bytes).unwrap();
    assert_contains(
        &error_text(read_idx(&raw)),
        &[
            "labels.idx",
            "junk after the data: header says 4 bytes of data (4)",
            "file has 5 extra bytes after them, expected the file to end there",
        ],
    );
    let gz = dir.join("labels.idx.gz");
    std::fs::write(&gz, gzip(&bytes)).unwrap();
    assert_contains(
        &error_text(read_idx(&gz)),
        &[
            "labels.idx.gz",
            "junk after the data: header says 4 bytes of data (4)",
            "more bytes (decompressed) after them",
        ],
    );
}

#[test]
fn a_gzip_header_claiming_more_than_the_file_can_hold_is_refused() {
    // 1000 x 1000 x 1000 bytes could not come out of a gzip file of a few dozen bytes.
    let dir = temp_dir("gzip-claim");
    let path = dir.join("claim.gz");
    let compressed = gzip(&common::idx_bytes(&[1000, 1000, 1000], &[0; 100]));
    std::fs::write(&path, &compressed).unwrap();
    let most = compressed.len() as u64 * 1032;
    assert_contains(
        &error_text(read_idx(&path)),
        &[
            "claim.gz",
            "header says 1000000000 bytes of data (1000 x 1000 x 1000)",
            &format!(
                "a gzip file of {} bytes decompresses to at most {most} bytes",
                compressed.len()
            ),
        ],
    );
}

#[test]
fn data_beyond_the_memory_limit_is_refused_before_allocating() {
    // A 16-byte file whose header declares 5.4 GB of pixels: refused for the limit, with the
    // bytes needed, before anything is read (or allocated) for the data.
    let dir = temp_dir("limit");
    let path = dir.join("huge.idx");
    std::fs::write(&path, common::idx_bytes(&[60_000, 300, 300], &[])).unwrap();
    assert_eq!(DEFAULT_DATA_LIMIT, 4 << 30);
    assert_contains(
        &error_text(read_idx(&path)),
        &[
            "huge.idx",
            "header declares 60000 x 300 x 300 = 5400000000 bytes (5.0 GiB) of data",
            "more than the 4294967296 bytes (4.0 GiB) the data memory limit leaves for this file",
        ],
    );
    // The limit counts all four files: 120 + 20 bytes of training data leave 10 of 150 for
    // the 24 bytes of test pixels.
    let dir = temp_dir("limit-dir");
    write_files(&dir, &small_set(), true);
    let options = LoadOptions {
        max_bytes: 150,
        ..LoadOptions::default()
    };
    assert_contains(
        &error_text(load_dir_with(&dir, &options)),
        &[
            &format!("{TEST_IMAGES}.gz"),
            "header declares 4 x 2 x 3 = 24 bytes of data",
            "more than the 10 bytes the data memory limit leaves for this file",
        ],
    );
    let enough = LoadOptions {
        max_bytes: 168,
        ..LoadOptions::default()
    };
    assert_eq!(load_dir_with(&dir, &enough).unwrap().test.len(), 4);
}

#[test]
fn a_stray_large_label_is_refused_not_trained_on() {
    // Label 255 among ten digit classes would make a 256-class network.
    let mut labels: Vec<u8> = (0..20).map(|i| i % 10).collect();
    labels[7] = 255;
    let dir = dir_with_train_labels("label-255", &labels);
    let before = snapshot(&dir);
    assert_contains(
        &error_text(load_dir(&dir)),
        &[
            TRAIN_LABELS,
            "the labels imply 256 classes (0 to 255; label 255 is at index 7)",
            "but 245 of them have no training example: 10 to 254",
            "expected every class to appear at least once",
            "--classes 256",
        ],
    );
    assert_eq!(snapshot(&dir), before, "loading changed the data directory");
    // Asked for ten classes, the label is out of range.
    let ten = LoadOptions {
        classes: Some(10),
        ..LoadOptions::default()
    };
    assert_contains(
        &error_text(load_dir_with(&dir, &ten)),
        &[
            TRAIN_LABELS,
            "label out of range: label 255 at index 7, expected 0..=9 (the 10 classes asked for)",
        ],
    );
}

#[test]
fn classes_without_examples_are_refused_unless_asked_for() {
    // Classes 0, 1, 3 and 5: 2 and 4 have no example.
    let labels: Vec<u8> = (0..20).map(|i| [0, 1, 3, 5][i % 4]).collect();
    let dir = dir_with_train_labels("label-gaps", &labels);
    assert_contains(
        &error_text(load_dir(&dir)),
        &[
            TRAIN_LABELS,
            "imply 6 classes",
            "2 of them have no training example: 2, 4;",
        ],
    );
    let six = LoadOptions {
        classes: Some(6),
        ..LoadOptions::default()
    };
    let data = load_dir_with(&dir, &six).unwrap();
    assert_eq!((data.train.classes, data.test.classes), (6, 6));
    assert_eq!(data.train.label_counts(), [5, 5, 0, 5, 0, 5]);
    // More classes than labels is fine too (a network with spare outputs).
    let twelve = LoadOptions {
        classes: Some(12),
        ..LoadOptions::default()
    };
    assert_eq!(load_dir_with(&dir, &twelve).unwrap().train.classes, 12);
    // Test labels beyond the training classes are refused: 3, 1, 4, 1 with four asked for.
    let four_labels: Vec<u8> = (0..20).map(|i| (i % 4) as u8).collect();
    let dir = dir_with_train_labels("label-test", &four_labels);
    assert_contains(
        &error_text(load_dir(&dir)),
        &[
            TEST_LABELS,
            "label 4 at index 2, expected 0..=3 (the 4 classes of the training labels)",
        ],
    );
    for bad in [0, 1, 257, usize::MAX] {
        let options = LoadOptions {
            classes: Some(bad),
            ..LoadOptions::default()
        };
        assert_contains(
            &error_text(load_dir_with(&dir, &options)),
            &[&format!("{bad} classes asked for, expected 2 to 256")],
        );
    }
}

#[test]
fn test_files_alone_load_for_a_given_number_of_classes() {
    let dir = temp_dir("test-only");
    write_files(&dir, &small_set()[2..], true);
    let test = load_test_dir(&dir, 10, DEFAULT_DATA_LIMIT).unwrap();
    assert_eq!((test.len(), test.classes, test.image_size()), (4, 10, 6));
    assert_eq!(test.labels, [3, 1, 4, 1]);
    assert_contains(
        &error_text(load_test_dir(&dir, 4, DEFAULT_DATA_LIMIT)),
        &[
            &format!("{TEST_LABELS}.gz"),
            "label 4 at index 2, expected 0..=3 (the network's 4 classes)",
        ],
    );
}

#[cfg(unix)]
#[test]
fn a_directory_link_loop_or_broken_link_is_named_not_missing() {
    use std::os::unix::fs::symlink;
    /// A test case: its name, how it makes the odd entry, the phrases its error must hold.
    type Case<'a> = (&'a str, &'a dyn Fn(&Path), &'a [&'a str]);
    let cases: [Case; 3] = [
        (
            "dir",
            &|p| std::fs::create_dir(p).unwrap(),
            &["is a directory, expected an IDX file"],
        ),
        (
            "loop",
            &|p| symlink(p, p).unwrap(),
            &[
                "symbolic link that cannot be followed",
                "expected an IDX file",
            ],
        ),
        (
            "broken",
            &|p| symlink(p.with_file_name("nowhere"), p).unwrap(),
            &["broken symbolic link: its target", "nowhere does not exist"],
        ),
    ];
    for (case, make, phrases) in cases {
        // Even with a good .gz beside it: the raw name is what the user put there.
        let dir = temp_dir(&format!("odd-{case}"));
        write_files(&dir, &small_set(), true);
        make(&dir.join(TRAIN_IMAGES));
        let text = error_text(load_dir(&dir));
        assert_contains(&text, &[&format!("{TRAIN_IMAGES}:")]);
        assert_contains(&text, phrases);
        assert!(!text.contains("missing"), "{text}");
        // read_idx names it too.
        assert_contains(&error_text(read_idx(&dir.join(TRAIN_IMAGES))), phrases);
    }
    // A FIFO would block a reader forever: refused without opening it.
    let dir = temp_dir("odd-fifo");
    let fifo = dir.join("fifo.idx");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        assert_contains(
            &error_text(read_idx(&fifo)),
            &["fifo.idx", "not a regular file", "expected an IDX file"],
        );
    }
}
