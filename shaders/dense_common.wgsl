// Prepended to the three dense kernels: W (D_out, D_in) at w_off and b (D_out) at b_off of the
// parameter buffer (forward, data gradient) or of the gradient buffer (weight gradient), and
// the fused activation (forward: applied to the output; data gradient: the backward of the
// activation before the layer; weight gradient: unused, 0) and, for the data gradient, whether
// the mask of a dropout before the layer applies first.
struct Params { g: Gemm, w_off: u32, b_off: u32, act: u32, dropout: u32 }
@group(0) @binding(0) var<uniform> p: Params;
