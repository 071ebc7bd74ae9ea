//! Network files as a hostile or careless user writes them: every mistake is a clear error
//! naming the file, line and column and what was expected (never a panic, a hang or a network
//! trained on a nonsense value), and whatever parses reads back unchanged from its text.

#[path = "common/cli.rs"]
mod cli_common;
mod common;

use cli_common::{s, shadernet};
use common::temp_dir;
use proptest::prelude::*;
use shadernet::model::recipe::{MAX_BATCH, MAX_EPOCHS};
use shadernet::model::spec::MAX_LAYERS;
use shadernet::model::text::{MAX_FILE_BYTES, MAX_SIZE};
use shadernet::model::{
    Layer, Network, PRESET_NAMES, Shape, network_to_text, parse_network, parse_network_bytes,
    preset,
};
use std::sync::mpsc;
use std::time::Duration;

/// The message of parsing `text` as `net.txt`, which must fail.
fn error(text: &str) -> String {
    match parse_network(text, "net.txt", "net") {
        Ok(net) => panic!("{text:?} parsed: {:?}", net.layers),
        Err(e) => e.to_string(),
    }
}

/// A network that parses, to which a test adds one line (line 4).
const BASE: &str = "flatten\ndense classes\nsoftmax\n";

/// `f(input)` on another thread; fails if it takes more than a minute (a hang: parsing is
/// linear and takes milliseconds for these sizes, so this is no timing assertion).
fn within_a_minute<T: Send + 'static, R: Send + 'static>(input: T, f: fn(T) -> R) -> R {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || send.send(f(input)));
    receive
        .recv_timeout(Duration::from_secs(60))
        .expect("parsing a few megabytes took over a minute: it is not linear")
}

#[test]
fn multi_megabyte_lines_parse_in_linear_time() {
    // 800,000 words on one line (4 MB): each word's column used to be recounted from the
    // start of the line, about 10^12 steps; now the line is refused at its 33rd word.
    let words = "relu ".repeat(800_000);
    let message = within_a_minute(words, |text| error(&text));
    assert_eq!(
        message,
        "net.txt:1:166: more than 32 words after `relu`: a line is one layer or setting"
    );

    // Few words, far apart: columns are counted in one walk, and right.
    let gap = " ".repeat(2 << 20);
    let text = format!("conv{gap}8{gap}kernel=x\n");
    let message = within_a_minute(text, |text| error(&text));
    let column = 4 + 2 * (2 << 20) + 1 + 1 + 7;
    assert_eq!(
        message,
        format!("net.txt:1:{column}: kernel expects a whole number from 1 to 1048576, found `x`")
    );

    // A valid network whose first line is 4 MB of spaces and comment.
    let text = format!(
        "flatten{}# {}\n{BASE}",
        " ".repeat(2 << 20),
        "x".repeat(2 << 20)
    );
    let net = within_a_minute(text, |text| parse_network(&text, "net.txt", "net"));
    assert_eq!(net.unwrap().layers.len(), 4);

    // 16 MiB of short lines (what a file may hold): linear too.
    let text = format!("{BASE}{}", "lr 0.1\n".repeat(2 << 20));
    let net = within_a_minute(text, |text| parse_network(&text, "net.txt", "net"));
    assert_eq!(net.unwrap().training.lr, 0.1);
}

#[test]
fn a_repeated_option_is_called_repeated() {
    assert_eq!(
        error("conv 8 kernel=5 kernel=3\n"),
        "net.txt:1:17: option `kernel` is repeated (first given at column 8): give each option once"
    );
    assert_eq!(
        error(&format!(
            "{BASE}early_stopping patience=3 monitor=training patience=4\n"
        )),
        "net.txt:4:44: option `patience` is repeated (first given at column 16): give each option \
         once"
    );
}

