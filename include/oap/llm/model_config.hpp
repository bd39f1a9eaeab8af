#pragma once
// ModelConfig: the architecture of a Llama-family checkpoint, read from Hugging Face config.json.

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "oap/llm/rope_scaling.hpp"

namespace oap {

// The shape and numerics of a Llama-family causal LM (LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM; SmolLM and TinyLlama checkpoints are LlamaForCausalLM). Plain value type.
//
// Unlike oap's own options, unknown keys are ignored: Hugging Face configs carry many fields
// (transformers_version, initializer_range, ...) that do not change inference.
struct ModelConfig {
  std::string architecture = "LlamaForCausalLM";  // architectures[0]
  std::string model_type = "llama";               // "llama", "mistral", "qwen2"
  std::int64_t vocab_size = 32000;
  std::int64_t hidden_size = 4096;
  std::int64_t intermediate_size = 11008;
  std::int64_t num_hidden_layers = 32;
  std::int64_t num_attention_heads = 32;
  std::int64_t num_key_value_heads = 32;  // < num_attention_heads: grouped-query attention
  std::int64_t head_dim = 128;            // default hidden_size / num_attention_heads
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  std::int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;  // true: no lm_head.weight, the head is embed_tokens
  bool attention_bias = false;       // bias on q/k/v/o projections (Llama option)
  bool qkv_bias = false;             // bias on q/k/v only (always true for Qwen2)
  bool mlp_bias = false;             // bias on gate/up/down projections
  std::string hidden_act = "silu";   // only silu (SwiGLU) is supported
  std::optional<std::int64_t> bos_token_id;
  std::vector<std::int64_t> eos_token_ids;  // "eos_token_id", an int or a list
  std::optional<std::int64_t> pad_token_id;
  std::string torch_dtype = "float32";  // the dtype the checkpoint was saved in
  // Mistral's sliding window: a token attends to at most this many positions, itself included
  // (Hugging Face semantics). Unset (null in config.json, or not Mistral): all positions.
  std::optional<std::int64_t> sliding_window;

  // Reads path (a config.json, or a model folder holding one), as model_config_from_json with
  // errors naming the file. IoError if it does not exist or cannot be read.
  static ModelConfig from_file(const std::filesystem::path& path);
  // Throws ConfigError naming the first inconsistent field.
  void validate() const;

  // Parameter count of the model this config describes.
  std::int64_t num_parameters() const;
  std::int64_t num_kv_groups() const { return num_attention_heads / num_key_value_heads; }
  bool has_qkv_bias() const { return attention_bias || qkv_bias; }
};

// The Hugging Face config.json form (round-trips through from_json).
void to_json(nlohmann::json& j, const ModelConfig& c);
// Parses a config.json object. Throws ConfigError naming "config.json" and the field for an
// unsupported architecture (named), a missing or mistyped field, or inconsistent sizes.
void from_json(const nlohmann::json& j, ModelConfig& c);
// As from_json, with errors naming source (a file path) instead of "config.json".
ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& source);

}  // namespace oap
