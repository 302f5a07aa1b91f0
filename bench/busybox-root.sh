# Sourced by bench/build.sh and bench/export.sh, with $work set: builds a
# release kiln (or takes $KILN, e.g. another commit's build to compare),
# gives it a root in $work/root holding busybox:latest (made from Debian's
# busybox-static), and defines the timing helpers.
kiln_bin=${KILN:-$(scripts/release.sh)}
kiln() { "$kiln_bin" --root "$work/root" "$@"; }

testdata/scripts/make-busybox-rootfs.sh "$work/rootfs"
tar -C "$work/rootfs" --numeric-owner -cf "$work/busybox.tar" .
kiln import "$work/busybox.tar" busybox:latest --change 'CMD ["sh"]' >/dev/null

secs() { # command… → wall seconds
    local s e
    s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
