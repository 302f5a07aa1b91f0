#!/usr/bin/env bash
# rootless.sh - what running kiln as an ordinary user costs: a cold and a
# cached build of a small Dockerfile (FROM busybox, a RUN, a COPY) and
# `kiln run --rm busybox true`, as root and as the user `kilntest`
# (rootless, in its user namespace, started with setpriv), with the
# ratios rootless/root.
#
#   sudo bench/rootless.sh
#
# Environment: KILN (default: what scripts/release.sh builds), N runs of
# `run --rm` (default 30; the median is shown), BUILDS cold and cached
# builds each (default 5; medians). The user must exist with subordinate
# IDs (cli/tests/it/rootless.rs makes it: `useradd --create-home
# kilntest; usermod --add-subuids 200000-265535 --add-subgids
# 200000-265535 kilntest`), and /dev/net/tun must be mode 0666. The
# rootless side's first command starts the user's pause process; one
# warm-up command runs before anything is timed, so no figure includes it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
N=${N:-30}
BUILDS=${BUILDS:-5}
USER_NAME=kilntest
KILN=${KILN:-$("$repo/scripts/release.sh")}

id "$USER_NAME" >/dev/null || { echo "rootless.sh: no user $USER_NAME (see the header)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/kiln-bench-rootless-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"
cp "$KILN" "$WORK/kiln"
sh "$repo/testdata/scripts/make-busybox-rootfs.sh" "$WORK/rootfs" >/dev/null
tar --numeric-owner -C "$WORK/rootfs" -cf "$WORK/busybox.tar" .
chmod 644 "$WORK/busybox.tar"
mkdir -p "$WORK/ctx" "$WORK/user"
printf 'hello\n' >"$WORK/ctx/hello.txt"
chown -R "$USER_NAME:" "$WORK/user"
chmod -R a+rX "$WORK/ctx"

# kiln_as WHO ARGS... : kiln on WHO's store (root or the user), quiet
kiln_as() {
    local who=$1; shift
    if [ "$who" = root ]; then
        "$WORK/kiln" --root "$WORK/root-store" "$@"
    else
        HOME=$WORK/user setpriv --reuid="$USER_NAME" --regid="$USER_NAME" --init-groups -- \
            "$WORK/kiln" --root "$WORK/user/store" "$@"
    fi
}

# ms CMD... : wall milliseconds of one command (its output kept aside,
# shown if it fails, which ends the script)
ms() {
    local t0 t1
    t0=$EPOCHREALTIME
    "$@" >"$WORK/last.log" 2>&1 || { echo "rootless.sh: failed: $*" >&2; cat "$WORK/last.log" >&2; return 1; }
    t1=$EPOCHREALTIME
    echo "($t1 - $t0) * 1000" | bc -l
}

median() { sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.1f", m}'; }

# Each build has a Dockerfile of its own (the RUN echoes the round), so a
# cold build misses the cache at the RUN and a cached one repeats it.
dockerfile() { printf 'FROM busybox\nRUN echo %s > /round && mkdir /a && chown 1000:1000 /a\nCOPY hello.txt /hello.txt\n' "$1"; }

declare -A result
for who in root user; do
    kiln_as "$who" import "$WORK/busybox.tar" busybox >/dev/null
    kiln_as "$who" run --rm busybox true # warm-up (the user's pause process)
    cold=() cached=() runs=()
    for i in $(seq "$BUILDS"); do
        dockerfile "$who-$i-$$" >"$WORK/ctx/Dockerfile"
        cold+=("$(ms kiln_as "$who" build -q "$WORK/ctx")")
        cached+=("$(ms kiln_as "$who" build -q "$WORK/ctx")")
    done
    for i in $(seq "$N"); do
        runs+=("$(ms kiln_as "$who" run --rm busybox true)")
    done
    result[$who-cold]=$(printf '%s\n' "${cold[@]}" | median)
    result[$who-cached]=$(printf '%s\n' "${cached[@]}" | median)
    result[$who-run]=$(printf '%s\n' "${runs[@]}" | median)
done

# The root side runs kiln directly, the rootless side through setpriv (a
# plain exec, no PAM session as runuser opens): its own cost, measured
# alone, is shown so it can be taken off.
setpriv_ms=()
for i in $(seq "$N"); do
    setpriv_ms+=("$(ms setpriv --reuid="$USER_NAME" --regid="$USER_NAME" --init-groups -- true)")
done
sp=$(printf '%s\n' "${setpriv_ms[@]}" | median)

printf '%-28s %10s %10s %8s\n' "median ms" root rootless ratio
for what in cold cached run; do
    case $what in
        cold) label="build, cold (RUN + COPY)" ;;
        cached) label="build, fully cached" ;;
        run) label="run --rm busybox true" ;;
    esac
    r=${result[root-$what]} u=${result[user-$what]}
    printf '%-28s %10s %10s %8s\n' "$label" "$r" "$u" "$(echo "$u / $r" | bc -l | xargs printf '%.2f')"
done
printf '(setpriv itself: %s ms, included in the rootless column)\n' "$sp"
