#!/usr/bin/env bash
# Compares two builds of a Google Benchmark program on a noisy machine: runs them alternately,
# ROUNDS times each, and prints per benchmark the minimum (the least-disturbed run) and the
# median of each side's times (the time column, in the benchmark's unit).
#
# Usage: scripts/bench_ab.sh FILTER BEFORE AFTER [ROUNDS] [MIN_TIME]
#   FILTER    --benchmark_filter regex, e.g. 'ZScore_UpdateScore'
#   BEFORE    command of the first build (a program, or a wrapper that sets LD_LIBRARY_PATH)
#   AFTER     command of the second build
#   ROUNDS    alternations (default 6); MIN_TIME: --benchmark_min_time per run (default 0.3)
# Example:
#   scripts/bench_ab.sh 'ZScore_' /tmp/old/bench/detector_bench build-rel/bench/detector_bench 10
set -euo pipefail
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then usage; exit 0; fi
if [[ $# -lt 3 ]]; then usage >&2; exit 2; fi
filter=$1 before=$2 after=$3 rounds=${4:-6} min_time=${5:-0.3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((i = 0; i < rounds; ++i)); do
  for side in before after; do
    cmd=${!side}
    $cmd --benchmark_filter="$filter" --benchmark_min_time="$min_time" 2>/dev/null |
      awk '/^BM_/ {print $1, $2}' >> "$tmp/$side"
  done
done
/usr/bin/python3 - "$tmp/before" "$tmp/after" <<'PY'
import collections, statistics, sys
def load(path):
    runs = collections.defaultdict(list)
    for line in open(path):
        name, value = line.split()
        runs[name].append(float(value))
    return runs
before, after = load(sys.argv[1]), load(sys.argv[2])
for name in before:
    b, a = before[name], after.get(name, [float("nan")])
    print(f"{name:36s} before min {min(b):9.1f} median {statistics.median(b):9.1f} | "
          f"after min {min(a):9.1f} median {statistics.median(a):9.1f}")
PY
