#!/bin/sh
# run-peers.sh [CASE ...] - measure the benchmark cases with kiln and the peer
# tools, each peer right after the other so that every ratio comes from one
# sitting.  Adapted from the shared peer bench (see SOURCES.md).
#
# CASE: cold-build noop-rebuild one-file-change parallel-stages
#       big-layer-random big-layer-text run-latency   (default: all, in order)
#
# Needs peers-setup.sh to have run (dockerd up, busybox:latest imported); the
# peer "bkc" (today's BuildKit, buildctl) needs `buildkit-current.sh start`.
# Every figure is a whole-process wall time taken from outside the command,
# median of N runs after warm-up runs; results go to $OUT/<case>.<peer>.txt,
# each with the load average before and after the series.  summarize.py
# turns them into the tables of ../RESULTS.md.
#
# Environment:
#   TIMER   timing command taking "-n N --warmup W --timeout S [--prepare C] -- CMD..."
#           (default: python3 harness.py beside this script)
#   N       runs for fast cases (default 5)
#   NSLOW   runs for slow cases (default 3)
#   PEERS   subset of: bk bkc classic buildah buildah-layers buildah-j4 podman kiln
#           (default: all that apply to the case; bkc only when buildkitd runs)
#   KILN    path of a kiln binary: adds the peer "kiln"
#   KILN_ROOT  kiln's store for the benchmark (default $BENCH/kiln-root); it
#           gets busybox:latest imported from $BENCH/busybox-rootfs.tar
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=${BENCH:-/tmp/bench}
CTX=$BENCH/ctx
OUT=${OUT:-$BENCH/results}
TIMER=${TIMER:-python3 $HERE/harness.py}
N=${N:-5}
NSLOW=${NSLOW:-3}
DOCKER=/usr/bin/docker          # the 20.10 CLI with the built-in BuildKit client
EMPTY=$CTX/empty
KILN_ROOT=${KILN_ROOT:-$BENCH/kiln-root}
BK_BIN=${BK_BIN:-/tmp/bk-bin}
BK_SOCK=${BK_SOCK:-/tmp/bk.sock}
BUILDCTL="$BK_BIN/buildctl --addr unix://$BK_SOCK"
bkc_up() { [ -x "$BK_BIN/buildctl" ] && $BUILDCTL debug workers >/dev/null 2>&1; }
if [ -z "${PEERS:-}" ]; then
    PEERS="bk classic buildah buildah-layers buildah-j4 podman${KILN:+ kiln}"
    if bkc_up; then PEERS="$PEERS bkc"; fi
fi
mkdir -p "$OUT" "$EMPTY" "$BENCH/out"

# Cases live in bench/peers/cases (the peer-only ones) or bench/cases (shared
# with bench/build.sh).
case_dir() {
    if [ -d "$HERE/cases/$1" ]; then echo "$HERE/cases/$1"; else echo "$HERE/../cases/$1"; fi
}

