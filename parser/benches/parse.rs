//! Parse throughput (MB/s): the real-world corpus, and a generated
//! 10,000-instruction Dockerfile. Run with `cargo bench -p kiln-parser`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/conformance/realworld");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("realworld corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect()
}

/// 10,000 instructions of every common kind, with continuations, heredocs,
/// flags and JSON forms.
fn generated() -> Vec<u8> {
    let mut out = String::from("# syntax=docker/dockerfile:1\nARG BASE=alpine:3.20\n");
    let kinds = [
        "FROM --platform=$BUILDPLATFORM ${BASE} AS stage{i}\n",
        "RUN --mount=type=cache,target=/var/cache/apk apk add --no-cache \\\n    curl git \\\n    make # {i}\n",
        "COPY --from=stage{i} --chown=1000:1000 --chmod=0755 /src/{i} /dst/{i}\n",
        "ENV A{i}=1 B{i}=\"two words\" C{i}=three\n",
        "LABEL org.example.n{i}=\"{i}\" version=1.0\n",
        "RUN <<EOF\necho {i}\nls /\nEOF\n",
        "CMD [\"/bin/app\", \"--serve\", \"{i}\"]\n",
        "HEALTHCHECK --interval=30s --timeout=3s CMD curl -f http://localhost/{i} || exit 1\n",
        "WORKDIR /app/{i}\n",
        "EXPOSE 80/tcp 443 {i}\n",
    ];
    for i in 0..10_000 {
        out.push_str(&kinds[i % kinds.len()].replace("{i}", &i.to_string()));
    }
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    let total: usize = corpus.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("realworld-corpus", |b| {
        b.iter(|| {
            for file in &corpus {
                std::hint::black_box(kiln_parser::parse_raw(file).expect("parses"));
            }
        })
    });
    group.bench_function("realworld-corpus-typed", |b| {
        b.iter(|| {
            for file in &corpus {
                std::hint::black_box(kiln_parser::parse(file).expect("types"));
            }
        })
    });
    let big = generated();
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("generated-10000-instructions", |b| {
        b.iter(|| std::hint::black_box(kiln_parser::parse(&big).expect("parses")))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
