#!/usr/bin/env bash
# kiln's main job, end to end on a fresh Debian 12 machine as root: build
# kiln, start a local registry (Debian's docker-registry, on 127.0.0.1
# only), seed it with a busybox image kiln builds FROM scratch out of
# Debian's busybox-static and pushes, then build the two-stage demo in
# testdata/demo `FROM busybox` — pulled through a docker.io mirror config
# pointing at the local registry — and run the image it made. The
# registry is stopped on exit; nothing leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
dpkg-query -W busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# KILN=path/to/kiln uses an already built binary.
kiln=${KILN:-$(scripts/release.sh)}
export KILN_ROOT=${KILN_ROOT:-/tmp/kiln-demo/root}
work=$(mktemp -d)
cleanup() {
    testdata/scripts/registry.sh stop "$work/registry" || true
    rm -rf "$work"
}
trap cleanup EXIT

registry=$(testdata/scripts/registry.sh start "$work/registry")
echo "local registry at $registry"
# docker.io's mirror is the local registry: `FROM busybox` resolves there.
cat > "$work/kiln.toml" <<TOML
[registry."docker.io"]
mirrors = ["$registry"]
TOML
export KILN_CONFIG=$work/kiln.toml

mkdir -p "$work/busybox"
testdata/scripts/make-busybox-rootfs.sh "$work/busybox/rootfs"
printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n' > "$work/busybox/Dockerfile"
"$kiln" --root "$work/seed" build --progress=plain --push \
    -t "$registry/library/busybox:latest" "$work/busybox" >/dev/null

"$kiln" build --progress=plain --pull -t kiln-demo testdata/demo
"$kiln" run --rm kiln-demo
