//! The ranges of the numeric flags, checked while the command line is parsed: each is a clap
//! value parser, so a value out of range (a negative count, a NaN rate, a million threads) is
//! refused before anything is read or written, with the flag and its range in the message
//! (`invalid value '-1' for '--epochs <EPOCHS>': expected a whole number from 1 to 100000`)
//! and clap's exit code for a bad command line, 2. Flags taking whole numbers also set
//! `allow_negative_numbers`, so that `--epochs -1` reaches these checks instead of being read
//! as an unknown flag `-1`; those taking other numbers set `allow_hyphen_values`, since clap's
//! idea of a negative number leaves out `-1e-3`, `-.5` and `-inf` (a flag given as the value,
//! `--lr --quiet`, is then refused as a value that is not a number).

use shadernet::model::recipe::{MAX_BATCH, MAX_EPOCHS};

/// The most rows `augment --count` draws.
pub(crate) const MAX_AUGMENT_COUNT: usize = 1000;

/// The most timed steps per `bench` run.
pub(crate) const MAX_BENCH_STEPS: usize = 100_000;

/// The most timed runs per `bench` row.
pub(crate) const MAX_BENCH_REPEATS: usize = 1000;

/// The most classes `--classes` may fix: labels are single bytes.
pub(crate) const MAX_CLASSES: usize = 256;

/// The fewest worker threads [`max_threads`] allows on any machine.
const MIN_THREAD_CAP: usize = 64;

/// The most worker threads `--threads` may ask for: the larger of [`MIN_THREAD_CAP`] (so that
/// a run from a larger machine can continue on its own count) and 4 x this machine's cores.
/// More workers than cores only add overhead, and each holds its own buffers (activations and
/// a copy of the gradients), so a huge count would spend the memory on threads.
pub(crate) fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_mul(4).max(MIN_THREAD_CAP)
}

/// `text` as a whole number in `lo..=hi`; the error says what was expected (clap names the
/// flag and the value in front of it), with `why` appended when the range needs a reason.
fn whole(text: &str, lo: u64, hi: u64, why: &str) -> Result<u64, String> {
    let expected = || format!("expected a whole number from {lo} to {hi}{why}");
    // i128 holds every u64 and every negative a user types, so -1 is out of range, not garbage.
    match text.trim().parse::<i128>() {
        Ok(n) if (i128::from(lo)..=i128::from(hi)).contains(&n) => {
            u64::try_from(n).map_err(|_| expected())
        }
        _ => Err(expected()),
    }
}

/// [`whole`] for a `usize` flag.
fn whole_usize(text: &str, lo: usize, hi: usize, why: &str) -> Result<usize, String> {
    let n = whole(text, lo as u64, hi as u64, why)?;
    usize::try_from(n).map_err(|_| format!("expected at most {}", usize::MAX))
}

/// `text` as a finite number greater than 0.
fn positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("expected a positive finite number (greater than 0)".into()),
    }
}

/// `--epochs`: 1 to [`MAX_EPOCHS`].
pub(crate) fn epochs(text: &str) -> Result<usize, String> {
    whole_usize(text, 1, MAX_EPOCHS, "")
}

/// `--batch-size`: 1 to [`MAX_BATCH`], the network file's bound.
pub(crate) fn batch_size(text: &str) -> Result<usize, String> {
    whole_usize(text, 1, MAX_BATCH, "")
}

/// `--lr`: a positive finite `f32` (a value beyond `f32`'s range, such as 1e39, is infinite).
pub(crate) fn lr(text: &str) -> Result<f32, String> {
    let v = positive(text)? as f32;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!(
            "expected a positive finite number that a 32-bit float holds (above 0, at most \
             {:e})",
            f32::MAX
        ))
    }
}

/// `--seed`: any 64-bit unsigned number.
pub(crate) fn seed(text: &str) -> Result<u64, String> {
    whole(text, 0, u64::MAX, "")
}

/// `--validation`: 0 (no validation split) up to the most images a dataset may index; that it
/// leaves training images is checked once the data is loaded.
pub(crate) fn validation(text: &str) -> Result<usize, String> {
    whole_usize(
        text,
        0,
        u32::MAX as usize,
        " (and fewer than the training images)",
    )
}

/// `--classes`: 2 to [`MAX_CLASSES`].
pub(crate) fn classes(text: &str) -> Result<usize, String> {
    whole_usize(text, 2, MAX_CLASSES, " (labels are single bytes, 0 to 255)")
}

/// `--threads`: 1 to [`max_threads`].
pub(crate) fn threads(text: &str) -> Result<usize, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    whole_usize(
        text,
        1,
        max_threads(),
        &format!(
            " (the larger of {MIN_THREAD_CAP} and 4 x this machine's {cores} cores): more \
             workers than cores only add overhead, and each holds its own copy of the gradients"
        ),
    )
}

/// `bench --steps`: 1 to [`MAX_BENCH_STEPS`].
pub(crate) fn steps(text: &str) -> Result<usize, String> {
    whole_usize(text, 1, MAX_BENCH_STEPS, "")
}

/// `bench --repeats`: 1 to [`MAX_BENCH_REPEATS`].
pub(crate) fn repeats(text: &str) -> Result<usize, String> {
    whole_usize(text, 1, MAX_BENCH_REPEATS, "")
}

/// `bench --peak-gflops`: a positive finite number.
pub(crate) fn peak_gflops(text: &str) -> Result<f64, String> {
    positive(text)
}

/// `augment --count`: 1 to [`MAX_AUGMENT_COUNT`] rows.
pub(crate) fn augment_count(text: &str) -> Result<usize, String> {
    whole_usize(text, 1, MAX_AUGMENT_COUNT, " (rows of the grid)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_held_to_their_range() {
        assert_eq!(epochs("1"), Ok(1));
        assert_eq!(epochs(&MAX_EPOCHS.to_string()), Ok(MAX_EPOCHS));
        for bad in [
            "0",
            "-1",
            "100001",
            "1.5",
            "many",
            "",
            "99999999999999999999999",
        ] {
            let e = epochs(bad).unwrap_err();
            assert!(e.contains("from 1 to 100000"), "{bad}: {e}");
        }
        assert_eq!(seed("18446744073709551615"), Ok(u64::MAX));
        assert!(
            seed("-1")
                .unwrap_err()
                .contains("from 0 to 18446744073709551615")
        );
        assert_eq!(validation("0"), Ok(0));
        assert!(validation("-5").is_err());
        assert_eq!(classes("256"), Ok(256));
        assert!(classes("1").is_err() && classes("257").is_err());
        assert!(threads(&(max_threads() + 1).to_string()).is_err());
        assert_eq!(threads(&max_threads().to_string()), Ok(max_threads()));
    }

    #[test]
    fn rates_are_positive_and_finite() {
        assert_eq!(lr("0.01"), Ok(0.01));
        for bad in ["0", "-1", "nan", "inf", "-inf", "1e39", "1e-50", "x"] {
            assert!(lr(bad).is_err(), "{bad}");
        }
        assert_eq!(peak_gflops("1e3"), Ok(1000.0));
        for bad in ["nan", "-5", "0", "inf"] {
            assert!(peak_gflops(bad).is_err(), "{bad}");
        }
    }
}
