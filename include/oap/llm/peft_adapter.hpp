#pragma once
// PEFT adapter folders: LoRA adapters as Hugging Face PEFT saves and loads them for a causal LM
// (adapter_config.json + adapter_model.safetensors), so one user's adapter can be read by, and
// written for, the Python ecosystem.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "oap/llm/lora_weights.hpp"
#include "oap/llm/model_config.hpp"

namespace oap {

// The adapter_config.json fields oap uses. A plain value type.
struct PeftAdapterConfig {
  std::int64_t rank = 8;            // "r"; > 0
  double alpha = 16.0;              // "lora_alpha"
  std::vector<LoraTarget> targets;  // "target_modules", e.g. q_proj, v_proj
  bool rslora = false;              // "use_rslora": scale alpha/sqrt(r) instead of alpha/r
  std::string base_model;           // "base_model_name_or_path" (informational)

  // alpha / r, or alpha / sqrt(r) with rsLoRA.
  double scale() const;
};

// An adapter read from a folder. Owns its config; weights holds tensor handles (copying a
// PeftAdapter aliases the same tensors, as LoraWeights does). Thread safety: as LoraWeights
// (const use from many threads is safe).
struct PeftAdapter {
  PeftAdapterConfig config;
  LoraWeights weights;
};

// Both functions are safe to call concurrently on different folders.
//
// Writes dir/adapter_config.json and dir/adapter_model.safetensors (each atomically: a
// temporary file renamed into place), creating dir. The tensors are weights.named_tensors();
// their shapes must match config.rank (InvalidArgument otherwise). IoError if it cannot write.
void save_peft_adapter(const std::filesystem::path& dir, const LoraWeights& weights,
                       const PeftAdapterConfig& config);

// Reads an adapter folder for a model whose config is `model`; tensors become float32 on
// `device`, without requires_grad. Refuses, with an error naming the file and what is wrong:
// a missing file (IoError); a config that is not LoRA, uses what oap does not implement
// (fan_in_fan_out, bias other than "none", DoRA, rank_pattern/alpha_pattern, layers_to_transform,
// modules_to_save, regex target_modules) or names an unknown module (ConfigError); a tensor with
// an unexpected name or shape, for a layer the model does not have, or an A without its B
// (ConfigError); a corrupt safetensors file (IoError).
PeftAdapter load_peft_adapter(const std::filesystem::path& dir, const ModelConfig& model,
                              const std::string& device = "cpu");

}  // namespace oap