#[test]
fn a_stray_equals_sign_says_what_is_wrong() {
    let how = "a value follows its keyword after a space (`lr 0.1`), and an option is written \
               key=value with no spaces around `=`";
    assert_eq!(
        error(&format!("{BASE}lr = 0.1\n")),
        format!("net.txt:4:4: a stray `=`: {how}")
    );
    assert_eq!(
        error("conv 8 kernel=3 =5\n"),
        format!("net.txt:1:17: `=5` has no option name before `=`: {how}")
    );
    assert_eq!(
        error(&format!("{BASE} = 3\n")),
        "net.txt:4:2: a stray `=`: a line starts with a layer or a setting, e.g. `conv 8 kernel=3`"
    );
    assert_eq!(
        error("kernel=3 conv 8\n"),
        "net.txt:1:1: the option `kernel=3` comes before any keyword: a line starts with a layer \
         or a setting, e.g. `conv 8 kernel=3`"
    );
    assert_eq!(
        error("conv 8 kernel= 3\n"),
        format!("net.txt:1:15: option `kernel` has no value after `=`: {how}")
    );
}

#[test]
fn a_byte_order_mark_is_skipped_and_invisible_characters_show() {
    let net = parse_network(&format!("\u{feff}{BASE}"), "net.txt", "net").unwrap();
    assert_eq!(net.layers.len(), 3);
    assert!(
        error("\u{feff}sigmoid\n").starts_with("net.txt:1:1: unknown keyword `sigmoid`;"),
        "{}",
        error("\u{feff}sigmoid\n")
    );
    // Elsewhere an invisible character is shown, not silently part of a word.
    assert!(
        error("flatten\u{200b}\n").starts_with("net.txt:1:1: unknown keyword `flatten\\u{200b}`;"),
        "{}",
        error("flatten\u{200b}\n")
    );
}

