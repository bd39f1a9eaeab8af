#!/usr/bin/env bash
# ThreadSanitizer run of the LibTorch modules: the adapt/ model tests (adapt_model_test:
# RapidTrainer, AdapterManager, the 8-thread AdapterManagerConcurrency test) and the
# Personalizer tests (personalizer_test, the Concurrent* and forget-during-update tests), built
# with GCC and -fsanitize=thread (preset tsan-llm, folder build-tsan-llm/). Our code is
# instrumented; Debian's LibTorch, libgomp and OpenBLAS are not (see scripts/tsan_llm.supp for
# what that means and why the tests run on one intra-op thread, OMP_NUM_THREADS=1).
#
# Why GCC here while the tsan preset uses Clang: Debian's Clang 14 cannot compile LibTorch 1.13's
# headers as C++20 (std::vector<c10::IValue> of an incomplete type in libstdc++ 12's constexpr
# vector). SentencePiece is off: its plugin is dlopened with RTLD_DEEPBIND, which the sanitizer
# runtime does not support, and no test here reads a SentencePiece model.
#
# Not part of scripts/test.sh: with a cold ccache the build takes ~16 CPU-minutes (LibTorch
# translation units, instrumented), more than the few minutes CI can spare; see
# docs/architecture.md (Testing) for when it was last run and its result.
#
# Usage: scripts/tsan_llm.sh [ctest arguments, e.g. -R Concurrent]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$SECONDS
scripts/setup.sh --preset tsan-llm
built=$SECONDS
ctest --preset tsan-llm "$@"
echo "tsan_llm.sh: build $((built - start)) s, tests $((SECONDS - built)) s"
