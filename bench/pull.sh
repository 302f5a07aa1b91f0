#!/usr/bin/env bash
# `kiln pull` of a 10-layer image (gzip layers, ~SIZE_MIB of tar in all,
# the image bench/registry.sh makes) from Debian's docker-registry on
# 127.0.0.1, beside `skopeo copy` to an OCI layout (blobs only) and skopeo
# followed by `umoci unpack` (blobs and a rootfs, as kiln's pull stores
# both). Runs take turns (kiln, [kiln before], skopeo, skopeo+umoci, …) so
# each sees the same load; medians are printed, then the flushes of one
# pull of each kiln (`strace -f -c`). Every kiln pull goes into a fresh
# store whose meta.db exists already, as on a machine in use.
#
#   KILN=/path/to/kiln [KILN_BEFORE=/path/to/old/kiln] bench/pull.sh [RUNS] [SIZE_MIB]
# Defaults: KILN from scripts/release.sh, 3 runs, 500 MiB.
# Needs: docker-registry, skopeo, umoci, gzip, strace (for the counts).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
size_mib=${2:-500}
layers=10
kiln=${KILN:-$(scripts/release.sh)}
before=${KILN_BEFORE:-}
work=$(mktemp -d /var/tmp/kiln-bench-pull.XXXXXX)
reg=$work/registry
cleanup() {
    testdata/scripts/registry.sh stop "$reg"
    rm -rf "$work"
}
trap cleanup EXIT

. bench/oci-image.sh
oci=$work/oci
make_oci_image "$oci" "$layers" "$size_mib" "$work"

mkdir -p "$reg"
addr=$(testdata/scripts/registry.sh start "$reg")
skopeo copy -q --dest-tls-verify=false "oci:$oci:latest" "docker://$addr/bench:latest"
image=$addr/bench:latest

fresh_root() { # kiln → a new store with its meta.db made
    local r
    r=$(mktemp -d "$work/root.XXXXXX")
    "$1" --root "$r" images >/dev/null
    echo "$r"
}
kiln_pull() { "$1" --root "$2" pull "$image" >/dev/null 2>&1; }
skopeo_pull() { skopeo copy -q --src-tls-verify=false "docker://$image" "oci:$1:latest"; }
umoci_pull() { skopeo_pull "$1" && umoci unpack --image "$1:latest" "$1-bundle" >/dev/null; }

secs() { # command… → wall seconds
    local s e
    s=$(date +%s.%N); "$@"; e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

: > "$work/kiln" ; : > "$work/before"; : > "$work/skopeo"; : > "$work/umoci"
for i in $(seq "$runs"); do
    r=$(fresh_root "$kiln"); sync
    secs kiln_pull "$kiln" "$r" >> "$work/kiln"; rm -rf "$r"
    if [ -n "$before" ]; then
        r=$(fresh_root "$before"); sync
        secs kiln_pull "$before" "$r" >> "$work/before"; rm -rf "$r"
    fi
    sync; secs skopeo_pull "$work/sk-$i" >> "$work/skopeo"; rm -rf "$work/sk-$i"
    sync; secs umoci_pull "$work/um-$i" >> "$work/umoci"; rm -rf "$work/um-$i" "$work/um-$i-bundle"
done
k=$(median < "$work/kiln"); s=$(median < "$work/skopeo"); u=$(median < "$work/umoci")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; medians of $runs"
echo "kiln pull           ${k}s (÷ skopeo $(ratio "$k" "$s"), ÷ skopeo+umoci $(ratio "$k" "$u"))"
if [ -n "$before" ]; then
    b=$(median < "$work/before")
    echo "kiln pull (before)  ${b}s (÷ skopeo $(ratio "$b" "$s"), ÷ skopeo+umoci $(ratio "$b" "$u"))"
fi
echo "skopeo copy         ${s}s (blobs only)"
echo "skopeo + umoci      ${u}s (blobs and an unpacked rootfs)"

if command -v strace >/dev/null; then
    for bin in "$kiln" $before; do
        r=$(fresh_root "$bin")
        counts=$(strace -f -c -e trace=fsync,fdatasync,sync_file_range,syncfs \
            "$bin" --root "$r" pull "$image" 2>&1 >/dev/null |
            awk '$NF ~ /^(fsync|fdatasync|sync_file_range|syncfs)$/ { printf "%s %s, ", $4, $NF }')
        echo "flushes of one pull by $bin: ${counts%, }"
        rm -rf "$r"
    done
fi