#[test]
fn bytes_that_are_not_utf8_are_refused_with_their_line_and_column() {
    let message = |bytes: &[u8]| {
        parse_network_bytes(bytes, "net.txt", "net")
            .unwrap_err()
            .to_string()
    };
    let expected = "byte 0xFF is not UTF-8 text: a network file is plain text (UTF-8 or ASCII)";
    assert_eq!(
        message(b"flatten\ndense cl\xffasses\n"),
        format!("net.txt:2:9: {expected}")
    );
    // Columns count characters, and a byte-order mark is not one.
    assert_eq!(
        message(
            "\u{feff}conv 8 # é"
                .as_bytes()
                .iter()
                .chain(b"\xff")
                .copied()
                .collect::<Vec<_>>()
                .as_slice()
        ),
        format!("net.txt:1:11: {expected}")
    );
    // The same file through the binary: exit 1, the message, the file untouched.
    let dir = temp_dir("netfile-utf8");
    let file = dir.join("net.txt");
    let bytes = b"flatten\ndense cl\xffasses\nsoftmax\n";
    std::fs::write(&file, bytes).unwrap();
    let (code, _, stderr) = shadernet(&["models", s(&file)]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("net.txt:2:9: {expected}")),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    // And a file with a byte-order mark is accepted there too.
    std::fs::write(&file, format!("\u{feff}{BASE}")).unwrap();
    let (code, _, stderr) = shadernet(&["models", s(&file)]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn echoes_of_the_users_text_are_cut() {
    let long = "x".repeat(10 << 20);
    let cut = format!("{}…", "x".repeat(40));
    let message = error(&long);
    assert!(
        message.starts_with(&format!(
            "net.txt:1:1: unknown keyword `{cut}`; expected a layer"
        )),
        "{}",
        &message[..200]
    );
    assert!(message.len() < 400, "{} bytes", message.len());
    assert_eq!(
        error(&format!("dense {}\n", "9".repeat(1 << 20))),
        format!(
            "net.txt:1:7: expected a number of units from 1 to {MAX_SIZE} or `classes`, found `{}…`",
            "9".repeat(40)
        )
    );
    assert_eq!(
        error(&format!("{BASE}init {}\n", "é".repeat(100))),
        format!(
            "net.txt:4:6: expected an initialiser (uniform, glorot, he), found `{}…`",
            "é".repeat(40)
        )
    );
}

#[test]
fn every_training_number_is_range_checked() {
    let cases = [
        ("lr 0", "learning rate must be a positive number, got 0"),
        ("lr inf", "learning rate must be a positive number, got inf"),
        ("lr NaN", "learning rate must be a positive number, got NaN"),
        ("batch 0", "batch size must be from 1 to 65536, got 0"),
        (
            "batch 65537",
            "batch size must be from 1 to 65536, got 65537",
        ),
        ("epochs 0", "epochs must be from 1 to 100000, got 0"),
        (
            "epochs 100001",
            "epochs must be from 1 to 100000, got 100001",
        ),
        (
            "optimizer adam epsilon=inf",
            "Adam's epsilon must be in (0, 1], got inf",
        ),
        (
            "optimizer adam epsilon=0",
            "Adam's epsilon must be in (0, 1], got 0",
        ),
        (
            "optimizer adam beta1=1",
            "Adam's beta1 must be in [0, 1), got 1",
        ),
        (
            "optimizer adam beta2=nan",
            "Adam's beta2 must be in [0, 1), got NaN",
        ),
        (
            "optimizer adam beta2=-0.5",
            "Adam's beta2 must be in [0, 1), got -0.5",
        ),
        (
            "augment 1.5",
            "augmentation chance must be in [0, 1], got 1.5",
        ),
        (
            "augment 1 translate=1e30",
            "augmentation range translate must be in [0, 100] pixels, got 1e30",
        ),
        (
            "augment 1 translate=-1",
            "augmentation range translate must be in [0, 100] pixels, got -1",
        ),
        (
            "augment 1 elastic=101",
            "augmentation range elastic must be in [0, 100] pixels, got 101",
        ),
        (
            "augment 1 elastic=nan",
            "augmentation range elastic must be in [0, 100] pixels, got NaN",
        ),
        (
            "augment 1 elastic=-inf",
            "augmentation range elastic must be in [0, 100] pixels, got -inf",
        ),
        (
            "augment 1 rotation=inf",
            "augmentation range rotation must be in [0, 180] degrees, got inf",
        ),
        (
            "augment 1 scale_x=1",
            "augmentation range scale_x must be in [0, 1), got 1",
        ),
        (
            "augment 1 zoom=nan",
            "augmentation range zoom must be in [0, 1), got NaN",
        ),
        (
            "early_stopping min_delta_rel=nan",
            "early stopping needs min_delta_rel in [0, 1) (a relative improvement), got NaN",
        ),
        (
            "early_stopping min_delta_rel=-5",
            "early stopping needs min_delta_rel in [0, 1) (a relative improvement), got -5",
        ),
        (
            "early_stopping patience=0",
            "early stopping needs patience from 1 to 100000 epochs, got 0",
        ),
        ("ema 1", "ema needs a decay in (0, 1), got 1"),
        ("ema -1e-30", "ema needs a decay in (0, 1), got -1e-30"),
        ("weight_decay 1", "weight decay must be in [0, 1), got 1"),
        (
            "weight_decay -0.01",
            "weight decay must be in [0, 1), got -0.01",
        ),
        (
            "weight_decay nan",
            "weight decay must be in [0, 1), got NaN",
        ),
        (
            "loss cross_entropy smoothing=-0.1",
            "label smoothing must be in [0, 1) and goes with the cross-entropy loss, got -0.1",
        ),
        (
            "schedule step every=0",
            "the step schedule needs every from 1 to 100000 and 0 < factor <= 1, got every=0 \
             factor=0.5",
        ),
        (
            "schedule step factor=nan",
            "the step schedule needs every from 1 to 100000 and 0 < factor <= 1, got every=10 \
             factor=NaN",
        ),
        (
            "schedule tunable halve_after=0",
            "the tunable schedule needs halve_after from 1 to 100000, got 0",
        ),
        (
            "schedule tunable fast_after=100001",
            "the tunable schedule needs fast_after from 0 to 100000, got 100001",
        ),
        (
            "schedule cosine warmup=100001",
            "the cosine schedule needs warmup from 0 to 100000 epochs, got 100001",
        ),
        (
            "schedule onecycle warmup=1",
            "the one-cycle schedule needs 0 < warmup < 1 (a fraction of the epochs), got 1",
        ),
    ];
    assert_eq!((MAX_EPOCHS, MAX_BATCH), (100_000, 65_536));
    for (line, expected) in cases {
        assert_eq!(
            error(&format!("{BASE}  {line}\n")),
            format!("net.txt:4:3: {expected}"),
            "{line}"
        );
    }
    // The edges themselves are accepted.
    for line in [
        "batch 65536",
        "epochs 100000",
        "optimizer adam beta1=0 beta2=0.999999 epsilon=1",
        "augment 1 rotation=180 translate=100 scale_x=0 zoom=0.99 elastic=100",
        "early_stopping patience=1 min_delta_rel=0",
        "schedule tunable halve_after=100000 fast_after=0",
    ] {
        parse_network(&format!("{BASE}{line}\n"), "net.txt", "net").expect(line);
    }
}

#[test]
fn every_layer_size_is_range_checked() {
    let cases = [
        (
            "conv 0",
            "1:6: expected a number of filters from 1 to 1048576, found `0`",
        ),
        (
            "conv 1048577",
            "1:6: expected a number of filters from 1 to 1048576, found `1048577`",
        ),
        (
            "conv 8 kernel=0",
            "1:15: kernel expects a whole number from 1 to 1048576, found `0`",
        ),
        (
            "conv 8 stride=99999999999999999999999",
            "1:15: stride expects a whole number from 1 to 1048576, found `99999999999999999999999`",
        ),
        (
            "conv 8 kernel=3 padding=-1",
            "1:25: padding expects a whole number from 0 to 1048576, `same` or `valid`, found `-1`",
        ),
        (
            "maxpool 0",
            "1:9: expected a window size from 1 to 1048576, found `0`",
        ),
        (
            "maxpool 2 stride=0",
            "1:18: stride expects a whole number from 1 to 1048576, found `0`",
        ),
        (
            "flatten\ndense 0",
            "2:7: expected a number of units from 1 to 1048576 or `classes`, found `0`",
        ),
        (
            "flatten\ndense 10000000000000",
            "2:7: expected a number of units from 1 to 1048576 or `classes`, found \
             `10000000000000`",
        ),
        ("dropout 1", "1:9: dropout rate must be in [0, 1), got 1"),
        (
            "dropout nan",
            "1:9: dropout rate must be in [0, 1), got nan",
        ),
        (
            "dropout -0.5",
            "1:9: dropout rate must be in [0, 1), got -0.5",
        ),
    ];
    assert_eq!(MAX_SIZE, 1 << 20);
    for (text, expected) in cases {
        assert_eq!(error(text), format!("net.txt:{expected}"), "{text}");
    }
}

#[test]
fn same_padding_is_refused_for_even_kernels() {
    assert_eq!(
        error("conv 8 kernel=4 padding=same\n"),
        "net.txt:1:25: `padding=same` keeps the size only for an odd kernel, and kernel=4 is \
         even: use an odd kernel or an explicit padding (e.g. padding=2)"
    );
    // `same` is the default, so an even kernel without a padding is refused too.
    assert_eq!(
        error("conv 8 kernel=2\n"),
        "net.txt:1:15: the default padding, `same`, keeps the size only for an odd kernel, and \
         kernel=2 is even: use an odd kernel or an explicit padding (e.g. padding=1)"
    );
    // Odd kernels keep the size; an even kernel with an explicit padding is the user's choice.
    let mnist = Shape::Image { c: 1, h: 28, w: 28 };
    let output = |conv: &str| {
        let text = format!("{conv}\nflatten\ndense classes\nsoftmax\n");
        let plan = parse_network(&text, "net.txt", "net")
            .unwrap()
            .plan(mnist, 10)
            .unwrap();
        plan.layers[0].output
    };
    let image = |h| Shape::Image { c: 8, h, w: h };
    assert_eq!(output("conv 8 kernel=3 padding=same"), image(28));
    assert_eq!(output("conv 8 kernel=5"), image(28));
    assert_eq!(output("conv 8 kernel=4 padding=1"), image(27));
}

#[test]
fn the_number_of_layers_is_capped() {
    // 100,000 `relu` lines used to build 100,000 layers and need 5.5 GB at the first step.
    let text = "relu\n".repeat(100_000);
    assert_eq!(
        error(&text),
        "net.txt:1001:1: too many layers: a network has at most 1000, and this line is layer 1001"
    );
    let most = format!("{}{BASE}", "relu\n".repeat(MAX_LAYERS - 3));
    let net = parse_network(&most, "net.txt", "net").unwrap();
    assert_eq!(net.layers.len(), MAX_LAYERS);
    // A network built in code is held to the same cap when planned.
    let mut too_many = net.clone();
    too_many.layers.insert(0, Layer::Flatten);
    let mnist = Shape::Image { c: 1, h: 28, w: 28 };
    assert_eq!(
        too_many.plan(mnist, 10).unwrap_err().to_string(),
        "network `net`: it has 1001 layers, more than the 1000 a network may have"
    );
}

#[test]
fn oversized_files_and_devices_are_refused_before_they_fill_memory() {
    let dir = temp_dir("netfile-big");
    let file = dir.join("huge.txt");
    let mut text = BASE.to_string();
    text.push_str(&"# padding\n".repeat((MAX_FILE_BYTES as usize) / 10 + 1));
    std::fs::write(&file, &text).unwrap();
    let (code, _, stderr) = shadernet(&["models", s(&file)]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("huge.txt: a network file holds at most 16 MiB, and this one is larger"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    if std::path::Path::new("/dev/zero").exists() {
        let (code, _, stderr) = shadernet(&["models", "/dev/zero"]);
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains("/dev/zero: is a device, not a regular file, expected a network file"),
            "{stderr}"
        );
    }
}

/// Words a network file is made of, right and wrong, for the token soup.
const TOKENS: &[&str] = &[
    "conv",
    "dense",
    "maxpool",
    "dropout",
    "flatten",
    "relu",
    "tanh",
    "batchnorm",
    "softmax",
    "loss",
    "optimizer",
    "lr",
    "batch",
    "epochs",
    "init",
    "schedule",
    "augment",
    "ema",
    "weight_decay",
    "early_stopping",
    "classes",
    "adam",
    "sgd",
    "mse",
    "cross_entropy",
    "he",
    "glorot",
    "uniform",
    "constant",
    "tunable",
    "step",
    "cosine",
    "onecycle",
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "-1",
    "0.5",
    "0.999",
    "1e30",
    "-0",
    "nan",
    "inf",
    "-inf",
    "1048576",
    "1048577",
    "99999999999999999999",
    "=",
    "=5",
    "kernel=3",
    "kernel=4",
    "kernel=",
    "stride=2",
    "padding=same",
    "padding=valid",
    "padding=1",
    "smoothing=0.1",
    "beta1=0.5",
    "epsilon=inf",
    "halve_after=2",
    "fast_after=3",
    "every=2",
    "factor=0.5",
    "warmup=0.3",
    "warmup=2",
    "per=step",
    "per=epoch",
    "rotation=10",
    "translate=1e30",
    "zoom=0.1",
    "elastic=2",
    "elastic=-3",
    "patience=2",
    "min_delta_rel=nan",
    "monitor=training",
    "monitor=x",
    "#",
    "\u{feff}",
    "\u{200b}",
    "é",
    "\t",
    "\n",
    "\r\n",
];

proptest! {
    // 256 cases each by default; PROPTEST_CASES=N runs more on demand.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_network_bytes(&bytes, "net.txt", "net");
    }

    #[test]
    fn token_soup_never_panics_and_what_parses_round_trips(
        tokens in proptest::collection::vec(
            (proptest::sample::select(TOKENS), prop_oneof![Just(" "), Just("\n")]),
            0..60,
        )
    ) {
        let text: String = tokens.iter().flat_map(|(t, sep)| [*t, *sep]).collect();
        if let Ok(net) = parse_network(&text, "net.txt", "net") {
            round_trips(&net)?;
            // Whatever parses also plans or says why, without panicking.
            let _ = net.plan(Shape::Image { c: 1, h: 28, w: 28 }, 10);
        }
    }
}

/// `net` reads back from its text unchanged.
fn round_trips(net: &Network) -> Result<(), TestCaseError> {
    let text = network_to_text(net);
    let back = parse_network(&text, "net.txt", &net.name)
        .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    prop_assert_eq!(&back.layers, &net.layers, "{}", text);
    prop_assert_eq!(&back.training, &net.training, "{}", text);
    Ok(())
}

#[test]
fn every_preset_round_trips_through_text() {
    for name in PRESET_NAMES {
        let net = preset(name).unwrap();
        round_trips(&net).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
