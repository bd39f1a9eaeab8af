#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: installs what is missing, builds, runs every
# test (ctest), runs the concurrency tests again under ThreadSanitizer (a Clang build, which
# also checks the thread-safety annotations at compile time), and fuzzes the safetensors header
# parser for 30 seconds (scripts/fuzz.sh). The ThreadSanitizer run of the LibTorch modules
# (adapt/ model tests, Personalizer) is separate, scripts/tsan_llm.sh: its instrumented build
# alone takes longer than this whole script can spare.
#
# Usage: scripts/test.sh [--no-tsan]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tsan=1
[[ "${1:-}" == "--no-tsan" ]] && tsan=0

scripts/setup.sh --preset default
ctest --preset default

if [[ $tsan -eq 1 ]]; then
  # The modules without LibTorch, built by Clang with -fsanitize=thread (LibTorch itself is not
  # instrumented, so its modules would only give false reports) and -Wthread-safety as errors
  # (OAP_THREAD_SAFETY_ANALYSIS: OAP_GUARDED_BY and the other annotations are checked). This build runs from a copy of
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
