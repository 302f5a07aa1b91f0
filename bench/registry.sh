#!/usr/bin/env bash
# Pull and push over loopback: `kiln pull` / `kiln push` of a 10-layer image
# (gzip layers, ~SIZE_MIB of tar in all) beside `skopeo copy` of the same
# image, against Debian's docker-registry on 127.0.0.1. Prints seconds,
# MB/s and ratios (skopeo time / kiln time: above 1 means kiln is faster).
# kiln's pull also unpacks every layer into a snapshot; skopeo's copy to an
# OCI layout only stores the blobs.
#
#   bench/registry.sh [SIZE_MIB]      (default 500)
# Needs: docker-registry, skopeo, gzip; builds kiln in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-500}
layers=10
work=$(mktemp -d /var/tmp/kiln-bench-registry.XXXXXX)
regs=()
cleanup() {
    for r in "${regs[@]}"; do testdata/scripts/registry.sh stop "$r"; done
    rm -rf "$work"
}
trap cleanup EXIT

kiln=$(scripts/release.sh)

start_registry() { # name: starts it, sets $addr (no subshell, so the
    mkdir -p "$work/$1"  # trap sees every registry to stop)
    regs+=("$work/$1")
    addr=$(testdata/scripts/registry.sh start "$work/$1")
}

. bench/oci-image.sh
oci=$work/oci
make_oci_image "$oci" "$layers" "$size_mib" "$work"

start_registry src; src=$addr
skopeo copy -q --dest-tls-verify=false "oci:$oci:latest" "docker://$src/bench:latest"

secs() { # command… → wall seconds
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }'
}
row() { # label kiln_secs skopeo_secs
    printf '%-6s kiln %6.2f s (%4.0f MB/s)   skopeo copy %6.2f s (%4.0f MB/s)   ratio %.2f\n' \
        "$1" "$2" "$(awk -v b="$bytes" -v s="$2" 'BEGIN { print b / 1e6 / s }')" \
        "$3" "$(awk -v b="$bytes" -v s="$3" 'BEGIN { print b / 1e6 / s }')" \
        "$(awk -v k="$2" -v s="$3" 'BEGIN { print s / k }')"
}

sync
k_pull=$(secs "$kiln" --root "$work/store" pull "$src/bench:latest")
s_pull=$(secs skopeo copy -q --src-tls-verify=false "docker://$src/bench:latest" "oci:$work/pulled:latest")
row pull "$k_pull" "$s_pull"

start_registry kiln-dst; kdst=$addr
start_registry skopeo-dst; sdst=$addr
"$kiln" --root "$work/store" tag "$src/bench:latest" "$kdst/bench:latest"
k_push=$(secs "$kiln" --root "$work/store" push "$kdst/bench:latest")
s_push=$(secs skopeo copy -q --dest-tls-verify=false "oci:$work/pulled:latest" "docker://$sdst/bench:latest")
row push "$k_push" "$s_push"
