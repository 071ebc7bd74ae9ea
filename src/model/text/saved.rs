//! Networks as checkpoints saved them: the text format as older versions wrote it, read so that
//! a resumed run goes on as it began.

use super::parse_network;
use crate::error::Result;
use crate::model::{Network, Schedule};

/// Parses a network as a checkpoint saved it. Checkpoints from before schedules could move every
/// step hold `schedule cosine` or `schedule onecycle` lines without `per=`: those runs moved
/// their rate once per epoch, and resume so (a network file without `per=` moves every step).
pub fn parse_saved_network(text: &str, origin: &str, name: &str) -> Result<Network> {
    let mut network = parse_network(text, origin, name)?;
    let says_per = text.lines().any(|line| {
        let content = line.split('#').next().unwrap_or("");
        content.trim_start().starts_with("schedule") && content.contains("per=")
    });
    if !says_per {
        match &mut network.training.schedule {
            Schedule::Cosine { per_step, .. } | Schedule::OneCycle { per_step, .. } => {
                *per_step = false;
            }
            Schedule::Constant | Schedule::Tunable { .. } | Schedule::Step { .. } => {}
        }
    }
    Ok(network)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::text::network_to_text;

    #[test]
    fn checkpoints_from_before_per_step_schedules_keep_moving_per_epoch() {
        let old = "flatten\ndense classes\nsoftmax\nschedule onecycle warmup=0.3\n";
        let net = parse_saved_network(old, "t", "t").unwrap();
        assert!(matches!(
            net.training.schedule,
            Schedule::OneCycle {
                per_step: false,
                ..
            }
        ));
        // What this version saves says which, and reads back as it was.
        let new = parse_network(old, "t", "t").unwrap();
        let saved = parse_saved_network(&network_to_text(&new), "t", "t").unwrap();
        assert_eq!(saved.training, new.training);
    }
}
