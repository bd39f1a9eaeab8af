#pragma once
// LoraConfig: the shape and initialisation of the per-user LoRA adapters oap trains.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace oap {

struct PeftAdapterConfig;

// What a new user adapter looks like. Plain value type. Memory per adapter is
// rank x (in + out) float32 values per target matrix and layer (for the "small" preset, rank 8
// on q_proj and v_proj: 448 KiB); base weights are never copied.
//
// The compute dtype of training and inference is the model's (CausalLMOptions::dtype): with a
// bfloat16 model, adapters (always stored in float32) are cast to bfloat16 in the forward pass
// and their float32 master weights get the gradients, i.e. "bf16 compute, f32 weights".
struct LoraConfig {
  // LoRA rank r. Default: 8. Requires >= 1.
  std::int64_t rank = 8;
  // lora_alpha; the update is scaled by alpha / r (alpha / sqrt(r) with rslora). Default: 16.
  // Requires a finite value > 0.
  double alpha = 16.0;
  // Dropout on the adapter's input while training (PEFT's lora_dropout); inference never drops.
  // Default: 0. Requires [0, 1).
  double dropout = 0.0;
  // PEFT module names: any of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.
  // Default: q_proj, v_proj (PEFT's default for Llama, Qwen2 and Mistral). Requires >= 1, no
  // repeats.
  std::vector<std::string> targets = {"q_proj", "v_proj"};
  // Rank-stabilised LoRA (scale alpha / sqrt(r)). Default: false.
  bool rslora = false;
  // Seed of the A matrices' Kaiming-uniform initialisation (B starts at zero, as in PEFT, so a
  // new adapter changes nothing). Default: 0.
  std::uint64_t init_seed = 0;

  // Throws ConfigError naming the field and value.
  void validate() const;
  // The adapter_config.json fields of an adapter with this config (base_model left empty).
  PeftAdapterConfig peft() const;
};

void to_json(nlohmann::json& j, const LoraConfig& c);
// Reads the fields present (others keep their defaults); unknown keys are an error.
void from_json(const nlohmann::json& j, LoraConfig& c);

}  // namespace oap
