//! The memory a planned network needs at a batch size, worked out before anything is allocated,
//! and the limit it must fit under.
//!
//! [`cpu_need`] adds up what the CPU executor allocates: the parameters, their gradient, Adam's
//! two moments and the averaged weights (counted whatever the optimiser, as a checkpoint
//! carries them), the activations and their gradients for the whole batch, split into one
//! share per thread, each thread's own parameter gradients, max-pool argmax and dropout masks,
//! and the workspace (the gathered input batch; per thread, one image's convolution scratch
//! and the GEMM's packing slab, [`GEMM_SLAB_BYTES`]). Sums
//! saturate at `u64::MAX`, so any user-controlled size gives a number, never a wrap-around.
//! (The GPU executor's need is its execution plan's buffer list, which the GPU module sums
//! into a [`MemoryNeed`].)
//!
//! [`MemoryLimit`] is the budget: `--memory-limit SIZE`, else the environment variable
//! [`LIMIT_ENV`], else [`DEFAULT_PERCENT`]% of the machine's physical memory (on Linux
//! `/proc/meminfo`'s `MemTotal`, or the cgroup's `memory.max` when that is smaller), else
//! [`FALLBACK_LIMIT`]; and at most [`DEFAULT_PERCENT`]% of the process's address-space limit
//! (`ulimit -v`) where one is set. [`check`] compares a need plus what the process already holds (the
//! loaded data included, [`resident_bytes`]) with it and refuses with the numbers and how to
//! raise the limit.

use super::shapes::ConvShape;
use super::spec::{Layer, Plan};
use crate::error::{Error, Result};

/// The default limit, in percent of the machine's physical memory.
pub const DEFAULT_PERCENT: u64 = 80;

/// The limit where the machine's memory cannot be read (not Linux): 8 GiB.
pub const FALLBACK_LIMIT: u64 = 8 << 30;

/// The packing buffer that the CPU executor's GEMM (the `gemm` crate) keeps in every thread that
/// calls it, sized to the L2 cache: 1 MiB on today's x86 server cores (allocated once per
/// thread, whatever the network).
pub const GEMM_SLAB_BYTES: u64 = 1 << 20;

/// The environment variable that sets the limit when `--memory-limit` is not given.
pub const LIMIT_ENV: &str = "SHADERNET_MEMORY_LIMIT";

/// Where a network's memory goes, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryNeed {
    /// Parameters, their gradient, Adam's moments, averaged weights, batchnorm statistics.
    pub parameters: u64,
    /// The CPU threads' own parameter gradients, all threads together (0 on the GPU).
    pub thread_gradients: u64,
    /// Activations, their gradients, argmax and dropout masks for the whole batch.
    pub activations: u64,
    /// The gathered input batch, the convolution scratch and the GEMM's packing slabs.
    pub workspace: u64,
}

impl MemoryNeed {
    /// All of it (saturating).
    pub fn total(&self) -> u64 {
        self.parameters
            .saturating_add(self.thread_gradients)
            .saturating_add(self.activations)
            .saturating_add(self.workspace)
    }
}

/// `a · b · c` in `u64`, saturating.
fn product(factors: &[usize]) -> u64 {
    factors
        .iter()
        .fold(1u64, |acc, &f| acc.saturating_mul(f as u64))
}

/// Values per example: every activation buffer, the max-pool outputs (their argmax) and the
/// dropout outputs (their masks).
struct PerExample {
    activations: u64,
    pools: u64,
    masks: u64,
    /// Values of the largest convolution scratch (one image's im2col matrix and phase planes,
    /// and a transposed weight gradient: [`ConvShape::scratch_size`]).
    col: u64,
}

fn per_example(plan: &Plan) -> PerExample {
    let outputs = |want: fn(&Layer) -> bool| {
        sum(plan
            .layers
            .iter()
            .filter(|l| want(&l.layer))
            .map(|l| l.output.size()))
    };
    PerExample {
        activations: sum(plan.buffers().sizes.into_iter()),
        pools: outputs(|l| matches!(l, Layer::MaxPool { .. })),
        masks: outputs(|l| matches!(l, Layer::Dropout { .. })),
        col: (plan.layers.iter())
            .filter_map(ConvShape::of)
            .map(|s| {
                let phases = [s.c, s.s, s.s, s.phase_rows(), s.phase_cols()];
                (product(&[s.col_rows(), s.col_cols()]))
                    .saturating_add(product(&[s.col_rows(), s.f]))
                    .saturating_add(product(&phases))
            })
            .max()
            .unwrap_or(0),
    }
}

/// The sum of `values` in `u64`, saturating.
fn sum(values: impl Iterator<Item = usize>) -> u64 {
    values.fold(0u64, |acc, v| acc.saturating_add(v as u64))
}

/// Parameters, gradient, Adam's two moments, averaged weights and batchnorm running statistics.
fn parameter_bytes(plan: &Plan) -> u64 {
    let params = plan.params() as u64;
    params
        .saturating_mul(4 * 5)
        .saturating_add((plan.running_stats() as u64).saturating_mul(4))
}

