#include "llm/fused_ops.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>

#include "llm/fused_kernels.hpp"

namespace oap::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Elements per at::parallel_for chunk: below this, a second thread costs more than it saves.
constexpr std::int64_t kGrainElements = 32768;

// A kernel for t: on the CPU, float32 or bfloat16, not empty (the eager ops handle empty shapes).
bool has_kernel(const at::Tensor& t) {
  return t.device().is_cpu() && t.numel() > 0 &&
         (t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16);
}

std::int64_t row_grain(std::int64_t cols) {
  return std::max<std::int64_t>(1, kGrainElements / cols);
}

// Runs f(T*{}, begin, end) over chunks of [0, n) on the intra-op threads, with T = float or
// std::uint16_t (bfloat16 bits) by t's dtype (f picks its kernel's overload by T).
template <class F>
void parallel_typed(const at::Tensor& t, std::int64_t n, std::int64_t grain, F&& f) {
  auto run = [&]<class T>(T* tag) {
    at::parallel_for(0, n, grain, [&](std::int64_t b, std::int64_t e) { f(tag, b, e); });
  };
  if (t.scalar_type() == at::kFloat) {
    run(static_cast<float*>(nullptr));
  } else {
    run(static_cast<std::uint16_t*>(nullptr));
  }
}

template <class T>
T* data(const at::Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

at::Tensor rms_norm_eager(const at::Tensor& x, const at::Tensor& weight, double eps) {
  auto xf = x.to(torch::kFloat);
  auto var = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * torch::rsqrt(var + eps);
  return weight * xf.to(x.scalar_type());
}

// Returns y; rstd [rows] float32 is filled for the backward pass.
at::Tensor rms_norm_kernel(const at::Tensor& x, const at::Tensor& weight, double eps,
                           at::Tensor& rstd) {
  const std::int64_t cols = x.size(-1);
  const std::int64_t rows = x.numel() / cols;
  auto y = at::empty_like(x);
  rstd = at::empty({rows}, x.options().dtype(at::kFloat));
  parallel_typed(x, rows, row_grain(cols), [&]<class T>(T*, std::int64_t b, std::int64_t e) {
    fused::rms_norm_forward(data<T>(x), data<T>(weight), data<T>(y), data<float>(rstd), cols,
                            static_cast<float>(eps), b, e);
  });
  return y;
}

struct RmsNormFunction : torch::autograd::Function<RmsNormFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            double eps) {
    at::Tensor rstd;
    auto y = rms_norm_kernel(x, weight, eps, rstd);
    ctx->save_for_backward({x, weight, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    const auto& rstd = saved[2];
    const auto dy = grads[0].to(x.scalar_type()).contiguous();
    const std::int64_t cols = x.size(-1);
    const std::int64_t rows = x.numel() / cols;
    auto dx = at::empty_like(x);
    parallel_typed(x, rows, row_grain(cols), [&]<class T>(T*, std::int64_t b, std::int64_t e) {
      fused::rms_norm_backward(data<T>(x), data<T>(weight), data<float>(rstd), data<T>(dy),
                               data<T>(dx), cols, b, e);
    });
    return {dx, at::Tensor(), at::Tensor()};
  }
};

at::Tensor swiglu_kernel(const at::Tensor& gate, const at::Tensor& up) {
  auto out = at::empty_like(gate);
  parallel_typed(gate, gate.numel(), kGrainElements,
                 [&]<class T>(T*, std::int64_t b, std::int64_t e) {
                   fused::swiglu_forward(data<T>(gate), data<T>(up), data<T>(out), b, e);
                 });
  return out;
}

struct SwigluFunction : torch::autograd::Function<SwigluFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    ctx->save_for_backward({gate, up});
    return swiglu_kernel(gate, up);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& gate = saved[0];
    const auto& up = saved[1];
    const auto dout = grads[0].to(gate.scalar_type()).contiguous();
    auto d_gate = at::empty_like(gate);
    auto d_up = at::empty_like(up);
    parallel_typed(gate, gate.numel(), kGrainElements,
                   [&]<class T>(T*, std::int64_t b, std::int64_t e) {
                     fused::swiglu_backward(data<T>(gate), data<T>(up), data<T>(dout),
                                            data<T>(d_gate), data<T>(d_up), b, e);
                   });
    return {d_gate, d_up};
  }
};

// The rotary embedding of x [B, T, heads, dim], or with transpose its backward (x = the
// output's gradient).
at::Tensor rope_kernel(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                       bool transpose) {
  const std::int64_t rows = x.size(0) * x.size(1);
  const std::int64_t heads = x.size(2);
  const std::int64_t dim = x.size(3);
  auto out = at::empty_like(x);
  parallel_typed(x, rows, row_grain(heads * dim), [&]<class T>(T*, std::int64_t b, std::int64_t e) {
    if (transpose) {
      fused::rope_backward(data<T>(x), data<T>(cos), data<T>(sin), data<T>(out), heads, dim, b, e);
    } else {
      fused::rope_forward(data<T>(x), data<T>(cos), data<T>(sin), data<T>(out), heads, dim, b, e);
    }
  });
  return out;
}

