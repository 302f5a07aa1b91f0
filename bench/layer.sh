#!/usr/bin/env bash
# Layer write and apply throughput: kiln's layer::diff (dir → tar → zstd /
# gzip) beside `tar -c | zstd -T2` and `tar -c | gzip` on the same tree, and
# layer::apply beside `tar -x` on the same archive. Prints MB/s and ratios.
#
#   bench/layer.sh [SIZE_MIB]     (default 256; the tree is real files from
#                                  /usr, cut at SIZE_MIB of tar input)
# Needs root (apply sets owners) and: tar, zstd, gzip.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-256}
work=$(mktemp -d /var/tmp/kiln-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p kiln-cache --example layer_bench
bench=target/release/examples/layer_bench

# The tree: real files (binaries, text, symlinks) from /usr, cut at size.
mkdir "$work/tree"
tar -C / -cf - usr/lib usr/share 2>/dev/null | head -c "$((size_mib * 1024 * 1024))" \
    | tar -C "$work/tree" -xf - 2>/dev/null || true
sync
bytes=$(tar -C "$work/tree" -cf - . | wc -c)
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
echo "tree: $mb MB of tar input ($(find "$work/tree" | wc -l) entries)"

# Warm the page cache so every run reads from memory alike.
tar -C "$work/tree" -cf - . >/dev/null

secs() { # command… → wall seconds
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }'
}
rate() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.0f", b / 1e6 / s }'; }

row() { # label kiln_secs reference_secs
    local k r
    k=$(rate "$2"); r=$(rate "$3")
    printf '%-28s kiln %5s MB/s   reference %5s MB/s   ratio %.2f\n' \
        "$1" "$k" "$r" "$(awk -v a="$3" -v b="$2" 'BEGIN { print a / b }')"
}

k_zstd=$($bench diff "$work/tree" zstd "$work/k.tar.zst" | cut -d' ' -f1)
r_zstd=$(secs sh -c "tar -C '$work/tree' -cf - . | zstd -q -3 -T2 > '$work/r.tar.zst'")
row "dir → tar → zstd (-3, 2T)" "$k_zstd" "$r_zstd"

k_gzip=$($bench diff "$work/tree" gzip "$work/k.tar.gz" | cut -d' ' -f1)
r_gzip=$(secs sh -c "tar -C '$work/tree' -cf - . | gzip -6 > '$work/r.tar.gz'")
row "dir → tar → gzip (-6)" "$k_gzip" "$r_gzip"

k_none=$($bench diff "$work/tree" none "$work/k.tar" | cut -d' ' -f1)
r_none=$(secs sh -c "tar -C '$work/tree' -cf - . > '$work/r.tar'")
row "dir → tar (uncompressed)" "$k_none" "$r_none"

k_apply=$($bench apply "$work/k.tar" "$work/applied" | cut -d' ' -f1)
mkdir "$work/extracted"
r_apply=$(secs tar -C "$work/extracted" -xpf "$work/k.tar")
row "tar → dir (apply vs tar -x)" "$k_apply" "$r_apply"

echo "sizes: kiln zstd $(stat -c %s "$work/k.tar.zst") gzip $(stat -c %s "$work/k.tar.gz");" \
     "reference zstd $(stat -c %s "$work/r.tar.zst") gzip $(stat -c %s "$work/r.tar.gz")"
