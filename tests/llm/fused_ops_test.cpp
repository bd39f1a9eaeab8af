// The fused CPU kernels (src/llm/fused_ops.hpp) against the eager LibTorch compositions they
// replace: values and gradients, float32 and bfloat16, rows whose length is no multiple of the
// kernels' 16 lanes, ignored targets, NaN, and a row's independence from its batch.
#include "llm/fused_ops.hpp"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <string>

#include "llm/model_test_util.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"

namespace oap {
namespace {

at::Tensor eager_rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  auto xf = x.to(torch::kFloat);
  xf = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return w * xf.to(x.scalar_type());
}

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

double max_abs(const at::Tensor& a) { return a.to(torch::kDouble).abs().max().item<double>(); }

// Tolerance relative to the largest magnitude: float32 to a few ulps, bfloat16 to its rounding.
double tolerance(torch::ScalarType dtype, const at::Tensor& ref) {
  return (dtype == torch::kFloat ? 2e-6 : 1.6e-2) * max_abs(ref);
}

class FusedOps : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(FusedOps, RmsNormMatchesEagerValuesAndGradient) {
  const auto dtype = GetParam();
  torch::manual_seed(1);
  for (const std::int64_t cols : {37, 64, 512}) {
    SCOPED_TRACE("cols " + std::to_string(cols));
    const auto x0 = (torch::randn({3, 5, cols}) * 3).to(dtype);
    const auto w = (torch::rand({cols}) + 0.5).to(dtype);
    const auto dy = torch::randn({3, 5, cols}).to(dtype);
    auto xa = x0.clone().requires_grad_(true);
    auto xb = x0.clone().requires_grad_(true);
    const auto fused = detail::rms_norm(xa, w, 1e-5);
    const auto eager = eager_rms_norm(xb, w, 1e-5);
    ASSERT_EQ(fused.scalar_type(), dtype);
    ASSERT_EQ(fused.sizes(), x0.sizes());
    EXPECT_LE(max_diff(fused, eager), tolerance(dtype, eager));
    fused.backward(dy);
    eager.backward(dy);
    EXPECT_LE(max_diff(xa.grad(), xb.grad()), tolerance(dtype, xb.grad()));
    EXPECT_GT(max_abs(xa.grad()), 1e-3);  // a gradient, not zeros
  }
}

TEST_P(FusedOps, SwigluMatchesEagerValuesAndGradient) {
  const auto dtype = GetParam();
  torch::manual_seed(2);
  // Gates across silu's range, its saturated ends and exp()'s clamp included.
  auto g0 = torch::cat({torch::randn({4, 301}) * 4, torch::linspace(-30, 30, 301).view({1, 301}),
                        torch::tensor({-200.0f, -88.0f, -87.5f, 0.0f, 87.5f, 88.5f, 200.0f})
                            .repeat({43})
                            .view({1, 301})})
                .to(dtype);
  const auto u0 = torch::randn({6, 301}).to(dtype);
  const auto dout = torch::randn({6, 301}).to(dtype);
  auto ga = g0.clone().requires_grad_(true), ua = u0.clone().requires_grad_(true);
  auto gb = g0.clone().requires_grad_(true), ub = u0.clone().requires_grad_(true);
  const auto fused = detail::swiglu(ga, ua);
  const auto eager = torch::silu(gb) * ub;
  EXPECT_LE(max_diff(fused, eager), tolerance(dtype, eager));
  fused.backward(dout);
  eager.backward(dout);
  EXPECT_LE(max_diff(ga.grad(), gb.grad()), tolerance(dtype, gb.grad()));
  EXPECT_LE(max_diff(ua.grad(), ub.grad()), tolerance(dtype, ub.grad()));
  // Without autograd the same values.
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(detail::swiglu(g0, u0), fused.detach()));
}

