#pragma once
// Helpers shared by the adapt/ model tests: a small random model and token "texts" of two
// styles a rank-8 adapter can learn.

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "llm/model_test_util.hpp"
#include "oap/adapt/rapid_trainer.hpp"
#include "oap/llm/causal_lm.hpp"

namespace oap::testing {

// The micro model (vocabulary 97, 2 layers) written to dir and loaded on one thread.
inline std::shared_ptr<const CausalLM> load_micro_model(const std::filesystem::path& dir,
                                                        std::uint64_t seed = 3) {
  write_micro_model(dir, micro_config(), seed);
  return CausalLM::load(dir, {.num_threads = 1});
}

// A "text" of a style: a walk where each token mostly follows its predecessor by a fixed rule
// (style 0: tokens 10..29, next = 10 + (3k + 1) mod 20; style 1: tokens 60..79, next = 60 +
// (7k + 5) mod 20), with 10% random tokens of the style's range. Different seeds, different
// texts of the same style.
inline std::vector<std::int32_t> style_text(int style, std::uint64_t seed, std::size_t length = 24) {
  std::mt19937_64 rng(seed * 2 + static_cast<std::uint64_t>(style));
  const int base = style == 0 ? 10 : 60;
  const int mul = style == 0 ? 3 : 7;
  const int add = style == 0 ? 1 : 5;
  std::vector<std::int32_t> out;
  int k = static_cast<int>(rng() % 20);
  for (std::size_t i = 0; i < length; ++i) {
    out.push_back(base + k);
    k = (rng() % 10 == 0) ? static_cast<int>(rng() % 20) : (mul * k + add) % 20;
  }
  return out;
}

inline std::vector<TrainingSample> style_samples(int style, std::uint64_t first_seed,
                                                 std::size_t n, double weight = 1.0) {
  std::vector<TrainingSample> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back({style_text(style, first_seed + i), weight});
  return out;
}

}  // namespace oap::testing
