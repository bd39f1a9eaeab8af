#include "oap/llm/model_preset.hpp"

#include "oap/core/error.hpp"

namespace oap {

std::vector<std::string> model_preset_names() {
  return {"tiny", "small", "smollm-135m", "qwen2.5-0.5b"};
}

ModelConfig model_preset(std::string_view name) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.hidden_act = "silu";
  c.torch_dtype = "float32";
  if (name == "tiny") {
    c.vocab_size = 1024;
    c.hidden_size = 128;
    c.intermediate_size = 352;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 32;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 10000.0;
    c.max_position_embeddings = 2048;
    c.tie_word_embeddings = true;
  } else if (name == "small") {
    c.vocab_size = 8192;
    c.hidden_size = 512;
    c.intermediate_size = 1408;
    c.num_hidden_layers = 8;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 4;
    c.head_dim = 64;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 10000.0;
    c.max_position_embeddings = 2048;
    c.tie_word_embeddings = false;
  } else if (name == "smollm-135m") {
    c.vocab_size = 49152;
    c.hidden_size = 576;
    c.intermediate_size = 1536;
    c.num_hidden_layers = 30;
    c.num_attention_heads = 9;
    c.num_key_value_heads = 3;
    c.head_dim = 64;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 10000.0;
    c.max_position_embeddings = 2048;
    c.tie_word_embeddings = true;
  } else if (name == "qwen2.5-0.5b") {
    c.architecture = "Qwen2ForCausalLM";
    c.model_type = "qwen2";
    c.vocab_size = 151936;
    c.hidden_size = 896;
    c.intermediate_size = 4864;
    c.num_hidden_layers = 24;
    c.num_attention_heads = 14;
    c.num_key_value_heads = 2;
    c.head_dim = 64;
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 1000000.0;
    c.max_position_embeddings = 32768;
    c.tie_word_embeddings = true;
    c.qkv_bias = true;
    c.torch_dtype = "bfloat16";
  } else {
    std::string names;
    for (const auto& n : model_preset_names()) names += (names.empty() ? "" : ", ") + n;
    OAP_THROW(InvalidArgument,
              "unknown model preset '" + std::string(name) + "' (presets: " + names + ")");
  }
  c.validate();
  return c;
}

}  // namespace oap
