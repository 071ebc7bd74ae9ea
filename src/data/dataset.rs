//! Datasets held as raw bytes, loaded from a directory of IDX files, with batch gathering and
//! a seeded validation split.

use std::path::{Path, PathBuf};

use super::idx::{DEFAULT_DATA_LIMIT, IdxArray, read_idx_bytes, read_idx_limited};
use super::labels::{check_below, training_classes};
use crate::rng::Rng;
use crate::{Error, Result};

/// Images as raw bytes `(N, C, H, W)` plus labels `(N)`, each label in `0..classes`.
pub struct Dataset {
    /// Pixel bytes, `(N, C, H, W)` row-major: `N * C * H * W` bytes.
    pub images: Vec<u8>,
    /// One label per image, `(N)`, each in `0..classes`.
    pub labels: Vec<u8>,
    /// `C`: channels per image.
    pub channels: usize,
    /// `H`: image height in pixels.
    pub height: usize,
    /// `W`: image width in pixels.
    pub width: usize,
    /// Number of classes; labels lie in `0..classes`.
    pub classes: usize,
}

impl Dataset {
    /// `N`, the number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `C * H * W`, the bytes in one image.
    pub fn image_size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Gathers images `indices` into `images_out`, `(indices.len(), C, H, W)`, scaled to
    /// `[0, 1]` (`byte / 255.0`), and their labels into `labels_out`, `(indices.len())`.
    ///
    /// # Panics
    /// If an index is `>= len()`, or the output lengths are not `indices.len() * image_size()`
    /// and `indices.len()`.
    pub fn gather(&self, indices: &[u32], images_out: &mut [f32], labels_out: &mut [u8]) {
        let size = self.image_size();
        assert_eq!(images_out.len(), indices.len() * size, "images_out length");
        assert_eq!(labels_out.len(), indices.len(), "labels_out length");
        for (k, &i) in indices.iter().enumerate() {
            let i = i as usize;
            let src = &self.images[i * size..(i + 1) * size];
            let dst = &mut images_out[k * size..(k + 1) * size];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = f32::from(s) / 255.0;
            }
            labels_out[k] = self.labels[i];
        }
    }

    /// A new dataset of the images `indices`, in that order, `(indices.len(), C, H, W)`, with
    /// the same image size and classes.
    ///
    /// # Panics
    /// If an index is `>= len()`.
    pub fn subset(&self, indices: &[u32]) -> Dataset {
        let size = self.image_size();
        let mut images = Vec::with_capacity(indices.len() * size);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let i = i as usize;
            images.extend_from_slice(&self.images[i * size..(i + 1) * size]);
            labels.push(self.labels[i]);
        }
        Dataset {
            images,
            labels,
            channels: self.channels,
            height: self.height,
            width: self.width,
            classes: self.classes,
        }
    }

    /// Seeded hold-out split, returned as `(train, validation)`: shuffles `0..len()` with
    /// `Rng::new(seed)`; the first `count` indices become the validation set `(count, C, H, W)`
    /// and the rest the training set `(len() - count, C, H, W)`, each in original order.
    /// Errs with [`Error::Config`] if `count >= len()` (no training data would be left).
    pub fn split_validation(&self, count: usize, seed: u64) -> Result<(Dataset, Dataset)> {
        let len = self.len();
        if count >= len {
            return Err(Error::Config(format!(
                "a validation set of {count} images leaves no training data: the training set \
                 has {len} images, expected fewer than {len} held out"
            )));
        }
        let n = u32::try_from(len).map_err(|_| {
            Error::Config(format!(
                "cannot split {len} images, expected at most {}",
                u32::MAX
            ))
        })?;
        let mut order: Vec<u32> = (0..n).collect();
        Rng::new(seed).shuffle(&mut order);
        let (validation, train) = order.split_at_mut(count);
        validation.sort_unstable();
        train.sort_unstable();
        Ok((self.subset(train), self.subset(validation)))
    }

    /// How many images have each label, `(classes)`.
    ///
    /// # Panics
    /// If a label is `>= classes`.
    pub fn label_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &label in &self.labels {
            counts[usize::from(label)] += 1;
        }
        counts
    }
}

/// A training set and a test set with the same image size and classes.
pub struct TrainTest {
    /// The training images `(N_train, C, H, W)` and labels.
    pub train: Dataset,
    /// The test images `(N_test, C, H, W)` and labels.
    pub test: Dataset,
}

/// How [`load_dir_with`] loads a data directory.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The number of classes, when the caller fixes it (e.g. `--classes N`): every label must
    /// lie in `0..N` and classes without training examples are allowed. `None`: the largest
    /// training label plus one, and every class must have a training example.
    pub classes: Option<usize>,
    /// The most bytes the files' data may hold together (pixels and labels, training and test,
    /// and while channels-last images are transposed, their copy), checked against each file's
    /// header before its data is allocated.
    pub max_bytes: u64,
}

