#!/usr/bin/env bash
# Cache import time for the CI scenario: store A builds a two-stage
# Dockerfile (a builder stage that makes SIZE_MIB of files, a final stage
# that copies half of them) with --cache-to; an empty store B then builds
# the same Dockerfile and context with --cache-from. Prints A's cold build,
# B's import build (every step CACHED; base pulled, result layers fetched)
# for a local cache directory and a registry cache on 127.0.0.1, and
# checks that B made A's image.
#
#   bench/remotecache.sh [SIZE_MIB]      (default 64)
# Needs: docker-registry, busybox-static; root. KILN=path uses that binary
# instead of building kiln in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-64}
work=$(mktemp -d /var/tmp/kiln-bench-remotecache.XXXXXX)
cleanup() {
    testdata/scripts/registry.sh stop "$work/registry" || true
    rm -rf "$work"
}
trap cleanup EXIT

kiln=${KILN:-$(scripts/release.sh)}

registry=$(testdata/scripts/registry.sh start "$work/registry")
printf '[registry."docker.io"]\nmirrors = ["%s"]\n' "$registry" > "$work/kiln.toml"
export KILN_CONFIG=$work/kiln.toml DOCKER_CONFIG=$work/docker
unset SOURCE_DATE_EPOCH

mkdir -p "$work/busybox"
testdata/scripts/make-busybox-rootfs.sh "$work/busybox/rootfs"
printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n' > "$work/busybox/Dockerfile"
"$kiln" --root "$work/seed" build -q --push -t "$registry/library/busybox:latest" "$work/busybox" >/dev/null

ctx=$work/ctx
mkdir -p "$ctx/src"
for i in $(seq 1 8); do
    head -c $((size_mib * 1024 * 1024 / 8)) /dev/urandom > "$ctx/src/part$i.bin"
done
cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM busybox AS builder
COPY src/ /src/
RUN mkdir /out && cat /src/part1.bin /src/part2.bin > /out/a && cat /src/part3.bin /src/part4.bin > /out/b
FROM busybox
COPY --from=builder /out/a /app/a
RUN md5sum /app/a > /app/sum
DOCKERFILE

seconds() { # command...: runs it, prints its wall time
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

cold=$(seconds "$kiln" --root "$work/A" build -q --iidfile "$work/A.id" \
    --cache-to "type=local,dest=$work/cache,mode=max" \
    --cache-to "type=registry,ref=$registry/bench:cache,mode=max" "$ctx")
local_b=$(seconds "$kiln" --root "$work/B1" build -q --iidfile "$work/B1.id" --cache-from "type=local,src=$work/cache" "$ctx")
reg_b=$(seconds "$kiln" --root "$work/B2" build -q --iidfile "$work/B2.id" --cache-from "type=registry,ref=$registry/bench:cache" "$ctx")
for b in B1 B2; do
    cmp -s "$work/A.id" "$work/$b.id" ||
        { echo "remotecache.sh: store $b made $(cat "$work/$b.id"), A made $(cat "$work/A.id")" >&2; exit 1; }
done
echo "context ${size_mib} MiB; builder layers are not fetched by B"
printf 'A cold build + cache export:            %6.2f s\n' "$cold"
printf 'B build from local cache (all CACHED):  %6.2f s\n' "$local_b"
printf 'B build from registry cache (all CACHED):%6.2f s\n' "$reg_b"
