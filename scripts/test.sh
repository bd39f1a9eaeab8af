#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: installs what is missing, builds, runs every
# test (ctest), runs the concurrency tests again under ThreadSanitizer, and fuzzes the
# safetensors header parser for 30 seconds (scripts/fuzz.sh).
#
# Usage: scripts/test.sh [--no-tsan]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tsan=1
[[ "${1:-}" == "--no-tsan" ]] && tsan=0

scripts/setup.sh --preset default
ctest --preset default

if [[ $tsan -eq 1 ]]; then
  # The modules without LibTorch, built with -fsanitize=thread (LibTorch itself is not
  # instrumented, so its modules would only give false reports).
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan
  ctest --preset tsan
fi

scripts/fuzz.sh 30
