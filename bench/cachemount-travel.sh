#!/usr/bin/env bash
# A cache mount that travels with the build cache (`cache-mounts=true`):
# the first build of an ephemeral CI runner, a fresh store, with and
# without the cache mount imported from the last run's local cache. Both
# builds use --no-cache, so the RUN runs in each and only the mount differs
# (as when a lock file changed and the install step must run again).
#
# Two cases:
# - synthetic (default): a RUN on busybox stands in for a package install
#   (no mirror needed): it fills its cache mount with 200 MiB of packages,
#   50 files of 4 MiB that cost CPU to make (random bytes through gzip -9,
#   so they do not compress again), and skips that work when the cache
#   already holds them.
# - apt: a real `apt-get install` on a Debian bookworm base (made by
#   testdata/realworld/make-base.sh from this machine's own apt mirror),
#   with /var/cache/apt and /var/lib/apt/lists as cache mounts, the
#   pattern Docker's documentation gives; the image's docker-clean hook is
#   removed so that downloaded packages stay in the mount.
#
#   KILN=/path/to/kiln bench/cachemount-travel.sh [synthetic|apt] [RUNS]
# Defaults: KILN from scripts/release.sh, 3 runs (taken in turns). Needs
# root and busybox-static; apt needs the package mirror and debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
case=${1:-synthetic}
runs=${2:-3}
kiln=${KILN:-$(scripts/release.sh)}
work=$(mktemp -d /var/tmp/kiln-bench-cmtravel.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/ctx"

case $case in
synthetic)
    base=busybox
    testdata/scripts/make-busybox-rootfs.sh "$work/rootfs" >/dev/null
    tar -C "$work/rootfs" --numeric-owner -cf "$work/base.tar" .
    rm -rf "$work/rootfs"
    cat > "$work/ctx/Dockerfile" <<'DF'
FROM busybox
RUN --mount=type=cache,id=pkgs,target=/var/cache/pkgs \
    sh -c 'cd /var/cache/pkgs; i=0; while [ $i -lt 50 ]; do \
      test -f p$i.gz || head -c 4194304 /dev/urandom | gzip -9 > p$i.gz; i=$((i+1)); done; \
      cat p*.gz | wc -c > /installed'
DF
    ;;
apt)
    base=debian:bookworm
    ln -s "$(testdata/realworld/make-base.sh debian)" "$work/base.tar"
    cat > "$work/ctx/Dockerfile" <<'DF'
FROM debian:bookworm
RUN rm -f /etc/apt/apt.conf.d/docker-clean && \
    echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache
RUN --mount=type=cache,id=apt-cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=apt-lists,target=/var/lib/apt/lists,sharing=locked \
    apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 git curl make >/dev/null
DF
    ;;
*)
    echo "usage: $0 [synthetic|apt] [RUNS]" >&2
    exit 2
    ;;
esac

secs() { # command… → wall seconds
    local s e
    s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f\n", e - s }'
}
fresh() { # name → a new root with the base image imported
    rm -rf "$work/$1"
    "$kiln" --root "$work/$1" import "$work/base.tar" "$base" >/dev/null
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
echo "case $case; load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; medians of $runs"
echo "export with cache-mounts=true: ${export_s}s, cache directory $((blob / 1048576)) MiB"
echo "fresh store, cache mount not imported: ${cold}s (runs: $(paste -sd' ' "$work/times-cold"))"
echo "fresh store, cache mount imported:     ${warm}s (runs: $(paste -sd' ' "$work/times-warm"))"
echo "ratio: $(awk -v c="$cold" -v w="$warm" 'BEGIN { printf "%.1f", c / w }')x"