impl Default for LoadOptions {
    /// Classes from the labels, and the [`DEFAULT_DATA_LIMIT`].
    fn default() -> Self {
        LoadOptions {
            classes: None,
            max_bytes: DEFAULT_DATA_LIMIT,
        }
    }
}

/// [`load_dir_with`] with the default options: classes from the training labels, each with at
/// least one example, under the [`DEFAULT_DATA_LIMIT`].
pub fn load_dir(dir: &Path) -> Result<TrainTest> {
    load_dir_with(dir, &LoadOptions::default())
}

/// Loads the four standard files from `dir`: `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each
/// either raw or with `.gz` appended (the raw name wins if both exist, even if it is not a
/// readable file: that is then the error).
///
/// Image files are `(N, H, W)` (one channel) or `(N, H, W, C)` (transposed to `(N, C, H, W)`);
/// label files are `(N)`. The classes are `options.classes`, or else the largest training
/// label plus one (at least 2, each class with a training example); every test label must be
/// below them. All four files' data together may hold at most `options.max_bytes`.
pub fn load_dir_with(dir: &Path, options: &LoadOptions) -> Result<TrainTest> {
    load_train_test(&mut from_dir(dir), options)
}

/// The four standard files' bytes, as a browser fetches them (raw or gzip-compressed, as on
/// disk); `names` are how messages call them.
pub struct IdxBytes<'a> {
    /// `train-images-idx3-ubyte` (or `.gz`).
    pub train_images: &'a [u8],
    /// `train-labels-idx1-ubyte` (or `.gz`).
    pub train_labels: &'a [u8],
    /// `t10k-images-idx3-ubyte` (or `.gz`).
    pub test_images: &'a [u8],
    /// `t10k-labels-idx1-ubyte` (or `.gz`).
    pub test_labels: &'a [u8],
}

/// [`load_dir_with`] of the files' bytes in memory: the same checks, and messages that name
/// each file by its standard name.
pub fn load_bytes(files: &IdxBytes, options: &LoadOptions) -> Result<TrainTest> {
    let mut read = from_memory(|name| match name {
        "train-images-idx3-ubyte" => files.train_images,
        "train-labels-idx1-ubyte" => files.train_labels,
        "t10k-images-idx3-ubyte" => files.test_images,
        _ => files.test_labels,
    });
    load_train_test(&mut read, options)
}

/// Reads one of the four standard files by its name, its data limited to a number of bytes:
/// the file's path (for messages) and its contents.
type ReadIdx<'a> = dyn FnMut(&str, u64) -> Result<(PathBuf, IdxArray)> + 'a;

/// `dir/name` or `dir/name.gz` (see [`load_dir_with`]).
fn from_dir(dir: &Path) -> impl FnMut(&str, u64) -> Result<(PathBuf, IdxArray)> + '_ {
    move |name, limit| {
        let path = find(dir, name)?;
        let array = read_idx_limited(&path, limit)?;
        Ok((path, array))
    }
}

/// The file `name` from the bytes `bytes_of(name)`, named `name` in messages.
fn from_memory<'a>(
    bytes_of: impl Fn(&str) -> &'a [u8],
) -> impl FnMut(&str, u64) -> Result<(PathBuf, IdxArray)> {
    move |name, limit| {
        let path = PathBuf::from(name);
        let array = read_idx_bytes(bytes_of(name), &path, limit)?;
        Ok((path, array))
    }
}

/// What [`load_dir_with`] and [`load_bytes`] share: the four files read through `read`.
fn load_train_test(read: &mut ReadIdx, options: &LoadOptions) -> Result<TrainTest> {
    let mut budget = options.max_bytes;
    let train = load_pair(
        read,
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        &mut budget,
    )?;
    let classes = training_classes(&train.set.labels, &train.labels_path, options.classes)?;
    let test = load_pair(
        read,
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        &mut budget,
    )?;
    let (c, h, w) = (train.set.channels, train.set.height, train.set.width);
    let (tc, th, tw) = (test.set.channels, test.set.height, test.set.width);
    if (c, h, w) != (tc, th, tw) {
        return Err(Error::data(
            &test.images_path,
            format!(
                "test images are {tc} x {th} x {tw} (C x H x W) but training images ({}) are \
                 {c} x {h} x {w}, expected the same size",
                train.images_path.display()
            ),
        ));
    }
    let what = match options.classes {
        Some(_) => format!("the {classes} classes asked for"),
        None => format!("the {classes} classes of the training labels"),
    };
    check_below(&test.set.labels, &test.labels_path, classes, &what)?;
    let (mut train, mut test) = (train.set, test.set);
    train.classes = classes;
    test.classes = classes;
    Ok(TrainTest { train, test })
}

/// Loads only the test files of `dir` (`t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`,
/// raw or `.gz`), for evaluating a network of `classes` outputs: every label must be below
/// `classes`, and the data may hold at most `max_bytes`.
pub fn load_test_dir(dir: &Path, classes: usize, max_bytes: u64) -> Result<Dataset> {
    load_test(&mut from_dir(dir), classes, max_bytes)
}

