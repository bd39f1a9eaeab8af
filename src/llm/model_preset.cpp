#include "oap/llm/model_preset.hpp"

#include <array>

#include "oap/core/error.hpp"

namespace oap {
namespace {

// The shape of one preset; every preset is Llama-style (silu, RoPE) unless `qwen2`.
struct PresetShape {
  std::string_view name;
  std::int64_t vocab_size, hidden_size, intermediate_size, num_hidden_layers;
  std::int64_t num_attention_heads, num_key_value_heads, head_dim;
  double rms_norm_eps, rope_theta;
  std::int64_t max_position_embeddings;
  bool tie_word_embeddings;
  bool qwen2;  // Qwen2ForCausalLM: q/k/v biases, saved as bfloat16
};

// tiny: ~1M parameters, for tests; small: ~30M; the others: the real models' shapes.
constexpr std::array<PresetShape, 4> kPresets = {{
    {"tiny", 1024, 128, 352, 4, 4, 2, 32, 1e-5, 10000.0, 2048, true, false},
    {"small", 8192, 512, 1408, 8, 8, 4, 64, 1e-5, 10000.0, 2048, false, false},
    {"smollm-135m", 49152, 576, 1536, 30, 9, 3, 64, 1e-5, 10000.0, 2048, true, false},
    {"qwen2.5-0.5b", 151936, 896, 4864, 24, 14, 2, 64, 1e-6, 1000000.0, 32768, true, true},
}};

}  // namespace

std::vector<std::string> model_preset_names() {
  std::vector<std::string> names;
  for (const auto& p : kPresets) names.emplace_back(p.name);
  return names;
}

ModelConfig model_preset(std::string_view name) {
  const PresetShape* p = nullptr;
  for (const auto& candidate : kPresets) {
    if (candidate.name == name) p = &candidate;
  }
  if (p == nullptr) {
    std::string names;
    for (const auto& n : model_preset_names()) names += (names.empty() ? "" : ", ") + n;
    OAP_THROW(InvalidArgument,
              "unknown model preset '" + std::string(name) + "' (presets: " + names + ")");
  }
  ModelConfig c;
  c.architecture = p->qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
  c.model_type = p->qwen2 ? "qwen2" : "llama";
  c.hidden_act = "silu";
  c.torch_dtype = p->qwen2 ? "bfloat16" : "float32";
  c.qkv_bias = p->qwen2;
  c.vocab_size = p->vocab_size;
  c.hidden_size = p->hidden_size;
  c.intermediate_size = p->intermediate_size;
  c.num_hidden_layers = p->num_hidden_layers;
  c.num_attention_heads = p->num_attention_heads;
  c.num_key_value_heads = p->num_key_value_heads;
  c.head_dim = p->head_dim;
  c.rms_norm_eps = p->rms_norm_eps;
  c.rope_theta = p->rope_theta;
  c.max_position_embeddings = p->max_position_embeddings;
  c.tie_word_embeddings = p->tie_word_embeddings;
  c.validate();
  return c;
}

}  // namespace oap