struct RopeFunction : torch::autograd::Function<RopeFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos,
                            const at::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    return rope_kernel(x, cos, sin, /*transpose=*/false);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& cos = saved[0];
    const auto dout = grads[0].to(cos.scalar_type()).contiguous();
    return {rope_kernel(dout, cos, saved[1], /*transpose=*/true), at::Tensor(), at::Tensor()};
  }
};

// Returns the NLL [N]; lse [N] float32 is filled for the backward pass.
at::Tensor token_nll_kernel(const at::Tensor& logits, const at::Tensor& targets, at::Tensor& lse) {
  const std::int64_t rows = logits.size(0);
  const std::int64_t vocab = logits.size(1);
  auto nll = at::empty({rows}, logits.options().dtype(at::kFloat));
  lse = at::empty({rows}, logits.options().dtype(at::kFloat));
  parallel_typed(logits, rows, row_grain(vocab), [&]<class T>(T*, std::int64_t b, std::int64_t e) {
    fused::token_nll_forward(data<T>(logits), data<std::int64_t>(targets), data<float>(nll),
                             data<float>(lse), vocab, b, e);
  });
  return nll;
}

struct TokenNllFunction : torch::autograd::Function<TokenNllFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits,
                            const at::Tensor& targets) {
    at::Tensor lse;
    auto nll = token_nll_kernel(logits, targets, lse);
    ctx->save_for_backward({logits, targets, lse});
    return nll;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& logits = saved[0];
    const auto& targets = saved[1];
    const auto& lse = saved[2];
    const auto grad = grads[0].to(at::kFloat).contiguous();
    const std::int64_t rows = logits.size(0);
    const std::int64_t vocab = logits.size(1);
    auto d_logits = at::empty_like(logits);
    parallel_typed(
        logits, rows, row_grain(vocab), [&]<class T>(T*, std::int64_t b, std::int64_t e) {
          fused::token_nll_backward(data<T>(logits), data<std::int64_t>(targets), data<float>(lse),
                                    data<float>(grad), data<T>(d_logits), vocab, b, e);
        });
    return {d_logits, at::Tensor()};
  }
};

bool records_graph(const at::Tensor& t) { return at::GradMode::is_enabled() && t.requires_grad(); }

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (!has_kernel(x) || weight.scalar_type() != x.scalar_type() || !weight.device().is_cpu() ||
      weight.requires_grad() || weight.dim() != 1 || weight.size(0) != x.size(-1)) {
    return rms_norm_eager(x, weight, eps);
  }
  const auto xc = x.contiguous();
  const auto wc = weight.contiguous();
  if (records_graph(xc)) return RmsNormFunction::apply(xc, wc, eps);
  at::Tensor rstd;
  return rms_norm_kernel(xc, wc, eps, rstd);
}

at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up) {
  if (!has_kernel(gate) || up.scalar_type() != gate.scalar_type() || !up.device().is_cpu() ||
      up.sizes() != gate.sizes()) {
    return torch::silu(gate) * up;
  }
  const auto g = gate.contiguous();
  const auto u = up.contiguous();
  if (records_graph(g) || records_graph(u)) return SwigluFunction::apply(g, u);
  return swiglu_kernel(g, u);
}

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const bool fits = x.dim() == 4 && cos.dim() == 3 && x.size(3) % 2 == 0 &&
                    cos.sizes() == sin.sizes() && cos.size(0) == x.size(0) &&
                    cos.size(1) == x.size(1) && cos.size(2) == x.size(3);
  if (!has_kernel(x) || !fits || cos.scalar_type() != x.scalar_type() ||
      sin.scalar_type() != x.scalar_type() || !cos.device().is_cpu() || !sin.device().is_cpu() ||
      cos.requires_grad() || sin.requires_grad()) {
    const auto half = x.size(-1) / 2;
    const auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
    return x * cos.unsqueeze(2) + rotated * sin.unsqueeze(2);
  }
  const auto xc = x.contiguous();
  const auto c = cos.contiguous();
  const auto s = sin.contiguous();
  if (records_graph(xc)) return RopeFunction::apply(xc, c, s);
  return rope_kernel(xc, c, s, /*transpose=*/false);
}

at::Tensor token_nll(const at::Tensor& logits, const at::Tensor& targets) {
  const auto t = targets.to(logits.device(), at::kLong).contiguous();
  if (!has_kernel(logits) || logits.dim() != 2) {
    auto logp = torch::log_softmax(logits.to(torch::kFloat), -1);
    auto nll = -logp.gather(1, t.clamp_min(0).unsqueeze(1)).squeeze(1);
    return nll.masked_fill(t < 0, 0.0);
  }
  const auto l = logits.contiguous();
  if (records_graph(l)) return TokenNllFunction::apply(l, t);
  at::Tensor lse;
  return token_nll_kernel(l, t, lse);
}

}  // namespace oap::detail