# build command of each peer (tag and context appended by the caller)
build_cmd() {
    case $1 in
        bk)             echo "env DOCKER_BUILDKIT=1 $DOCKER build --network=none -q" ;;
        classic)        echo "env DOCKER_BUILDKIT=0 $DOCKER build -q" ;;
        buildah)        echo "buildah bud --network=none --runtime runc -q" ;;
        buildah-layers) echo "buildah bud --layers --network=none --runtime runc -q" ;;
        buildah-j4)     echo "buildah bud --jobs 4 --network=none --runtime runc -q" ;;
        podman)         echo "podman build --network=none --runtime runc -q" ;;
        kiln)           echo "$KILN --root $KILN_ROOT build --network=none -q" ;;
    esac
}
# bkc_cmd OUTPUT DOCKERFILE-DIR CONTEXT [EXTRA...]: one buildctl build
# (force-network-mode=none: each RUN gets a loopback-only netns, as
# `docker build --network=none`)
bkc_cmd() {
    o=$1 dfdir=$2 ctx=$3; shift 3
    echo "$BUILDCTL build --progress=plain --frontend dockerfile.v0 --opt force-network-mode=none --local context=$ctx --local dockerfile=$dfdir --output $o $*"
}
want() { case " $PEERS " in *" $1 "*) return 0 ;; esac; return 1; }
log() { printf '[run-peers %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
loadavg() { printf '%s load %s\n' "$(date +%T)" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
dockerd_rss() {
    [ -s "$BENCH/dockerd.pid" ] || return 0
    printf '%s %s dockerd_rss_kib=%s containerd_rss_kib=%s\n' "$(date +%H:%M:%S)" "$1" \
        "$(ps -o rss= -p "$(cat "$BENCH/dockerd.pid")" 2>/dev/null | tr -d ' ')" \
        "$(ps -o rss= --ppid "$(cat "$BENCH/dockerd.pid")" 2>/dev/null | head -1 | tr -d ' ')" \
        >> "$OUT/dockerd-rss.txt"
}
# measure NAME RUNS WARMUP TIMEOUT SHELL-COMMAND [PREPARE-COMMAND]
# The command's own output goes to NAME.log (kept for failed runs).
measure() {
    name=$1 runs=$2 warm=$3 tmo=$4 cmd=$5 prep=${6:-}
    log "$name: $cmd"
    dockerd_rss "before $name"
    : > "$OUT/$name.log"
    loadavg > "$OUT/$name.txt"
    if [ -n "$prep" ]; then
        $TIMER -n "$runs" --warmup "$warm" --timeout "$tmo" --prepare "$prep" -- \
            sh -c "$cmd >>$OUT/$name.log 2>&1" >> "$OUT/$name.txt" 2>&1 || true
    else
        $TIMER -n "$runs" --warmup "$warm" --timeout "$tmo" -- \
            sh -c "$cmd >>$OUT/$name.log 2>&1" >> "$OUT/$name.txt" 2>&1 || true
    fi
    loadavg >> "$OUT/$name.txt"
    dockerd_rss "after $name"
    cat "$OUT/$name.txt"
    if grep -q 'exit codes: \[.*[1-9]' "$OUT/$name.txt"; then
        log "$name: a run failed, see $OUT/$name.log"
    fi
}
prune() {
    $DOCKER image prune -f >/dev/null 2>&1 || true
    DOCKER_BUILDKIT=1 $DOCKER builder prune -af >/dev/null 2>&1 || true
    buildah rm --all >/dev/null 2>&1 || true
    podman image prune -f >/dev/null 2>&1 || true
    if bkc_up; then $BUILDCTL prune --all >/dev/null 2>&1 || true; fi
    if want kiln; then
        for i in $($KILN --root "$KILN_ROOT" images -q 2>/dev/null | sort -u); do
            $KILN --root "$KILN_ROOT" rmi -f "$i" >/dev/null 2>&1 || true
        done
        kiln_import "$KILN_ROOT"
        $KILN --root "$KILN_ROOT" cache prune -af >/dev/null 2>&1 || true
    fi
}
# kiln_import ROOT: busybox:latest into a kiln store, as peers-setup.sh
# imports it into docker and containers-storage
kiln_import() {
    $KILN --root "$1" image inspect busybox:latest >/dev/null 2>&1 ||
        $KILN --root "$1" import "$BENCH/busybox-rootfs.tar" busybox:latest --change 'CMD ["sh"]' >/dev/null
}
layer_types() { # OCI archive: media type and size of each layer
    python3 - "$1" <<'PY' || true
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
rd = lambda n: json.load(t.extractfile(n))
d = rd("index.json")["manifests"][0]
while True:
    doc = rd("blobs/sha256/" + d["digest"].split(":")[1])
    if "manifests" not in doc:
        break
    d = doc["manifests"][0]
for l in doc["layers"]:
    print("layer", l["mediaType"], l["size"])
PY
}

# cold-build: the noop-rebuild context built with every build cache emptied
# before each run (the base image stays; the emptying is not timed)
case_cold() {
    c=cold-build
    sh "$(case_dir noop-rebuild)/gen.sh" "$CTX/$c"
    if want bk; then
        measure "$c.bk" "$NSLOW" 0 900 "$(build_cmd bk) -t bench/$c:bk $CTX/$c" \
            "$DOCKER rmi -f bench/$c:bk >/dev/null 2>&1; DOCKER_BUILDKIT=1 $DOCKER builder prune -af >/dev/null"
    fi
    if want podman; then
        measure "$c.podman" "$NSLOW" 0 900 "$(build_cmd podman) -t bench/$c:podman $CTX/$c" \
            "podman rmi -f bench/$c:podman >/dev/null 2>&1; podman image prune -f >/dev/null"
    fi
    if want kiln; then
        cold=$KILN_ROOT-cold
        measure "$c.kiln" "$NSLOW" 0 900 "$KILN --root $cold build --network=none -q -t bench/$c:kiln $CTX/$c" \
            "rm -rf $cold && $KILN --root $cold import $BENCH/busybox-rootfs.tar busybox:latest --change 'CMD [\"sh\"]'"
        rm -rf "$cold"
    fi
    if want bkc; then
        # buildctl prune --all also drops the base image: the cold build
        # fetches busybox (2 MB) again from the loopback registry
        measure "$c.bkc" "$NSLOW" 0 900 \
            "$(bkc_cmd "type=image,name=bench/$c:bkc" "$CTX/$c" "$CTX/$c")" \
            "$BUILDCTL prune --all >/dev/null"
    fi
}

case_cached() { # noop-rebuild | one-file-change
    c=$1
    sh "$(case_dir "$c")/gen.sh" "$CTX/$c"
    for p in bk classic buildah-layers podman kiln bkc; do
        want $p || continue
        if [ $p = bkc ]; then
            cmd=$(bkc_cmd "type=image,name=bench/$c:bkc" "$CTX/$c" "$CTX/$c")
        else
            cmd="$(build_cmd $p) -t bench/$c:$p $CTX/$c"
        fi
        log "$c.$p: priming build"
        sh -c "$cmd" > "$OUT/$c.$p.prime.log" 2>&1
        if [ "$c" = noop-rebuild ]; then
            measure "$c.$p" "$N" 1 900 "$cmd"
        else
            measure "$c.$p" "$NSLOW" 1 900 "sh $(case_dir "$c")/mutate.sh $CTX/$c && $cmd"
        fi
    done
}

case_parallel() {
    c=parallel-stages
    d=$(case_dir $c)
    for p in bk classic buildah buildah-j4 podman kiln bkc; do
        want $p || continue
        if [ $p = bkc ]; then
            measure "$c.bkc" "$NSLOW" 1 900 "$(bkc_cmd "type=image,name=bench/$c:bkc" "$d" "$EMPTY" --no-cache)"
            continue
        fi
        extra=""; [ $p = podman ] && extra="--jobs 4"
        measure "$c.$p" "$NSLOW" 1 900 \
            "$(build_cmd $p) $extra --no-cache -t bench/$c:$p -f $d/Dockerfile $EMPTY"
        if [ $p = kiln ]; then
            # kiln's default --jobs is the CPU count (2 here); 4 as well
            measure "$c.kiln-j4" "$NSLOW" 1 900 \
                "$(build_cmd kiln) --jobs 4 --no-cache -t bench/$c:kiln -f $d/Dockerfile $EMPTY"
            # each stage alone: the sum of these is the serial time
            for s in s1 s2 s3 s4; do
                measure "$c.kiln-stage-$s" "$NSLOW" 1 900 \
                    "$(build_cmd kiln) --no-cache --target $s -f $d/Dockerfile $EMPTY"
            done
        fi
    done
}

# export_ref C: the reference for the export target, `tar -c | zstd -T2` of
# the same rootfs (busybox + the 1000 MiB layer), written out by kiln itself
export_ref() {
    c=$1 d=$(case_dir "$1") x=$BENCH/out/x.tar
    rootfs=$BENCH/out/rootfs
    rm -rf "$rootfs"
    $KILN --root "$KILN_ROOT" build --network=none -q --output "type=local,dest=$rootfs" \
        -f "$d/Dockerfile" "$EMPTY" > "$OUT/$c.rootfs.log" 2>&1
    du -sm "$rootfs" >> "$OUT/$c.rootfs.log"
    measure "$c.export-tar-zstd" "$NSLOW" 1 900 \
        "rm -f $x.zst && tar -C $rootfs -cf - . | zstd -q -3 -T2 -o $x.zst"
    ls -l "$x.zst" >> "$OUT/$c.export-tar-zstd.txt"
    measure "$c.export-tar" "$NSLOW" 1 900 "rm -f $x && tar -C $rootfs -cf $x ."
    ls -l "$x" >> "$OUT/$c.export-tar.txt"
    rm -rf "$rootfs" "$x" "$x.zst"
}

case_big() { # big-layer-random | big-layer-text
    c=$1 d=$(case_dir "$1") x=$BENCH/out/x.tar
    for p in bk classic buildah podman kiln bkc; do
        want $p || continue
        prune
        if [ $p = bkc ]; then
            measure "$c.bkc" "$NSLOW" 0 1200 \
                "$(bkc_cmd "type=image,name=bench/$c:bkc" "$d" "$EMPTY" --no-cache)"
        else
            measure "$c.$p" "$NSLOW" 0 1200 \
                "$(build_cmd $p) --no-cache -t bench/$c:$p -f $d/Dockerfile $EMPTY"
        fi
        case $p in
        bk)
            measure "$c.export-docker-save" "$NSLOW" 1 900 \
                "rm -f $x && exec $DOCKER save -o $x bench/$c:$p"
            ls -l "$x" >> "$OUT/$c.export-docker-save.txt"
            # BuildKit's own exporter (rootfs tar; the layer is cached, so this is export time)
            measure "$c.export-bk-tar" "$NSLOW" 1 900 \
                "rm -f $x && exec env DOCKER_BUILDKIT=1 $DOCKER build --network=none -q -o type=tar,dest=$x -f $d/Dockerfile $EMPTY"
            ls -l "$x" >> "$OUT/$c.export-bk-tar.txt"
            ;;
        kiln)
            # the RUN is a cache hit: this is export time (default layer
            # compression, then zstd asked for explicitly)
            measure "$c.export-kiln-oci" "$NSLOW" 1 900 \
                "rm -f $x && $(build_cmd kiln) --output type=oci,dest=$x -f $d/Dockerfile $EMPTY"
            ls -l "$x" >> "$OUT/$c.export-kiln-oci.txt"
            layer_types "$x" >> "$OUT/$c.export-kiln-oci.txt"
            measure "$c.export-kiln-oci-zstd" "$NSLOW" 1 900 \
                "rm -f $x && $(build_cmd kiln) --output type=oci,dest=$x,compression=zstd -f $d/Dockerfile $EMPTY"
            ls -l "$x" >> "$OUT/$c.export-kiln-oci-zstd.txt"
            layer_types "$x" >> "$OUT/$c.export-kiln-oci-zstd.txt"
            measure "$c.export-kiln-save-oci" "$NSLOW" 1 900 \
                "rm -f $x && exec $KILN --root $KILN_ROOT save --format oci -o $x bench/$c:$p"
            ls -l "$x" >> "$OUT/$c.export-kiln-save-oci.txt"
            export_ref "$c"
            ;;
        bkc)
            # default gzip blobs (made by the image build), then zstd forced
            measure "$c.export-bkc-oci" "$NSLOW" 1 900 \
                "rm -f $x && $(bkc_cmd "type=oci,dest=$x" "$d" "$EMPTY")"
            ls -l "$x" >> "$OUT/$c.export-bkc-oci.txt"
            layer_types "$x" >> "$OUT/$c.export-bkc-oci.txt"
            measure "$c.export-bkc-oci-zstd" "$NSLOW" 1 900 \
                "rm -f $x && $(bkc_cmd "type=oci,dest=$x,compression=zstd,force-compression=true" "$d" "$EMPTY")"
            ls -l "$x" >> "$OUT/$c.export-bkc-oci-zstd.txt"
            layer_types "$x" >> "$OUT/$c.export-bkc-oci-zstd.txt"
            ;;
        podman)
            measure "$c.export-podman-save-docker" "$NSLOW" 1 900 \
                "rm -f $x && exec podman save -q -o $x bench/$c:$p"
            ls -l "$x" >> "$OUT/$c.export-podman-save-docker.txt"
            measure "$c.export-podman-save-oci" "$NSLOW" 1 900 \
                "rm -f $x && exec podman save -q --format oci-archive -o $x bench/$c:$p"
            ls -l "$x" >> "$OUT/$c.export-podman-save-oci.txt"
            ;;
        esac
        rm -f "$x"
    done
    prune
}

