// Prepended to every shader. One workgroup size for every kernel: 64 invocations.
// A 1-D launch of more than 65535 workgroups is spread over a 2-D grid; `flat_id` undoes that.
const WG: u32 = 64u;

// The flat index of this invocation in a 1-D launch.
fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lid;
}

// The flat index of this workgroup (kernels that give each output a whole workgroup).
fn group_id(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}
