#!/usr/bin/env bash
# `kiln build` figures on the cases in bench/cases (copied from the peer
# bench set): a cold build of a 20,000-file context, the fully cached
# rebuild of it, a rebuild after one file changed, and four CPU-bound
# stages run at once against the sum of the same stages run one by one.
#
#   bench/build.sh [RUNS]     (default 3; medians are printed)
#
# Needs root and busybox-static. Uses a release build and a throwaway root.
# Ratios to BuildKit, buildah and podman come from bench/peers/ (see
# bench/README.md); this script prints kiln's own figures.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
work=$(mktemp -d /var/tmp/kiln-bench-build.XXXXXX)
trap 'rm -rf "$work"' EXIT

. bench/busybox-root.sh

ctx=$work/ctx
sh bench/cases/one-file-change/gen.sh "$ctx"
# Cold builds, each into a fresh root. The roots are removed only at the
# end: on ext4 without a journal (this VM's root), inodes freed in the last
# few minutes are skipped one by one by the inode allocator
# (`recently_deleted`), so a 20,000-file COPY right after an `rm -rf` of
# the previous store measures the kernel, not kiln (1-20 s instead of ~2 s).
cold=$(for i in $(seq "$runs"); do
    r=$work/cold-$i
    "$kiln_bin" --root "$r" import "$work/busybox.tar" busybox:latest --change 'CMD ["sh"]' >/dev/null
    secs "$kiln_bin" --root "$r" build --progress=plain "$ctx"
done | median)
kiln build --progress=plain "$ctx" >/dev/null 2>&1
cached=$(for _ in $(seq "$runs"); do secs kiln build --progress=plain "$ctx"; done | median)
change=$(for _ in $(seq "$runs"); do
    sh bench/cases/one-file-change/mutate.sh "$ctx"
    secs kiln build --progress=plain "$ctx"
done | median)
echo "20,000-file context: cold build ${cold}s, fully cached rebuild ${cached}s, one-file-change rebuild ${change}s"

par=$work/par
mkdir -p "$par"
cp bench/cases/parallel-stages/Dockerfile "$par/"
together=$(for _ in $(seq "$runs"); do secs kiln build --no-cache --jobs 4 "$par"; done | median)
sum=0
for s in s1 s2 s3 s4; do
    t=$(secs kiln build --no-cache --target "$s" "$par" | tr -d "\n")
    sum=$(awk -v a="$sum" -v b="$t" 'BEGIN { printf "%.3f", a + b }')
done
ratio=$(awk -v a="$together" -v b="$sum" 'BEGIN { printf "%.2f", a / b }')
echo "load average while measuring: $(cut -d" " -f1-3 /proc/loadavg) on $(nproc) cores"
echo "four parallel CPU-bound stages: ${together}s together, ${sum}s one by one (ratio ${ratio}; target <= 0.6)"

echo "ratios to BuildKit and the other peers: bench/peers/run-peers.sh (bench/README.md)"
