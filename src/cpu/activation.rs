//! Element-wise activations. Backward passes use the forward output `y`.

/// `y = tanh(x)`.
pub fn tanh_forward(x: &[f32], y: &mut [f32]) {
    for (o, &i) in y.iter_mut().zip(x) {
        *o = i.tanh();
    }
}

/// `dx = dy · (1 − y²)`.
pub fn tanh_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    for ((g, &o), &d) in dx.iter_mut().zip(y).zip(dy) {
        *g = d * (1.0 - o * o);
    }
}

/// `y = max(x, 0)`.
pub fn relu_forward(x: &[f32], y: &mut [f32]) {
    for (o, &i) in y.iter_mut().zip(x) {
        *o = i.max(0.0);
    }
}

/// `dx = dy · [y > 0]` (equivalently `[x > 0]`).
pub fn relu_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    for ((g, &o), &d) in dx.iter_mut().zip(y).zip(dy) {
        *g = if o > 0.0 { d } else { 0.0 };
    }
}

/// `dy ← dy · [y > 0]` in place: [`relu_backward`] writing over its input gradient.
pub fn relu_backward_in_place(y: &[f32], dy: &mut [f32]) {
    for (g, &o) in dy.iter_mut().zip(y) {
        *g = if o > 0.0 { *g } else { 0.0 };
    }
}