/// [`load_test_dir`] of the two test files' bytes in memory (raw or gzip-compressed), named
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` in messages.
pub fn load_test_bytes(
    images: &[u8],
    labels: &[u8],
    classes: usize,
    max_bytes: u64,
) -> Result<Dataset> {
    let mut read = from_memory(|name| {
        if name.starts_with("t10k-images") {
            images
        } else {
            labels
        }
    });
    load_test(&mut read, classes, max_bytes)
}

fn load_test(read: &mut ReadIdx, classes: usize, max_bytes: u64) -> Result<Dataset> {
    let mut budget = max_bytes;
    let test = load_pair(
        read,
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        &mut budget,
    )?;
    let what = format!("the network's {classes} classes");
    check_below(&test.set.labels, &test.labels_path, classes, &what)?;
    Ok(Dataset {
        classes,
        ..test.set
    })
}

/// One images file and its labels file, checked against each other (`classes` not yet set).
struct Pair {
    set: Dataset,
    images_path: PathBuf,
    labels_path: PathBuf,
}

/// Loads and checks the files `images` and `labels` through `read`, their data taken from
/// `budget` bytes.
fn load_pair(read: &mut ReadIdx, images: &str, labels: &str, budget: &mut u64) -> Result<Pair> {
    let (images_path, IdxArray { dims, data }) = read(images, *budget)?;
    *budget -= data.len() as u64;
    let (n, c, h, w, images) = match dims[..] {
        [n, h, w] => (n, 1, h, w, data),
        [n, h, w, c] => (n, c, h, w, data),
        _ => {
            return Err(Error::data(
                &images_path,
                format!(
                    "images file has {} dimensions {dims:?}, expected 3 (N, H, W) or 4 \
                     (N, H, W, C)",
                    dims.len()
                ),
            ));
        }
    };
    if c == 0 || h == 0 || w == 0 {
        return Err(Error::data(
            &images_path,
            format!("images are {h} x {w} pixels with {c} channels, expected all positive"),
        ));
    }
    let images = if c == 1 {
        images
    } else {
        // The channels-first copy is held beside the file's bytes for a moment: it counts too.
        let copy = images.len() as u64;
        if copy > *budget {
            return Err(Error::data(
                &images_path,
                format!(
                    "transposing {n} x {h} x {w} x {c} (N x H x W x C) images to channels first \
                     needs another {copy} bytes, more than the {} bytes the data memory limit \
                     leaves; expected at most that",
                    *budget
                ),
            ));
        }
        hwc_to_chw(&images, c, h * w)
    };
    let (labels_path, label_array) = read(labels, *budget)?;
    *budget -= label_array.data.len() as u64;
    let [label_count] = label_array.dims[..] else {
        return Err(Error::data(
            &labels_path,
            format!(
                "labels file has {} dimensions {:?}, expected 1 (N)",
                label_array.dims.len(),
                label_array.dims
            ),
        ));
    };
    if label_count != n {
        return Err(Error::data(
            &images_path,
            format!(
                "has {n} images but {} has {label_count} labels, expected one label per image",
                labels_path.display()
            ),
        ));
    }
    if n == 0 {
        return Err(Error::data(
            &images_path,
            "holds no images, expected at least one",
        ));
    }
    let set = Dataset {
        images,
        labels: label_array.data,
        channels: c,
        height: h,
        width: w,
        classes: 0,
    };
    Ok(Pair {
        set,
        images_path,
        labels_path,
    })
}

/// Transposes images `(N, H*W, C)` to `(N, C, H*W)`; `pixels` is `H * W`, both positive.
fn hwc_to_chw(images: &[u8], channels: usize, pixels: usize) -> Vec<u8> {
    let size = channels * pixels;
    let mut out = vec![0; images.len()];
    for (src, dst) in images.chunks_exact(size).zip(out.chunks_exact_mut(size)) {
        for (p, pixel) in src.chunks_exact(channels).enumerate() {
            for (ch, &value) in pixel.iter().enumerate() {
                dst[ch * pixels + p] = value;
            }
        }
    }
    out
}

/// `dir/name` if that name exists (as anything: a directory or a broken link there is then
/// the error `read_idx` reports), else `dir/name.gz` if that exists; an error naming both if
/// neither does, or saying what is wrong with `dir`.
fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let gz_name = format!("{name}.gz");
    for candidate in [dir.join(name), dir.join(&gz_name)] {
        if std::fs::symlink_metadata(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    let problem = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            format!("missing {name}: expected {name} or {gz_name} in this directory")
        }
        Ok(_) => format!("not a directory, expected a directory holding {name} or {gz_name}"),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && std::fs::symlink_metadata(dir).is_err() =>
        {
            format!("data directory does not exist, expected it to hold {name} or {gz_name}")
        }
        Err(e) => format!(
            "data directory cannot be read ({e}), expected a directory holding {name} or {gz_name}"
        ),
    };
    Err(Error::data(dir, problem))
}
