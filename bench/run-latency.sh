#!/usr/bin/env bash
# run-latency.sh - median wall time of `kiln run --rm --rootfs BUSYBOX true`
# over N runs, beside `runc run` and `crun run` of runc's default spec
# (`true`, no terminal) and of kiln's own spec ("-same"), as ratios to kiln.
# The "kiln-image" row runs the same rootfs imported as an image
# (`kiln run --rm --network none busybox true`): the store lookup, the
# container record and the overlay on top. The "kiln-net" row is the same
# with the default network (a namespace of its own, outbound through
# slirp4netns), and the last line its cost over "kiln-image".
#
#   sudo bench/run-latency.sh
#
# Environment: KILN (default: what scripts/release.sh builds), KILN_BEFORE
# (another kiln, timed as the "kiln-image-before" row on a store of its
# own), N runs per runtime (default 50), B blocks (default 5), W warm-up
# runs per block (default 1), WORK (default a fresh temp dir, removed at
# the end).
# crun 1.8 refuses this machine's hybrid cgroup layout, so it runs in a
# private mount namespace without /sys/fs/cgroup/unified, as the peer
# baseline did. Timing uses bash's $EPOCHREALTIME: no process is forked
# around the measured command.
#
# Each runtime runs in blocks of N/B consecutive runs (B blocks, default 5),
# the runtimes' blocks taking turns: the turns spread the machine's load
# drift over all of them, and the consecutive runs keep each block to its own
# runtime's state. runc and crun move their container with a `cgroup.procs`
# write, which waits out an RCU grace period (about 10 ms here) unless
# another such write happened within the last one; run by run alternation
# would hand that warm state from one runtime to the next. The first W runs
# of each block (default 1) are warm-up and not counted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
N=${N:-50}
B=${B:-5}
W=${W:-1}

. "$here/timing.sh"

run_kiln() { "$KILN" --root "$WORK/kiln-root" run --rm --network none --rootfs "$WORK/bundle/rootfs" true; }
run_kiln_image() { "$KILN" --root "$WORK/kiln-root" run --rm --network none busybox true; }
run_kiln_net() { "$KILN" --root "$WORK/kiln-root" run --rm busybox true; }
run_kiln_image_before() { "$KILN_BEFORE" --root "$WORK/kiln-root-before" run --rm --network none busybox true; }
run_runc() { runc run --bundle "$WORK/bundle" "kiln-bench-runc-$$-$1"; }
run_crun() { crun run --bundle "$WORK/bundle" "kiln-bench-crun-$$-$1"; }
run_runc_same() { runc run --bundle "$WORK/same" "kiln-bench-runc-same-$$-$1"; }
run_crun_same() { crun run --bundle "$WORK/same" "kiln-bench-crun-same-$$-$1"; }

if [ "${1:-}" = __crun ]; then
    # inside the private mount namespace
    WORK=$2
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    time_block crun run_crun
    time_block crun-same run_crun_same
    exit
fi

KILN=${KILN:-$("$repo/scripts/release.sh")}
WORK=${WORK:-$(mktemp -d /tmp/kiln-bench.XXXXXX)}
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bundle"
sh "$repo/testdata/scripts/make-busybox-rootfs.sh" "$WORK/bundle/rootfs"
(cd "$WORK/bundle" && runc spec)
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/^\(\s*\)"sh"$/\1"true"/' "$WORK/bundle/config.json"
grep -q '"true"' "$WORK/bundle/config.json" || { echo "could not set args in config.json" >&2; exit 1; }
tar --numeric-owner -C "$WORK/bundle/rootfs" -cf "$WORK/busybox.tar" .
"$KILN" --root "$WORK/kiln-root" import "$WORK/busybox.tar" busybox >/dev/null
before_rows=
if [ -n "${KILN_BEFORE:-}" ]; then
    "$KILN_BEFORE" --root "$WORK/kiln-root-before" import "$WORK/busybox.tar" busybox >/dev/null
    before_rows=kiln-image-before
fi

# runc's default spec has no seccomp profile and three capabilities; kiln
# runs Docker's defaults. The "-same" rows give the peers kiln's own spec:
# `kiln run --runtime runc` writes it as a bundle, which a runc stand-in
# copies before handing it on.
mkdir -p "$WORK/shim"
cat >"$WORK/shim/runc" <<EOF
#!/bin/sh
cp -a "\$3" "$WORK/same" && echo "\$3" >"$WORK/same.from"
exec $(command -v runc) "\$@"
EOF
chmod +x "$WORK/shim/runc"
PATH="$WORK/shim:$PATH" "$KILN" --root "$WORK/kiln-root" run --rm --network none --runtime runc --rootfs "$WORK/bundle/rootfs" true
sed -i "s#$(cat "$WORK/same.from")#$WORK/same#g" "$WORK/same/config.json"

echo "runs: $N in $B blocks (+$W warm-up each), median ms (min-max)"
for ((b = 0; b < B; b++)); do
    time_block kiln run_kiln
    time_block kiln-image run_kiln_image
    if [ -n "$before_rows" ]; then time_block kiln-image-before run_kiln_image_before; fi
    time_block kiln-net run_kiln_net
    time_block runc run_runc
    time_block runc-same run_runc_same
    unshare -m --propagation private bash "$0" __crun "$WORK"
done
results=$(for l in kiln kiln-image $before_rows kiln-net runc runc-same crun crun-same; do summary "$l"; done)
echo "$results" | awk '
    { name[NR] = $1; med[NR] = $2; lo[NR] = $3; hi[NR] = $4; if ($1 == "kiln") k = $2
      if ($1 == "kiln-image") none = $2; if ($1 == "kiln-net") net = $2 }
    END { for (i = 1; i <= NR; i++)
        printf "%-10s %8.2f ms  (%.2f-%.2f)  %s/kiln = %.2f\n", name[i], med[i], lo[i], hi[i], name[i], med[i] / k
        printf "default network over --network none: %+.2f ms (kiln-net - kiln-image)\n", net - none }'
