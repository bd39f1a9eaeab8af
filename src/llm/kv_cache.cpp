#include "oap/llm/kv_cache.hpp"

#include <torch/torch.h>

#include "oap/core/error.hpp"

namespace oap {

KVCache::KVCache(std::int64_t num_layers)
    : keys_(static_cast<std::size_t>(num_layers)),
      values_(static_cast<std::size_t>(num_layers)),
      lengths_(static_cast<std::size_t>(num_layers), 0) {}

std::int64_t KVCache::length() const { return lengths_.empty() ? 0 : lengths_[0]; }

std::pair<at::Tensor, at::Tensor> KVCache::append(std::int64_t layer, const at::Tensor& k,
                                                  const at::Tensor& v) {
  OAP_CHECK(layer >= 0 && layer < num_layers(), InvalidArgument,
            "KVCache: layer " + std::to_string(layer) + " out of range");
  OAP_CHECK(k.dim() == 4 && v.sizes() == k.sizes(), InvalidArgument,
            "KVCache: k and v must both be [B, nkv, T, hd]");
  const auto l = static_cast<std::size_t>(layer);
  auto& kb = keys_[l];
  auto& vb = values_[l];
  const std::int64_t len = lengths_[l];
  const std::int64_t t = k.size(2);
  if (kb.defined()) {
    OAP_CHECK(kb.size(0) == k.size(0) && kb.size(1) == k.size(1) && kb.size(3) == k.size(3) &&
                  kb.scalar_type() == k.scalar_type(),
              InvalidArgument,
              "KVCache: layer " + std::to_string(layer) +
                  " gets keys of a different batch, head count, head size or dtype than it "
                  "holds (clear() the cache between batches)");
  }
  if (!kb.defined() || len + t > kb.size(2)) {
    const std::int64_t cap = std::max<std::int64_t>(len + t, kb.defined() ? 2 * kb.size(2) : 0);
    const std::int64_t capacity = std::max<std::int64_t>(cap, 16);
    auto nk = torch::empty({k.size(0), k.size(1), capacity, k.size(3)}, k.options());
    auto nv = torch::empty({k.size(0), k.size(1), capacity, k.size(3)}, v.options());
    if (len > 0) {
      nk.narrow(2, 0, len).copy_(kb.narrow(2, 0, len));
      nv.narrow(2, 0, len).copy_(vb.narrow(2, 0, len));
    }
    kb = nk;
    vb = nv;
  }
  kb.narrow(2, len, t).copy_(k);
  vb.narrow(2, len, t).copy_(v);
  lengths_[l] = len + t;
  return {kb.narrow(2, 0, len + t), vb.narrow(2, 0, len + t)};
}

void KVCache::truncate(std::int64_t new_length) {
  OAP_CHECK(new_length >= 0, InvalidArgument, "KVCache::truncate: negative length");
  for (auto& len : lengths_) len = std::min(len, new_length);
}

void KVCache::clear() {
  for (auto& k : keys_) k = at::Tensor();
  for (auto& v : values_) v = at::Tensor();
  for (auto& len : lengths_) len = 0;
  lora_rows_.clear();
}

LoraRowStack& KVCache::lora_rows(std::size_t slot) {
  if (slot >= lora_rows_.size()) lora_rows_.resize(slot + 1);
  return lora_rows_[slot];
}

}  // namespace oap
