#!/bin/sh
# paired.sh [PAIR ...] - kiln against one peer, runs alternated (kiln, peer,
# kiln, peer, ...) by harness.py --vs, so that both sides see the same load
# on a shared machine.  Prints both series and the kiln/peer ratio of each
# pair (min / median / max); results go to $OUT/paired.<pair>.txt.
#
# PAIR: cold-bkc cold-bk noop-bkc noop-bk change-bkc change-bk
#       parallel-bkc parallel-bk export-random export-text
#       toolchain-bkc toolchain-before biglayer-random-bkc biglayer-text-bkc
#       biglayer-random-before biglayer-text-before
#       (default: all but the exports, the big layers and the -before pairs)
# export-*: kiln's `--output type=oci,compression=zstd` of a freshly built
# 1000 MiB image (the RUN is rebuilt before each run, untimed) against
# `tar -c | zstd -3 -T2` of the image's rootfs (kiln writes it once with
# --output type=local).
#
# biglayer-*: the whole job of a 1000 MiB layer: a `--no-cache` build and
# its `--output type=oci,compression=zstd`, against BuildKit's build with
# the same output (`--keep-storage 50` keeps only its base), or another
# kiln ($KILN_BEFORE); caches dropped before each run (untimed).
#
# toolchain-*: a `--no-cache` build of bench/cases/toolchain-stage, whose
# builder stage makes 1000 MiB the final FROM scratch stage does not take;
# against BuildKit, or against another kiln ($KILN_BEFORE) in a store of
# its own. The build cache is pruned before each run (untimed).
#
# Needs what run-peers.sh needs (peers-setup.sh; `bkc` pairs need buildkitd
# on $BK_SOCK).  Environment: KILN (required), KILN_ROOT, N (default 7),
# BENCH, OUT, BK_BIN, BK_SOCK, KILN_BEFORE (the -before pairs only).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=${BENCH:-/tmp/bench}
CTX=$BENCH/ctx
OUT=${OUT:-$BENCH/results}
N=${N:-7}
KILN=${KILN:?set KILN to a kiln binary}
KILN_ROOT=${KILN_ROOT:-$BENCH/kiln-root}
BK_BIN=${BK_BIN:-/tmp/bk-bin}
BK_SOCK=${BK_SOCK:-/tmp/bk.sock}
BUILDCTL="$BK_BIN/buildctl --addr unix://$BK_SOCK"
DOCKER=/usr/bin/docker
EMPTY=$CTX/empty
X=$BENCH/out/paired
mkdir -p "$OUT" "$EMPTY" "$X"

