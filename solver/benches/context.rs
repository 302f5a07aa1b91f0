//! Build-context walk on a generated 100,000-file tree: the median of
//! several runs of `context::walk` (what `kiln context ls` does before
//! printing), beside `find DIR | LC_ALL=C sort` on the same tree as a peer.
//! Like `find`, the listing walk takes file types from the directory
//! entries; the `lstat` variant (what hashing and the stat cache use) is
//! shown beside it.
//!
//! Run: `cargo bench -p kiln-solver --bench context` (KILN_BENCH_FILES and
//! KILN_BENCH_RUNS change the size and the number of runs).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln_parser::ignore::Matcher;
use kiln_solver::context::{list, walk};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `files` files spread over two directory levels, 100 files a directory,
/// like a source tree with a `node_modules`-sized middle.
fn generate(root: &Path, files: usize) -> std::io::Result<()> {
    for i in 0..files {
        let dir = root.join(format!("d{:03}/s{:02}", i / 1000, (i / 100) % 10));
        if i % 100 == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        std::fs::write(dir.join(format!("file{i}.txt")), b"x")?;
    }
    Ok(())
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<F: FnMut() -> usize>(runs: usize, mut f: F) -> (Duration, usize) {
    let mut count = 0;
    let times = (0..runs)
        .map(|_| {
            let start = Instant::now();
            count = f();
            start.elapsed()
        })
        .collect();
    (median(times), count)
}

fn find_sort(root: &Path) -> usize {
    let mut find = Command::new("find")
        .arg(root)
        .stdout(Stdio::piped())
        .spawn()
        .expect("find runs");
    let out = Command::new("sort")
        .env("LC_ALL", "C")
        .stdin(find.stdout.take().expect("find stdout"))
        .output()
        .expect("sort runs");
    find.wait().expect("find exits");
    out.stdout.iter().filter(|&&b| b == b'\n').count()
}

fn main() {
    let files = env_usize("KILN_BENCH_FILES", 100_000);
    let runs = env_usize("KILN_BENCH_RUNS", 7);
    let dir = tempfile::tempdir().expect("temp dir");
    generate(dir.path(), files).expect("generate tree");
    let none = Matcher::default();
    let ignore = Matcher::parse(".dockerignore", "**/*.log\nd00*\n!d001/s05\n").expect("patterns");

    let (walk_plain, n) = time(runs, || list(dir.path(), &none).expect("walk").len());
    let (walk_ignore, m) = time(runs, || list(dir.path(), &ignore).expect("walk").len());
    let (walk_stat, _) = time(runs, || walk(dir.path(), &none).expect("walk").len());
    let (find, f) = time(runs, || find_sort(dir.path()));
    let ratio = walk_plain.as_secs_f64() / find.as_secs_f64();
    let threads = rayon::current_num_threads();
    println!("context walk, {files} files, median of {runs} runs, {threads} threads");
    println!(
        "  walk, no ignore file     {:>8.1} ms  {n} entries",
        ms(walk_plain)
    );
    println!(
        "  walk, 3-line ignore file {:>8.1} ms  {m} entries",
        ms(walk_ignore)
    );
    println!("  walk, lstat every path   {:>8.1} ms", ms(walk_stat));
    println!("  find DIR | LC_ALL=C sort {:>8.1} ms  {f} lines", ms(find));
    println!("  ratio walk / find|sort   {ratio:>8.2}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
