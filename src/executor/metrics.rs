//! Loss and accuracy counts, and the arg-max that decides a prediction.

/// Loss and accuracy counts over some examples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Sum over examples of the per-example training objective (cross-entropy `−log p`, or MSE
    /// `Σ_j (y − t)² / classes`), so `loss_sum / count` is the mean loss.
    pub loss_sum: f64,
    /// Examples whose largest output is at the label.
    pub correct: usize,
    /// Examples seen.
    pub count: usize,
}

impl Metrics {
    /// Mean loss per example (0 when empty).
    pub fn mean_loss(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.loss_sum / self.count as f64
        }
    }

    /// Fraction of examples misclassified, in [0, 1] (0 when empty).
    pub fn error_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            1.0 - self.correct as f64 / self.count as f64
        }
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: Metrics) {
        self.loss_sum += other.loss_sum;
        self.correct += other.correct;
        self.count += other.count;
    }
}

/// The index of the largest value of `row` (the first on ties; 0 for an empty row): the class a
/// network's outputs predict.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}
