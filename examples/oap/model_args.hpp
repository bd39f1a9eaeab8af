#pragma once
// Model-loading options shared by the commands that run a model (generate, score).

#include <optional>
#include "cli_args.hpp"

#include "oap/llm/causal_lm_options.hpp"
#include "oap/llm/peft_adapter.hpp"

namespace oap::cli {

// options (the config file's "model" section, or the defaults) with --device, --dtype, --threads
// and --decode-threads applied over it (each optional; a command without an option in its list
// never sees it). UsageError for a thread count that is not a non-negative int.
CausalLMOptions causal_lm_options_from(const Args& args, CausalLMOptions options = {});

// The adapter folder given with --adapter DIR, loaded for a model with config `model` on
// `device`; nullopt without --adapter. Throws as load_peft_adapter does.
std::optional<PeftAdapter> peft_adapter_from(const Args& args, const ModelConfig& model,
                                             const std::string& device);

}  // namespace oap::cli
