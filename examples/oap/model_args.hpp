#pragma once
// Model-loading options shared by the commands that run a model (generate, score).

#include "cli_args.hpp"
#include "oap/llm/causal_lm_options.hpp"

namespace oap::cli {

// CausalLMOptions from --device, --dtype and --threads (each optional; defaults otherwise).
CausalLMOptions causal_lm_options_from(const Args& args);

}  // namespace oap::cli
