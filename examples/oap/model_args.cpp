#include "model_args.hpp"

namespace oap::cli {

CausalLMOptions causal_lm_options_from(const Args& args) {
  CausalLMOptions options;
  if (auto d = args.value("device")) options.device = *d;
  if (auto d = args.value("dtype")) options.dtype = *d;
  if (auto n = args.size_value("threads")) options.num_threads = static_cast<int>(*n);
  return options;
}

}  // namespace oap::cli
