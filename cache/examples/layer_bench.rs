//! Drives `layer::diff` and `layer::apply` for bench/layer.sh, which runs
//! GNU tar, zstd and gzip on the same tree and prints the ratios.
//!
//! layer_bench diff DIR none|gzip|zstd OUT
//! layer_bench apply TAR TARGET

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use kiln_cache::compression::{default_threads, Compression};
use kiln_cache::layer::{apply, diff, DiffOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["diff", dir, compression, out] => run_diff(dir, compression, out),
        ["apply", tar, target] => run_apply(tar, target),
        _ => Err("usage: layer_bench diff DIR none|gzip|zstd OUT | apply TAR TARGET".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("layer_bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_diff(dir: &str, compression: &str, out: &str) -> Result<(), Box<dyn std::error::Error>> {
    let opts = DiffOptions {
        source_date_epoch: Some(0),
        compression: compression.parse::<Compression>()?,
        threads: default_threads(),
    };
    let start = Instant::now();
    let sink = BufWriter::with_capacity(1 << 20, File::create(out)?);
    let (_, digests) = diff(Path::new(dir), sink, &opts)?;
    let secs = start.elapsed().as_secs_f64();
    println!("{:.3} {} {}", secs, digests.uncompressed_size, digests.size);
    Ok(())
}

fn run_apply(tar: &str, target: &str) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let applied = apply(File::open(tar)?, Path::new(target))?;
    println!(
        "{:.3} {}",
        start.elapsed().as_secs_f64(),
        applied.uncompressed_size
    );
    Ok(())
}