TEST_P(FusedOps, RopeMatchesEagerValuesAndGradient) {
  const auto dtype = GetParam();
  torch::manual_seed(7);
  const auto x0 = torch::randn({2, 5, 3, 10}).to(dtype);  // [B, T, heads, dim]
  const auto angles = torch::rand({2, 5, 10}) * 6;
  const auto cos = angles.cos().to(dtype);
  const auto sin = angles.sin().to(dtype);
  const auto dout = torch::randn({2, 5, 3, 10}).to(dtype);
  auto xa = x0.clone().requires_grad_(true);
  auto xb = x0.clone().requires_grad_(true);
  const auto fused = detail::rope(xa, cos, sin);
  const auto rotated = torch::cat({-xb.narrow(-1, 5, 5), xb.narrow(-1, 0, 5)}, -1);
  const auto eager = xb * cos.unsqueeze(2) + rotated * sin.unsqueeze(2);
  ASSERT_EQ(fused.sizes(), x0.sizes());
  EXPECT_LE(max_diff(fused, eager), tolerance(dtype, eager));
  fused.backward(dout);
  eager.backward(dout);
  EXPECT_LE(max_diff(xa.grad(), xb.grad()), tolerance(dtype, xb.grad()));
  EXPECT_GT(max_abs(xa.grad()), 0.1);
}

TEST_P(FusedOps, TokenNllMatchesCrossEntropyWithIgnoredTargets) {
  const auto dtype = GetParam();
  torch::manual_seed(3);
  for (const std::int64_t vocab : {97, 8192}) {
    SCOPED_TRACE("vocab " + std::to_string(vocab));
    const auto l0 = (torch::randn({9, vocab}) * 4).to(dtype);
    auto targets = torch::randint(0, vocab, {9}, torch::kLong);
    targets[2] = -100;
    targets[7] = -100;
    const auto grad = torch::rand({9}) + 0.5;
    auto la = l0.clone().requires_grad_(true);
    auto lb = l0.clone().requires_grad_(true);
    const auto fused = detail::token_nll(la, targets);
    namespace F = torch::nn::functional;
    const auto eager =
        F::cross_entropy(lb.to(torch::kFloat), targets,
                         F::CrossEntropyFuncOptions().reduction(torch::kNone).ignore_index(-100));
    ASSERT_EQ(fused.scalar_type(), torch::kFloat);
    // Both in float32 from the same inputs: close whatever the storage type.
    EXPECT_LE(max_diff(fused, eager), 2e-6 * max_abs(eager));
    EXPECT_EQ(fused[2].item<float>(), 0.0f);
    fused.backward(grad);
    eager.backward(grad);
    EXPECT_LE(max_diff(la.grad(), lb.grad()), tolerance(dtype, lb.grad()));
    EXPECT_EQ(max_abs(la.grad()[7]), 0.0);  // an ignored row gets no gradient
  }
}

TEST_P(FusedOps, ARowGivesTheSameBitsAloneAndInABatch) {
  const auto dtype = GetParam();
  torch::manual_seed(4);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({64, 130}).to(dtype);
  const auto w = torch::rand({130}).to(dtype);
  const auto batch = detail::rms_norm(x, w, 1e-6);
  const auto logits = torch::randn({64, 300}).to(dtype);
  const auto targets = torch::randint(0, 300, {64}, torch::kLong);
  const auto nll = detail::token_nll(logits, targets);
  for (const std::int64_t r : {0, 31, 63}) {
    EXPECT_TRUE(torch::equal(detail::rms_norm(x.narrow(0, r, 1), w, 1e-6), batch.narrow(0, r, 1)));
    EXPECT_TRUE(torch::equal(detail::token_nll(logits.narrow(0, r, 1), targets.narrow(0, r, 1)),
                             nll.narrow(0, r, 1)));
  }
}

