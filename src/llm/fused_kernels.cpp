#include "llm/fused_kernels.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

// Each entry point is compiled three times (AVX-512, AVX2 + FMA, baseline x86-64) and the loader
// picks the one the CPU runs (GCC function multi-versioning through an ifunc). The helpers below
// are always inlined, so each copy vectorises them for its own instruction set.
// Sanitizer builds keep one baseline copy: an ifunc resolver runs during relocation, before a
// sanitizer's runtime is set up.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
#define OAP_FUSED_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define OAP_FUSED_CLONES
#endif
#define OAP_FUSED_INLINE [[gnu::always_inline]] inline

namespace oap::detail::fused {
namespace {

using Bf16 = std::uint16_t;

// Independent partial sums per row: a fixed-width array the vectoriser maps onto registers
// without reassociating a single sum (which it may not do for floats).
constexpr std::int64_t kLanes = 16;

OAP_FUSED_INLINE float to_f32(float v) { return v; }
OAP_FUSED_INLINE float to_f32(Bf16 v) { return std::bit_cast<float>(std::uint32_t{v} << 16); }

// Round to nearest even, NaN kept a (quiet) NaN: as c10::BFloat16.
OAP_FUSED_INLINE Bf16 bf16_bits(float f) {
  const auto u = std::bit_cast<std::uint32_t>(f);
  const auto rounded = static_cast<Bf16>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
  return f != f ? Bf16{0x7FC0} : rounded;
}

template <class T>
OAP_FUSED_INLINE T store_as(float v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else {
    return bf16_bits(v);
  }
}

// v as stored in T and read back: the rounding an eager op's output goes through.
template <class T>
OAP_FUSED_INLINE float rounded(float v) {
  return to_f32(store_as<T>(v));
}

// exp(x) within ~2 ulp for x in [-87, 88] (clamped there; NaN stays NaN): n = round(x / ln 2),
// r = x - n ln 2 (two-part ln 2, as Cephes), a degree-7 Taylor polynomial on |r| <= 0.35,
// scaled by 2^n through the exponent bits. Branch-free, so it vectorises. The clamp is written
// as selects that drop NaN and the NaN is put back at the end: written with std::min/max, GCC
// splits the loop by the clamp's cases, and a caller's division runs three times per vector.
OAP_FUSED_INLINE float exp_f32(float x_in) {
  float x = x_in > -87.0f ? x_in : -87.0f;
  x = x < 88.0f ? x : 88.0f;
  constexpr float kShifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float t = x * 1.44269504088896341f + kShifter;
  const float n = t - kShifter;
  const std::int32_t ni = std::bit_cast<std::int32_t>(t) - std::bit_cast<std::int32_t>(kShifter);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float e = p * std::bit_cast<float>(static_cast<std::uint32_t>(ni + 127) << 23);
  return x_in != x_in ? x_in : e;
}

// The sum of f(j) for j in [0, n): kLanes independent partial sums, then the tail.
template <class F>
OAP_FUSED_INLINE float lane_sum(std::int64_t n, F f) {
  float acc[kLanes] = {};
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (std::int64_t k = 0; k < kLanes; ++k) acc[k] += f(j + k);
  }
  float sum = 0;
  for (std::int64_t k = 0; k < kLanes; ++k) sum += acc[k];
  for (; j < n; ++j) sum += f(j);
  return sum;
}

template <class T>
OAP_FUSED_INLINE void rms_norm_forward_rows(const T* x, const T* w, T* y, float* rstd,
                                            std::int64_t cols, float eps, std::int64_t begin,
                                            std::int64_t end) {
  for (std::int64_t row = begin; row < end; ++row) {
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    const float sum = lane_sum(cols, [&](std::int64_t j) { return to_f32(xr[j]) * to_f32(xr[j]); });
    const float s = 1.0f / std::sqrt(sum / static_cast<float>(cols) + eps);
    rstd[row] = s;
    for (std::int64_t j = 0; j < cols; ++j)
      yr[j] = store_as<T>(to_f32(w[j]) * rounded<T>(to_f32(xr[j]) * s));
  }
}

template <class T>
OAP_FUSED_INLINE void rms_norm_backward_rows(const T* x, const T* w, const float* rstd, const T* dy,
                                             T* dx, std::int64_t cols, std::int64_t begin,
                                             std::int64_t end) {
  for (std::int64_t row = begin; row < end; ++row) {
    const T* xr = x + row * cols;
    const T* dyr = dy + row * cols;
    T* dxr = dx + row * cols;
    // g = the normalised row's gradient as eager autograd rounds it.
    auto g = [&](std::int64_t j) { return rounded<T>(to_f32(dyr[j]) * to_f32(w[j])); };
    const float dot = lane_sum(cols, [&](std::int64_t j) { return g(j) * to_f32(xr[j]); });
    const float s = rstd[row];
    const float coef = s * s * s * dot / static_cast<float>(cols);
    for (std::int64_t j = 0; j < cols; ++j) {
      dxr[j] = store_as<T>(s * g(j) - to_f32(xr[j]) * coef);
    }
  }
}

template <class T>
OAP_FUSED_INLINE void swiglu_forward_range(const T* gate, const T* up, T* out, std::int64_t begin,
                                           std::int64_t end) {
  for (std::int64_t i = begin; i < end; ++i) {
    const float g = to_f32(gate[i]);
    const float a = rounded<T>(g / (1.0f + exp_f32(-g)));
    out[i] = store_as<T>(a * to_f32(up[i]));
  }
}

template <class T>
OAP_FUSED_INLINE void swiglu_backward_range(const T* gate, const T* up, const T* dout, T* d_gate,
                                            T* d_up, std::int64_t begin, std::int64_t end) {
  for (std::int64_t i = begin; i < end; ++i) {
    const float g = to_f32(gate[i]);
    const float d = to_f32(dout[i]);
    const float sig = 1.0f / (1.0f + exp_f32(-g));
    d_up[i] = store_as<T>(d * rounded<T>(g * sig));
    const float d_act = rounded<T>(d * to_f32(up[i]));
    d_gate[i] = store_as<T>(d_act * (sig * (1.0f + g * (1.0f - sig))));
  }
}

// The rotary embedding, and with kBackward its transpose: rotate_half^T(y * sin) is
// rotate_half(y * sin') with sin' = -[sin[h:], sin[:h]], so one loop serves both directions.
template <bool kBackward, class T>
OAP_FUSED_INLINE void rope_rows(const T* x, const T* cos, const T* sin, T* out, std::int64_t heads,
                                std::int64_t dim, std::int64_t begin, std::int64_t end) {
  const std::int64_t half = dim / 2;
  for (std::int64_t row = begin; row < end; ++row) {
    const T* c = cos + row * dim;
    const T* s = sin + row * dim;
    for (std::int64_t head = 0; head < heads; ++head) {
      const T* xr = x + (row * heads + head) * dim;
      T* o = out + (row * heads + head) * dim;
      for (std::int64_t j = 0; j < half; ++j) {
        const float lo = to_f32(xr[j]);
        const float hi = to_f32(xr[j + half]);
        const float sin_lo = kBackward ? -to_f32(s[j + half]) : to_f32(s[j]);
        const float sin_hi = kBackward ? -to_f32(s[j]) : to_f32(s[j + half]);
        o[j] = store_as<T>(rounded<T>(lo * to_f32(c[j])) + rounded<T>(-hi * sin_lo));
        o[j + half] = store_as<T>(rounded<T>(hi * to_f32(c[j + half])) + rounded<T>(lo * sin_hi));
      }
    }
  }
}

template <class T>
OAP_FUSED_INLINE void token_nll_forward_rows(const T* logits, const std::int64_t* target,
                                             float* nll, float* lse, std::int64_t vocab,
                                             std::int64_t begin, std::int64_t end) {
  for (std::int64_t row = begin; row < end; ++row) {
    const T* lr = logits + row * vocab;
    float mx[kLanes];
    std::fill(mx, mx + kLanes, -std::numeric_limits<float>::infinity());
    std::int64_t j = 0;
    for (; j + kLanes <= vocab; j += kLanes) {
      for (std::int64_t k = 0; k < kLanes; ++k) mx[k] = std::max(mx[k], to_f32(lr[j + k]));
    }
    float m = mx[0];
    for (std::int64_t k = 1; k < kLanes; ++k) m = std::max(m, mx[k]);
    for (; j < vocab; ++j) m = std::max(m, to_f32(lr[j]));
    const float sum = lane_sum(vocab, [&](std::int64_t j) { return exp_f32(to_f32(lr[j]) - m); });
    // A NaN logit is lost by max() but not by the sum: the row's lse (and loss) is NaN then.
    const float l = m + std::log(sum);
    lse[row] = l;
    nll[row] = target[row] < 0 ? 0.0f : l - to_f32(lr[target[row]]);
  }
}

template <class T>
OAP_FUSED_INLINE void token_nll_backward_rows(const T* logits, const std::int64_t* target,
                                              const float* lse, const float* grad, T* d_logits,
                                              std::int64_t vocab, std::int64_t begin,
                                              std::int64_t end) {
  for (std::int64_t row = begin; row < end; ++row) {
    const T* lr = logits + row * vocab;
    T* dr = d_logits + row * vocab;
    const std::int64_t t = target[row];
    const float g = t < 0 ? 0.0f : grad[row];
    const float l = lse[row];
    for (std::int64_t j = 0; j < vocab; ++j) dr[j] = store_as<T>(g * exp_f32(to_f32(lr[j]) - l));
    if (t >= 0) dr[t] = store_as<T>(g * (exp_f32(to_f32(lr[t]) - l) - 1.0f));
  }
}

}  // namespace

