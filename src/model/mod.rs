//! Networks as data: layers and shape inference ([`spec`]), the training recipe ([`recipe`]), the resolved sizes of each
//! layer's work ([`shapes`]), the one parameter layout table ([`layout`]), presets and a text
//! format. It depends on no executor and not on the data.

pub mod layout;
pub mod memory;
pub mod presets;
pub mod recipe;
pub mod shapes;
pub mod spec;
pub mod text;

pub use layout::{LayerSlots, ParamLayout, TensorSlot, initial_parameters, initial_running_stats};
pub use presets::{PRESET_NAMES, preset};
pub use recipe::{
    AugmentRanges, EarlyStopping, Init, Loss, MatmulPrecision, Monitor, Optimizer, Schedule,
    Training, check_training, ema_decay,
};
pub use shapes::{BN_EPSILON, BN_MOMENTUM, ConvShape, NormShape, PoolShape};
pub use spec::{Activation, BufferPlan, Layer, Network, Plan, PlannedLayer, Shape, Units};
pub use text::{network_to_text, parse_network, parse_network_bytes, parse_saved_network};

use crate::error::{Error, Result};
use std::path::Path;

/// A preset by name, or else a network file at that path.
pub fn load_network(name_or_path: &str) -> Result<Network> {
    if let Some(net) = preset(name_or_path) {
        return Ok(net);
    }
    let path = Path::new(name_or_path);
    if !path.exists() {
        return Err(Error::Config(format!(
            "--model: `{name_or_path}` is neither a preset ({}) nor an existing network file",
            PRESET_NAMES.join(", ")
        )));
    }
    let bytes = read_network_file(path)?;
    let name = path.file_stem().map_or_else(
        || name_or_path.to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    parse_network_bytes(&bytes, &path.display().to_string(), &name)
}

/// The bytes of the network file at `path`, refused past [`text::MAX_FILE_BYTES`] before they
/// fill memory; only a regular file is read (a FIFO would wait for a writer, a device such as
/// `/dev/zero` never ends).
fn read_network_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        action: "reading",
        source,
    };
    let mut bytes = Vec::new();
    crate::files::open_regular(path, "reading", "a network file")?
        .0
        .take(text::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > text::MAX_FILE_BYTES {
        return Err(Error::data(
            path,
            format!(
                "a network file holds at most {} MiB, and this one is larger: is it the right file?",
                text::MAX_FILE_BYTES >> 20
            ),
        ));
    }
    Ok(bytes)
}
