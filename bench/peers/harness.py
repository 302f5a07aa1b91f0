#!/usr/bin/env python3
"""harness.py - time a whole command from outside, N runs after W warm-ups.

usage: harness.py [-n RUNS] [--warmup W] [--timeout SECONDS] [--prepare SHELL-CMD]
                  -- COMMAND [ARG ...]

--prepare: a shell command run before every run (warm-ups too) and not
timed, e.g. emptying a build cache for a cold-build figure; a failing
prepare stops the series.

Per run: wall seconds (monotonic clock around fork/exec .. wait4), user and
system seconds and peak RSS of the largest single process among those the
command waited for (wait4's rusage, as /usr/bin/time -v reports it; a peak
cannot read below this script's own RSS, ~15 MiB, which a forked child
inherits until exec).  Prints
min / median / max of each.  The command's output is discarded; stdin is
/dev/null.  Standard library only.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time


def one_run(argv):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    t1 = time.monotonic()
    p.returncode = os.waitstatus_to_exitcode(status)
    return (t1 - t0, ru.ru_utime, ru.ru_stime, ru.ru_maxrss / 1024.0,
            p.returncode)


def report(label, argv, runs):
    print("%s: %s" % (label, " ".join(argv)))
    print("runs: %d  exit codes: %s" % (len(runs), sorted({r[4] for r in runs})))
    for i, name in enumerate(["wall s", "user s", "sys s", "peak MiB"]):
        xs = [r[i] for r in runs]
        print("%-9s min %9.3f  median %9.3f  max %9.3f" %
              (name, min(xs), statistics.median(xs), max(xs)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--prepare", default=None)
    ap.add_argument("--vs", default=None)
    ap.add_argument("--vs-prepare", default=None)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    deadline = time.monotonic() + a.timeout
    def prepare(shell_cmd):
        if shell_cmd:
            subprocess.run(["sh", "-c", shell_cmd], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, check=True)
    sides = [(cmd, a.prepare)]
    if a.vs:
        sides.append((["sh", "-c", a.vs], a.vs_prepare))
    for _ in range(a.warmup):
        for argv, prep in sides:
            prepare(prep)
            one_run(argv)
    runs = [[] for _ in sides]
    for _ in range(a.n):
        if time.monotonic() > deadline:
            break
        for i, (argv, prep) in enumerate(sides):
            prepare(prep)
            runs[i].append(one_run(argv))
    for i, (argv, _) in enumerate(sides):
        report("command" if i == 0 else "vs", argv, runs[i])
    if a.vs:
        ratios = [x[0] / y[0] for x, y in zip(runs[0], runs[1])]
        print("ratio A/B min %9.3f  median %9.3f  max %9.3f" %
              (min(ratios), statistics.median(ratios), max(ratios)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