OAP_FUSED_CLONES void rms_norm_forward(const float* x, const float* w, float* y, float* rstd,
                                       std::int64_t cols, float eps, std::int64_t begin,
                                       std::int64_t end) {
  rms_norm_forward_rows(x, w, y, rstd, cols, eps, begin, end);
}
OAP_FUSED_CLONES void rms_norm_forward(const Bf16* x, const Bf16* w, Bf16* y, float* rstd,
                                       std::int64_t cols, float eps, std::int64_t begin,
                                       std::int64_t end) {
  rms_norm_forward_rows(x, w, y, rstd, cols, eps, begin, end);
}

OAP_FUSED_CLONES void rms_norm_backward(const float* x, const float* w, const float* rstd,
                                        const float* dy, float* dx, std::int64_t cols,
                                        std::int64_t begin, std::int64_t end) {
  rms_norm_backward_rows(x, w, rstd, dy, dx, cols, begin, end);
}
OAP_FUSED_CLONES void rms_norm_backward(const Bf16* x, const Bf16* w, const float* rstd,
                                        const Bf16* dy, Bf16* dx, std::int64_t cols,
                                        std::int64_t begin, std::int64_t end) {
  rms_norm_backward_rows(x, w, rstd, dy, dx, cols, begin, end);
}

OAP_FUSED_CLONES void swiglu_forward(const float* gate, const float* up, float* out,
                                     std::int64_t begin, std::int64_t end) {
  swiglu_forward_range(gate, up, out, begin, end);
}
OAP_FUSED_CLONES void swiglu_forward(const Bf16* gate, const Bf16* up, Bf16* out,
                                     std::int64_t begin, std::int64_t end) {
  swiglu_forward_range(gate, up, out, begin, end);
}

