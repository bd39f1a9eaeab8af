#include "llm/blas_check.hpp"

#include <gtest/gtest.h>

namespace oap {
namespace {

TEST(BlasCheck, SuggestsTheCoreOfTheCpusVectorUnitsForAGenericFallback) {
  EXPECT_EQ(detail::better_openblas_core("Prescott", true, true), "SkylakeX");
  EXPECT_EQ(detail::better_openblas_core("Prescott", true, false), "Haswell");
  EXPECT_EQ(detail::better_openblas_core("Nehalem", true, false), "Haswell");
  // A CPU without AVX2 has nothing better; a core OpenBLAS chose with AVX2 kernels is fine.
  EXPECT_EQ(detail::better_openblas_core("Prescott", false, false), std::nullopt);
  EXPECT_EQ(detail::better_openblas_core("SkylakeX", true, true), std::nullopt);
  EXPECT_EQ(detail::better_openblas_core("Haswell", true, true), std::nullopt);
  EXPECT_EQ(detail::better_openblas_core("Zen", true, false), std::nullopt);
}

}  // namespace
}  // namespace oap