/// What the CPU executor allocates to run `plan` at batches of `batch` on `threads` threads:
/// each thread takes a share of at most `⌈batch / threads⌉` examples and keeps its
/// activations, their gradients, masks, one convolution scratch, a GEMM packing slab and its
/// own parameter gradients.
pub fn cpu_need(plan: &Plan, batch: usize, threads: usize) -> MemoryNeed {
    let batch = batch.max(1);
    let threads = threads.clamp(1, batch);
    let share = batch.div_ceil(threads) as u64;
    let each = per_example(plan);
    let per_thread_values = each
        .activations
        .saturating_mul(2)
        .saturating_add(each.pools)
        .saturating_add(each.masks)
        .saturating_mul(share);
    MemoryNeed {
        parameters: parameter_bytes(plan),
        thread_gradients: (plan.params() as u64).saturating_mul(4 * threads as u64),
        activations: per_thread_values.saturating_mul(4 * threads as u64),
        workspace: product(&[batch, plan.input.size(), 4])
            .saturating_add(each.col.saturating_mul(4 * threads as u64))
            .saturating_add(GEMM_SLAB_BYTES.saturating_mul(threads as u64)),
    }
}

/// A memory budget in bytes and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryLimit {
    /// The limit, bytes.
    pub bytes: u64,
    /// Where it came from, for messages ("--memory-limit 16G", "80% of this machine's ...").
    pub source: String,
}

impl MemoryLimit {
    /// The limit `flag` sets (`--memory-limit`, already parsed by [`MemoryLimit::from_flag`]),
    /// else [`LIMIT_ENV`]'s, else the machine's default ([`MemoryLimit::machine_default`]). A
    /// variable that is not a size is an error naming it.
    pub fn resolve(flag: Option<MemoryLimit>) -> Result<MemoryLimit> {
        if let Some(limit) = flag {
            return Ok(limit);
        }
        let bad = |shown: String| {
            Error::Config(format!("{LIMIT_ENV}={shown} is not a size: {SIZE_HELP}"))
        };
        match std::env::var(LIMIT_ENV) {
            Ok(text) => match parse_size(&text) {
                Some(bytes) => Ok(MemoryLimit {
                    bytes,
                    source: format!("{LIMIT_ENV}={}", text.trim()),
                }),
                None => Err(bad(cut(&text))),
            },
            Err(std::env::VarError::NotPresent) => Ok(MemoryLimit::machine_default()),
            Err(std::env::VarError::NotUnicode(text)) => Err(bad(cut(&text.to_string_lossy()))),
        }
    }

    /// The value of `--memory-limit`; the error says what a size looks like.
    pub fn from_flag(text: &str) -> std::result::Result<MemoryLimit, String> {
        match parse_size(text) {
            Some(bytes) => Ok(MemoryLimit {
                bytes,
                source: format!("--memory-limit {}", text.trim()),
            }),
            None => Err(format!("{} is not a size: {SIZE_HELP}", cut(text))),
        }
    }

    /// [`DEFAULT_PERCENT`]% of the machine's memory ([`physical_memory`]), or
    /// [`FALLBACK_LIMIT`] where that is unknown; [`DEFAULT_PERCENT`]% of the process's
    /// address-space limit (`ulimit -v`, [`address_space_limit`]) where that is smaller.
    pub fn machine_default() -> MemoryLimit {
        let machine = MemoryLimit::of_machine();
        match address_space_limit() {
            Some(space) if (space / 100).saturating_mul(DEFAULT_PERCENT) < machine.bytes => {
                MemoryLimit {
                    bytes: (space / 100).saturating_mul(DEFAULT_PERCENT),
                    source: format!(
                        "the default, {DEFAULT_PERCENT}% of this process's address-space limit \
                         (ulimit -v) of {}",
                        format_bytes(space)
                    ),
                }
            }
            _ => machine,
        }
    }

    /// [`DEFAULT_PERCENT`]% of the machine's memory, or [`FALLBACK_LIMIT`].
    fn of_machine() -> MemoryLimit {
        match physical_memory() {
            Some(total) => MemoryLimit {
                bytes: (total / 100).saturating_mul(DEFAULT_PERCENT),
                source: format!(
                    "the default, {DEFAULT_PERCENT}% of this machine's {}",
                    format_bytes(total)
                ),
            },
            None => MemoryLimit {
                bytes: FALLBACK_LIMIT,
                source: format!(
                    "the default where the machine's memory is unknown, {}",
                    format_bytes(FALLBACK_LIMIT)
                ),
            },
        }
    }
}

/// What a size looks like, for messages.
const SIZE_HELP: &str = "expected a number of bytes with an optional K, M, G or T (binary: \
                         1K = 1024 bytes), such as 512M or 16G, above 0";

/// `text` cut to 40 characters for an echo.
fn cut(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if text.chars().nth(40).is_some() {
        out.push_str("...");
    }
    format!("`{}`", out.escape_debug())
}

