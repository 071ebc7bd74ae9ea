//! Max-pool with an argmax mask. `x: (N, C, H, W)`, `y: (N, C, H', W')` with
//! `H' = (H − size)/stride + 1`.

use crate::model::PoolShape;

/// `y[n, c, oy, ox] = max over the window of x`, and `argmax` (same shape as `y`) the index into
/// `x` of that maximum (the first one in row-major order on ties).
pub fn maxpool_forward(x: &[f32], y: &mut [f32], argmax: &mut [u32], sh: &PoolShape, n: usize) {
    let out_plane = sh.ho * sh.wo;
    for plane in 0..n * sh.c {
        let base = plane * sh.h * sh.w;
        for oy in 0..sh.ho {
            for ox in 0..sh.wo {
                let mut best = base + oy * sh.stride * sh.w + ox * sh.stride;
                let mut best_value = x[best];
                for dy in 0..sh.size {
                    let row = base + (oy * sh.stride + dy) * sh.w + ox * sh.stride;
                    for (i, &v) in x[row..row + sh.size].iter().enumerate() {
                        if v > best_value {
                            best = row + i;
                            best_value = v;
                        }
                    }
                }
                let o = plane * out_plane + oy * sh.wo + ox;
                y[o] = best_value;
                argmax[o] = best as u32;
            }
        }
    }
}

/// `dx = 0`, then `dx[argmax[o]] += dy[o]` for every output `o`: the gradient flows only to the
/// maximum of each window.
pub fn maxpool_backward(dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    dx.fill(0.0);
    for (&g, &i) in dy.iter().zip(argmax) {
        dx[i as usize] += g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_maximum_and_routes_the_gradient_back() {
        // 1 channel, 2x4 image, 2x2 windows: two windows.
        let sh = PoolShape {
            c: 1,
            h: 2,
            w: 4,
            size: 2,
            stride: 2,
            ho: 1,
            wo: 2,
        };
        let x = [1., 5., 2., 0., 3., 4., 9., 8.];
        let (mut y, mut arg) = ([0.0; 2], [0u32; 2]);
        maxpool_forward(&x, &mut y, &mut arg, &sh, 1);
        assert_eq!((y, arg), ([5., 9.], [1, 6]));
        let mut dx = [7.0; 8];
        maxpool_backward(&[10., 20.], &arg, &mut dx);
        assert_eq!(dx, [0., 10., 0., 0., 0., 0., 20., 0.]);
    }
}
