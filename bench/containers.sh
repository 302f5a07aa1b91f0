#!/bin/sh
# bench/containers.sh - detached-container figures beside podman, as ratios:
#   run -d to first log line, exec latency, stop of 50 containers.
# Uses the binary scripts/release.sh builds (or $KILN)
# and Debian's podman with the flags the peer bench found necessary here
# (--runtime runc, --network=none, ulimits; bench/peers/); kiln gets
# --network none too, so neither starts a user-mode network stack. N runs
# each, medians.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
KILN=${KILN:-$("$here/scripts/release.sh")}
N=${N:-10}
work=$(mktemp -d /tmp/kiln-bench-containers.XXXXXX)
root=$work/root
trap 'for id in $($KILN --root $root ps -aq 2>/dev/null); do $KILN --root $root rm -f $id >/dev/null; done; rm -rf $work' EXIT
sh "$here/testdata/scripts/make-busybox-rootfs.sh" "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
$KILN --root "$root" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox >/dev/null
PODMAN_RUN="podman run --runtime runc --network=none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768"
have_podman=0
if command -v podman >/dev/null; then
    podman import --change 'CMD ["sh"]' "$work/busybox.tar" localhost/kiln-bench-busybox:latest >/dev/null 2>&1 && have_podman=1
fi

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# run -d, then poll `logs` until the first line shows
first_line_kiln() {
    t0=$(now)
    id=$($KILN --root "$root" run -d --network none busybox sh -c 'echo up; exec sleep 100')
    until $KILN --root "$root" logs "$id" | grep -q up; do :; done
    t1=$(now)
    $KILN --root "$root" rm -f "$id" >/dev/null
    echo "$t1 - $t0" | bc
}
first_line_podman() {
    t0=$(now)
    id=$($PODMAN_RUN -d localhost/kiln-bench-busybox sh -c 'echo up; exec sleep 100')
    until podman logs "$id" 2>/dev/null | grep -q up; do :; done
    t1=$(now)
    podman rm -f -t 0 "$id" >/dev/null
    echo "$t1 - $t0" | bc
}

exec_kiln() {
    t0=$(now); $KILN --root "$root" exec "$1" true; t1=$(now); echo "$t1 - $t0" | bc
}
exec_podman() {
    t0=$(now); podman exec "$1" true; t1=$(now); echo "$t1 - $t0" | bc
}

# PID 1 with a TERM handler, so stop measures the stop, not the timeout
TRAP='trap "exit 0" TERM; sleep 1000 & wait'
stop50_kiln() {
    ids=""
    for i in $(seq 50); do ids="$ids $($KILN --root "$root" run -d --network none busybox sh -c "$TRAP")"; done
    t0=$(now); $KILN --root "$root" stop -t 10 $ids >/dev/null; t1=$(now)
    $KILN --root "$root" rm -f $ids >/dev/null
    echo "$t1 - $t0" | bc
}
stop50_podman() {
    ids=""
    for i in $(seq 50); do ids="$ids $($PODMAN_RUN -d localhost/kiln-bench-busybox sh -c "$TRAP")"; done
    t0=$(now); podman stop -t 10 $ids >/dev/null; t1=$(now)
    podman rm -f $ids >/dev/null
    echo "$t1 - $t0" | bc
}

report() { # name kiln podman
    if [ "$3" = "-" ]; then
        printf '%-28s kiln %8.3f s   podman      -\n' "$1" "$2"
    else
        printf '%-28s kiln %8.3f s   podman %8.3f s   kiln/podman %.2f\n' "$1" "$2" "$3" "$(echo "$2 / $3" | bc -l)"
    fi
}

k=$(for i in $(seq "$N"); do first_line_kiln; done | median)
p=-; [ $have_podman = 1 ] && p=$(for i in $(seq "$N"); do first_line_podman; done | median)
report "run -d to first log line" "$k" "$p"

kid=$($KILN --root "$root" run -d --network none busybox sleep 1000)
k=$(for i in $(seq "$N"); do exec_kiln "$kid"; done | median)
p=-
if [ $have_podman = 1 ]; then
    pid=$($PODMAN_RUN -d localhost/kiln-bench-busybox sleep 1000)
    p=$(for i in $(seq "$N"); do exec_podman "$pid"; done | median)
    podman rm -f -t 0 "$pid" >/dev/null
fi
$KILN --root "$root" rm -f "$kid" >/dev/null
report "exec true" "$k" "$p"

k=$(stop50_kiln)
p=-; [ $have_podman = 1 ] && p=$(stop50_podman)
report "stop of 50 (TERM handled)" "$k" "$p"