/// A size such as `16G`, `512M`, `1.5GiB`, `1048576` (bytes) or `64k`: a positive number and an
/// optional binary suffix (K, M, G, T, each optionally followed by `B` or `iB`; `B` alone is
/// bytes). `None` for anything else, for 0, and for more than `u64::MAX` bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let shift = match suffix.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    if number.is_empty() || number == "." {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let bytes = value * (1u64 << shift) as f64;
    // 2^64 itself is not representable; everything below is.
    (1.0..18_446_744_073_709_551_616.0)
        .contains(&bytes)
        .then_some(bytes as u64)
}

/// `bytes` for people: `78.2 GiB`, `512.0 MiB`, `900 bytes`; `more than 16 EiB` for a
/// saturated sum.
pub fn format_bytes(bytes: u64) -> String {
    if bytes == u64::MAX {
        return "more than 16 EiB".into();
    }
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The machine's physical memory in bytes, or the cgroup's limit when that is smaller (Linux:
/// `/proc/meminfo`'s `MemTotal`, `/sys/fs/cgroup/memory.max`, or cgroup v1's
/// `memory.limit_in_bytes`); `None` where neither can be read.
pub fn physical_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let total = meminfo
        .as_deref()
        .and_then(|text| kib_field(text, "MemTotal:"));
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|path| std::fs::read_to_string(path).ok())
    .filter_map(|text| text.trim().parse::<u64>().ok())
    .min();
    match (total, cgroup) {
        (Some(t), Some(c)) => Some(t.min(c)),
        (t, c) => t.or(c),
    }
}

/// The process's address-space limit in bytes (`ulimit -v`; Linux: the soft limit of
/// `/proc/self/limits`' "Max address space"); `None` when unlimited or unknown.
pub fn address_space_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    address_space_field(&limits)
}

/// The soft limit of the "Max address space" line of a `/proc/PID/limits` text.
fn address_space_field(limits: &str) -> Option<u64> {
    const NAME: &str = "Max address space";
    let line = limits.lines().find(|l| l.starts_with(NAME))?;
    line[NAME.len()..].split_whitespace().next()?.parse().ok()
}

/// Bytes this process holds now (Linux: `VmRSS` in `/proc/self/status`; 0 elsewhere): what is
/// loaded already, the data set included.
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| kib_field(&text, "VmRSS:"))
        .unwrap_or(0)
}

/// The value of a `NAME:  1234 kB` line, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// Refuses `need` (plus `in_use`, what the process holds already) when it is above `limit`.
/// `what` says what needs it ("training `seedtf` at batch 128 on the CPU executor (2
/// threads)"); the message gives the numbers, the limit and its source, and how to raise it.
pub fn check(need: &MemoryNeed, in_use: u64, limit: &MemoryLimit, what: &str) -> Result<()> {
    let total = need.total().saturating_add(in_use);
    if total <= limit.bytes {
        return Ok(());
    }
    let mut parts = vec![format!(
        "parameters and optimiser state {}",
        format_bytes(need.parameters)
    )];
    if need.thread_gradients > 0 {
        parts.push(format!(
            "the threads' parameter gradients {}",
            format_bytes(need.thread_gradients)
        ));
    }
    parts.push(format!(
        "activations and their gradients {}",
        format_bytes(need.activations)
    ));
    parts.push(format!("workspace {}", format_bytes(need.workspace)));
    let raise = if total == u64::MAX {
        "a size this large cannot be allocated: use a smaller batch or network".to_string()
    } else {
        let gib = total.div_ceil(1 << 30);
        format!(
            "use a smaller batch or network, or raise the limit with --memory-limit {gib}G \
             (or {LIMIT_ENV}={gib}G)"
        )
    };
    Err(Error::Config(format!(
        "{what} needs about {} ({}) besides the {} this process holds already (its data \
         included), over the memory limit of {} ({}): {raise}",
        format_bytes(need.total()),
        parts.join(", "),
        format_bytes(in_use),
        format_bytes(limit.bytes),
        limit.source,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("16G"), Some(16 << 30));
        assert_eq!(parse_size("512m"), Some(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size(" 64 KB "), Some(64 << 10));
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("2T"), Some(2 << 40));
        for bad in [
            "",
            "G",
            "0",
            "0.0001",
            "-1G",
            "1X",
            "1e9",
            "nan",
            ".",
            "1.2.3G",
            "99999999T",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn byte_counts_read_as_people_write_them() {
        assert_eq!(format_bytes(900), "900 bytes");
        assert_eq!(format_bytes(512 << 20), "512.0 MiB");
        assert_eq!(format_bytes(3 << 29), "1.5 GiB");
        assert_eq!(format_bytes(u64::MAX), "more than 16 EiB");
    }

    #[test]
    fn the_address_space_limit_is_the_soft_one() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max address space         12884901888          unlimited            bytes     \n";
        assert_eq!(address_space_field(limits), Some(12 << 30));
        let unlimited =
            "Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(address_space_field(unlimited), None);
        assert_eq!(address_space_field(""), None);
    }

    #[test]
    fn meminfo_fields_read_in_bytes() {
        let text = "MemTotal:       24683772 kB\nMemFree:  13079764 kB\n";
        assert_eq!(kib_field(text, "MemTotal:"), Some(24_683_772 * 1024));
        assert_eq!(kib_field(text, "VmRSS:"), None);
    }
}
