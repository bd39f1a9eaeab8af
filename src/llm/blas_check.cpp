#include "llm/blas_check.hpp"

#include <dlfcn.h>

#include <array>
#include <mutex>

#include "core/log.hpp"

namespace oap::detail {

std::optional<std::string> better_openblas_core(const std::string& core, bool avx2,
                                                bool avx512) {
  // OpenBLAS's x86-64 cores without AVX2 kernels, the fallbacks of an unknown CPU among them.
  static constexpr std::array<const char*, 8> kGeneric = {
      "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge", "Katmai"};
  if (!avx2) return std::nullopt;
  for (const char* name : kGeneric) {
    if (core == name) return std::string(avx512 ? "SkylakeX" : "Haswell");
  }
  return std::nullopt;
}

void warn_if_openblas_is_generic() {
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(__x86_64__) && defined(__GNUC__)
    using CoreName = char* (*)();
    auto* get_core = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    if (get_core == nullptr) return;  // another BLAS, or OpenBLAS not loaded
    const char* core = get_core();
    if (core == nullptr) return;
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    if (const auto better = better_openblas_core(core, avx2, avx512)) {
      logger()->warn(
          "OpenBLAS runs its generic '{}' kernels on this CPU (it does not know the model): "
          "float32 matrix products run several times slower than they can. Start the process "
          "with OPENBLAS_CORETYPE={} in the environment to use its {} kernels.",
          core, *better, avx512 ? "AVX-512" : "AVX2");
    }
#endif
  });
}

}  // namespace oap::detail
