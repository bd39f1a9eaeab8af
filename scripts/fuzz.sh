#!/usr/bin/env bash
# Builds the libFuzzer target over the safetensors header parser with clang (ASan + UBSan) in
# build-fuzz/ and runs it for SECONDS (default 30) on a seed corpus. A crash, sanitizer report
# or broken invariant stops it with a non-zero exit and leaves the input as build-fuzz/crash-*.
# Needs clang and libclang-rt-14-dev (scripts/setup.sh installs them).
#
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-30}"
if [[ "$seconds" == "-h" || "$seconds" == "--help" ]]; then
  sed -n '2,8p' "$0"
  exit 0
fi
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2; }

cmake -S tests/fuzz -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j2 >/dev/null
corpus=build-fuzz/corpus
mkdir -p "$corpus"
build-fuzz/safetensors_header_seeds "$corpus"
# -rss_limit_mb: the parser must not need much memory even for a header that claims 100 MB.
(cd build-fuzz && ./safetensors_header_fuzz -max_total_time="$seconds" -max_len=4096 \
   -rss_limit_mb=1024 -print_final_stats=1 corpus 2>&1 | tail -n 40)
