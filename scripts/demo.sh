#!/usr/bin/env bash
# kiln's main job, end to end on a fresh Debian 12 machine as root: build
# kiln, make a busybox base image from Debian's busybox-static, build the
# two-stage demo in testdata/demo and run the image it made.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! dpkg-query -W busybox-static >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox-static >/dev/null
fi

cargo build --release -p kiln
kiln=target/release/kiln
export KILN_ROOT=${KILN_ROOT:-/tmp/kiln-demo/root}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

testdata/scripts/make-busybox-rootfs.sh "$work/rootfs"
tar -C "$work/rootfs" --numeric-owner -cf "$work/busybox.tar" .
"$kiln" import "$work/busybox.tar" busybox --change 'CMD ["sh"]' >/dev/null

"$kiln" build --progress=plain -t kiln-demo testdata/demo
"$kiln" run --rm kiln-demo