OAP_FUSED_CLONES void swiglu_backward(const float* gate, const float* up, const float* dout,
                                      float* d_gate, float* d_up, std::int64_t begin,
                                      std::int64_t end) {
  swiglu_backward_range(gate, up, dout, d_gate, d_up, begin, end);
}
OAP_FUSED_CLONES void swiglu_backward(const Bf16* gate, const Bf16* up, const Bf16* dout,
                                      Bf16* d_gate, Bf16* d_up, std::int64_t begin,
                                      std::int64_t end) {
  swiglu_backward_range(gate, up, dout, d_gate, d_up, begin, end);
}

OAP_FUSED_CLONES void rope_forward(const float* x, const float* cos, const float* sin, float* out,
                                   std::int64_t heads, std::int64_t dim, std::int64_t begin,
                                   std::int64_t end) {
  rope_rows<false>(x, cos, sin, out, heads, dim, begin, end);
}
OAP_FUSED_CLONES void rope_forward(const Bf16* x, const Bf16* cos, const Bf16* sin, Bf16* out,
                                   std::int64_t heads, std::int64_t dim, std::int64_t begin,
                                   std::int64_t end) {
  rope_rows<false>(x, cos, sin, out, heads, dim, begin, end);
}

OAP_FUSED_CLONES void rope_backward(const float* dout, const float* cos, const float* sin,
                                    float* dx, std::int64_t heads, std::int64_t dim,
                                    std::int64_t begin, std::int64_t end) {
  rope_rows<true>(dout, cos, sin, dx, heads, dim, begin, end);
}
OAP_FUSED_CLONES void rope_backward(const Bf16* dout, const Bf16* cos, const Bf16* sin, Bf16* dx,
                                    std::int64_t heads, std::int64_t dim, std::int64_t begin,
                                    std::int64_t end) {
  rope_rows<true>(dout, cos, sin, dx, heads, dim, begin, end);
}

OAP_FUSED_CLONES void token_nll_forward(const float* logits, const std::int64_t* target, float* nll,
                                        float* lse, std::int64_t vocab, std::int64_t begin,
                                        std::int64_t end) {
  token_nll_forward_rows(logits, target, nll, lse, vocab, begin, end);
}
OAP_FUSED_CLONES void token_nll_forward(const Bf16* logits, const std::int64_t* target, float* nll,
                                        float* lse, std::int64_t vocab, std::int64_t begin,
                                        std::int64_t end) {
  token_nll_forward_rows(logits, target, nll, lse, vocab, begin, end);
}

OAP_FUSED_CLONES void token_nll_backward(const float* logits, const std::int64_t* target,
                                         const float* lse, const float* grad, float* d_logits,
                                         std::int64_t vocab, std::int64_t begin, std::int64_t end) {
  token_nll_backward_rows(logits, target, lse, grad, d_logits, vocab, begin, end);
}
OAP_FUSED_CLONES void token_nll_backward(const Bf16* logits, const std::int64_t* target,
                                         const float* lse, const float* grad, Bf16* d_logits,
                                         std::int64_t vocab, std::int64_t begin, std::int64_t end) {
  token_nll_backward_rows(logits, target, lse, grad, d_logits, vocab, begin, end);
}

}  // namespace oap::detail::fused
