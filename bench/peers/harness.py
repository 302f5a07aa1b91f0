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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--prepare", default=None)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    deadline = time.monotonic() + a.timeout
    def prepare():
        if a.prepare:
            subprocess.run(["sh", "-c", a.prepare], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, check=True)
    for _ in range(a.warmup):
        prepare()
        one_run(cmd)
    runs = []
    for _ in range(a.n):
        if time.monotonic() > deadline:
            break
        prepare()
        runs.append(one_run(cmd))
    print("command: %s" % " ".join(cmd))
    print("runs: %d  exit codes: %s" % (len(runs), sorted({r[4] for r in runs})))
    for i, name in enumerate(["wall s", "user s", "sys s", "peak MiB"]):
        xs = [r[i] for r in runs]
        print("%-9s min %9.3f  median %9.3f  max %9.3f" %
              (name, min(xs), statistics.median(xs), max(xs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
