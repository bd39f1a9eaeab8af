#pragma once
// LoraLinear: a frozen linear projection plus optional per-user low-rank updates.

#include <ATen/core/Tensor.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace oap {

// One low-rank update of a projection: y += scale * (x A^T) B^T.
// The tensors are owned by the adapter (shared handles, never copies); they may require grad.
struct LoraPair {
  at::Tensor a;        // [r, in_features], any floating dtype, same device as the base weight
  at::Tensor b;        // [out_features, r]
  double scale = 1.0;  // lora_scale(alpha, r, rslora)
  // Dropout probability on the pair's input x while autograd is recording (training, as PEFT's
  // lora_dropout in train mode); never applied under NoGradGuard/inference, nor on the
  // per-row path. Default: 0.
  double dropout = 0.0;
};

// The scale of a LoRA pair of rank `rank`: alpha / r, or alpha / sqrt(r) with rsLoRA (as PEFT's
// use_rslora). rank must be > 0.
inline double lora_scale(double alpha, std::int64_t rank, bool rslora) {
  const double r = static_cast<double>(rank);
  return rslora ? alpha / std::sqrt(r) : alpha / r;
}

// The per-row path's stacked pairs of one projection ([B, r, in] and [B, out, r] in the input
// dtype), kept between calls over the same rows so that the decode steps of one generation stack
// them once (a KVCache keeps one per projection). Reused only without autograd, for the same
// input dtype and, row by row, the same A and B tensors unmodified since (their version
// counters) with the same scale; rebuilt otherwise. Holds references to the rows' tensors until
// cleared or rebuilt. Thread safety: none (it belongs to one KVCache).
class LoraRowStack {
 public:
  void clear() { *this = LoraRowStack(); }
  bool empty() const { return !a_rows_.defined(); }

 private:
  friend class LoraLinear;
  // Whether this holds the stack of exactly these rows' pairs in dtype, unmodified since.
  bool matches(std::span<const LoraPair* const> rows, at::ScalarType dtype) const;

  // What was stacked, row by row (undefined tensors for a row without a pair).
  std::vector<at::Tensor> a_src_, b_src_;
  std::vector<std::uint32_t> versions_;  // A's and B's, two per row
  std::vector<double> scales_;
  at::ScalarType dtype_ = at::ScalarType::Undefined;
  // The stack: every row has a pair and one scale (row_scale_ undefined), or row scales [B,1,1].
  at::Tensor a_rows_, b_rows_, row_scale_;
  at::Tensor b_rows_t_;  // B^T per row [B, r, out], made on first use by a one-token float call
  double scale_ = 0.0;
};

// A linear projection y = x W^T (+ bias) whose base weight is frozen and shared, plus low-rank
// pairs chosen per call: none, one for the whole batch, or a different one per batch row
// (each row's A and B are stacked into [B, r, in] and [B, out, r] and applied with batched
// matmul, "BGMV").
// Gradients reach only the pairs passed in (and never W). Adapters are cast to the input dtype.
// Thread safety: immutable after construction; forward may run concurrently.
class LoraLinear {
 public:
  LoraLinear() = default;
  // weight [out, in]; bias [out] or undefined. Both are detached and held, not copied.
  LoraLinear(at::Tensor weight, at::Tensor bias);

  // x [B, T, in] (or [N, in] for the first two overloads) in the weight's dtype/device.
  // Returns [B, T, out].
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor forward(const at::Tensor& x, const LoraPair& pair) const;
  // rows.size() == B; rows[b] is the pair of batch row b, or nullptr for none. Pairs may have
  // different ranks (padded with zeros, which adds nothing).
  // keep: nullptr, or where this projection's stacked pairs are kept between calls over the
  // same rows (see LoraRowStack).
  at::Tensor forward(const at::Tensor& x, std::span<const LoraPair* const> rows,
                     LoraRowStack* keep = nullptr) const;

  const at::Tensor& weight() const { return weight_; }
  const at::Tensor& bias() const { return bias_; }
  std::int64_t in_features() const { return weight_.size(1); }
  std::int64_t out_features() const { return weight_.size(0); }

 private:
  void check_pair(const LoraPair& p) const;
  at::Tensor apply_stack(const at::Tensor& x, LoraRowStack& stack) const;

  at::Tensor weight_;
  at::Tensor bias_;
};

}  // namespace oap
