#!/usr/bin/env bash
# The fresh-export figure of issue 6: `kiln build --output
# type=oci,dest=X.tar,compression=zstd` of an image whose 1000 MiB layer no
# export has compressed yet, against `tar -c ROOTFS | zstd -3 -T2` of the
# same files (target: within 1.5x). Each run rebuilds the RUN first
# (--no-cache, untimed) so the timed export compresses a new layer; both
# sides sync first so no writeback of the rebuild runs while timing.
# Also prints the gzip default (`type=oci` with no compression=) and a
# repeated zstd export, which reuses nothing but is the same work.
#
#   bench/export.sh [RUNS] [random|text]   (default 3 random; medians)
#
# Needs root and busybox-static. Uses a release build and a throwaway root.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
kind=${2:-random}
work=$(mktemp -d /var/tmp/kiln-bench-export.XXXXXX)
trap 'rm -rf "$work"' EXIT

. bench/busybox-root.sh

df=bench/peers/cases/big-layer-$kind/Dockerfile
ctx=$work/ctx
mkdir -p "$ctx"
kiln build -q -f "$df" "$ctx" >/dev/null
kiln build -q --output "type=local,dest=$work/fs" -f "$df" "$ctx" >/dev/null

zstd_export() { kiln build -q --output "type=oci,dest=$work/k.tar,compression=zstd" -f "$df" "$ctx"; }
gzip_export() { kiln build -q --output "type=oci,dest=$work/g.tar" -f "$df" "$ctx"; }
peer() { tar -C "$work/fs" -cf - . | zstd -q -3 -T2 -o "$work/r.tar.zst" -f; }
fresh() { kiln build -q --no-cache -f "$df" "$ctx" >/dev/null; sync; }

# Paired: each kiln run is followed by the peer's, and the ratio is taken
# per pair, so both sides of a ratio see the same load.
k=() p=() r=() g=()
for _ in $(seq "$runs"); do
    fresh; rm -f "$work/k.tar"; kt=$(secs zstd_export)
    sync; rm -f "$work/r.tar.zst"; pt=$(secs peer)
    k+=("$kt") p+=("$pt") r+=("$(awk -v a="$kt" -v b="$pt" 'BEGIN { printf "%.2f", a / b }')")
done
fresh; rm -f "$work/g.tar"; g+=("$(secs gzip_export)")
km=$(printf '%s\n' "${k[@]}" | median)
pm=$(printf '%s\n' "${p[@]}" | median)
ratio=$(printf '%s\n' "${r[@]}" | median)
echo "load average while measuring: $(cut -d" " -f1-3 /proc/loadavg) on $(nproc) cores"
echo "fresh 1000 MiB $kind layer, type=oci compression=zstd: ${km}s (runs: ${k[*]})"
echo "tar -c | zstd -3 -T2 of the same files:               ${pm}s (runs: ${p[*]})"
echo "ratio, median of pairs: ${ratio} (pairs: ${r[*]}; target <= 1.5)"
echo "type=oci with the default gzip layers: ${g[0]}s"
ls -l "$work/k.tar" "$work/r.tar.zst" "$work/g.tar" | awk '{ print $5, $9 }'
