#!/usr/bin/env bash
# serve-run.sh - median wall time of `docker run --rm --network none busybox
# true` with docker 20.10's CLI against `kiln serve`, beside the same kiln
# container started by `kiln run --rm --network none busybox true` and the
# same docker command against docker 20.10's own dockerd (a private one on
# its own data root and socket, no bridge and no iptables), as ratios to
# kiln run. All three run the same busybox image.
#
#   sudo bench/serve-run.sh
#
# Environment: KILN (default: what scripts/release.sh builds), N runs per
# case (default 30), B blocks (default 3), W warm-up runs per block
# (default 1), WORK (default a fresh temp dir, removed at the end). The
# cases' blocks take turns, as in run-latency.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
N=${N:-30}
B=${B:-3}
W=${W:-1}

. "$here/timing.sh"

KILN=${KILN:-$("$repo/scripts/release.sh")}
WORK=${WORK:-$(mktemp -d /tmp/kiln-serve.XXXXXX)}
cleanup() {
    [ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2>/dev/null || true
    [ -n "${DOCKERD_PID:-}" ] && kill "$DOCKERD_PID" 2>/dev/null && wait "$DOCKERD_PID" 2>/dev/null || true
    umount -R -l "$WORK/dd/data" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
sh "$repo/testdata/scripts/make-busybox-rootfs.sh" "$WORK/rootfs"
tar --numeric-owner -C "$WORK/rootfs" -cf "$WORK/busybox.tar" .
"$KILN" --root "$WORK/kiln-root" import "$WORK/busybox.tar" busybox >/dev/null

"$KILN" --root "$WORK/kiln-root" serve -H "unix://$WORK/k.sock" 2>/dev/null &
SERVE_PID=$!
mkdir -p "$WORK/dd"
dockerd --data-root "$WORK/dd/data" --exec-root "$WORK/dd/x" --pidfile "$WORK/dd/pid" \
    -H "unix://$WORK/dd/s" --iptables=false --ip-masq=false --bridge=none \
    --userland-proxy=false --storage-driver=overlay2 >"$WORK/dd/log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 100); do
    [ -S "$WORK/k.sock" ] && docker -H "unix://$WORK/dd/s" version >/dev/null 2>&1 && break
    sleep 0.2
done
"$KILN" --root "$WORK/kiln-root" save busybox | docker -H "unix://$WORK/dd/s" load >/dev/null
export DOCKER_CONFIG=$WORK/docker-config

kiln_run() { "$KILN" --root "$WORK/kiln-root" run --rm --network none busybox true; }
via_serve() { docker -H "unix://$WORK/k.sock" run --rm --network none busybox true; }
via_dockerd() { docker -H "unix://$WORK/dd/s" run --rm --network none busybox true; }

echo "runs: $N in $B blocks (+$W warm-up each), median ms (min-max)"
for ((b = 0; b < B; b++)); do
    time_block kiln-run kiln_run
    time_block docker-kiln-serve via_serve
    time_block docker-dockerd via_dockerd
done
for l in kiln-run docker-kiln-serve docker-dockerd; do summary "$l"; done | awk '
    { name[NR] = $1; med[NR] = $2; lo[NR] = $3; hi[NR] = $4; if ($1 == "kiln-run") k = $2; if ($1 == "docker-dockerd") d = $2 }
    END { for (i = 1; i <= NR; i++)
        printf "%-18s %8.2f ms  (%.2f-%.2f)  /kiln-run = %.2f  /dockerd = %.2f\n", name[i], med[i], lo[i], hi[i], med[i] / k, med[i] / d }'
