#!/usr/bin/env bash
# run.sh [CASE...] - the real-world cases through kiln, judged by check.py
# against the images BuildKit made. Slow (debootstrap, apt, cargo, pip) and
# needs the package mirrors, so it is not part of `cargo test`. Root only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
kiln=$(scripts/release.sh)
work=$(mktemp -d /var/tmp/kiln-realworld.XXXXXX)
trap 'rm -rf "$work"' EXIT
# A private copy: a rebuild of target/ during the run cannot swap the binary.
cp "$kiln" "$work/kiln"
python3 "$here/check.py" "$work/kiln" "$work/run" "$@"
