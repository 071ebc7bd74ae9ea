//! Hostile pictures against `predict`'s loader (`data::preprocess`), under a counting global
//! allocator (which is why this is its own test binary): random bytes and damaged PNG and JPEG
//! files never panic, never hang, and never allocate more than the decoder's documented limit
//! allows. Property tests run proptest's default number of cases (256); `PROPTEST_CASES=N` runs
//! more.

mod common;

use std::path::PathBuf;

use proptest::prelude::*;
use shadernet::data::preprocess::{MAX_DECODE_BYTES, MAX_PICTURE_SIDE, load_grey, mnist_style};
use shadernet::error::Error;

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// The most loading any picture may allocate at once: the decoder's own limit, the grey and
/// alpha copy (2 bytes a pixel) and the float pixels (4 bytes a pixel) of the largest picture
/// allowed, the file itself, and 16 MiB for the decoders' state.
fn bound(file_len: usize) -> usize {
    let side = MAX_PICTURE_SIDE as usize;
    MAX_DECODE_BYTES as usize + 6 * side * side + 2 * file_len + (16 << 20)
}

/// Loads `bytes` as a picture on a watchdog thread (a minute without an answer is a hang: a
/// generous bound, not a timing assertion) and preprocesses it as `predict` does; checks the
/// allocation bound, that a failure names the file, and that a success is a 28x28 digit.
fn load_checked(name: &str, bytes: Vec<u8>) -> Result<(), String> {
    let path: PathBuf = common::temp_dir("picture-files").join(name);
    std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
    let shown = path.display().to_string();
    let (result, peak) = counting::measured(move || {
        // As `predict` does: the loader's errors name the file, preprocessing's get it added.
        let result = load_grey(&path).and_then(|grey| {
            mnist_style(&grey, 28, 28).map_err(|e| Error::data(&path, e.to_string()))
        });
        result.map(|v| v.len()).map_err(|e| e.to_string())
    })
    .ok_or_else(|| format!("{shown}: hung or panicked"))?;
    if peak > bound(bytes.len()) {
        return Err(format!(
            "{peak} bytes allocated for a {}-byte file",
            bytes.len()
        ));
    }
    match result {
        Ok(784) => Ok(()),
        Ok(n) => Err(format!("{n} values, expected 28x28")),
        Err(text) if text.contains(name) => Ok(()),
        Err(text) => Err(format!("the error does not name the file: {text}")),
    }
}

/// A 40x40 picture of a dark bar, encoded in `format`.
fn picture(format: image::ImageFormat) -> Vec<u8> {
    let img = image::GrayImage::from_fn(40, 40, |x, y| {
        image::Luma([if (12..28).contains(&x) && y > 4 && y < 36 {
            10
        } else {
            250
        }])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

#[test]
fn valid_pictures_load() {
    let _serial = counting::serial();
    for (name, format) in [
        ("ok.png", image::ImageFormat::Png),
        ("ok.jpg", image::ImageFormat::Jpeg),
    ] {
        let path = common::temp_dir("picture-files-valid").join(name);
        std::fs::write(&path, picture(format)).unwrap();
        let digit = mnist_style(&load_grey(&path).unwrap(), 28, 28).unwrap();
        assert_eq!(digit.len(), 784);
        assert!(digit.iter().any(|&ink| ink > 0.5), "the bar is ink");
    }
}

/// How a valid file is damaged: bytes set at positions (taken modulo the length), then cut.
#[derive(Debug, Clone)]
struct Damage {
    sets: Vec<(usize, u8)>,
    cut: Option<usize>,
}

fn damage() -> impl Strategy<Value = Damage> {
    (
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        prop::option::of(any::<usize>()),
    )
        .prop_map(|(sets, cut)| Damage { sets, cut })
}

fn damaged(mut bytes: Vec<u8>, damage: &Damage) -> Vec<u8> {
    let len = bytes.len();
    for &(at, value) in &damage.sets {
        bytes[at % len] = value;
    }
    if let Some(cut) = damage.cut {
        bytes.truncate(cut % (len + 1));
    }
    bytes
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _serial = counting::serial();
        load_checked("random.png", bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn damaged_pngs_never_panic(damage in damage()) {
        let _serial = counting::serial();
        let bytes = damaged(picture(image::ImageFormat::Png), &damage);
        load_checked("damaged.png", bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn damaged_jpegs_never_panic(damage in damage()) {
        let _serial = counting::serial();
        let bytes = damaged(picture(image::ImageFormat::Jpeg), &damage);
        load_checked("damaged.jpg", bytes).map_err(TestCaseError::fail)?;
    }

    /// A PNG header's width and height (bytes 16..24) set to anything, with a valid checksum:
    /// refused or loaded within the bound, never decoded past the limit.
    #[test]
    fn png_headers_claiming_any_size_stay_bounded(
        width in prop_oneof![any::<u32>(), 0..20_000u32],
        height in prop_oneof![any::<u32>(), 0..20_000u32],
    ) {
        let _serial = counting::serial();
        let mut bytes = picture(image::ImageFormat::Png);
        bytes[16..20].copy_from_slice(&width.to_be_bytes());
        bytes[20..24].copy_from_slice(&height.to_be_bytes());
        // The IHDR chunk's CRC (over its type and data, bytes 12..29), so the decoder reads on.
        let mut crc = flate2::Crc::new();
        crc.update(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.sum().to_be_bytes());
        load_checked("sized.png", bytes).map_err(TestCaseError::fail)?;
    }
}
