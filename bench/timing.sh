# timing.sh - sourced by the latency benches (run-latency.sh, serve-run.sh).
# Needs N (runs per case), B (blocks), W (warm-up runs per block) and WORK.

# time_block LABEL CMD... : N/B timed runs (after W warm-up runs), their
# milliseconds appended to $WORK/LABEL.ms. CMD gets one more argument, a
# word unique to the run (for container names); it may ignore it. bash's
# $EPOCHREALTIME: no process is forked around the measured command.
time_block() {
    local label=$1; shift
    local i t0 t1 per=$(((N + B - 1) / B))
    for ((i = 0; i < W + per; i++)); do
        t0=$EPOCHREALTIME
        "$@" "$RANDOM$i" >/dev/null
        t1=$EPOCHREALTIME
        ((i < W)) || echo "$t0 $t1" | awk '{ printf "%.3f\n", ($2 - $1) * 1000 }' >>"$WORK/$label.ms"
    done
}

# summary LABEL : "LABEL median_ms min_ms max_ms"
summary() {
    sort -n "$WORK/$1.ms" | awk -v l="$1" '
        { v[NR] = $1 } END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%s %.2f %.2f %.2f\n", l, m, v[1], v[NR] }'
}
