#!/usr/bin/env bash
# A fully cached rebuild of a 200,000-file context: median wall time and
# peak RSS (`/usr/bin/time -f %M`) of kiln, and of a second kiln when
# KILN_BEFORE names one (runs take turns so both see the same load, each
# kiln with its own store), beside `find CTX -printf '%s'` (the floor: it
# stats every path too) timed in the same run. Every rebuild must give the
# first build's image ID. With KILN_BEFORE, KILN then builds once more in
# the older kiln's store and must give its image ID: the same cache keys.
#
# The first rebuild after the first build is timed apart ("settling"): the
# files were written seconds before the first build, so their digests were
# racy (not trusted, not kept) and this rebuild reads them all again.
#
#   KILN=/path/to/kiln [KILN_BEFORE=/path/to/old/kiln] bench/cached-rebuild-200k.sh [RUNS]
# Defaults: KILN from scripts/release.sh, 5 runs. Needs root and
# busybox-static; installs GNU time when /usr/bin/time is missing. The
# first build copies the 200,000 files (a minute or more on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
kiln=${KILN:-$(scripts/release.sh)}
before=${KILN_BEFORE:-}
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
work=$(mktemp -d /var/tmp/kiln-bench-200k.XXXXXX)
trap 'rm -rf "$work"' EXIT

testdata/scripts/make-busybox-rootfs.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" --numeric-owner -cf "$work/busybox.tar" .

# 2,000 dirs x 100 files of 40-200 bytes, deterministic, pinned mtimes.
ctx=$work/ctx
mkdir -p "$ctx/files"
awk -v root="$ctx/files" 'BEGIN {
    for (d = 0; d < 2000; d++) {
        dir = sprintf("%s/d%04d", root, d)
        system("mkdir " dir)
        for (f = 0; f < 100; f++) {
            fn = sprintf("%s/f%03d.txt", dir, f)
            n = 1 + (d * 7 + f * 13) % 5
            for (l = 0; l < n; l++)
                printf "dir %04d file %03d line %d: the quick brown fox\n", d, f, l > fn
            close(fn)
        }
    }
}'
find "$ctx" -exec touch -h -d '2020-01-01 00:00:00 UTC' {} +
sed 's/noop-rebuild/cached-rebuild-200k/' bench/cases/noop-rebuild/Dockerfile > "$ctx/Dockerfile"
echo "context: $(find "$ctx" | wc -l) paths"

bins=("$kiln")
[ -n "$before" ] && bins+=("$before")
for i in "${!bins[@]}"; do
    root=$work/root-$i
    "${bins[$i]}" --root "$root" import "$work/busybox.tar" busybox:latest >/dev/null
    "${bins[$i]}" --root "$root" build -q -t bench "$ctx" > "$work/id-$i"
    : > "$work/runs-$i"
done
: > "$work/runs-find"
sleep 2 # past the racy margin of the files' ctime

# Appends "wall_s peak_KiB" of one command to the file $1 (wall from
# date: time's %e has two decimals); its stdout goes to $work/out.
timed() {
    local runs=$1 s e
    shift
    s=$(date +%s.%N)
    /usr/bin/time -o "$work/t" -f '%M' "$@" > "$work/out"
    e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" -v m="$(tail -1 "$work/t")" 'BEGIN { printf "%.3f %d\n", e - s, m }' >> "$runs"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

for i in "${!bins[@]}"; do
    timed "$work/settle-$i" "${bins[$i]}" --root "$work/root-$i" build -q -t bench "$ctx"
done
for _ in $(seq "$runs"); do
    for i in "${!bins[@]}"; do
        timed "$work/runs-$i" "${bins[$i]}" --root "$work/root-$i" build -q -t bench "$ctx"
        cmp -s "$work/out" "$work/id-$i" || echo "rebuild by ${bins[$i]} gave another image" >&2
    done
    timed "$work/runs-find" find "$ctx" -printf '%s'
done

find_s=$(cut -d' ' -f1 "$work/runs-find" | median)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; medians of $runs"
echo "find -printf '%s' (floor): ${find_s}s"
for i in "${!bins[@]}"; do
    wall=$(cut -d' ' -f1 "$work/runs-$i" | median)
    rss=$(cut -d' ' -f2 "$work/runs-$i" | sort -n | tail -1)
    read -r s_wall s_rss < "$work/settle-$i"
    echo "${bins[$i]}: cached rebuild ${wall}s ($(awk -v w="$wall" -v f="$find_s" 'BEGIN { printf "%.2f", w / f }')x find), peak RSS $((rss / 1024)) MiB (max of runs); settling rebuild ${s_wall}s, $((s_rss / 1024)) MiB; image $(cut -c1-19 "$work/id-$i")"
done
if [ -n "$before" ]; then
    "$kiln" --root "$work/root-1" build -q -t bench "$ctx" > "$work/cross"
    if ! cmp -s "$work/cross" "$work/id-1"; then
        echo "$kiln in the store of $before gave another image: $(cat "$work/cross")" >&2
        exit 1
    fi
    echo "$kiln in the store of $before: the same image ID"
fi
