//! The run directory's pictures: `curves.png` (loss and error per epoch, two `plotters` charts
//! with axes, ticks, labels and a legend) and `misclassified.png` (test digits the model gets
//! wrong, with predicted and true labels), drawn on a [`Canvas`].

use plotters::coord::Shift;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{Backend, Canvas, FAMILY};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::executor::argmax;
use crate::train::EpochLog;

/// What a plotters drawing call may fail with.
type Drawing = std::result::Result<(), Box<dyn std::error::Error>>;

/// Training curves.
const TRAIN: RGBColor = RGBColor(31, 119, 180);
/// Validation curves.
const VALIDATION: RGBColor = RGBColor(230, 110, 0);
/// Predicted labels in the gallery.
const PREDICTED_LABEL: RGBColor = RGBColor(200, 0, 0);
/// True labels in the gallery.
const TRUE_LABEL: RGBColor = RGBColor(0, 130, 0);

/// Size of `curves.png`: the legend above two panels side by side.
const CURVES_SIZE: (u32, u32) = (960, 420);
/// Height of the legend's strip at the top of `curves.png`.
const LEGEND_HEIGHT: u32 = 30;

/// Two panels side by side, mean loss and error in percent against the epoch, each with its
/// axes, ticks and tick labels, under one legend: training in blue, validation (when the run
/// has a validation split) in orange.
pub fn curves_png(epochs: &[EpochLog]) -> Result<Vec<u8>> {
    let (width, height) = CURVES_SIZE;
    let has_validation = epochs.iter().any(|e| e.validation.count > 0);
    let loss = Panel {
        title: "Loss",
        y_label: "mean loss per image",
        train: epochs
            .iter()
            .map(|e| (e.epoch as f64, e.train.mean_loss()))
            .collect(),
        validation: epochs
            .iter()
            .filter(|e| e.validation.count > 0)
            .map(|e| (e.epoch as f64, e.validation.mean_loss()))
            .collect(),
    };
    let error = Panel {
        title: "Error",
        y_label: "error (%)",
        train: epochs
            .iter()
            .map(|e| (e.epoch as f64, 100.0 * e.train.error_rate()))
            .collect(),
        validation: epochs
            .iter()
            .filter(|e| e.validation.count > 0)
            .map(|e| (e.epoch as f64, 100.0 * e.validation.error_rate()))
            .collect(),
    };
    let last = epochs.iter().map(|e| e.epoch).max().unwrap_or(1).max(1);
    let mut canvas = Canvas::new(width, height)?;
    {
        let root = canvas.area()?;
        let drawn: Drawing = (|| {
            let (top, panels) = root.split_vertically(LEGEND_HEIGHT);
            let mut series = vec![("training", TRAIN)];
            if has_validation {
                series.push(("validation", VALIDATION));
            }
            legend(&top, &series)?;
            let (left, right) = panels.split_horizontally(width / 2);
            loss.draw(&left, last)?;
            error.draw(&right, last)?;
            root.present()?;
            Ok(())
        })();
        drawn.map_err(|e| plot_error("curves.png", e))?;
    }
    canvas.to_png()
}

/// One chart of [`curves_png`]: `(epoch, value)` points of training and validation.
struct Panel {
    title: &'static str,
    y_label: &'static str,
    train: Vec<(f64, f64)>,
    validation: Vec<(f64, f64)>,
}

