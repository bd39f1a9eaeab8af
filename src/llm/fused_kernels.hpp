#pragma once
// Fused CPU kernels for the four element-wise stretches of a Llama forward/backward that eager
// LibTorch runs as many passes over memory: RMSNorm, SwiGLU (silu(gate) * up), the rotary
// embedding and the per-token negative log-likelihood of a row of logits. Each computes in
// float32 and rounds where the eager composition rounds (bfloat16 storage rounds to nearest
// even, as c10::BFloat16 does).
//
// Why hand-written: LibTorch 1.13 (Debian 12) has no fused RMSNorm or SwiGLU, and its vectorised
// math (at::vec) needs Sleef headers the project does not depend on. These loops are written for
// GCC's auto-vectoriser and compiled for AVX-512, AVX2 and baseline x86-64, picked at run time.
//
// No LibTorch here: callers pass raw, contiguous row-major buffers and split rows between threads
// (fused_ops.cpp does, with at::parallel_for). Every function handles rows [begin, end) only and
// is safe to call concurrently on disjoint ranges. A row's result never depends on the range it
// is computed in, so a row gives bit-identical results in any batch.
//
// Element types: float, or bfloat16 as its raw bits (std::uint16_t).

#include <cstdint>

namespace oap::detail::fused {

// y[r] = w * to_T(x[r] * rstd[r]), rstd[r] = 1 / sqrt(mean(x[r]^2) + eps), per row of `cols`
// (Hugging Face LlamaRMSNorm: normalise in float32, cast to the storage type, then scale).
// x, y: [rows, cols]; w: [cols]; rstd: [rows] float32, kept for the backward pass.
void rms_norm_forward(const float* x, const float* w, float* y, float* rstd, std::int64_t cols,
                      float eps, std::int64_t begin, std::int64_t end);
void rms_norm_forward(const std::uint16_t* x, const std::uint16_t* w, std::uint16_t* y, float* rstd,
                      std::int64_t cols, float eps, std::int64_t begin, std::int64_t end);

// dx of rms_norm_forward for a weight that is not trained: with g = to_T(dy * w) (the gradient
// of the normalised row as eager autograd rounds it) and n = x * rstd,
// dx = rstd * (g - n * mean(g * n)).
void rms_norm_backward(const float* x, const float* w, const float* rstd, const float* dy,
                       float* dx, std::int64_t cols, std::int64_t begin, std::int64_t end);
void rms_norm_backward(const std::uint16_t* x, const std::uint16_t* w, const float* rstd,
                       const std::uint16_t* dy, std::uint16_t* dx, std::int64_t cols,
                       std::int64_t begin, std::int64_t end);

// out[i] = to_T(to_T(silu(gate[i])) * up[i]) for i in [begin, end) (eager's two roundings).
void swiglu_forward(const float* gate, const float* up, float* out, std::int64_t begin,
                    std::int64_t end);
void swiglu_forward(const std::uint16_t* gate, const std::uint16_t* up, std::uint16_t* out,
                    std::int64_t begin, std::int64_t end);

// Gradients of swiglu_forward: d_up = dout * silu(gate), d_gate = dout * up * silu'(gate).
void swiglu_backward(const float* gate, const float* up, const float* dout, float* d_gate,
                     float* d_up, std::int64_t begin, std::int64_t end);
void swiglu_backward(const std::uint16_t* gate, const std::uint16_t* up, const std::uint16_t* dout,
                     std::uint16_t* d_gate, std::uint16_t* d_up, std::int64_t begin,
                     std::int64_t end);

// Rotary position embedding (Hugging Face apply_rotary_pos_emb) of rows of `heads` heads of
// `dim` (even) values, row r with the tables cos[r], sin[r] of `dim` values each:
// out = to_T(to_T(x * cos) + to_T(rotate_half(x) * sin)), rotate_half(x) = [-x[h:], x[:h]],
// h = dim / 2. x, out: [rows, heads, dim]; cos, sin: [rows, dim].
void rope_forward(const float* x, const float* cos, const float* sin, float* out,
                  std::int64_t heads, std::int64_t dim, std::int64_t begin, std::int64_t end);
void rope_forward(const std::uint16_t* x, const std::uint16_t* cos, const std::uint16_t* sin,
                  std::uint16_t* out, std::int64_t heads, std::int64_t dim, std::int64_t begin,
                  std::int64_t end);

// dx of rope_forward: dout * cos + rotate_half^T(dout * sin), rotate_half^T(y) = [y[h:], -y[:h]].
void rope_backward(const float* dout, const float* cos, const float* sin, float* dx,
                   std::int64_t heads, std::int64_t dim, std::int64_t begin, std::int64_t end);
void rope_backward(const std::uint16_t* dout, const std::uint16_t* cos, const std::uint16_t* sin,
                   std::uint16_t* dx, std::int64_t heads, std::int64_t dim, std::int64_t begin,
                   std::int64_t end);

// Per row r of logits [rows, vocab]: lse[r] = log(sum(exp(logits[r]))) and
// nll[r] = lse[r] - logits[r][target[r]], in float32; a row whose target is negative (ignored)
// gets nll 0. Targets must be < vocab (the caller checks).
void token_nll_forward(const float* logits, const std::int64_t* target, float* nll, float* lse,
                       std::int64_t vocab, std::int64_t begin, std::int64_t end);
void token_nll_forward(const std::uint16_t* logits, const std::int64_t* target, float* nll,
                       float* lse, std::int64_t vocab, std::int64_t begin, std::int64_t end);

// d_logits[r] = grad[r] * (softmax(logits[r]) - onehot(target[r])); zero for ignored rows.
void token_nll_backward(const float* logits, const std::int64_t* target, const float* lse,
                        const float* grad, float* d_logits, std::int64_t vocab, std::int64_t begin,
                        std::int64_t end);
void token_nll_backward(const std::uint16_t* logits, const std::int64_t* target, const float* lse,
                        const float* grad, std::uint16_t* d_logits, std::int64_t vocab,
                        std::int64_t begin, std::int64_t end);

}  // namespace oap::detail::fused
