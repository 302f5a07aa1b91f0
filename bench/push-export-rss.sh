#!/usr/bin/env bash
# Peak RSS and wall time of push and export: `kiln push` to a local
# registry, `kiln save -o` and `kiln build -o type=oci,dest=…` of an image
# of LAYERS layers of MIB_PER_LAYER MiB of random data each (built FROM
# scratch with one COPY per layer, so the store holds them uncompressed),
# beside `skopeo copy` of the same image (docker-archive and oci-archive,
# to a registry, and docker-archive to oci-archive) in the same run.
# Each figure is `/usr/bin/time -f '%M %e'` of one command: peak RSS of
# the process and its children, and wall seconds; medians of RUNS runs,
# taking turns (kiln, [kiln before], skopeo). Every push goes to a fresh
# registry, so no blob is skipped or mounted.
#
#   KILN=/path/to/kiln [KILN_BEFORE=/path/to/older/kiln] \
#       bench/push-export-rss.sh [RUNS] [LAYERS] [MIB_PER_LAYER]
# Defaults: KILN from scripts/release.sh, 3 runs, 10 layers of 50 MiB.
# Needs root, docker-registry, skopeo and GNU time (installed with apt
# when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
layers=${2:-10}
mib=${3:-50}
kiln=${KILN:-$(scripts/release.sh)}
before=${KILN_BEFORE:-}
[ -x /usr/bin/time ] || { apt-get install -y -q time >/dev/null; }
work=$(mktemp -d /var/tmp/kiln-bench-rss.XXXXXX)
reg=""
cleanup() {
    [ -z "$reg" ] || testdata/scripts/registry.sh stop "$reg"
    rm -rf "$work"
}
trap cleanup EXIT

ctx=$work/ctx
mkdir -p "$ctx"
echo "FROM scratch" > "$ctx/Dockerfile"
for i in $(seq 1 "$layers"); do
    head -c $((mib << 20)) /dev/urandom > "$ctx/layer$i"
    echo "COPY layer$i /layer$i" >> "$ctx/Dockerfile"
done

# Each kiln gets its own root with the image built in it.
prepare() { # name binary
    "$2" --root "$work/root-$1" build -q -t bench:latest "$ctx" >/dev/null
}
prepare after "$kiln"
[ -z "$before" ] || prepare before "$before"
# The peer's inputs: the same image as the archives kiln writes.
"$kiln" --root "$work/root-after" save -o "$work/peer-docker.tar" bench:latest
"$kiln" --root "$work/root-after" build -q -o "type=oci,dest=$work/peer-oci.tar" "$ctx" >/dev/null

fresh_registry() { # → $addr, a registry with nothing in it
    [ -z "$reg" ] || { testdata/scripts/registry.sh stop "$reg"; rm -rf "$reg"; }
    reg=$work/registry
    mkdir -p "$reg"
    addr=$(testdata/scripts/registry.sh start "$reg")
}

measure() { # series command… : appends "RSS_KiB WALL_S" to $work/series
    local series=$1
    shift
    sync
    /usr/bin/time -o "$work/time" -f '%M %e' "$@" >/dev/null 2>"$work/err" ||
        { cat "$work/err" >&2; exit 1; }
    tail -1 "$work/time" >> "$work/$series"
    echo "$series $(tail -1 "$work/time")" >&2
}

kiln_push() { # name binary
    fresh_registry
    "$2" --root "$work/root-$1" tag bench:latest "$addr/bench:latest"
    measure "$1-push" "$2" --root "$work/root-$1" push "$addr/bench:latest"
    "$2" --root "$work/root-$1" rmi "$addr/bench:latest" >/dev/null
}
kiln_save() { # name binary
    rm -f "$work/out.tar"
    measure "$1-save" "$2" --root "$work/root-$1" save -o "$work/out.tar" bench:latest
}
kiln_oci() { # name binary
    rm -f "$work/out.tar"
    measure "$1-oci" "$2" --root "$work/root-$1" build -q -o "type=oci,dest=$work/out.tar" "$ctx"
}
kiln_all() { kiln_push "$@"; kiln_save "$@"; kiln_oci "$@"; }
skopeo_all() {
    fresh_registry
    measure skopeo-docker skopeo copy -q --dest-tls-verify=false \
        "docker-archive:$work/peer-docker.tar" "docker://$addr/docker:latest"
    measure skopeo-oci skopeo copy -q --dest-tls-verify=false \
        "oci-archive:$work/peer-oci.tar" "docker://$addr/oci:latest"
    rm -f "$work/out.tar"
    measure skopeo-export skopeo copy -q \
        "docker-archive:$work/peer-docker.tar" "oci-archive:$work/out.tar"
}

for _ in $(seq "$runs"); do
    kiln_all after "$kiln"
    [ -z "$before" ] || kiln_all before "$before"
    skopeo_all
done

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
rss() { awk '{ print $1 / 1024 }' "$work/$1" | median; }
wall() { awk '{ print $2 }' "$work/$1" | median; }
row() { # label series peer-series
    local r p
    r=$(rss "$2")
    p=$(rss "$3")
    printf '%-44s peak RSS %7.1f MiB  wall %6.2f s  RSS / skopeo %5.2f\n' \
        "$1" "$r" "$(wall "$2")" "$(awk -v a="$r" -v b="$p" 'BEGIN { print a / b }')"
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $runs runs, medians"
echo "image: $layers layers of $mib MiB random data"
for who in after ${before:+before}; do
    label=kiln
    [ "$who" = before ] && label="kiln (before)"
    row "$label push" "$who-push" skopeo-docker
    row "$label save -o" "$who-save" skopeo-docker
    row "$label build -o type=oci (gzip)" "$who-oci" skopeo-oci
done
row "skopeo copy docker-archive -> registry" skopeo-docker skopeo-docker
row "skopeo copy oci-archive -> registry" skopeo-oci skopeo-docker
row "skopeo copy docker-archive -> oci-archive" skopeo-export skopeo-docker