impl Panel {
    /// Draws the chart on `area` for epochs `1..=last`; non-finite values (a diverged run) are
    /// left out of the lines and of the axis range.
    fn draw(&self, area: &DrawingArea<Backend<'_>, Shift>, last: usize) -> Drawing {
        let finite = |points: &[(f64, f64)]| -> Vec<(f64, f64)> {
            points
                .iter()
                .copied()
                .filter(|(_, v)| v.is_finite())
                .collect()
        };
        let train = finite(&self.train);
        let validation = finite(&self.validation);
        let top = train
            .iter()
            .chain(&validation)
            .map(|&(_, v)| v)
            .fold(0.0f64, f64::max);
        let top = if top > 0.0 { top * 1.08 } else { 1.0 };
        // A little room either side, so the first and last points stay off the frame.
        let pad = 0.03 * (last.max(2) - 1) as f64;
        let x_range = EpochAxis {
            from: 1.0 - pad,
            to: last as f64 + pad,
            ticks: epoch_ticks(last),
        };
        let decimals = decimals(top);
        let mut chart = ChartBuilder::on(area)
            .caption(self.title, (FAMILY, 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(self.y_label)
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .y_label_formatter(&|y| format!("{y:.decimals$}"))
            .y_labels(8)
            .bold_line_style(RGBColor(225, 225, 225))
            .max_light_lines(0)
            .draw()?;
        // Markers while they do not crowd the line.
        let marker = if last <= 40 { 3 } else { 0 };
        for (points, colour) in [(train, TRAIN), (validation, VALIDATION)] {
            let style = colour.filled().stroke_width(2);
            chart.draw_series(LineSeries::new(points, style).point_size(marker))?;
        }
        Ok(())
    }
}

/// The legend of `series` (name, colour), centred on `area`: a short line of each colour
/// before its name.
fn legend(area: &DrawingArea<Backend<'_>, Shift>, series: &[(&str, RGBColor)]) -> Drawing {
    const LINE: i32 = 24;
    const GAP: i32 = 6;
    const SPACE: i32 = 28;
    let style = (FAMILY, 14)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let mut widths = Vec::with_capacity(series.len());
    for (name, _) in series {
        widths.push(area.estimate_text_size(name, &style)?.0 as i32);
    }
    let total: i32 = widths.iter().map(|w| LINE + GAP + w + SPACE).sum::<i32>() - SPACE;
    let (width, height) = area.dim_in_pixel();
    let y = height as i32 / 2 + 4;
    let mut x = (width as i32 - total) / 2;
    for (&(name, colour), text_width) in series.iter().zip(widths) {
        let line = vec![(x, y), (x + LINE, y)];
        area.draw(&PathElement::new(line, colour.stroke_width(3)))?;
        area.draw_text(name, &style, (x + LINE + GAP, y))?;
        x += LINE + GAP + text_width + SPACE;
    }
    Ok(())
}

/// The epoch axis: `from..to`, with ticks and labels exactly at [`epoch_ticks`] (plotters'
/// own numeric axes pick "round" values, fractional epochs among them).
struct EpochAxis {
    from: f64,
    to: f64,
    ticks: Vec<f64>,
}

impl Ranged for EpochAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, (low, high): (i32, i32)) -> i32 {
        let fraction = (value - self.from) / (self.to - self.from);
        low + (f64::from(high - low) * fraction).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // The ticks are the bold lines; no light lines between epochs.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.from..self.to
    }
}

impl ValueFormatter<f64> for EpochAxis {
    fn format(value: &f64) -> String {
        format!("{value:.0}")
    }
}

/// The epochs that get a tick on a run of `last` epochs: every one up to 10, else epoch 1 and
/// the multiples of a round step (2, 5, 10, 20, 50, ...) that leave at most about 10 ticks.
fn epoch_ticks(last: usize) -> Vec<f64> {
    let last = last.max(1);
    let step = (0..)
        .flat_map(|power| [1, 2, 5].map(|m| m * 10usize.saturating_pow(power)))
        .find(|&step| last / step <= 10)
        .unwrap_or(last);
    let mut ticks = vec![1.0];
    ticks.extend(
        (1..=last / step)
            .map(|k| (k * step) as f64)
            .filter(|&t| t > 1.0),
    );
    ticks
}

/// Decimals for tick labels of an axis from 0 to `top`, enough to tell its ticks apart.
fn decimals(top: f64) -> usize {
    let step = top / 8.0;
    if step >= 1.0 || !step.is_finite() || step <= 0.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    }
    .min(6)
}

