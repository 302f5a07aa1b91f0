#!/usr/bin/env bash
# A cache mount that travels with the build cache (`cache-mounts=true`):
# the first build of an ephemeral CI runner, a fresh store, with and
# without the cache mount imported from the last run's local cache.
# The RUN stands in for a package install (no mirror needed): it fills
# its cache mount with 200 MiB of packages, 50 files of 4 MiB that cost
# CPU to make (random bytes through gzip -9, so they do not compress
# again), and skips that work when the cache already holds them. Both
# builds use --no-cache, so the RUN runs in each and only the mount differs
# (as when a lock file changed and the install step must run again).
#
#   KILN=/path/to/kiln bench/cachemount-travel.sh [RUNS]
# Defaults: KILN from scripts/release.sh, 3 runs (taken in turns). Needs
# root and busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
kiln=${KILN:-$(scripts/release.sh)}
work=$(mktemp -d /var/tmp/kiln-bench-cmtravel.XXXXXX)
trap 'rm -rf "$work"' EXIT

testdata/scripts/make-busybox-rootfs.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" --numeric-owner -cf "$work/busybox.tar" .
mkdir "$work/ctx"
cat > "$work/ctx/Dockerfile" <<'DF'
FROM busybox
RUN --mount=type=cache,id=pkgs,target=/var/cache/pkgs \
    sh -c 'cd /var/cache/pkgs; i=0; while [ $i -lt 50 ]; do \
      test -f p$i.gz || head -c 4194304 /dev/urandom | gzip -9 > p$i.gz; i=$((i+1)); done; \
      cat p*.gz | wc -c > /installed'
DF

secs() { # command… → wall seconds
    local s e
    s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f\n", e - s }'
}
fresh() { # name → a new root with busybox imported
    rm -rf "$work/$1"
    "$kiln" --root "$work/$1" import "$work/busybox.tar" busybox >/dev/null
}
build() { # root, flags…
    local root=$1
    shift
    "$kiln" --root "$work/$root" build -q --no-cache "$@" "$work/ctx"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# The last CI run: fills the mount and exports it with the build cache.
fresh seed
build seed >/dev/null
cache=$work/cache
export_s=$(secs build seed --cache-to "type=local,dest=$cache,mode=max,cache-mounts=true")
blob=$(du -sb "$cache/blobs" | cut -f1)

: > "$work/times-cold"
: > "$work/times-warm"
for _ in $(seq "$runs"); do
    fresh cold
    secs build cold --cache-from "type=local,src=$cache" >> "$work/times-cold"
    fresh warm
    secs build warm --cache-from "type=local,src=$cache,cache-mounts=true" >> "$work/times-warm"
done
cold=$(median < "$work/times-cold")
warm=$(median < "$work/times-warm")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; medians of $runs"
echo "export with cache-mounts=true: ${export_s}s, cache directory $((blob / 1048576)) MiB"
echo "fresh store, cache mount not imported: ${cold}s (runs: $(paste -sd' ' "$work/times-cold"))"
echo "fresh store, cache mount imported:     ${warm}s (runs: $(paste -sd' ' "$work/times-warm"))"
echo "ratio: $(awk -v c="$cold" -v w="$warm" 'BEGIN { printf "%.1f", c / w }')x"
