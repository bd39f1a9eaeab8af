#pragma once
// Model-loading options shared by the commands that run a model (generate, score).

#include "cli_args.hpp"
#include "oap/llm/causal_lm_options.hpp"

namespace oap::cli {

// CausalLMOptions from --device, --dtype, --threads and --decode-threads (each optional;
// defaults otherwise; a command without an option in its list never sees it). UsageError for a
// thread count that is not a non-negative int.
CausalLMOptions causal_lm_options_from(const Args& args);

}  // namespace oap::cli
