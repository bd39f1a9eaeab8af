#!/usr/bin/env bash
# Runs the main program from a fresh clone: installs what is missing, builds, then runs
# `oap ingest` over the shipped sample events and prints a per-user summary.
# Extra arguments go to `oap ingest` (e.g. --json, --store sqlite:///tmp/oap.db).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Only the tool is built (not the tests and benchmarks): a few minutes on a fresh machine.
scripts/setup.sh --preset default --target oap_cli >&2
exec build/oap ingest "$@" examples/data/events.jsonl
