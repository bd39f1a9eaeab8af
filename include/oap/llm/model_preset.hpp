#pragma once
// Named model shapes for random-weight checkpoints (tests, benchmarks, `oap init-model`).

#include <string>
#include <string_view>
#include <vector>

#include "oap/llm/model_config.hpp"

namespace oap {

// The ModelConfig of a named preset:
//   "tiny"          ~1M parameters, Llama, GQA 4:2 heads, tied head (tests);
//   "small"         ~30M parameters, Llama, untied head;
//   "smollm-135m"   the shape of HuggingFaceTB/SmolLM-135M (Llama, 30 layers, 9:3 heads);
//   "qwen2.5-0.5b"  the shape of Qwen/Qwen2.5-0.5B (Qwen2, q/k/v biases, 14:2 heads).
// Token ids (bos/eos) are filled in by init_random_model from the tokenizer it writes.
// Throws InvalidArgument listing the presets for an unknown name.
ModelConfig model_preset(std::string_view name);
std::vector<std::string> model_preset_names();

}  // namespace oap
