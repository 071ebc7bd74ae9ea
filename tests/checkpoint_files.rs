//! Checkpoint files: the same checkpoint is the same bytes (two runs of one command write
//! identical files but for the wall times in their history), and hostile files against the
//! loader under a counting global allocator (which is why this is its own test binary): random
//! bytes and damaged checkpoints (bytes set, cut, header lengths, tensor shapes, dtypes and
//! offsets, metadata values such as networks and input shapes far larger than the file) never
//! panic, never hang, never allocate more than a bound set by the file's size, and every
//! refusal names the file. Property tests run proptest's default number of cases (256);
//! `PROPTEST_CASES=N` runs more.

#[path = "common/cli.rs"]
mod cli_common;
mod common;

use std::path::{Path, PathBuf};

use cli_common::{small_setup, train_small};
use proptest::prelude::*;
use serde_json::Value;
use shadernet::cpu::CpuExecutor;
use shadernet::executor::{Executor, Metrics, OptimizerState};
use shadernet::model::{Shape, parse_network};
use shadernet::run::Checkpoint;
use shadernet::train::EpochLog;

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// [`counting::measured`], failing the test on a hang or panic.
fn measured<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> (T, usize) {
    counting::measured(f).expect("the loader hung (or panicked) on this input")
}

/// The most a load of a `len`-byte file may allocate: the file itself, its header parsed
/// (JSON maps, the network, the history) and the tensors' values, each a small multiple of the
/// file's size, plus a fixed allowance.
fn bound(len: usize) -> usize {
    16 * len + (1 << 20)
}

/// A network with every kind of tensor a checkpoint holds: convolution and dense weights and
/// biases, batchnorm's scale, shift and running statistics, Adam's moments and (with `ema`)
/// the trained weights.
const FULL_NET: &str = "conv 4 kernel=3\nbatchnorm\nrelu\nmaxpool 2\nflatten\ndense classes\n\
                        softmax\noptimizer adam\nlr 0.001\nema 0.99\nbatch 16\nepochs 3\n";
/// Plain SGD: parameters only.
const PLAIN_NET: &str = "conv 2 kernel=3\nrelu\nflatten\ndense classes\nsoftmax\nlr 0.01\n";

/// A valid checkpoint of `text` for 8x8 images in 3 classes, two epochs into a run.
fn checkpoint(text: &str) -> Checkpoint {
    let network = parse_network(text, "net.txt", "net").unwrap();
    let plan = network.plan(Shape::Image { c: 1, h: 8, w: 8 }, 3).unwrap();
    let mut executor = CpuExecutor::new(&plan, 1, 1).unwrap();
    let params = executor.parameters().unwrap();
    let n = plan.params();
    let adam = matches!(
        network.training.optimizer,
        shadernet::model::Optimizer::Adam { .. }
    );
    let moments = |x: f32| if adam { vec![x; n] } else { Vec::new() };
    let epoch = |e: usize| EpochLog {
        epoch: e,
        train: Metrics {
            loss_sum: 12.5 / e as f64,
            correct: 80,
            count: 90,
        },
        validation: Metrics {
            loss_sum: 3.25,
            correct: 25,
            count: 30,
        },
        lr: 0.001,
        train_seconds: 0.125,
        seconds: 0.25,
    };
    Checkpoint {
        input: plan.input,
        classes: plan.classes,
        optimizer: OptimizerState {
            updates: 12,
            adam_m: moments(0.01),
            adam_v: moments(0.0001),
            raw_params: if network.training.ema.is_some() {
                params[..n].to_vec()
            } else {
                Vec::new()
            },
        },
        params,
        network,
        seed: 7,
        validation: 30,
        data: "data/bars".into(),
        backend: "cpu (1 thread)".into(),
        epochs: vec![epoch(1), epoch(2)],
        best: Some((2, 1.0 / 6.0)),
        stopped_early: false,
    }
}

