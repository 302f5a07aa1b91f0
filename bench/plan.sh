#!/usr/bin/env bash
# plan.sh - what planning a Dockerfile costs as the file grows, and how fast
# kiln stops when interrupted while it plans.
#
# For RUN-heavy and ENV-heavy files of 1k, 10k and 100k instructions it
# prints the wall time and peak RSS of
#   check  `kiln check -f FILE`: parse and lint;
#   build  `kiln build` up to its first step: the files are FROM scratch and
#          their first layer step (RUN-heavy: the first line; ENV-heavy: the
#          last) cannot start (scratch has no /bin/sh), so the build ends
#          right after it planned every instruction and asked for that step.
# Then it starts `kiln build` on a file big enough to plan for seconds
# (SIGNAL_LINES RUN lines), sends SIGINT (then, in a second run, SIGTERM)
# after SIGNAL_AFTER seconds and prints how long kiln took to exit and with
# which code, and whether `kiln cache check` passes on the root afterwards.
#
# Usage: bench/plan.sh            (KILN=path/to/kiln to time another binary)
# Knobs: SIZES="1000 10000 100000"  LIMIT=600 (seconds a run may take before
#        it is stopped: the quadratic planner of old needed more)
#        MEM_LIMIT_MB=4096 (address space per run: the old planner needed
#        ~450 MB per 1,000 RUN lines squared, and would take the machine)
#        SIGNALS=1 (0: skip the stop measurements)  SIGNAL_LINES=1000000
#        SIGNAL_AFTER=0.3
# Needs root (a build's step starts a container), GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-$(scripts/release.sh)}
SIZES=${SIZES:-"1000 10000 100000"}
LIMIT=${LIMIT:-600}
MEM_LIMIT_MB=${MEM_LIMIT_MB:-4096}
SIGNALS=${SIGNALS:-1}
SIGNAL_LINES=${SIGNAL_LINES:-1000000}
SIGNAL_AFTER=${SIGNAL_AFTER:-0.3}
work=$(mktemp -d /tmp/kiln-plan.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ctx"

# gen KIND N FILE: N instructions after FROM.
gen() {
    case $1 in
    run) awk -v n="$2" 'BEGIN { print "FROM scratch"; print "RUN false";
                                for (i = 1; i < n; i++) print "RUN true " i }' >"$3" ;;
    # Each ENV reads a variable the stage set first, so every expansion
    # looks a name up in an environment of up to N variables.
    env) awk -v n="$2" 'BEGIN { print "FROM scratch"; print "ENV V0=base";
                                for (i = 1; i < n - 1; i++) print "ENV V" i "=${V0}-" i;
                                print "RUN false" }' >"$3" ;;
    esac
}

# timed LABEL CMD...: one line of the table; a run past LIMIT is stopped,
# one past MEM_LIMIT_MB fails its allocation (abort: exit 134).
timed() {
    local label=$1
    shift
    local code=0
    (
        ulimit -v $((MEM_LIMIT_MB * 1024))
        exec /usr/bin/time -f '%e %M' -o "$work/time" timeout "$LIMIT" "$@"
    ) >/dev/null 2>"$work/err" || code=$?
    local secs kib
    read -r secs kib < <(tail -1 "$work/time")
    case $code in
    124) printf '%-28s %10s %12s  %s\n' "$label" ">$LIMIT" "-" "stopped after ${LIMIT}s" ;;
    134) printf '%-28s %10s %12s  %s\n' "$label" "$secs" ">$MEM_LIMIT_MB" "out of memory (abort)" ;;
    *) printf '%-28s %10s %12s  exit %s\n' "$label" "$secs" "$((kib / 1024))" "$code" ;;
    esac
}

echo "kiln: $KILN"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %10s %12s  %s\n' "case" "seconds" "peak MiB" "result"
for kind in run env; do
    for n in $SIZES; do
        df=$work/$kind-$n.Dockerfile
        gen "$kind" "$n" "$df"
        timed "check $kind $n" "$KILN" check -f "$df"
        root=$work/root-$kind-$n
        timed "build $kind $n" "$KILN" --root "$root" build --progress=plain -f "$df" "$work/ctx"
        rm -rf "$root"
    done
done

# stop SIGNAL: how long kiln takes to exit after SIGNAL while it plans.
stop() {
    local sig=$1 root=$work/root-signal
    local df=$work/signal.Dockerfile
    [ -f "$df" ] || gen run "$SIGNAL_LINES" "$df"
    rm -rf "$root"
    "$KILN" --root "$root" build --progress=plain -f "$df" "$work/ctx" >/dev/null 2>"$work/err" &
    local pid=$!
    sleep "$SIGNAL_AFTER"
    local t0 t1 code=0
    t0=$(date +%s%N)
    kill -"$sig" "$pid"
    wait "$pid" || code=$?
    t1=$(date +%s%N)
    local check=ok
    "$KILN" --root "$root" cache check >/dev/null 2>&1 || check=FAILED
    printf '%-28s %10s ms  exit %s, cache check %s\n' "SIG$sig after ${SIGNAL_AFTER}s" \
        "$(((t1 - t0) / 1000000))" "$code" "$check"
}

[ "$SIGNALS" = 1 ] || exit 0
echo
echo "stopping a build that plans $SIGNAL_LINES RUN lines:"
timed "build run $SIGNAL_LINES (whole)" "$KILN" --root "$work/root-whole" build --progress=plain \
    -f "$(gen run "$SIGNAL_LINES" "$work/signal.Dockerfile"; echo "$work/signal.Dockerfile")" "$work/ctx"
stop INT
stop TERM
