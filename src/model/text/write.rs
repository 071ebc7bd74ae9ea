//! The writer: a network back as text, every setting spelled out, so that the parser reads it
//! back unchanged.

use crate::model::{Init, Loss, MatmulPrecision, Monitor, Network, Optimizer, Schedule};

/// How a schedule's `per` option spells `per_step`.
fn unit(per_step: bool) -> &'static str {
    if per_step { "step" } else { "epoch" }
}

/// Writes `network` in the text format, so that [`parse_network`](super::parse_network) reads it back unchanged.
pub fn network_to_text(network: &Network) -> String {
    // One comment line: a line break in the name (a file name may hold one) or the description
    // would end the comment and make the rest a line of the network.
    let one_line = |text: &str| text.replace(['\n', '\r'], " ");
    let mut out = format!(
        "# {}: {}\n",
        one_line(&network.name),
        one_line(&network.description)
    );
    for layer in &network.layers {
        out += &format!("{layer}\n");
    }
    let t = &network.training;
    out += &match (t.loss, t.label_smoothing) {
        (Loss::Mse, _) => "loss mse\n".to_string(),
        (Loss::CrossEntropy, s) if s > 0.0 => format!("loss cross_entropy smoothing={s}\n"),
        (Loss::CrossEntropy, _) => "loss cross_entropy\n".to_string(),
    };
    out += &match t.optimizer {
        Optimizer::Sgd => "optimizer sgd\n".to_string(),
        Optimizer::Adam {
            beta1,
            beta2,
            epsilon,
        } => format!("optimizer adam beta1={beta1} beta2={beta2} epsilon={epsilon:e}\n"),
    };
    out += &format!("lr {}\nbatch {}\nepochs {}\n", t.lr, t.batch_size, t.epochs);
    out += match t.init {
        Init::Uniform => "init uniform\n",
        Init::Glorot => "init glorot\n",
        Init::He => "init he\n",
    };
    out += &match t.schedule {
        Schedule::Constant => "schedule constant\n".to_string(),
        Schedule::Tunable {
            halve_after,
            fast_after,
        } => format!(
            "schedule tunable halve_after={halve_after}{}\n",
            fast_after.map_or(String::new(), |f| format!(" fast_after={f}"))
        ),
        Schedule::Step { every, factor } => {
            format!("schedule step every={every} factor={factor}\n")
        }
        Schedule::Cosine { warmup, per_step } => {
            format!("schedule cosine warmup={warmup} per={}\n", unit(per_step))
        }
        Schedule::OneCycle { warmup, per_step } => {
            format!("schedule onecycle warmup={warmup} per={}\n", unit(per_step))
        }
    };
    let r = &t.augment_ranges;
    out += &format!(
        "augment {} scale_x={} scale_y={} rotation={} zoom={} translate={}",
        t.augment, r.scale_x, r.scale_y, r.rotation_degrees, r.zoom, r.translate_px
    );
    // Written only when set, so files (and checkpoints) without it read as before.
    if r.elastic_px != 0.0 {
        out += &format!(" elastic={}", r.elastic_px);
    }
    out += "\n";
    if let Some(decay) = t.ema {
        out += &format!("ema {decay}\n");
    }
    // Written only when set, so files (and checkpoints) without it read as before.
    if t.weight_decay != 0.0 {
        out += &format!("weight_decay {}\n", t.weight_decay);
    }
    if t.matmul_precision == MatmulPrecision::Bf16 {
        out += "matmul_precision bf16\n";
    }
    if let Some(es) = t.early_stopping {
        out += &format!(
            "early_stopping patience={} min_delta_rel={} monitor={}\n",
            es.patience,
            es.min_delta_rel,
            match es.monitor {
                Monitor::Validation => "validation",
                Monitor::Training => "training",
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::presets::{PRESET_NAMES, preset};
    use crate::model::text::parse_network;

    #[test]
    fn every_preset_round_trips_through_text() {
        for name in PRESET_NAMES {
            let net = preset(name).unwrap();
            let text = network_to_text(&net);
            let back = parse_network(&text, "test", name).unwrap();
            assert_eq!(back.layers, net.layers, "{name}\n{text}");
            assert_eq!(back.training, net.training, "{name}\n{text}");
        }
    }

    #[test]
    fn every_schedule_and_monitor_round_trips_through_text() {
        for schedule in [
            "schedule constant",
            "schedule tunable halve_after=4 fast_after=12",
            "schedule step every=3 factor=0.25",
            "schedule cosine warmup=2 per=epoch",
            "schedule cosine warmup=2 per=step",
            "schedule onecycle warmup=0.4 per=step",
            "schedule onecycle warmup=0.4 per=epoch",
            "early_stopping patience=3 min_delta_rel=0.01 monitor=training",
            "loss cross_entropy smoothing=0.1",
            "ema 0.999",
            "weight_decay 0.05",
            "matmul_precision bf16",
        ] {
            let net = parse_network(
                &format!("flatten\ndense classes\nsoftmax\n{schedule}\n"),
                "t",
                "t",
            )
            .unwrap();
            let again = parse_network(&network_to_text(&net), "t", "t").unwrap();
            assert_eq!(again.training, net.training, "{schedule}");
            assert!(network_to_text(&net).contains(schedule), "{schedule}");
        }
    }
}
