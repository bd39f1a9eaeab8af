#!/usr/bin/env bash
# Runs the personalization evaluation (docs/evaluation.md "Personalization evaluation"):
# writes the streams with make_eval_streams.py, runs build/bench/personalization_eval over them
# and plots the curves.
#
# Usage: scripts/eval/run_eval.sh [--quick] [--set report|tune] [--seeds N] [--events N]
#                                 [--users K,K,K,K] [--out FILE] [--model DIR] [--threads N]
#                                 [-- extra personalization_eval options]
#   default (full):  3 seeds x 8 users (2 big shift, 2 subtle shift, 2 blip, 2 stable) x 60
#                    events, report set -> docs/evaluation.json and docs/img/*.png
#   --quick:         2 seeds x 4 users x 50 events (the harness keeps one user per kind)
#                    -> $OAP_CACHE/eval/quick.json (same JSON shape)
# Every run also dumps its event-by-event curves to <out stem>-runs.json in $OAP_CACHE/eval.
# --threads defaults to 1: on the shared 2-core machine, two OpenMP threads per op made the
# runs several times slower (each op's barrier waits for a time slice of a busy core).
# Needs the corpus cache (scripts/fetch_corpora.sh) and the bench built
# (cmake --build build --target personalization_eval).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${OAP_CACHE:-$root/.cache}"
quick=0 set=report seeds="" events="" users="" out="" model="$root/examples/models/tiny-en"
threads=1 extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --set) set="$2"; shift ;;
    --seeds) seeds="$2"; shift ;;
    --events) events="$2"; shift ;;
    --users) users="$2"; shift ;;
    --out) out="$2"; shift ;;
    --model) model="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "run_eval.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ $quick == 1 ]]; then
  seeds="${seeds:-2}" events="${events:-50}" users="${users:-1,1,1,1}"
  out="${out:-$cache/eval/quick.json}"
  extra=(--quick "${extra[@]}")
else
  seeds="${seeds:-3}" events="${events:-60}" users="${users:-2,2,2,2}"
  out="${out:-$root/docs/evaluation.json}"
fi
bench="$root/build/bench/personalization_eval"
[[ -x $bench ]] || { echo "run_eval.sh: $bench missing: cmake --build build --target personalization_eval" >&2; exit 1; }
streams_dir="$cache/eval/streams"
mkdir -p "$streams_dir" "$(dirname "$out")"
files=()
for ((s = 1; s <= seeds; s++)); do
  f="$streams_dir/$set-$users-e$events-s$s.jsonl"
  f="${f//,/_}"
  /usr/bin/python3 "$root/scripts/eval/make_eval_streams.py" --cache "$cache/corpora" --out "$f" \
    --set "$set" --seed "$s" --events "$events" --users-per-kind "$users"
  files+=("$f")
done
dump="$cache/eval/$(basename "${out%.json}")-$set-runs.json"
"$bench" --model "$model" --out "$out" --threads "$threads" --dump "$dump" "${extra[@]}" \
  "${files[@]}"
if [[ $quick == 0 && $out == "$root/docs/evaluation.json" ]]; then
  /usr/bin/python3 "$root/scripts/eval/plot_eval.py" "$out" --out-dir "$root/docs/img"
fi
