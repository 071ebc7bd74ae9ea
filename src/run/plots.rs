//! The run directory's pictures: `curves.png` (loss and error per epoch) and
//! `misclassified.png` (test digits the model gets wrong, with predicted and true labels).

use super::canvas::{Canvas, Rgb};
use crate::data::Dataset;
use crate::error::Result;
use crate::executor::argmax;
use crate::train::EpochLog;

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const GREY: Rgb = [200, 200, 200];
/// Training curves.
const BLUE: Rgb = [31, 119, 180];
/// Validation curves.
const ORANGE: Rgb = [230, 110, 0];
const RED: Rgb = [200, 0, 0];
const GREEN: Rgb = [0, 140, 0];

/// Two panels side by side: mean loss (training blue, validation orange) and error in percent
/// (same colours), against the epoch. Axes are labelled with their ranges.
pub fn curves_png(epochs: &[EpochLog]) -> Result<Vec<u8>> {
    let mut canvas = Canvas::new(760, 340, WHITE);
    let loss: [Vec<f64>; 2] = [
        epochs.iter().map(|e| e.train.mean_loss()).collect(),
        epochs.iter().map(|e| e.validation.mean_loss()).collect(),
    ];
    let error: [Vec<f64>; 2] = [
        epochs
            .iter()
            .map(|e| 100.0 * e.train.error_rate())
            .collect(),
        epochs
            .iter()
            .map(|e| 100.0 * e.validation.error_rate())
            .collect(),
    ];
    let has_validation = epochs.iter().any(|e| e.validation.count > 0);
    panel(&mut canvas, 0, "LOSS", &loss, has_validation);
    panel(&mut canvas, 380, "ERROR %", &error, has_validation);
    canvas.to_png()
}

/// One panel at horizontal offset `x0`: axes, ranges, and the series (training, validation).
fn panel(canvas: &mut Canvas, x0: i64, title: &str, series: &[Vec<f64>; 2], validation: bool) {
    let (left, top, width, height) = (x0 + 60, 40, 300, 240);
    let n = series[0].len();
    let max = series
        .iter()
        .take(if validation { 2 } else { 1 })
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.05;
    canvas.text(left, 12, title, BLACK, 3);
    // Legend.
    let mut lx = left + Canvas::text_width(title, 3) + 24;
    for (name, colour, shown) in [("TRAIN", BLUE, true), ("VAL", ORANGE, validation)] {
        if shown {
            canvas.fill(lx, 16, 12, 6, colour);
            lx += 16 + canvas.text(lx + 16, 14, name, colour, 2) + 12;
        }
    }
    // Grid and axes.
    for i in 1..4 {
        let y = top + height * i / 4;
        canvas.line((left, y), (left + width, y), GREY, 1);
    }
    canvas.line((left, top), (left, top + height), BLACK, 2);
    canvas.line((left, top + height), (left + width, top + height), BLACK, 2);
    let label = format_value(max);
    canvas.text(
        left - 8 - Canvas::text_width(&label, 2),
        top,
        &label,
        BLACK,
        2,
    );
    canvas.text(left - 16, top + height - 10, "0", BLACK, 2);
    canvas.text(left, top + height + 8, "1", BLACK, 2);
    let last = n.max(1).to_string();
    canvas.text(
        left + width - Canvas::text_width(&last, 2),
        top + height + 8,
        &last,
        BLACK,
        2,
    );
    canvas.text(
        left + width / 2 - Canvas::text_width("EPOCH", 2) / 2,
        top + height + 22,
        "EPOCH",
        BLACK,
        2,
    );
    let point = |i: usize, v: f64| -> (i64, i64) {
        let x = if n <= 1 {
            left + width / 2
        } else {
            left + (width as f64 * i as f64 / (n - 1) as f64).round() as i64
        };
        let y = top + height - (height as f64 * (v / max).clamp(0.0, 1.0)).round() as i64;
        (x, y)
    };
    for (values, colour, shown) in [(&series[0], BLUE, true), (&series[1], ORANGE, validation)] {
        if !shown {
            continue;
        }
        let points: Vec<(i64, i64)> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, &v)| point(i, v))
            .collect();
        for pair in points.windows(2) {
            canvas.line(pair[0], pair[1], colour, 2);
        }
        for &(x, y) in &points {
            canvas.fill(x - 2, y - 2, 5, 5, colour);
        }
    }
}

/// A value with three significant digits, for axis labels.
fn format_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Up to `MAX_SHOWN` misclassified test images in a grid, each with `P<predicted>` in red
/// and `T<true>` in green under it, and a header `ERRORS <wrong> OF <total>`. `outputs` are the
/// network's outputs `(N, classes)` for every image of `test`, in order.
pub fn misclassified_png(test: &Dataset, outputs: &[f32], classes: usize) -> Result<Vec<u8>> {
    const MAX_SHOWN: usize = 100;
    const COLUMNS: usize = 10;
    let wrong: Vec<(usize, usize)> = outputs
        .chunks_exact(classes.max(1))
        .zip(&test.labels)
        .enumerate()
        .filter_map(|(i, (row, &label))| {
            let predicted = argmax(row);
            (predicted != usize::from(label)).then_some((i, predicted))
        })
        .collect();
    let (h, w) = (test.height, test.width);
    let scale = (56 / h.max(w)).max(1);
    let cell_w = (w * scale).max(48) + 8;
    let cell_h = h * scale + 22;
    let shown = wrong.len().min(MAX_SHOWN);
    let rows = shown.div_ceil(COLUMNS);
    let width = COLUMNS * cell_w + 8;
    let height = 40 + rows * cell_h + 8;
    let mut canvas = Canvas::new(width, height, WHITE);
    canvas.text(
        8,
        10,
        &format!("ERRORS {} OF {}", wrong.len(), test.len()),
        BLACK,
        3,
    );
    let size = test.image_size();
    for (k, &(i, predicted)) in wrong.iter().take(MAX_SHOWN).enumerate() {
        let x0 = 8 + (k % COLUMNS) * cell_w;
        let y0 = 40 + (k / COLUMNS) * cell_h;
        // The first channel, dark ink on white.
        let image = &test.images[i * size..i * size + h * w];
        for y in 0..h {
            for x in 0..w {
                let v = 255 - image[y * w + x];
                canvas.fill(
                    (x0 + x * scale) as i64,
                    (y0 + y * scale) as i64,
                    scale as i64,
                    scale as i64,
                    [v, v, v],
                );
            }
        }
        let ty = (y0 + h * scale + 4) as i64;
        let dx = canvas.text(x0 as i64, ty, &format!("P{predicted}"), RED, 2);
        canvas.text(
            x0 as i64 + dx + 6,
            ty,
            &format!("T{}", test.labels[i]),
            GREEN,
            2,
        );
    }
    canvas.to_png()
}
