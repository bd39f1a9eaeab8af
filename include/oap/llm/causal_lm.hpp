#pragma once
// CausalLM: a Llama-family decoder (Llama, Mistral, Qwen2, SmolLM, TinyLlama) in LibTorch.

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "oap/llm/causal_lm_options.hpp"
#include "oap/llm/kv_cache.hpp"
#include "oap/llm/lora_linear.hpp"
#include "oap/llm/lora_weights.hpp"
#include "oap/llm/model_config.hpp"

namespace oap {

class SafeTensorsCheckpoint;

// A causal language model computed as Hugging Face's LlamaForCausalLM computes it: token
// embedding; per layer RMSNorm (in float32) -> attention (q/k/v projections, rotary embeddings
// in the rotate-half convention, grouped-query attention, softmax in float32) -> residual ->
// RMSNorm -> SwiGLU MLP -> residual; final RMSNorm; tied or untied head. Qwen2's q/k/v biases,
// attention_bias and mlp_bias are honoured. Every projection is a LoraLinear, so per-user LoRA
// pairs apply per call without touching the base weights.
//
// Mistral's sliding window is applied through the attention mask, as Hugging Face does with its
// default cache: the KV cache keeps every position, only attention is limited to the window.
//
// Thread safety: immutable after load; forward() may run concurrently from many threads (each
// with its own KVCache). Ownership: the weights are owned here (aliasing the checkpoint's
// memory mapping when dtype and device allow); share one model between users as
// std::shared_ptr<const CausalLM>.
class CausalLM {
 public:
  // Loads config.json and the safetensors weights of a Hugging Face model folder. Sets the
  // process-wide intra-op thread count from options. Throws ConfigError/IoError naming the file,
  // InvalidArgument naming a missing or misshapen tensor.
  static std::unique_ptr<CausalLM> load(const std::filesystem::path& model_dir,
                                        const CausalLMOptions& options = {});
  static std::unique_ptr<CausalLM> from_checkpoint(const ModelConfig& config,
                                                   const SafeTensorsCheckpoint& checkpoint,
                                                   const CausalLMOptions& options = {});

  // Logits for input_ids.
  //   input_ids: [B, T] integer token ids (any device; moved to the model's).
  //   attention_mask: [B, past + T], 1 for real tokens, 0 for padding (left padding); undefined
  //     means all ones. With a cache it must cover the cached positions too.
  //   cache: nullptr, or the KVCache of these B rows holding `past` positions; appended to.
  //     With one adapter per row it also keeps the rows' stacked LoRA pairs for the next call.
  //   adapters: empty (no LoRA), one (all rows), or B entries (row b uses adapters[b]; nullptr
  //     for none).
  //   last_only: return logits of the last position only ([B, 1, V]); saves the head's cost.
  // Returns float32 logits [B, T, V] on the model's device. Runs with autograd if enabled by
  // the caller (gradients reach only adapter tensors; base weights never require grad).
  // A call over at most options().decode_max_tokens tokens (B x T) runs on
  // options().decode_threads intra-op threads (the calling thread's setting, restored on return).
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask = {},
                     KVCache* cache = nullptr, std::span<const LoraWeights* const> adapters = {},
                     bool last_only = false) const;
  // forward() up to the head: the final hidden states (after the last RMSNorm) [B, T, H] (or
  // [B, 1, H] with last_only) in the model's dtype. logits(hidden_states(...)) == forward(...).
  at::Tensor hidden_states(const at::Tensor& input_ids, const at::Tensor& attention_mask = {},
                           KVCache* cache = nullptr,
                           std::span<const LoraWeights* const> adapters = {},
                           bool last_only = false) const;
  // The head: float32 logits [..., V] of hidden states [..., H].
  at::Tensor logits(const at::Tensor& hidden) const;
  // The head's per-token negative log-likelihood: hidden [N, H] (model dtype and device),
  // targets [N] integer token ids, or -100 for a position that is not scored (NLL 0). Returns
  // float32 [N], with autograd into hidden when enabled; equal to cross_entropy(logits(hidden),
  // targets, reduction none, ignore_index -100) up to float32 rounding order, without the
  // float32 logits or their log-softmax ever held in memory (a training step's largest tensors).
  // Throws InvalidArgument for a target outside [0, V) other than -100.
  at::Tensor token_nll(const at::Tensor& hidden, const at::Tensor& targets) const;

  // A KVCache sized for this model.
  KVCache new_cache() const { return KVCache(config_.num_hidden_layers); }

  const ModelConfig& config() const { return config_; }
  const CausalLMOptions& options() const { return options_; }
  // The weights under their Hugging Face names (lm_head.weight only when untied).
  std::vector<std::pair<std::string, at::Tensor>> named_weights() const;

 private:
  struct Layer {
    at::Tensor input_norm;             // [H]
    at::Tensor post_norm;              // [H]
    LoraLinear proj[kNumLoraTargets];  // indexed by LoraTarget
  };

  CausalLM() = default;

  ModelConfig config_;
  CausalLMOptions options_;
  at::Tensor embed_;     // [V, H]
  at::Tensor norm_;      // [H]
  at::Tensor lm_head_;   // [V, H]; aliases embed_ when tied
  at::Tensor inv_freq_;  // [hd/2] float32, without dynamic scaling
  std::vector<Layer> layers_;
};

}  // namespace oap
