#!/usr/bin/env python3
"""summarize.py [OUT] - the figures of run-peers.sh as markdown tables.

Reads OUT/<case>.<peer>.txt (default /tmp/bench/results), as written by
run-peers.sh with harness.py: wall-second median (min-max), exit codes and
the load average before and after each series.  Prints every series, then
kiln's ratios to each peer measured in the same run, with the issue targets.
Standard library only.
"""
import glob
import os
import re
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench/results"

# (case, kiln series, peer series, target ratio or None)
RATIOS = [
    ("cold-build", "kiln", "bk", None),
    ("cold-build", "kiln", "bkc", None),
    ("cold-build", "kiln", "podman", None),
    ("noop-rebuild", "kiln", "bk", 0.25),
    ("noop-rebuild", "kiln", "bkc", 0.25),
    ("noop-rebuild", "kiln", "buildah-layers", None),
    ("noop-rebuild", "kiln", "podman", None),
    ("one-file-change", "kiln", "bk", None),
    ("one-file-change", "kiln", "bkc", None),
    ("one-file-change", "kiln", "buildah-layers", None),
    ("one-file-change", "kiln", "podman", None),
    ("parallel-stages", "kiln", "bk", None),
    ("parallel-stages", "kiln", "bkc", None),
    ("parallel-stages", "kiln", "buildah-j4", None),
    ("parallel-stages", "kiln", "podman", None),
    ("parallel-stages", "kiln", "SUM-STAGES", 0.6),
    ("parallel-stages", "kiln-j4", "SUM-STAGES", 0.6),
    ("big-layer-random", "kiln", "bk", None),
    ("big-layer-random", "kiln", "bkc", None),
    ("big-layer-random", "kiln", "buildah", None),
    ("big-layer-random", "kiln", "podman", None),
    ("big-layer-random", "export-kiln-oci", "export-tar-zstd", 1.5),
    ("big-layer-random", "export-kiln-oci-zstd", "export-tar-zstd", 1.5),
    ("big-layer-random", "export-kiln-oci", "export-bkc-oci", None),
    ("big-layer-random", "export-kiln-oci-zstd", "export-bkc-oci-zstd", None),
    ("big-layer-random", "export-kiln-oci", "export-bk-tar", None),
    ("big-layer-text", "kiln", "bk", None),
    ("big-layer-text", "kiln", "bkc", None),
    ("big-layer-text", "kiln", "buildah", None),
    ("big-layer-text", "kiln", "podman", None),
    ("big-layer-text", "export-kiln-oci", "export-tar-zstd", 1.5),
    ("big-layer-text", "export-kiln-oci-zstd", "export-tar-zstd", 1.5),
    ("big-layer-text", "export-kiln-oci", "export-bkc-oci", None),
    ("big-layer-text", "export-kiln-oci-zstd", "export-bkc-oci-zstd", None),
    ("big-layer-text", "export-kiln-oci", "export-bk-tar", None),
    ("run-latency", "kiln-rootfs", "crun", None),
    ("run-latency", "kiln-rootfs", "runc", None),
    ("run-latency", "kiln", "docker", None),
    ("run-latency", "kiln", "podman", None),
]


def parse(path):
    s = {"loads": [], "exit": None, "sizes": [], "layers": []}
    for line in open(path):
        m = re.match(r"\S+ load (\S+) (\S+) (\S+)", line)
        if m:
            s["loads"].append(m.group(1))
        m = re.match(r"runs: (\d+)\s+exit codes: (\[.*\])", line)
        if m:
            s["runs"], s["exit"] = int(m.group(1)), m.group(2)
        m = re.match(r"wall s\s+min\s+(\S+)\s+median\s+(\S+)\s+max\s+(\S+)", line)
        if m:
            s["min"], s["med"], s["max"] = map(float, m.groups())
        if line.startswith("-rw"):
            s["sizes"].append(int(line.split()[4]))
        if line.startswith("layer "):
            s["layers"].append(line.split()[1])
    return s


def main():
    series = {}
    for p in sorted(glob.glob(os.path.join(OUT, "*.txt"))):
        name = os.path.basename(p)[:-4]
        if "." not in name or name.startswith("dockerd-"):
            continue
        case, peer = name.split(".", 1)
        s = parse(p)
        if "med" in s:
            series[(case, peer)] = s
    print("| series | runs | exit | median s | min–max | load 1-min (start→end) | archive bytes |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (case, peer), s in series.items():
        size = ", ".join("{:,}".format(b) for b in s["sizes"]) if s["sizes"] else ""
        if s["layers"]:
            size += " (" + ", ".join(l.rsplit(".", 1)[-1] for l in s["layers"]) + ")"
        print("| %s.%s | %d | %s | %.3f | %.3f–%.3f | %s | %s |" % (
            case, peer, s["runs"], s["exit"], s["med"], s["min"], s["max"],
            "→".join(s["loads"]), size))
    stages = [series.get(("parallel-stages", "kiln-stage-s%d" % i)) for i in range(1, 5)]
    if all(stages):
        series[("parallel-stages", "SUM-STAGES")] = {
            "med": sum(s["med"] for s in stages),
            "min": sum(s["min"] for s in stages),
            "max": sum(s["max"] for s in stages),
        }
    print()
    print("| case | kiln series | peer series | kiln s | peer s | ratio | target | met |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for case, k, p, target in RATIOS:
        a, b = series.get((case, k)), series.get((case, p))
        if not a or not b:
            continue
        r = a["med"] / b["med"]
        met = "" if target is None else ("yes" if r <= target else "no")
        print("| %s | %s | %s | %.3f | %.3f | %.2f | %s | %s |" % (
            case, k, p, a["med"], b["med"], r,
            "" if target is None else "≤ %s" % target, met))


if __name__ == "__main__":
    main()