case_run() {
    c=run-latency
    sh "$(case_dir $c)/make-bundle.sh" "$BENCH/bundle"
    if want bk; then measure "$c.docker" "$N" 2 300 "exec $DOCKER run --rm busybox:latest true"; fi
    if want podman; then
        measure "$c.podman" "$N" 2 300 \
            "exec podman run --rm --network=none --runtime runc --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 busybox:latest true"
    fi
    measure "$c.runc" "$N" 2 300 "exec runc run -b $BENCH/bundle bench-runc"
    if want kiln; then
        measure "$c.kiln" "$N" 2 300 "exec $KILN --root $KILN_ROOT run --rm --network=none busybox:latest true"
        measure "$c.kiln-rootfs" "$N" 2 300 "exec $KILN --root $KILN_ROOT run --rm --network=none --rootfs $BENCH/bundle/rootfs true"
    fi
    # crun 1.8.1 rejects the hybrid cgroup layout (controllers in cgroup2):
    # run it in a private mount namespace without /sys/fs/cgroup/unified.
    log "$c.crun (private mount namespace)"
    loadavg > "$OUT/$c.crun.txt"
    unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified && \
        $TIMER -n $N --warmup 2 --timeout 300 -- crun run -b $BENCH/bundle bench-crun" \
        >> "$OUT/$c.crun.txt" 2>&1 || true
    loadavg >> "$OUT/$c.crun.txt"
    cat "$OUT/$c.crun.txt"
}

if want kiln; then kiln_import "$KILN_ROOT"; fi
[ $# -gt 0 ] || set -- cold-build noop-rebuild one-file-change parallel-stages big-layer-random big-layer-text run-latency
for c in "$@"; do
    case $c in
        cold-build)                   case_cold ;;
        noop-rebuild|one-file-change) case_cached "$c" ;;
        parallel-stages)              case_parallel ;;
        big-layer-random|big-layer-text) case_big "$c" ;;
        run-latency)                  case_run ;;
        *) echo "unknown case $c" >&2; exit 2 ;;
    esac
done
