//! `shadernet bench` prints one JSON object per row with the documented fields.

use std::process::Command;

#[test]
fn bench_json_rows_have_the_documented_fields() {
    let out = Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .args([
            "bench",
            "--model",
            "seed3",
            "--model",
            "fast",
            "--batch-size",
            "4",
        ])
        .args([
            "--backend",
            "cpu",
            "--steps",
            "2",
            "--repeats",
            "1",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    for (row, model) in rows.iter().zip(["seed3", "fast"]) {
        assert!(row.starts_with('{') && row.ends_with('}'), "{row}");
        assert!(row.contains(&format!("\"model\":\"{model}\"")), "{row}");
        assert!(row.contains("\"batch\":4"), "{row}");
        for field in ["backend", "images_per_s", "ms_per_step", "gflops"] {
            assert!(
                row.contains(&format!("\"{field}\":")),
                "{field} missing: {row}"
            );
        }
        let images_per_s: f64 = row
            .split("\"images_per_s\":")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(images_per_s > 0.0);
    }
}

#[test]
fn bench_rejects_a_zero_batch() {
    let out = Command::new(env!("CARGO_BIN_EXE_shadernet"))
        .args(["bench", "--batch-size", "0", "--backend", "cpu"])
        .output()
        .unwrap();
    // Refused as the command line is parsed, with the range (cli_flags.rs has the others).
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid value '0' for '--batch-size")
            && stderr.contains("from 1 to 65536"),
        "{stderr}"
    );
}