TEST_P(FusedOps, NanReachesTheOutputsOfItsRowOnly) {
  const auto dtype = GetParam();
  torch::NoGradGuard no_grad;
  const auto nan = std::numeric_limits<float>::quiet_NaN();
  auto logits = torch::zeros({3, 40}).to(dtype);
  logits[1][5] = nan;
  const auto nll = detail::token_nll(logits, torch::tensor({1, 2, 3}, torch::kLong));
  EXPECT_TRUE(std::isfinite(nll[0].item<float>()));
  EXPECT_TRUE(std::isnan(nll[1].item<float>()));
  EXPECT_TRUE(std::isfinite(nll[2].item<float>()));
  auto x = torch::ones({3, 20}).to(dtype);
  x[1][3] = nan;
  const auto y = detail::rms_norm(x, torch::ones({20}).to(dtype), 1e-6);
  EXPECT_TRUE(torch::isfinite(y[0]).all().item<bool>());
  EXPECT_TRUE(torch::isnan(y[1]).all().item<bool>());
  auto g = torch::zeros({20}).to(dtype);
  g[4] = nan;
  const auto s = detail::swiglu(g, torch::ones({20}).to(dtype));
  EXPECT_TRUE(std::isnan(s[4].item<float>()));
  EXPECT_EQ(s[3].item<float>(), 0.0f);
}

TEST_P(FusedOps, EmptyShapesGiveEmptyResults) {
  const auto dtype = GetParam();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(
      detail::rms_norm(torch::zeros({0, 8}).to(dtype), torch::ones({8}).to(dtype), 1e-6).sizes(),
      (std::vector<std::int64_t>{0, 8}));
  EXPECT_EQ(
      detail::rms_norm(torch::zeros({3, 0}).to(dtype), torch::ones({0}).to(dtype), 1e-6).sizes(),
      (std::vector<std::int64_t>{3, 0}));
  EXPECT_EQ(detail::swiglu(torch::zeros({0}).to(dtype), torch::zeros({0}).to(dtype)).numel(), 0);
  EXPECT_EQ(
      detail::token_nll(torch::zeros({0, 5}).to(dtype), torch::zeros({0}, torch::kLong)).numel(),
      0);
  EXPECT_EQ(detail::rope(torch::zeros({1, 0, 2, 4}).to(dtype), torch::zeros({1, 0, 4}).to(dtype),
                         torch::zeros({1, 0, 4}).to(dtype))
                .numel(),
            0);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, FusedOps, ::testing::Values(torch::kFloat, torch::kBFloat16),
                         [](const auto& info) {
                           return std::string(info.param == torch::kFloat ? "Float32" : "Bfloat16");
                         });

TEST(FusedOps, ATrainedNormWeightTakesTheEagerPathAndGetsItsGradient) {
  torch::manual_seed(5);
  auto x = torch::randn({4, 24}).requires_grad_(true);
  auto w = torch::rand({24}).requires_grad_(true);
  detail::rms_norm(x, w, 1e-6).sum().backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_GT(max_abs(w.grad()), 0.0);
  EXPECT_GT(max_abs(x.grad()), 0.0);
}

TEST(CausalLMTokenNll, EqualsCrossEntropyOfTheLogitsAndRefusesBadTargets) {
  testing::TempDir dir;
  testing::write_micro_model(dir.path(), testing::micro_config(), 11);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  torch::manual_seed(6);
  const auto ids = torch::randint(0, 97, {2, 7}, torch::kLong);
  auto hidden = model->hidden_states(ids).reshape({14, -1});
  auto targets = torch::randint(0, 97, {14}, torch::kLong);
  targets[3] = -100;
  namespace F = torch::nn::functional;
  const auto expected =
      F::cross_entropy(model->logits(hidden), targets,
                       F::CrossEntropyFuncOptions().reduction(torch::kNone).ignore_index(-100));
  EXPECT_LE(max_diff(model->token_nll(hidden, targets), expected), 1e-5);
  targets[5] = 97;
  try {
    model->token_nll(hidden, targets);
    FAIL() << "a target past the vocabulary was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("target 97 outside the vocabulary [0, 97)"),
              std::string::npos)
        << e.what();
  }
  targets[5] = -5;  // negative, but not the ignored -100
  EXPECT_THROW(model->token_nll(hidden, targets), InvalidArgument);
  EXPECT_THROW(model->token_nll(hidden, targets.narrow(0, 0, 13)), InvalidArgument);
  EXPECT_THROW(model->token_nll(hidden.narrow(1, 0, 5), targets), InvalidArgument);
}

}  // namespace
}  // namespace oap
