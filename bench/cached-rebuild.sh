#!/usr/bin/env bash
# A fully cached rebuild (bench/cases/noop-rebuild: 20,000 context files,
# a COPY and three RUN steps) by kiln, and by a second kiln when
# KILN_BEFORE names one: runs take turns so both see the same load, each
# kiln with its own store. Prints median wall times, whether every rebuild
# gave the first build's image ID, and the flushes one rebuild makes
# (`strace -f -c`; the aim is none).
#
#   KILN=/path/to/kiln [KILN_BEFORE=/path/to/old/kiln] bench/cached-rebuild.sh [RUNS]
# Defaults: KILN from scripts/release.sh, 10 runs. Needs root,
# busybox-static, strace (for the counts).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
kiln=${KILN:-$(scripts/release.sh)}
before=${KILN_BEFORE:-}
work=$(mktemp -d /var/tmp/kiln-bench-cached.XXXXXX)
trap 'rm -rf "$work"' EXIT

testdata/scripts/make-busybox-rootfs.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" --numeric-owner -cf "$work/busybox.tar" .
ctx=$work/ctx
sh bench/cases/noop-rebuild/gen.sh "$ctx"
cp bench/cases/noop-rebuild/Dockerfile "$ctx/"

bins=("$kiln")
[ -n "$before" ] && bins+=("$before")
for i in "${!bins[@]}"; do
    root=$work/root-$i
    "${bins[$i]}" --root "$root" import "$work/busybox.tar" busybox:latest >/dev/null
    "${bins[$i]}" --root "$root" build -q -t bench "$ctx" > "$work/id-$i"
    : > "$work/times-$i"
done

secs() { # command… → wall seconds
    local s e
    s=$(date +%s.%N); "$@"; e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
}
rebuild() { # index
    "${bins[$1]}" --root "$work/root-$1" build -q -t bench "$ctx" > "$work/again-$1"
    cmp -s "$work/again-$1" "$work/id-$1" || echo "rebuild by ${bins[$1]} gave another image" >&2
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

for _ in $(seq "$runs"); do
    for i in "${!bins[@]}"; do secs rebuild "$i" >> "$work/times-$i"; done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; medians of $runs"
for i in "${!bins[@]}"; do
    counts=$(strace -f -c -e trace=fsync,fdatasync,sync_file_range,syncfs \
        "${bins[$i]}" --root "$work/root-$i" build -q -t bench "$ctx" 2>&1 >/dev/null |
        awk '$NF ~ /^(fsync|fdatasync|sync_file_range|syncfs)$/ { printf "%s %s, ", $4, $NF }')
    echo "${bins[$i]}: cached rebuild $(median < "$work/times-$i")s (min $(sort -n "$work/times-$i" | head -1)s), flushes: $(c=${counts%, }; echo "${c:-none}")"
done
