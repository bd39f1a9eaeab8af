#!/usr/bin/env bash
# Runs the main program from a fresh clone: installs what is missing, builds the oap tool, then
# replays the shipped example stream (examples/data/personalization.jsonl: six users whose texts
# are English glosses of one topic each; two change topic and behaviour midway, one has a single
# blip, three stay stable) through the whole pipeline with the shipped small English model
# (examples/models/tiny-en): history store (SQLite), text signals, deviation detectors, the
# deviation policy and per-user LoRA updates. It prints who deviated, what was decided and why,
# and how each user's NLL moved, and writes a JSON report.
#
# Usage: scripts/demo.sh [DATA_DIR]   (default: a new temporary folder, printed at the end;
#        extra `oap run` options may follow the folder, e.g. scripts/demo.sh /tmp/d --threads 2)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Only the tool is built (not the tests and benchmarks): a few minutes on a fresh machine.
scripts/setup.sh --preset default --target oap_cli >&2
data_dir="${1:-$(mktemp -d "${TMPDIR:-/tmp}/oap-demo.XXXXXX")}"
shift || true
build/oap run --events examples/data/personalization.jsonl --model examples/models/tiny-en \
  --data-dir "$data_dir" --report "$data_dir/report.json" --wait-updates --decisions 8 "$@"
echo
echo "Everything is in $data_dir (report: $data_dir/report.json). Try:"
echo "  build/oap inspect --data-dir $data_dir --user cleo"
echo "  build/oap generate --data-dir $data_dir --user cleo --prompt 'money:' --max-tokens 20"