/// Up to `MAX_SHOWN` misclassified test images in a grid, each with its predicted label in red
/// and its true label in green under it, below a header with the count. `outputs` are the
/// network's outputs `(N, classes)` for every image of `test`, in order.
pub fn misclassified_png(test: &Dataset, outputs: &[f32], classes: usize) -> Result<Vec<u8>> {
    const MAX_SHOWN: usize = 100;
    const COLUMNS: usize = 10;
    const MARGIN: usize = 8;
    const HEADER: usize = 34;
    const LINE: usize = 15;
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
    let scale = (56 / h.max(w).max(1)).max(1);
    let cell_w = (w * scale).max(56) + MARGIN;
    let cell_h = h * scale + 2 * LINE + MARGIN;
    let shown = wrong.len().min(MAX_SHOWN);
    let rows = shown.div_ceil(COLUMNS);
    let width = COLUMNS * cell_w + MARGIN;
    let height = HEADER + rows * cell_h + MARGIN;
    let too_big = || Error::Config(format!("a gallery of {width}x{height} pixels is too big"));
    let (width_u32, height_u32) = (
        u32::try_from(width).map_err(|_| too_big())?,
        u32::try_from(height).map_err(|_| too_big())?,
    );
    let mut canvas = Canvas::new(width_u32, height_u32)?;
    let percent = 100.0 * wrong.len() as f64 / test.len().max(1) as f64;
    let mut header = format!(
        "Misclassified: {} of {} test images ({percent:.2}%)",
        wrong.len(),
        test.len()
    );
    if shown < wrong.len() {
        header.push_str(&format!(", the first {shown} shown"));
    }
    {
        let root = canvas.area()?;
        let drawn: Drawing = (|| {
            let black = (FAMILY, 17).into_font().color(&BLACK);
            root.draw_text(&header, &black, (MARGIN as i32, 8))?;
            let font = (FAMILY, 13).into_font();
            for (k, &(i, predicted)) in wrong.iter().take(MAX_SHOWN).enumerate() {
                let x = (MARGIN + (k % COLUMNS) * cell_w) as i32;
                let y = (HEADER + (k / COLUMNS) * cell_h + h * scale + 2) as i32;
                let true_label = format!("true {}", test.labels[i]);
                root.draw_text(
                    &format!("pred {predicted}"),
                    &font.color(&PREDICTED_LABEL),
                    (x, y),
                )?;
                root.draw_text(&true_label, &font.color(&TRUE_LABEL), (x, y + LINE as i32))?;
            }
            root.present()?;
            Ok(())
        })();
        drawn.map_err(|e| plot_error("misclassified.png", e))?;
    }
    // The digits: the first channel, dark ink on white, each pixel a `scale x scale` block.
    let size = test.image_size();
    let mut block = Vec::with_capacity(3 * w * scale * h * scale);
    for (k, &(i, _)) in wrong.iter().take(MAX_SHOWN).enumerate() {
        block.clear();
        for row in test.images[i * size..i * size + h * w].chunks_exact(w.max(1)) {
            let line: Vec<u8> = row
                .iter()
                .flat_map(|&ink| [255 - ink; 3].repeat(scale))
                .collect();
            for _ in 0..scale {
                block.extend_from_slice(&line);
            }
        }
        let x = MARGIN + (k % COLUMNS) * cell_w;
        let y = HEADER + (k / COLUMNS) * cell_h;
        canvas.blit(x as u32, y as u32, (w * scale) as u32, &block);
    }
    canvas.to_png()
}

