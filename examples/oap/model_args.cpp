#include "model_args.hpp"

#include <cstdint>
#include <limits>

namespace oap::cli {
namespace {

// A thread-count option as an int; UsageError naming the option when it is not a non-negative
// integer or does not fit.
std::optional<int> thread_count(const Args& args, const std::string& name) {
  auto n = args.number<std::uint64_t>(name);
  if (!n) return std::nullopt;
  if (*n > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
    throw UsageError("option --" + name + ": " + std::to_string(*n) + " threads is too many");
  }
  return static_cast<int>(*n);
}

}  // namespace

CausalLMOptions causal_lm_options_from(const Args& args, CausalLMOptions options) {
  if (auto d = args.value("device")) options.device = *d;
  if (auto d = args.value("dtype")) options.dtype = *d;
  if (auto n = thread_count(args, "threads")) options.num_threads = *n;
  if (auto n = thread_count(args, "decode-threads")) options.decode_threads = *n;
  return options;
}

std::optional<PeftAdapter> peft_adapter_from(const Args& args, const ModelConfig& model,
                                             const std::string& device) {
  auto dir = args.value("adapter");
  if (!dir) return std::nullopt;
  return load_peft_adapter(*dir, model, device);
}

}  // namespace oap::cli