#[test]
fn the_same_checkpoint_is_the_same_bytes() {
    let _serial = counting::serial();
    let dir = common::temp_dir("checkpoint-files-same");
    for text in [FULL_NET, PLAIN_NET] {
        let checkpoint = checkpoint(text);
        let bytes = checkpoint.to_bytes().unwrap();
        assert!(bytes == checkpoint.to_bytes().unwrap(), "two writes differ");
        let path = dir.join("a.safetensors");
        checkpoint.save(&path).unwrap();
        assert!(std::fs::read(&path).unwrap() == bytes);
        let loaded = Checkpoint::load(&path).unwrap();
        assert_eq!(loaded, checkpoint);
        assert!(loaded.to_bytes().unwrap() == bytes, "load and save differ");
    }
}

#[test]
fn a_tensor_whose_bytes_do_not_fit_its_type_is_named() {
    // A weight relabelled F16 (same header length): its bytes are twice what F16 needs. The
    // safetensors crate says only "invalid shape, data type, or offset for tensor".
    let _serial = counting::serial();
    let bytes = checkpoint(PLAIN_NET).to_bytes().unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
    let at = header
        .find("\"0.weight\":{\"dtype\":\"F32\"")
        .expect("0.weight's entry");
    let mut damaged = bytes.clone();
    let dtype = 8 + at + "\"0.weight\":{\"dtype\":\"".len();
    damaged[dtype..dtype + 3].copy_from_slice(b"F16");
    let e = Checkpoint::from_bytes(&damaged, Path::new("w.safetensors")).unwrap_err();
    let text = e.to_string();
    for part in [
        "w.safetensors",
        "tensor `0.weight` (F16, shape [2, 1, 3, 3]) needs 36 bytes, but its data offsets",
        "hold 72",
    ] {
        assert!(text.contains(part), "`{part}` not in: {text}");
    }
}

#[test]
fn the_best_epoch_and_its_error_must_be_possible() {
    let _serial = counting::serial();
    let path = Path::new("best.safetensors");
    for (key, value, expected) in [
        (
            13,
            "3",
            "metadata `best_epoch` is 3, expected an epoch from 1 to 2",
        ),
        (
            13,
            "0",
            "metadata `best_epoch` is 0, expected an epoch from 1 to 2",
        ),
        (
            14,
            "NaN",
            "metadata `best_validation_error` is NaN, expected an error rate",
        ),
        (
            14,
            "1.5",
            "metadata `best_validation_error` is 1.5, expected an error rate",
        ),
    ] {
        let mut bytes = checkpoint(PLAIN_NET).to_bytes().unwrap();
        apply(&mut bytes, &Mutation::Metadata(key, Some(value.into())));
        let error = Checkpoint::from_bytes(&bytes, path)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("best.safetensors: ") && error.contains(expected),
            "{error}"
        );
    }
}

