#pragma once
// LoraWeights: one user's low-rank pairs for the projections of a CausalLM.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "oap/llm/lora_linear.hpp"
#include "oap/llm/model_config.hpp"

namespace oap {

// The projections a LoRA pair can target, with Hugging Face / PEFT module names.
enum class LoraTarget { kQ, kK, kV, kO, kGate, kUp, kDown };
inline constexpr int kNumLoraTargets = 7;

// "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj".
std::string_view lora_target_name(LoraTarget t);
std::optional<LoraTarget> parse_lora_target(std::string_view name);
// in/out features of target t in a model with config c.
std::pair<std::int64_t, std::int64_t> lora_target_shape(const ModelConfig& c, LoraTarget t);
// The Hugging Face name of target t's module in layer `layer`, which the checkpoint's tensors
// extend with ".weight" / ".bias": "model.layers.3.self_attn.q_proj", "model.layers.3.mlp.up_proj".
std::string hf_module_name(std::int64_t layer, LoraTarget t);
// The PEFT name of the same module, which its tensors extend with ".lora_A.weight" /
// ".lora_B.weight": "base_model.model." + hf_module_name(layer, t).
std::string peft_module_name(std::int64_t layer, LoraTarget t);

// A set of LoraPairs indexed by (layer, target): the trainable part of one user's adapter.
// Holds tensor handles; copying a LoraWeights aliases the same tensors (use clone() for a copy).
// Thread safety: const methods are safe concurrently; set() needs external synchronization.
class LoraWeights {
 public:
  explicit LoraWeights(std::int64_t num_layers = 0);

  // A fresh adapter as PEFT initialises one: A Kaiming-uniform (a = sqrt(5), i.e. U(-1/sqrt(in),
  // 1/sqrt(in))), B zeros, scale alpha/r (alpha/sqrt(r) with rslora), float32 on device
  // ("cpu", "cuda:0"), requires_grad set. Deterministic for a seed.
  static LoraWeights create(const ModelConfig& config, std::int64_t rank, double alpha,
                            const std::vector<LoraTarget>& targets, bool rslora, std::uint64_t seed,
                            const std::string& device = "cpu");

  std::int64_t num_layers() const {
    return static_cast<std::int64_t>(pairs_.size()) / kNumLoraTargets;
  }
  void set(std::int64_t layer, LoraTarget t, LoraPair pair);
  // The pair for (layer, t), or nullptr.
  const LoraPair* get(std::int64_t layer, LoraTarget t) const;
  // All A and B tensors (for an optimizer), in (layer, target, A, B) order.
  std::vector<at::Tensor> parameters() const;
  // The tensors under PEFT names
  // ("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight"), ready for save_safetensors.
  std::vector<std::pair<std::string, at::Tensor>> named_tensors() const;
  // A deep copy (detached clones, same requires_grad).
  LoraWeights clone() const;

 private:
  std::vector<std::optional<LoraPair>> pairs_;  // layer * kNumLoraTargets + target
};

}  // namespace oap
