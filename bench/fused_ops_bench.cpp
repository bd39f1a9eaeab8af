// The fused CPU kernels (src/llm/fused_ops.hpp) against the eager LibTorch compositions they
// replace, forward + backward, on the shapes of one `small` training step (16 samples x 64
// tokens): SwiGLU on [1024, 1408], RMSNorm on [1024, 512], the per-token NLL on [1008, 8192].
//
//   BM_<Op>/<fused|eager>_<f32|bf16>
//
// Environment: OAP_BENCH_THREADS (intra-op threads; default: all cores).

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <string>

#include "bench_models.hpp"
#include "llm/fused_ops.hpp"

namespace {

at::ScalarType dtype_of(const std::string& d) { return d == "bf16" ? at::kBFloat16 : at::kFloat; }

void set_threads(benchmark::State& state) {
  at::set_num_threads(oap::bench::bench_threads());
  state.counters["threads"] = oap::bench::bench_threads();
}

void BM_Swiglu(benchmark::State& state, bool fused, std::string dtype) {
  set_threads(state);
  torch::manual_seed(0);
  const auto g0 = torch::randn({1024, 1408}).to(dtype_of(dtype));
  const auto u0 = torch::randn({1024, 1408}).to(dtype_of(dtype));
  const auto dout = torch::randn({1024, 1408}).to(dtype_of(dtype));
  auto g = g0.clone().requires_grad_(true);
  auto u = u0.clone().requires_grad_(true);
  for (auto _ : state) {
    auto out = fused ? oap::detail::swiglu(g, u) : torch::silu(g) * u;
    out.backward(dout);
    g.mutable_grad().reset();
    u.mutable_grad().reset();
  }
}

void BM_RmsNorm(benchmark::State& state, bool fused, std::string dtype) {
  set_threads(state);
  torch::manual_seed(0);
  const auto w = torch::rand({512}).to(dtype_of(dtype));
  const auto dy = torch::randn({1024, 512}).to(dtype_of(dtype));
  auto x = torch::randn({1024, 512}).to(dtype_of(dtype)).requires_grad_(true);
  for (auto _ : state) {
    at::Tensor y;
    if (fused) {
      y = oap::detail::rms_norm(x, w, 1e-5);
    } else {
      auto xf = x.to(torch::kFloat);
      xf = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + 1e-5);
      y = w * xf.to(x.scalar_type());
    }
    y.backward(dy);
    x.mutable_grad().reset();
  }
}

void BM_TokenNll(benchmark::State& state, bool fused, std::string dtype) {
  set_threads(state);
  torch::manual_seed(0);
  auto logits = torch::randn({1008, 8192}).to(dtype_of(dtype)).requires_grad_(true);
  const auto targets = torch::randint(0, 8192, {1008}, torch::kLong);
  namespace F = torch::nn::functional;
  for (auto _ : state) {
    auto nll = fused ? oap::detail::token_nll(logits, targets)
                     : F::cross_entropy(logits.to(torch::kFloat), targets,
                                        F::CrossEntropyFuncOptions().reduction(torch::kNone));
    nll.sum().backward();
    logits.mutable_grad().reset();
  }
}

}  // namespace

BENCHMARK_CAPTURE(BM_Swiglu, fused_f32, true, "f32")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Swiglu, eager_f32, false, "f32")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Swiglu, fused_bf16, true, "bf16")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Swiglu, eager_bf16, false, "bf16")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RmsNorm, fused_f32, true, "f32")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RmsNorm, eager_f32, false, "f32")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RmsNorm, fused_bf16, true, "bf16")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RmsNorm, eager_bf16, false, "bf16")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenNll, fused_f32, true, "f32")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenNll, eager_f32, false, "f32")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenNll, fused_bf16, true, "bf16")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenNll, eager_bf16, false, "bf16")->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
