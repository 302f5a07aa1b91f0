#!/usr/bin/env bash
# What the private network of RUN steps costs: twenty `RUN` steps built
# with --no-cache under `--network host` and under the default (a namespace
# of each step's own, outbound through slirp4netns), alternating so both
# see the same load; then, when the real-world base exists (make it with
# testdata/realworld/make-base.sh), the voting-app-vote case cold in a
# fresh root both ways.
#
#   bench/build-network.sh [RUNS]     (default 5; medians are printed)
#
# Needs root, busybox-static and slirp4netns. Uses a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
work=$(mktemp -d /var/tmp/kiln-bench-net.XXXXXX)
trap 'rm -rf "$work"' EXIT

. bench/busybox-root.sh

ctx=$work/steps
mkdir -p "$ctx"
{ echo "FROM busybox"; for i in $(seq 20); do echo "RUN echo $i > /f$i"; done; } > "$ctx/Dockerfile"
for _ in $(seq "$runs"); do
    for mode in host default; do
        echo "$mode $(secs kiln build --no-cache --network "$mode" "$ctx")"
    done
done > "$work/steps.txt"
host=$(awk '$1 == "host" { print $2 }' "$work/steps.txt" | median)
def=$(awk '$1 == "default" { print $2 }' "$work/steps.txt" | median)
awk -v h="$host" -v d="$def" 'BEGIN {
    printf "20 RUN steps, --no-cache: host %.3fs, default (private) %.3fs: +%.1f ms per step\n", h, d, (d - h) * 1000 / 20 }'

base=${REALWORLD_CACHE:-/tmp/realworld}/debian-bookworm.tar
if [ ! -f "$base" ]; then
    echo "no $base: real-world case skipped (testdata/realworld/make-base.sh makes it)"
    exit 0
fi
cp -r testdata/realworld/cases/voting-app-vote/context "$work/vote"
for i in $(seq "$runs"); do
    for mode in host default; do
        r=$work/vote-root-$mode-$i
        "$kiln_bin" --root "$r" import "$base" debian:bookworm --change 'CMD ["bash"]' >/dev/null
        echo "$mode $(secs "$kiln_bin" --root "$r" build --network "$mode" "$work/vote")"
    done
done > "$work/vote.txt"
host=$(awk '$1 == "host" { print $2 }' "$work/vote.txt" | median)
def=$(awk '$1 == "default" { print $2 }' "$work/vote.txt" | median)
awk -v h="$host" -v d="$def" 'BEGIN {
    printf "voting-app-vote cold: host %.2fs, default (private) %.2fs: %+.1f%%\n", h, d, (d / h - 1) * 100 }'
