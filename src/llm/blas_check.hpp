#pragma once
// A check of the float32 BLAS that LibTorch runs on. OpenBLAS picks its kernels by CPU model at
// load time; a release older than the CPU (Debian 12's 0.3.21 on Sapphire or Emerald Rapids)
// falls back to its generic SSE3 "Prescott" kernels, and float32 matrix products run ~6x slower
// (28 against 180 GFLOP/s on 2 cores, docs/benchmarks.md). It can only be fixed before the
// process starts (OPENBLAS_CORETYPE), so the library says so once, as a warning.

#include <optional>
#include <string>

namespace oap::detail {

// The OPENBLAS_CORETYPE value to suggest when OpenBLAS runs `core` (its core name) on a CPU with
// AVX2 (and AVX-512F/BW/VL/DQ with avx512), or nothing if `core` is not a pre-AVX2 generic one.
std::optional<std::string> better_openblas_core(const std::string& core, bool avx2, bool avx512);

// Once per process: if the loaded OpenBLAS (found by symbol, none linked) runs generic kernels
// on a CPU that has better ones, logs a warning naming OPENBLAS_CORETYPE. Thread-safe.
void warn_if_openblas_is_generic();

}  // namespace oap::detail
