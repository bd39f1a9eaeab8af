#pragma once
// KVCache: the keys and values of past positions, for incremental decoding.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "oap/llm/lora_linear.hpp"

namespace oap {

// Per-layer key/value tensors [B, num_kv_heads, length, head_dim] of the positions a CausalLM
// has already seen, in preallocated buffers that grow by doubling (so a decode step does not
// copy the whole history). All layers hold the same length once a forward pass finishes.
// Used for inference (no autograd through the cache).
// For a batch with a different adapter per row it also keeps each projection's stacked LoRA
// pairs (LoraRowStack) between the calls of a generation, so that its decode steps stack the
// rows' adapters once: per adapted projection B x r x (in + out) values in the model's dtype,
// B x r x out more for one-token float32 steps (a batch of 64, rank 8, q/v of `small` in
// float32: 5 MiB per layer), until clear() or other rows.
// Thread safety: none; one cache belongs to one sequence batch and one thread at a time.
class KVCache {
 public:
  explicit KVCache(std::int64_t num_layers);

  // Positions cached (of layer 0; the length a forward pass starts from).
  std::int64_t length() const;
  std::int64_t num_layers() const { return static_cast<std::int64_t>(keys_.size()); }
  // Appends k, v [B, nkv, T, hd] to layer's buffers; returns views of all cached keys and
  // values [B, nkv, length + T, hd]. Throws InvalidArgument if B, nkv or hd change.
  std::pair<at::Tensor, at::Tensor> append(std::int64_t layer, const at::Tensor& k,
                                           const at::Tensor& v);
  // Drops positions past new_length (e.g. to reuse a cached prompt).
  void truncate(std::int64_t new_length);
  // Empties the cache: positions and kept LoRA stacks.
  void clear();
  // The kept per-row LoRA stack of projection `slot` (CausalLM: layer x target), created empty.
  LoraRowStack& lora_rows(std::size_t slot);

 private:
  std::vector<at::Tensor> keys_;  // capacity-sized buffers [B, nkv, capacity, hd]
  std::vector<at::Tensor> values_;
  std::vector<std::int64_t> lengths_;
  std::vector<LoraRowStack> lora_rows_;
};

}  // namespace oap
