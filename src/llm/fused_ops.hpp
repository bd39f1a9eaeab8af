#pragma once
// Autograd-aware tensor operations on the fused CPU kernels (fused_kernels.hpp): RMSNorm, SwiGLU,
// the rotary embedding and the per-token NLL of logits. Each falls back to the eager LibTorch
// composition (same results up to float32 rounding order) for tensors it has no kernel for: other
// devices, other dtypes than float32 and bfloat16, or a norm weight (or rotary table) that is being
// trained.
//
// Thread safety: stateless; safe to call concurrently. Work is split over LibTorch's intra-op
// threads (at::parallel_for).

#include <ATen/core/Tensor.h>

namespace oap::detail {

// Hugging Face LlamaRMSNorm of x [..., H] with weight [H] (x's dtype and device): normalise in
// float32, cast to x's dtype, multiply by weight. Returns x's shape and dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// silu(gate) * up of two tensors of one shape, dtype and device.
at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up);

// Rotary position embedding (Hugging Face apply_rotary_pos_emb) of x [B, T, heads, dim] with
// the tables cos, sin [B, T, dim] (x's dtype): x * cos + rotate_half(x) * sin, each head with
// its row's tables. Returns [B, T, heads, dim], contiguous.
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// Per-row negative log-likelihood of logits [N, V] (float32 or bfloat16) at targets [N] (int64,
// in [0, V), or negative: ignored, NLL 0): float32 [N], with autograd into logits. Equal to
// cross_entropy(logits.float(), targets, reduction none, ignore_index) without the float32 copy
// of the logits or their log-softmax.
at::Tensor token_nll(const at::Tensor& logits, const at::Tensor& targets);

}  // namespace oap::detail
