#!/bin/sh
# Figure for issue 9: a build whose RUN fills a 1 GiB package cache through
# `RUN --mount=type=cache`, then the same build with `--no-cache`.
# kiln keeps cache mounts across --no-cache; BuildKit empties them
# (moby/buildkit issues 1213, 1364, 2447, 4250). This script stands in for
# BuildKit with `--no-cache --no-cache-mounts` (the step re-downloads
# everything); RESULTS.md has the same Dockerfile built by BuildKit 0.32
# behind a local registry mirror.
# Usage: bench/cachemount.sh [KILN_BINARY]   (root; needs busybox-static)
set -eu
KILN=${1:-$("$(dirname "$0")/../scripts/release.sh")}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
sh "$(dirname "$0")/../testdata/scripts/make-busybox-rootfs.sh" "$WORK/rootfs" >/dev/null
tar --numeric-owner -C "$WORK/rootfs" -cf "$WORK/busybox.tar" .
K="$KILN --root $WORK/root"
$K import "$WORK/busybox.tar" busybox >/dev/null
mkdir "$WORK/ctx"
cat > "$WORK/ctx/Dockerfile" <<'DF'
FROM busybox
# "Install": fetch 1 GiB of packages unless the cache has them (the fetch
# is a 1 GiB write from /dev/urandom standing in for a download).
RUN --mount=type=cache,target=/var/cache/pkgs \
    sh -c 'test -f /var/cache/pkgs/done || { i=0; while [ $i -lt 16 ]; do head -c 67108864 /dev/urandom > /var/cache/pkgs/p$i; i=$((i+1)); done; touch /var/cache/pkgs/done; }; cat /var/cache/pkgs/p* | wc -c > /installed'
DF
now() { date +%s.%N; }
t() { s=$(now); $K build -q "$@" "$WORK/ctx" >/dev/null; e=$(now); echo "$e - $s" | bc; }
cold=$(t)
kept=$(t --no-cache)
emptied=$(t --no-cache --no-cache-mounts)
echo "binary:                                    $KILN"
echo "first build (fills the 1 GiB cache):       ${cold}s"
echo "--no-cache, cache mount kept (kiln):        ${kept}s"
echo "--no-cache --no-cache-mounts (BuildKit-like, cache emptied): ${emptied}s"
echo "ratio emptied/kept:                         $(echo "scale=1; $emptied / $kept" | bc)x"
echo "BuildKit is not installed on this machine: no BuildKit figure was measured."
