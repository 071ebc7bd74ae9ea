//! `train --seeds`: the seeds' parsing, one run per seed, and the summary (each seed's test
//! error, their mean and standard deviation, the ensemble's test error, `summary.json`).

use super::{TrainArgs, run_train};
use crate::cli::common::load_test_data;
use crate::cli::evaluate::{evaluate_ensemble, load_ensemble};
use crate::cli::output::outln;
use serde::Serialize;
use shadernet::error::{Error, Result};
use shadernet::model::load_network;
use shadernet::run::atomic::write_atomic;
use shadernet::run::rundir::{BEST, LAST, RunDir, to_json};
use std::path::PathBuf;

/// The seeds of `--seeds`: ranges `a-b` and single seeds, separated by commas, in order.
fn parse_seeds(spec: &str) -> Result<Vec<u64>> {
    let bad = || {
        Error::Config(format!(
            "--seeds expects seeds and ranges separated by commas, e.g. 1-3 or 1,4,7, got `{spec}`"
        ))
    };
    let mut seeds = Vec::new();
    for part in spec.split(',') {
        let part = part.trim();
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ),
            None => {
                let s: u64 = part.parse().map_err(|_| bad())?;
                (s, s)
            }
        };
        if from > to || to - from >= 1000 {
            return Err(bad());
        }
        seeds.extend(from..=to);
    }
    let mut unique = seeds.clone();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != seeds.len() {
        return Err(Error::Config(format!(
            "--seeds names a seed twice: `{spec}`"
        )));
    }
    Ok(seeds)
}

/// `summary.json` of `--seeds`.
#[derive(Serialize)]
struct SeedsSummary {
    network: String,
    seeds: Vec<SeedRun>,
    mean_test_error: f64,
    std_test_error: f64,
    ensemble_test_error: f64,
}

/// One seed's line of [`SeedsSummary`].
#[derive(Serialize)]
struct SeedRun {
    seed: u64,
    test_error: f64,
    training_seconds: f64,
    run: String,
}

/// `train --seeds`: one run per seed under one directory, then the summary.
pub(super) fn run_seeds(args: TrainArgs, spec: &str) -> Result<()> {
    let seeds = parse_seeds(spec)?;
    let name = load_network(args.model.as_deref().unwrap_or("fast"))?.name;
    let parent = args
        .out
        .clone()
        .unwrap_or_else(|| RunDir::default_path(&name));
    // Every run is new: the parent too is absent or empty, so a repeated --seeds into the same
    // --out is refused here, before anything trains. (Two started at the same moment both
    // pass, and then meet at seed-N's lock or emptiness check: one of them stops there.)
    if let Some((listed, _)) = RunDir::contents(&parent)? {
        return Err(Error::Config(format!(
            "--out {}: the directory is not empty ({listed}); --seeds writes its runs \
             (seed-N) only into an absent or empty directory: choose another --out (one seed's \
             run continues with `--resume {}`)",
            parent.display(),
            parent.join("seed-N").display()
        )));
    }
    let mut runs = Vec::with_capacity(seeds.len());
    for &seed in &seeds {
        let one = TrainArgs {
            seed: Some(seed),
            seeds: None,
            out: Some(parent.join(format!("seed-{seed}"))),
            ..args.clone()
        };
        runs.push(run_train(one)?);
    }
    // Each run's best epoch by its watched error; a run that watched none (no validation split)
    // writes no best.safetensors, and its model is the last epoch's.
    let paths: Vec<PathBuf> = runs
        .iter()
        .map(|r| {
            Some(r.run.join(BEST))
                .filter(|b| b.exists())
                .unwrap_or_else(|| r.run.join(LAST))
        })
        .collect();
    let checkpoints = load_ensemble(&paths)?;
    let data_dir = PathBuf::from(&checkpoints[0].data);
    let test = load_test_data(&data_dir, checkpoints[0].classes)?;
    let ensemble = evaluate_ensemble(&checkpoints, &args.executor, &test, false)?;
    let errors: Vec<f64> = runs.iter().map(|r| r.test_error).collect();
    let n = errors.len() as f64;
    let mean = errors.iter().sum::<f64>() / n;
    // The sample standard deviation (n − 1), 0 for one seed.
    let std = if errors.len() > 1 {
        (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    for (seed, run) in seeds.iter().zip(&runs) {
        outln!(
            "seed {seed}: test error {:.2}% | {:.1} s of training | {}",
            100.0 * run.test_error,
            run.training_seconds,
            run.run.display()
        );
    }
    let summary = SeedsSummary {
        network: runs[0].network.clone(),
        seeds: seeds
            .iter()
            .zip(&runs)
            .map(|(&seed, r)| SeedRun {
                seed,
                test_error: r.test_error,
                training_seconds: r.training_seconds,
                run: r.run.display().to_string(),
            })
            .collect(),
        mean_test_error: mean,
        std_test_error: std,
        ensemble_test_error: ensemble.ensemble,
    };
    let summary_path = parent.join("summary.json");
    write_atomic(
        &summary_path,
        format!("{}\n", to_json(&summary)?).as_bytes(),
    )?;
    outln!(
        "{}, seeds {spec}: ensemble of {} test error {:.2}% | seeds' mean {:.2}% ± {:.2}% | {}",
        summary.network,
        seeds.len(),
        100.0 * ensemble.ensemble,
        100.0 * mean,
        100.0 * std,
        summary_path.display()
    );
    Ok(())
}
