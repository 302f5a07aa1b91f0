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

# The image, as an OCI layout: each layer one tar of half random, half
# text-like data (so gzip has something to do), gzip -1.
oci=$work/oci
mkdir -p "$oci/blobs/sha256" "$work/gen"
per_layer=$((size_mib * 1024 * 1024 / layers))
layer_descs=() diff_ids=()
for i in $(seq 1 $layers); do
    d=$work/gen/$i
    mkdir -p "$d/layer$i"
    head -c $((per_layer / 2)) /dev/urandom > "$d/layer$i/random"
    head -c $((per_layer / 4)) /dev/urandom | base64 | head -c $((per_layer / 2)) > "$d/layer$i/text"
    tar -C "$d" -cf "$d.tar" "layer$i"
    diff_ids+=("\"sha256:$(sha256sum "$d.tar" | cut -d' ' -f1)\"")
    gzip -1 -c "$d.tar" > "$d.tar.gz"
    hex=$(sha256sum "$d.tar.gz" | cut -d' ' -f1)
    mv "$d.tar.gz" "$oci/blobs/sha256/$hex"
    size=$(stat -c %s "$oci/blobs/sha256/$hex")
    layer_descs+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$hex\",\"size\":$size}")
    rm -rf "$d" "$d.tar"
done
join() { local IFS=,; echo "$*"; }
config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$(join "${diff_ids[@]}")]}}"
printf '%s' "$config" > "$work/config.json"
chex=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$oci/blobs/sha256/$chex"
manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$chex\",\"size\":${#config}},\"layers\":[$(join "${layer_descs[@]}")]}"
printf '%s' "$manifest" > "$work/manifest.json"
mhex=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
msize=$(stat -c %s "$work/manifest.json")
mv "$work/manifest.json" "$oci/blobs/sha256/$mhex"
echo '{"imageLayoutVersion":"1.0.0"}' > "$oci/oci-layout"
echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$mhex\",\"size\":$msize,\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}" > "$oci/index.json"
bytes=$(du -cb "$oci"/blobs/sha256/* | tail -1 | cut -f1)
echo "image: $layers layers, $(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1e6 }') MB of gzip blobs"

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
