//! The number of classes a dataset's labels imply, and the checks that keep a stray label (a
//! 255 among digits) from silently widening the network: every class must have a training
//! example unless the caller fixes the number of classes, and no label may reach past it.

use std::path::Path;

use crate::{Error, Result};

/// The most classes byte labels can name.
const MAX_CLASSES: usize = 256;

/// The number of classes of the training `labels` read from `path`. With `asked` (the caller's
/// fixed number, e.g. `--classes N`) every label must lie below it, and classes without examples
/// are allowed; without it the classes are the largest label plus one (at least 2), and each of
/// them must have at least one example, so a stray large label is refused, not trained on.
pub(crate) fn training_classes(labels: &[u8], path: &Path, asked: Option<usize>) -> Result<usize> {
    if let Some(classes) = asked {
        if !(2..=MAX_CLASSES).contains(&classes) {
            return Err(Error::Config(format!(
                "{classes} classes asked for, expected 2 to {MAX_CLASSES} (labels are single \
                 bytes, 0 to 255)"
            )));
        }
        check_below(
            labels,
            path,
            classes,
            &format!("the {classes} classes asked for"),
        )?;
        return Ok(classes);
    }
    let Some((index, &largest)) = labels
        .iter()
        .enumerate()
        .max_by_key(|&(i, &l)| (l, std::cmp::Reverse(i)))
    else {
        return Err(Error::data(path, "holds no labels, expected at least one"));
    };
    let classes = usize::from(largest) + 1;
    if classes < 2 {
        return Err(Error::data(
            path,
            "every training label is 0, expected at least 2 classes",
        ));
    }
    let mut counts = vec![0usize; classes];
    for &label in labels {
        counts[usize::from(label)] += 1;
    }
    let missing: Vec<usize> = (0..classes).filter(|&c| counts[c] == 0).collect();
    if missing.is_empty() {
        return Ok(classes);
    }
    Err(Error::data(
        path,
        format!(
            "the labels imply {classes} classes (0 to {largest}; label {largest} is at index \
             {index}), but {} of them have no training example: {}; expected every class to \
             appear at least once (give the number of classes explicitly, --classes {classes}, \
             to train with classes that have none)",
            missing.len(),
            ranges(&missing)
        ),
    ))
}

/// Refuses the first label in `labels` (read from `path`) that is not below `classes`;
/// `what` says where the classes come from ("the 10 classes of the training labels").
pub(crate) fn check_below(labels: &[u8], path: &Path, classes: usize, what: &str) -> Result<()> {
    match labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= classes)
    {
        Some((i, &label)) => Err(Error::data(
            path,
            format!(
                "label out of range: label {label} at index {i}, expected 0..={} ({what})",
                classes - 1
            ),
        )),
        None => Ok(()),
    }
}

/// Sorted `values` as comma-separated runs ("3, 10 to 254"), at most 12 of them.
fn ranges(values: &[usize]) -> String {
    const SHOWN: usize = 12;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &v in values {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == v => *end = v,
            _ => runs.push((v, v)),
        }
    }
    let mut text: Vec<String> = runs
        .iter()
        .take(SHOWN)
        .map(|&(a, b)| match b - a {
            0 => a.to_string(),
            1 => format!("{a}, {b}"),
            _ => format!("{a} to {b}"),
        })
        .collect();
    if runs.len() > SHOWN {
        text.push(format!("and {} more runs", runs.len() - SHOWN));
    }
    text.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_join_runs() {
        assert_eq!(ranges(&[3, 10, 11, 12, 20, 21]), "3, 10 to 12, 20, 21");
        let odd: Vec<usize> = (0..30).map(|i| 2 * i).collect();
        assert!(ranges(&odd).ends_with("22, and 18 more runs"));
    }
}
