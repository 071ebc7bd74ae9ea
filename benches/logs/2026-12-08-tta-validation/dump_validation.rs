// Writes the held-out validation split of a seed as t10k IDX files (run as a cargo example:
// copy to examples/, `cargo run --release --example dump_validation -- DATA 10000 SEED OUT`).
use shadernet::data::load_dir;
use std::io::Write;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, count, seed, out) = (
        &args[1],
        args[2].parse().unwrap(),
        args[3].parse().unwrap(),
        &args[4],
    );
    let data = load_dir(std::path::Path::new(dir)).unwrap();
    let (_, val) = data.train.split_validation(count, seed).unwrap();
    std::fs::create_dir_all(out).unwrap();
    let n = val.len() as u32;
    let mut f = std::fs::File::create(format!("{out}/t10k-images-idx3-ubyte")).unwrap();
    for v in [0x803u32, n, val.height as u32, val.width as u32] {
        f.write_all(&v.to_be_bytes()).unwrap();
    }
    f.write_all(&val.images).unwrap();
    let mut f = std::fs::File::create(format!("{out}/t10k-labels-idx1-ubyte")).unwrap();
    for v in [0x801u32, n] {
        f.write_all(&v.to_be_bytes()).unwrap();
    }
    f.write_all(&val.labels).unwrap();
    println!(
        "{} images, label sum {}",
        n,
        val.labels.iter().map(|&l| l as u64).sum::<u64>()
    );
}