case_dir() {
    if [ -d "$HERE/cases/$1" ]; then echo "$HERE/cases/$1"; else echo "$HERE/../cases/$1"; fi
}
log() { printf '[paired %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
loadavg() { printf '%s load %s\n' "$(date +%T)" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
kiln_build() { echo "$KILN --root $1 build --network=none -q"; }
bk_build() { echo "env DOCKER_BUILDKIT=1 $DOCKER build --network=none -q"; }
bkc_build() { # OUTPUT DOCKERFILE-DIR CONTEXT [EXTRA...]
    o=$1 dfdir=$2 ctx=$3; shift 3
    echo "$BUILDCTL build --progress=plain --frontend dockerfile.v0 --opt force-network-mode=none --local context=$ctx --local dockerfile=$dfdir --output $o $*"
}
kiln_import() {
    $KILN --root "$1" image inspect busybox:latest >/dev/null 2>&1 ||
        $KILN --root "$1" import "$BENCH/busybox-rootfs.tar" busybox:latest --change 'CMD ["sh"]' >/dev/null
}
# pair NAME WARMUP KILN-CMD PEER-CMD [KILN-PREPARE [PEER-PREPARE]]
pair() {
    name=$1 warm=$2 a=$3 b=$4 pa=${5:-} pb=${6:-}
    log "$name"
    f=$OUT/paired.$name
    loadavg > "$f.txt"
    python3 "$HERE/harness.py" -n "$N" --warmup "$warm" --timeout 1800 \
        ${pa:+--prepare "$pa"} ${pb:+--vs-prepare "$pb"} \
        --vs "$b >>$f.log 2>&1" -- sh -c "$a >>$f.log 2>&1" >> "$f.txt" 2>&1 || true
    loadavg >> "$f.txt"
    cat "$f.txt"
}

ctx_ready() { # CASE: the generated context, built once by each side
    [ -d "$CTX/$1/files" ] || sh "$(case_dir "$1")/gen.sh" "$CTX/$1"
}

run_pair() {
    case $1 in
    cold-bkc|cold-bk)
        ctx_ready noop-rebuild
        c=$CTX/noop-rebuild cold=$KILN_ROOT-cold
        kp="rm -rf $cold && $KILN --root $cold import $BENCH/busybox-rootfs.tar busybox:latest --change 'CMD [\"sh\"]'"
        if [ "$1" = cold-bkc ]; then
            pair "$1" 0 "$(kiln_build "$cold") $c" "$(bkc_build type=image,name=bench/cold:bkc "$c" "$c")" \
                "$kp" "$BUILDCTL prune --all >/dev/null"
        else
            pair "$1" 0 "$(kiln_build "$cold") $c" "$(bk_build) -t bench/cold:bk $c" \
                "$kp" "$DOCKER rmi -f bench/cold:bk >/dev/null 2>&1; DOCKER_BUILDKIT=1 $DOCKER builder prune -af >/dev/null"
        fi
        rm -rf "$cold" ;;
    noop-bkc)
        ctx_ready noop-rebuild; c=$CTX/noop-rebuild
        pair "$1" 1 "$(kiln_build "$KILN_ROOT") $c" "$(bkc_build type=image,name=bench/noop:bkc "$c" "$c")" ;;
    noop-bk)
        ctx_ready noop-rebuild; c=$CTX/noop-rebuild
        pair "$1" 1 "$(kiln_build "$KILN_ROOT") $c" "$(bk_build) -t bench/noop:bk $c" ;;
    change-bkc|change-bk)
        ctx_ready one-file-change; c=$CTX/one-file-change
        m="sh $(case_dir one-file-change)/mutate.sh $c"
        if [ "$1" = change-bkc ]; then b=$(bkc_build type=image,name=bench/change:bkc "$c" "$c")
        else b="$(bk_build) -t bench/change:bk $c"; fi
        pair "$1" 1 "$m && $(kiln_build "$KILN_ROOT") $c" "$m && $b" ;;
    parallel-bkc|parallel-bk)
        d=$(case_dir parallel-stages)
        if [ "$1" = parallel-bkc ]; then b=$(bkc_build type=image,name=bench/par:bkc "$d" "$EMPTY" --no-cache)
        else b="$(bk_build) --no-cache -t bench/par:bk -f $d/Dockerfile $EMPTY"; fi
        pair "$1" 1 "$(kiln_build "$KILN_ROOT") --no-cache -f $d/Dockerfile $EMPTY" "$b" ;;
    export-random|export-text)
        d=$(case_dir "big-layer-${1#export-}")
        log "$1: building the image and its rootfs"
        $(kiln_build "$KILN_ROOT") -t "bench/$1:kiln" -f "$d/Dockerfile" "$EMPTY" > "$OUT/paired.$1.log" 2>&1
        rm -rf "$X/rootfs"
        $(kiln_build "$KILN_ROOT") --output "type=local,dest=$X/rootfs" -f "$d/Dockerfile" "$EMPTY" >> "$OUT/paired.$1.log" 2>&1
        # kiln keeps each layer once per compression and reuses it on the
        # next export (as BuildKit reuses its blobs), so the prepare step
        # rebuilds the RUN (--no-cache, untimed): every timed export
        # compresses a new 1000 MiB layer with zstd; both sides sync first, so
        # that no writeback of the rebuild runs during the timed export
        pair "$1" 0 "rm -f $X/k.tar && $(kiln_build "$KILN_ROOT") --output type=oci,dest=$X/k.tar,compression=zstd -f $d/Dockerfile $EMPTY" \
            "rm -f $X/r.tar.zst && tar -C $X/rootfs -cf - . | zstd -q -3 -T2 -o $X/r.tar.zst" \
            "$(kiln_build "$KILN_ROOT") --no-cache -f $d/Dockerfile $EMPTY && sync" "sync"
        ls -l "$X/k.tar" "$X/r.tar.zst" >> "$OUT/paired.$1.txt"
        rm -rf "$X/rootfs" "$X/k.tar" "$X/r.tar.zst" ;;
    biglayer-random-bkc|biglayer-text-bkc|biglayer-random-before|biglayer-text-before)
        # The whole job: a --no-cache build of a 1000 MiB RUN layer and its
        # zstd OCI export, from a store holding only the base (untimed
        # prune, caches dropped: both start cold).
        v=${1#biglayer-}; d=$(case_dir "big-layer-${v%-*}")
        o="type=oci,dest=$X/big.tar,compression=zstd"
        k="$(kiln_build "$KILN_ROOT") --no-cache -t bench/big:kiln -o $o -f $d/Dockerfile $EMPTY"
        drop="sync && echo 3 > /proc/sys/vm/drop_caches"
        # The last run's image, then the cache that held its layer.
        free() { echo "$1 --root $2 rmi -f bench/big:kiln >/dev/null 2>&1; $1 --root $2 cache prune -af >/dev/null && rm -f $X/big.tar && $drop"; }
        kp=$(free "$KILN" "$KILN_ROOT")
        case $1 in
        *-bkc) pair "$1" 0 "$k" "$(bkc_build "$o" "$d" "$EMPTY" --no-cache)" \
            "$kp" "$BUILDCTL prune --keep-storage 50 >/dev/null && rm -f $X/big.tar && $drop" ;;
        *)
            before=${KILN_BEFORE:?set KILN_BEFORE to the kiln to compare}
            kiln_import "$KILN_ROOT-before"
            pair "$1" 0 "$k" "$before --root $KILN_ROOT-before build --network=none -q --no-cache -t bench/big:kiln -o $o -f $d/Dockerfile $EMPTY" \
                "$kp" "$(free "$before" "$KILN_ROOT-before")" ;;
        esac
        rm -f "$X/big.tar" ;;
    toolchain-bkc|toolchain-before)
        d=$(case_dir toolchain-stage)
        k="$(kiln_build "$KILN_ROOT") --no-cache -f $d/Dockerfile $EMPTY"
        kp="$KILN --root $KILN_ROOT cache prune -af >/dev/null && sync"
        if [ "$1" = toolchain-bkc ]; then
            pair "$1" 0 "$k" "$(bkc_build type=image,name=bench/toolchain:bkc "$d" "$EMPTY" --no-cache)" \
                "$kp" "$BUILDCTL prune --all >/dev/null && sync"
        else
            before=${KILN_BEFORE:?set KILN_BEFORE to the kiln to compare}
            kiln_import "$KILN_ROOT-before"
            pair "$1" 0 "$k" "$before --root $KILN_ROOT-before build --network=none -q --no-cache -f $d/Dockerfile $EMPTY" \
                "$kp" "$before --root $KILN_ROOT-before cache prune -af >/dev/null && sync"
        fi ;;
    *) echo "unknown pair $1" >&2; exit 2 ;;
    esac
}

kiln_import "$KILN_ROOT"
[ $# -gt 0 ] || set -- cold-bkc noop-bkc noop-bk change-bkc change-bk parallel-bkc parallel-bk
for p in "$@"; do run_pair "$p"; done