#[test]
fn a_name_with_a_line_break_saves_and_loads() {
    // The name and description head the network's text as a comment line; a line break in
    // either (a network file's name may hold one) used to make the rest a line of the network,
    // which the loader then refused.
    let _serial = counting::serial();
    let mut checkpoint = checkpoint(PLAIN_NET);
    checkpoint.network.name = "two\nlines".into();
    checkpoint.network.description = "also\r\ntwo # lines".into();
    let bytes = checkpoint.to_bytes().unwrap();
    let loaded = Checkpoint::from_bytes(&bytes, Path::new("lines.safetensors"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.network.name, "two\nlines");
    assert_eq!(loaded.network.description, "also\r\ntwo # lines");
}

/// The header of a checkpoint file as text and the tensors' bytes, with the history's wall
/// times (`train_seconds`, `seconds`) written as 0: what two runs of one command share.
fn without_times(path: &Path) -> (String, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap().trim_end();
    // The history is a JSON string inside the header: its quotes are escaped.
    let key = "seconds\\\":";
    let mut out = String::new();
    let mut rest = header;
    while let Some(at) = rest.find(key) {
        out.push_str(&rest[..at + key.len()]);
        rest = rest[at + key.len()..].trim_start_matches(|c: char| {
            c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')
        });
        out.push('0');
    }
    out.push_str(rest);
    (out, bytes[8 + n..].to_vec())
}

#[test]
fn two_runs_of_one_command_write_the_same_checkpoints() {
    let _serial = counting::serial();
    let (dir, net) = small_setup("checkpoint-files-runs");
    let runs = [dir.join("a"), dir.join("b")];
    for run in &runs {
        let (status, _, stderr) = train_small(&dir, &net, run, &["--epochs", "2"]);
        assert_eq!(status, 0, "{stderr}");
    }
    for name in ["last.safetensors", "best.safetensors"] {
        let (a, b) = (runs[0].join(name), runs[1].join(name));
        let ((header_a, data_a), (header_b, data_b)) = (without_times(&a), without_times(&b));
        assert!(header_a.contains("seconds\\\":0,"), "{header_a}");
        assert_eq!(header_a, header_b, "{name}: headers differ");
        assert!(data_a == data_b, "{name}: tensors differ");
        // And the files differ in nothing else: the same checkpoint loaded from either, with
        // a's wall times, is a's bytes.
        let mut from_b = Checkpoint::load(&b).unwrap();
        from_b.epochs = Checkpoint::load(&a).unwrap().epochs;
        assert!(
            from_b.to_bytes().unwrap() == std::fs::read(&a).unwrap(),
            "{name}"
        );
    }
}

/// Loads `bytes` as the file `hostile.safetensors` in `dir` (through [`Checkpoint::load`]
/// when `from_file`, else [`Checkpoint::from_bytes`]), checking the allocation bound, that an
/// error names the file, and that a checkpoint that loads writes and reads back the same.
fn load_checked(dir: &Path, bytes: Vec<u8>, from_file: bool) -> Result<(), String> {
    let path = dir.join("hostile.safetensors");
    let len = bytes.len();
    if from_file {
        std::fs::write(&path, &bytes).unwrap();
    }
    let shown = path.display().to_string();
    let (result, peak) = measured(move || {
        let loaded = if from_file {
            Checkpoint::load(&path)
        } else {
            Checkpoint::from_bytes(&bytes, &path)
        };
        loaded.map(|c| {
            let again = c.to_bytes().and_then(|b| Checkpoint::from_bytes(&b, &path));
            (c, again)
        })
    });
    if peak > bound(len) {
        return Err(format!("{peak} bytes allocated loading a {len}-byte file"));
    }
    match result {
        Err(e) if !e.to_string().contains(&shown) => {
            Err(format!("the error does not name the file: {e}"))
        }
        // A message quotes at most a line of the file's text, however long its values are.
        Err(e) if e.to_string().replace(&shown, "").chars().count() > 1000 => {
            Err(format!("a message of {} bytes", e.to_string().len()))
        }
        Err(_) => Ok(()),
        Ok((c, again)) => {
            let again = again.map_err(|e| format!("loaded, but does not save and load: {e}"))?;
            let (a, b) = (c.to_bytes().unwrap(), again.to_bytes().unwrap());
            if a != b {
                return Err("loaded, saved and loaded again, it changed".into());
            }
            Ok(())
        }
    }
}

/// A directory for the property tests, made once per test.
fn prop_dir(name: &str) -> PathBuf {
    common::temp_dir(&format!("checkpoint-files-{name}"))
}

/// Values to try in the metadata: empty, not numbers, huge, negative, non-finite, shapes far
/// larger than the file, networks of millions of parameters, arbitrary text, and 100 KB
/// values (which no message may quote in full).
fn metadata_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("3".to_string()),
        Just("1048576".to_string()),
        Just("18446744073709551615".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("1,8,8".to_string()),
        Just("1,16384,16384".to_string()),
        Just("1048576,1048576,1048576".to_string()),
        Just("0,8,8".to_string()),
        Just("1,8".to_string()),
        Just("flatten\ndense classes\nsoftmax\n".to_string()),
        Just("flatten\ndense 1048576\ndense 1024\ndense classes\nsoftmax\n".to_string()),
        Just("conv 1024 kernel=3\nconv 1024 kernel=3\nflatten\ndense classes\n".to_string()),
        Just("[]".to_string()),
        Just("[{\"epoch\":1}]".to_string()),
        "\\PC{0,40}",
        Just("x".repeat(100_000)),
        Just(format!("dense 3\n{}\n", "y".repeat(100_000))),
    ]
}

