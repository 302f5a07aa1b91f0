#!/usr/bin/env bash
# run.sh [CASE...] - the real-world cases through kiln, judged by check.py
# against the images BuildKit made. Slow (debootstrap, apt, cargo, pip) and
# needs the package mirrors, so it is not part of `cargo test`. Root only.
# On failure the work directory (logs, saved images) is kept, and the last
# line names the failed cases and their logs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
kiln=$(scripts/release.sh)
work=$(mktemp -d /var/tmp/kiln-realworld.XXXXXX)
# A private copy: a rebuild of target/ during the run cannot swap the binary.
cp "$kiln" "$work/kiln"
rc=0
python3 "$here/check.py" "$work/kiln" "$work/run" "$@" | tee "$work/summary" || rc=$?
if [ "$rc" -eq 0 ]; then
    rm -rf "$work"
    exit 0
fi
failed=$(sed -n 's/^FAIL \([^ ]*\) ([0-9]* s):.*/\1/p' "$work/summary")
where=""
for name in $failed; do
    where+="${where:+, }$name (log: $work/run/logs/$name.log)"
done
[ -n "$where" ] || where="$(grep -m1 '^FAIL' "$work/summary" || echo "check.py exited $rc") (work dir: $work)"
echo "real-world stage failed: $where; KILN_SKIP_REALWORLD=1 skips this stage"
# A layer that cannot be written is most often a full disk: say how full.
df -h "$work" /tmp || true
exit "$rc"
