#!/bin/sh
# make-busybox-rootfs.sh DEST - a minimal root filesystem from Debian's
# busybox-static: /bin/busybox, one relative symlink per applet in /bin,
# and small /etc/passwd and /etc/group (root, a user "kiln" 1000 that is
# also in group wheel, nobody). Used by the runtime tests and benchmarks.
set -eu
dest=${1:?usage: make-busybox-rootfs.sh DEST}
bb=${BUSYBOX:-$(command -v busybox || echo /bin/busybox)}
[ -x "$bb" ] || { echo "make-busybox-rootfs.sh: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dest/bin" "$dest/etc" "$dest/tmp" "$dest/root" "$dest/home/kiln" "$dest/proc" "$dest/sys" "$dest/dev"
chmod 1777 "$dest/tmp"
cp "$bb" "$dest/bin/busybox"
# Relative links: `busybox --install -s` would point them at the host path.
for applet in $("$bb" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dest/bin/$applet"
done
cat > "$dest/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
kiln:x:1000:1000:kiln:/home/kiln:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$dest/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
wheel:x:10:kiln
kiln:x:1000:
nogroup:x:65534:
GROUP
chown 1000:1000 "$dest/home/kiln" 2>/dev/null || true