/// The metadata keys a checkpoint has.
const KEYS: [&str; 17] = [
    "format",
    "shadernet_version",
    "network",
    "name",
    "description",
    "input_shape",
    "classes",
    "epoch",
    "updates",
    "seed",
    "validation",
    "data",
    "backend",
    "best_epoch",
    "best_validation_error",
    "stopped_early",
    "history",
];

/// One way to damage a checkpoint.
#[derive(Clone, Debug)]
enum Mutation {
    /// Sets the byte at this position (modulo the length) to a value.
    Set(usize, u8),
    /// Cuts the file to this length (modulo the length + 1).
    Truncate(usize),
    /// Overwrites the 8-byte header length.
    HeaderLength(u64),
    /// Gives a tensor (by index, modulo their number) another shape.
    Shape(usize, Vec<u64>),
    /// Gives a tensor another dtype.
    Dtype(usize, &'static str),
    /// Gives a tensor other data offsets.
    Offsets(usize, u64, u64),
    /// Renames a tensor.
    Rename(usize, String),
    /// Sets a metadata key (by index into [`KEYS`]) to a value, or removes it.
    Metadata(usize, Option<String>),
    /// Appends bytes.
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let size = prop_oneof![
        0u64..20,
        Just(1 << 20),
        Just(1 << 31),
        Just(1 << 62),
        Just(u64::MAX)
    ];
    // Weighted towards the header edits, which reach the checks behind safetensors' own.
    prop_oneof![
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => prop_oneof![
            0u64..5000,
            Just(100_000_000),
            Just(1 << 40),
            Just(u64::MAX)
        ]
        .prop_map(Mutation::HeaderLength),
        2 => (any::<usize>(), prop::collection::vec(size.clone(), 0..5))
            .prop_map(|(i, s)| Mutation::Shape(i, s)),
        1 => (
            any::<usize>(),
            prop::sample::select(vec!["F32", "F64", "F16", "I64", "U8", "BOOL", "X"])
        )
            .prop_map(|(i, d)| Mutation::Dtype(i, d)),
        1 => (any::<usize>(), size.clone(), size).prop_map(|(i, a, b)| Mutation::Offsets(i, a, b)),
        1 => (
            any::<usize>(),
            prop_oneof!["[0-9a-z._]{0,16}", Just("z".repeat(100_000))]
        )
            .prop_map(|(i, n)| Mutation::Rename(i, n)),
        8 => (0..KEYS.len(), prop::option::of(metadata_value()))
            .prop_map(|(k, v)| Mutation::Metadata(k, v)),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
    ]
}

/// Applies `mutation` to a checkpoint's `bytes`. Header edits parse the header as JSON and
/// write it back with a correct length, to reach the checks behind safetensors' own.
fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let edit_header = |bytes: &mut Vec<u8>, edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let Some(n) = bytes
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
        else {
            return;
        };
        let Some(Ok(Value::Object(mut header))) = bytes
            .get(8..8usize.saturating_add(n))
            .map(serde_json::from_slice::<Value>)
        else {
            return;
        };
        edit(&mut header);
        let text = Value::Object(header).to_string();
        let data = bytes[8 + n..].to_vec();
        bytes.clear();
        bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(&data);
    };
    // The tensor `i` (modulo their number) of a header.
    fn tensor(header: &mut serde_json::Map<String, Value>, i: usize) -> Option<&mut Value> {
        let names: Vec<String> = header
            .keys()
            .filter(|k| *k != "__metadata__")
            .cloned()
            .collect();
        let name = names.get(i % names.len().max(1))?;
        header.get_mut(name)
    }
    match mutation {
        Mutation::Set(i, b) if !bytes.is_empty() => {
            let n = bytes.len();
            bytes[i % n] = *b;
        }
        Mutation::Set(..) => {}
        Mutation::Truncate(i) => bytes.truncate(i % (bytes.len() + 1)),
        Mutation::HeaderLength(n) if bytes.len() >= 8 => {
            bytes[..8].copy_from_slice(&n.to_le_bytes());
        }
        Mutation::HeaderLength(_) => {}
        Mutation::Shape(i, shape) => edit_header(bytes, &|h| {
            if let Some(t) = tensor(h, *i) {
                t["shape"] = shape.clone().into();
            }
        }),
        Mutation::Dtype(i, dtype) => edit_header(bytes, &|h| {
            if let Some(t) = tensor(h, *i) {
                t["dtype"] = (*dtype).into();
            }
        }),
        Mutation::Offsets(i, a, b) => edit_header(bytes, &|h| {
            if let Some(t) = tensor(h, *i) {
                t["data_offsets"] = vec![*a, *b].into();
            }
        }),
        Mutation::Rename(i, name) => edit_header(bytes, &|h| {
            let names: Vec<String> = h.keys().filter(|k| *k != "__metadata__").cloned().collect();
            if let Some(old) = names.get(i % names.len().max(1))
                && let Some(t) = h.remove(old)
            {
                h.insert(name.clone(), t);
            }
        }),
        Mutation::Metadata(k, value) => edit_header(bytes, &|h| {
            if let Some(Value::Object(meta)) = h.get_mut("__metadata__") {
                match value {
                    Some(v) => meta.insert(KEYS[*k].to_string(), v.clone().into()),
                    None => meta.remove(KEYS[*k]),
                };
            }
        }),
        Mutation::Append(more) => bytes.extend_from_slice(more),
    }
}

