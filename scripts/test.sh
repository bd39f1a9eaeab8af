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
  # instrumented, so its modules would only give false reports). This build runs from a copy of
  # the tree under a folder named src/ (as in ~/src/oap, a common layout), so the suite also
  # shows that nothing (error locations, test paths) depends on where the checkout lives.
  # cp -a keeps modification times: an unchanged file is not rebuilt.
  copy=build-tsan-src/src/oap
  mkdir -p "$copy"
  for item in CMakeLists.txt CMakePresets.json cmake include src tests examples bench; do
    rm -rf "${copy:?}/$item"
    cp -a "$item" "$copy/$item"
  done
  (
    cd "$copy"
    cmake --preset tsan >/dev/null
    cmake --build --preset tsan
    ctest --preset tsan
  )
fi

scripts/fuzz.sh 30