/// A plotters failure while drawing `file`.
fn plot_error(file: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("drawing {file}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::Metrics;

    fn epoch(epoch: usize, train_loss: f64, validation_count: usize) -> EpochLog {
        EpochLog {
            epoch,
            train: Metrics {
                loss_sum: 100.0 * train_loss,
                correct: 90 - epoch.min(40),
                count: 100,
            },
            validation: Metrics {
                loss_sum: 0.8 * train_loss * validation_count as f64,
                correct: validation_count * 9 / 10,
                count: validation_count,
            },
            lr: 0.001,
            train_seconds: 1.0,
            seconds: 1.2,
        }
    }

    fn decode(png: &[u8]) -> image::RgbImage {
        image::load_from_memory(png).unwrap().to_rgb8()
    }

    /// Pixels within a few levels of `colour` in columns `columns`.
    fn count(image: &image::RgbImage, colour: RGBColor, columns: std::ops::Range<u32>) -> usize {
        let RGBColor(r, g, b) = colour;
        image
            .enumerate_pixels()
            .filter(|(x, _, p)| {
                columns.contains(x)
                    && p.0[0].abs_diff(r) < 8
                    && p.0[1].abs_diff(g) < 8
                    && p.0[2].abs_diff(b) < 8
            })
            .count()
    }

    #[test]
    fn curves_draw_both_series_in_both_panels() {
        let epochs: Vec<EpochLog> = (1..=3).map(|e| epoch(e, 1.0 / e as f64, 50)).collect();
        let image = decode(&curves_png(&epochs).unwrap());
        assert_eq!((image.width(), image.height()), CURVES_SIZE);
        for half in [0..480, 480..960] {
            assert!(
                count(&image, TRAIN, half.clone()) > 200,
                "training in {half:?}"
            );
            assert!(
                count(&image, VALIDATION, half.clone()) > 200,
                "validation in {half:?}"
            );
        }
        let ink = image
            .pixels()
            .filter(|p| p.0.iter().all(|&c| c < 80))
            .count();
        assert!(ink > 1000, "axes and text: {ink} dark pixels");
    }

    #[test]
    fn curves_without_validation_show_training_only() {
        let epochs: Vec<EpochLog> = (1..=4).map(|e| epoch(e, 2.0 / e as f64, 0)).collect();
        let image = decode(&curves_png(&epochs).unwrap());
        assert!(count(&image, TRAIN, 0..960) > 400);
        assert_eq!(count(&image, VALIDATION, 0..960), 0);
    }

    #[test]
    fn curves_survive_odd_runs() {
        let diverged = [
            epoch(1, 2.0, 10),
            epoch(2, f64::NAN, 10),
            epoch(3, f64::INFINITY, 10),
        ];
        let long: Vec<EpochLog> = (1..=250).map(|e| epoch(e, 1.0 / e as f64, 10)).collect();
        let zero = [epoch(1, 0.0, 10)];
        for epochs in [&diverged[..], &long, &zero, &diverged[..1], &[]] {
            let image = decode(&curves_png(epochs).unwrap());
            assert_eq!((image.width(), image.height()), CURVES_SIZE);
        }
    }

    #[test]
    fn epoch_ticks_are_whole_and_few() {
        assert_eq!(epoch_ticks(0), [1.0]);
        assert_eq!(epoch_ticks(1), [1.0]);
        assert_eq!(epoch_ticks(3), [1.0, 2.0, 3.0]);
        assert_eq!(epoch_ticks(10).len(), 10);
        assert_eq!(epoch_ticks(11), [1.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(epoch_ticks(25), [1.0, 5.0, 10.0, 15.0, 20.0, 25.0]);
        assert_eq!(epoch_ticks(250)[..3], [1.0, 50.0, 100.0]);
        assert!((1..2000).all(|n| epoch_ticks(n).len() <= 11));
    }

    #[test]
    fn tick_decimals_follow_the_range() {
        assert_eq!(decimals(45.0), 0);
        assert_eq!(decimals(1.4), 1);
        assert_eq!(decimals(0.05), 3);
        assert_eq!(decimals(f64::NAN), 0);
        assert_eq!(decimals(1e-12), 6);
    }

    /// Three 4x4 images labelled 1, 2, 3, all ink in the top-left pixel.
    fn tiny_test_set() -> Dataset {
        let mut images = vec![0u8; 3 * 16];
        for i in 0..3 {
            images[16 * i] = 255;
        }
        Dataset {
            images,
            labels: vec![1, 2, 3],
            channels: 1,
            height: 4,
            width: 4,
            classes: 4,
        }
    }

    #[test]
    fn gallery_shows_the_wrong_digits_with_labels() {
        let test = tiny_test_set();
        // Predicts 1, 0, 3: the second image is wrong.
        let outputs = [0., 1., 0., 0., 1., 0., 0., 0., 0., 0., 0., 1.];
        let image = decode(&misclassified_png(&test, &outputs, 4).unwrap());
        // Scale 14, cells 56 + 8 wide, one row of 56 + 2 lines of 15 + 8.
        assert_eq!((image.width(), image.height()), (648, 34 + 94 + 8));
        assert_eq!(image.get_pixel(8, 34).0, [0, 0, 0], "the ink pixel");
        assert_eq!(image.get_pixel(8 + 13, 34 + 13).0, [0, 0, 0]);
        assert_eq!(image.get_pixel(8 + 14, 34).0, [255, 255, 255]);
        assert!(
            count(&image, PREDICTED_LABEL, 0..648) > 0,
            "the predicted label"
        );
        assert!(count(&image, TRUE_LABEL, 0..648) > 0, "the true label");
        let header = image
            .enumerate_pixels()
            .filter(|(_, y, p)| *y < 30 && p.0[0] < 100)
            .count();
        assert!(header > 100, "the header: {header} dark pixels");
    }

    #[test]
    fn gallery_without_errors_is_just_the_header() {
        let test = tiny_test_set();
        let outputs = [0., 1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1.];
        let image = decode(&misclassified_png(&test, &outputs, 4).unwrap());
        assert_eq!((image.width(), image.height()), (648, 34 + 8));
    }
}