#[test]
fn the_unchanged_checkpoints_load() {
    // The property tests below start from these: they must be valid to begin with.
    let _serial = counting::serial();
    let dir = prop_dir("valid");
    for text in [FULL_NET, PLAIN_NET] {
        let bytes = checkpoint(text).to_bytes().unwrap();
        let path = dir.join("hostile.safetensors");
        Checkpoint::from_bytes(&bytes, &path).unwrap();
        load_checked(&dir, bytes, true).unwrap();
    }
}

#[test]
fn random_bytes_never_panic_or_overallocate() {
    let _serial = counting::serial();
    let dir = prop_dir("random");
    proptest!(|(mut bytes in prop::collection::vec(any::<u8>(), 0..2048),
                header_len in prop::option::of(0u64..2048), from_file in any::<bool>())| {
        // Some cases get a plausible header length, to get past the first check.
        if let Some(n) = header_len && bytes.len() >= 8 {
            bytes[..8].copy_from_slice(&n.to_le_bytes());
        }
        load_checked(&dir, bytes, from_file).map_err(TestCaseError::fail)?;
    });
}

#[test]
fn damaged_checkpoints_never_panic_or_overallocate() {
    let _serial = counting::serial();
    let dir = prop_dir("damaged");
    let files = [
        checkpoint(FULL_NET).to_bytes().unwrap(),
        checkpoint(PLAIN_NET).to_bytes().unwrap(),
    ];
    proptest!(|(which in 0..2usize, mutations in prop::collection::vec(mutation(), 1..4),
                from_file in any::<bool>())| {
        let mut bytes = files[which].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        load_checked(&dir, bytes, from_file).map_err(TestCaseError::fail)?;
    });
}

#[test]
fn a_network_far_larger_than_the_file_is_refused_before_allocating() {
    // 1x16384x16384 images into a dense layer: 805 million parameters (3.2 GB) declared by a
    // file of a few kilobytes. Refused, naming the tensor the file lacks, allocating next to
    // nothing.
    let _serial = counting::serial();
    let dir = prop_dir("large");
    let mut bytes = checkpoint(PLAIN_NET).to_bytes().unwrap();
    for (key, value) in [
        (5, "1,16384,16384"),
        (2, "flatten\ndense classes\nsoftmax\nlr 0.01\n"),
    ] {
        apply(
            &mut bytes,
            &Mutation::Metadata(key, Some(value.to_string())),
        );
    }
    let path = dir.join("large.safetensors");
    std::fs::write(&path, &bytes).unwrap();
    let len = bytes.len();
    let (result, peak) = measured(move || Checkpoint::load(&path).map(|_| ()));
    let text = result.expect_err("the network loaded").to_string();
    assert!(
        text.contains("large.safetensors: has no tensor `1.weight`")
            && text.contains("expects (3, 268435456) for layer 1 (dense 3)"),
        "{text}"
    );
    assert!(
        peak < bound(len),
        "{peak} bytes allocated for a {len}-byte file"
    );
}
