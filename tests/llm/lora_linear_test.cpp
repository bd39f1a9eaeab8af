#include "oap/llm/lora_linear.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <span>
#include <vector>

#include "llm/model_test_util.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/lora_weights.hpp"
#include "oap/llm/safetensors.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

LoraPair random_pair(std::int64_t r, std::int64_t in, std::int64_t out, double scale) {
  return LoraPair{torch::randn({r, in}).set_requires_grad(true),
                  torch::randn({out, r}).set_requires_grad(true), scale};
}

TEST(LoraLinear, ZeroBGivesExactlyTheBaseOutput) {
  torch::manual_seed(1);
  LoraLinear lin(torch::randn({6, 5}), torch::randn({6}));
  auto x = torch::randn({2, 3, 5});
  LoraPair p{torch::randn({4, 5}), torch::zeros({6, 4}), 2.0};
  EXPECT_TRUE(torch::equal(lin.forward(x, p), lin.forward(x)));
  const LoraPair* rows[] = {&p, nullptr};
  EXPECT_TRUE(torch::equal(lin.forward(x, rows), lin.forward(x)));
}

TEST(LoraLinear, OneAdapterMatchesClosedForm) {
  torch::manual_seed(2);
  auto w = torch::randn({6, 5});
  auto b = torch::randn({6});
  LoraLinear lin(w, b);
  auto x = torch::randn({2, 3, 5});
  auto p = random_pair(3, 5, 6, 0.5);
  // y = x W^T + b + 0.5 * x A^T B^T, i.e. the merged weight W + 0.5 B A.
  auto expected = torch::matmul(x, (w + 0.5 * torch::matmul(p.b, p.a)).t()) + b;
  EXPECT_TRUE(torch::allclose(lin.forward(x, p), expected, 1e-5, 1e-5));
}

TEST(LoraLinear, PerRowMixedBatchEqualsRowsOneByOne) {
  torch::manual_seed(3);
  LoraLinear lin(torch::randn({7, 5}), at::Tensor());
  auto x = torch::randn({4, 3, 5});
  auto p1 = random_pair(2, 5, 7, 1.5);
  auto p2 = random_pair(4, 5, 7, 0.25);  // different rank: padded inside
  const LoraPair* rows[] = {&p1, nullptr, &p2, &p1};
  auto mixed = lin.forward(x, rows);
  for (int i = 0; i < 4; ++i) {
    auto xi = x.narrow(0, i, 1);
    auto alone = rows[i] != nullptr ? lin.forward(xi, *rows[i]) : lin.forward(xi);
    EXPECT_TRUE(torch::allclose(mixed.narrow(0, i, 1), alone, 1e-5, 1e-5)) << "row " << i;
  }
  EXPECT_TRUE(torch::equal(mixed.narrow(0, 1, 1), lin.forward(x.narrow(0, 1, 1))));
}

// A LoraRowStack kept between calls (as a KVCache keeps it over decode steps) gives exactly what
// a fresh stack gives, and is rebuilt when the rows, a pair's tensors (modified in place), the
// input dtype or the scale change; under autograd it is not used (nor filled).
TEST(LoraLinear, KeptRowStackIsReusedOnlyForTheSameUnmodifiedPairs) {
  torch::manual_seed(4);
  torch::NoGradGuard no_grad;
  LoraLinear lin(torch::randn({7, 5}), torch::randn({7}));
  auto x = torch::randn({4, 1, 5});
  auto p1 = random_pair(2, 5, 7, 1.5);
  auto p2 = random_pair(4, 5, 7, 1.5);
  std::vector<const LoraPair*> rows = {&p1, &p2, &p2, &p1};
  LoraRowStack keep;
  EXPECT_TRUE(keep.empty());
  const auto fresh = [&] { return lin.forward(x, rows); };
  EXPECT_TRUE(torch::equal(lin.forward(x, rows, &keep), fresh()));
  EXPECT_FALSE(keep.empty());
  EXPECT_TRUE(torch::equal(lin.forward(x, rows, &keep), fresh()));  // reused
  // Another x through the same stack (the next decode step).
  x = torch::randn({4, 1, 5});
  EXPECT_TRUE(torch::equal(lin.forward(x, rows, &keep), fresh()));
  // A pair trained in place: its version moved, the stack is rebuilt.
  p2.b.add_(1.0);
  EXPECT_TRUE(torch::equal(lin.forward(x, rows, &keep), fresh()));
  p1.a.mul_(-2.0);
  EXPECT_TRUE(torch::equal(lin.forward(x, rows, &keep), fresh()));
  // Other rows: a row without a pair, rows swapped, a new pair object with other tensors.
  rows = {&p1, nullptr, &p2, &p1};
  EXPECT_TRUE(torch::equal(lin.forward(x, rows, &keep), fresh()));
  rows = {&p2, &p1, &p1, &p2};
  EXPECT_TRUE(torch::equal(lin.forward(x, rows, &keep), fresh()));
  auto p3 = random_pair(2, 5, 7, 1.5);
  rows = {&p2, &p3, &p1, &p2};
  EXPECT_TRUE(torch::equal(lin.forward(x, rows, &keep), fresh()));
  // The same tensors with another scale.
  p3.scale = 0.25;
  EXPECT_TRUE(torch::equal(lin.forward(x, rows, &keep), fresh()));
  // Another input dtype.
  LoraLinear lin16(lin.weight().to(torch::kBFloat16), lin.bias().to(torch::kBFloat16));
  auto x16 = x.to(torch::kBFloat16);
  LoraRowStack keep16 = keep;
  EXPECT_TRUE(torch::equal(lin16.forward(x16, rows, &keep16), lin16.forward(x16, rows)));
  EXPECT_EQ(lin16.forward(x16, rows, &keep16).scalar_type(), torch::kBFloat16);
  keep.clear();
  EXPECT_TRUE(keep.empty());
  {
    at::AutoGradMode grad(true);
    EXPECT_TRUE(torch::equal(lin.forward(x, rows, &keep), fresh()));
    EXPECT_TRUE(keep.empty());
  }
}

// The per-row path stacks the distinct pairs and casts them to the input dtype once: a bf16
// batch with float32 pairs, and with pairs of mixed dtypes and ranks, gives each row what the
// one-pair path gives it alone, to bf16 precision (a few roundings of values up to max |y|).
TEST(LoraLinear, PerRowBf16BatchWithMixedDtypesAndRanksEqualsRowsOneByOne) {
  torch::manual_seed(5);
  LoraLinear lin(torch::randn({7, 6}).to(torch::kBFloat16), torch::randn({7}).to(torch::kBFloat16));
  auto x = torch::randn({5, 3, 6}).to(torch::kBFloat16);
  auto pair = [](std::int64_t r, double scale) {
    return LoraPair{torch::randn({r, 6}) * 0.5, torch::randn({7, r}) * 0.5, scale};
  };
  auto p1 = pair(2, 1.5), p2 = pair(4, 0.25), p3 = pair(4, 2.0);
  LoraPair p2_bf16{p2.a.to(torch::kBFloat16), p2.b.to(torch::kBFloat16), 0.25};
  torch::NoGradGuard no_grad;
  const LoraPair* same_dtype[] = {&p1, &p2, nullptr, &p3, &p1};
  const LoraPair* mixed_dtype[] = {&p1, &p2_bf16, nullptr, &p3, &p1};
  for (auto rows : {std::span<const LoraPair* const>(same_dtype),
                    std::span<const LoraPair* const>(mixed_dtype)}) {
    auto mixed = lin.forward(x, rows);
    ASSERT_EQ(mixed.scalar_type(), torch::kBFloat16);
    for (int i = 0; i < 5; ++i) {
      auto xi = x.narrow(0, i, 1);
      auto alone =
          (rows[i] != nullptr ? lin.forward(xi, *rows[i]) : lin.forward(xi)).to(torch::kFloat);
      const double diff =
          (mixed.narrow(0, i, 1).to(torch::kFloat) - alone).abs().max().item<double>();
      EXPECT_LE(diff, 0.02 * alone.abs().max().item<double>()) << "row " << i;
    }
    // The adapters matter at this precision: a row differs from the base projection.
    const double changed = (mixed.narrow(0, 0, 1) - lin.forward(x.narrow(0, 0, 1)))
                               .to(torch::kFloat)
                               .abs()
                               .max()
                               .item<double>();
    EXPECT_GT(changed, 0.1);
  }
}

// Every row with its own pair (as many distinct pairs as rows: no gather), with float32 pairs
// and a float32 or a bfloat16 batch (one cast of the stacked pairs), the pairs' scales all
// different or all equal (then applied as one factor): each row gets what the one-pair path
// gives it alone.
TEST(LoraLinear, PerRowEveryRowItsOwnPairEqualsRowsOneByOne) {
  torch::manual_seed(7);
  auto w = torch::randn({7, 6});
  auto x = torch::randn({4, 3, 6});
  torch::NoGradGuard no_grad;
  for (bool equal_scales : {false, true}) {
    std::vector<LoraPair> pairs;
    for (int i = 0; i < 4; ++i) {
      pairs.push_back({torch::randn({3, 6}), torch::randn({7, 3}), equal_scales ? 2.5 : 0.5 + i});
    }
    const LoraPair* rows[] = {&pairs[0], &pairs[1], &pairs[2], &pairs[3]};
    for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
      LoraLinear lin(w.to(dtype), at::Tensor());
      auto xd = x.to(dtype);
      auto mixed = lin.forward(xd, rows);
      ASSERT_EQ(mixed.scalar_type(), dtype);
      const double tol = dtype == torch::kFloat ? 1e-5 : 0.02;
      for (int i = 0; i < 4; ++i) {
        auto alone = lin.forward(xd.narrow(0, i, 1), *rows[i]).to(torch::kFloat);
        const double diff =
            (mixed.narrow(0, i, 1).to(torch::kFloat) - alone).abs().max().item<double>();
        EXPECT_LE(diff, tol * alone.abs().max().item<double>())
            << "row " << i << (equal_scales ? ", equal scales" : "");
      }
    }
  }
}

// Gradients through the per-row path (which adds the update into the base output in place)
// equal those of the rows computed one at a time: for the input, every pair, and with a bias.
TEST(LoraLinear, PerRowGradientsEqualRowsOneByOne) {
  torch::manual_seed(6);
  LoraLinear lin(torch::randn({7, 5}), torch::randn({7}));
  auto x = torch::randn({4, 3, 5}).set_requires_grad(true);
  auto p1 = random_pair(2, 5, 7, 1.5);
  auto p2 = random_pair(3, 5, 7, 0.5);
  const LoraPair* rows[] = {&p1, &p2, nullptr, &p1};
  auto target = torch::randn({4, 3, 7});
  (lin.forward(x, rows) - target).pow(2).sum().backward();

  auto copy = [](const LoraPair& p) {
    return LoraPair{p.a.detach().clone().set_requires_grad(true),
                    p.b.detach().clone().set_requires_grad(true), p.scale};
  };
  auto q1 = copy(p1), q2 = copy(p2);
  const LoraPair* alone_rows[] = {&q1, &q2, nullptr, &q1};
  auto x2 = x.detach().clone().set_requires_grad(true);
  for (int i = 0; i < 4; ++i) {
    auto xi = x2.narrow(0, i, 1);
    auto y = alone_rows[i] != nullptr ? lin.forward(xi, *alone_rows[i]) : lin.forward(xi);
    (y - target.narrow(0, i, 1)).pow(2).sum().backward();
  }
  EXPECT_TRUE(torch::allclose(x.grad(), x2.grad(), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(p1.a.grad(), q1.a.grad(), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(p1.b.grad(), q1.b.grad(), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(p2.a.grad(), q2.a.grad(), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(p2.b.grad(), q2.b.grad(), 1e-4, 1e-5));
}

TEST(LoraLinear, GradientsReachOnlySelectedAdapters) {
  torch::manual_seed(4);
  auto w = torch::randn({6, 5});
  LoraLinear lin(w, at::Tensor());
  auto x = torch::randn({3, 2, 5});
  auto used = random_pair(2, 5, 6, 1.0);
  auto other = random_pair(2, 5, 6, 1.0);
  auto unused = random_pair(2, 5, 6, 1.0);
  const LoraPair* rows[] = {&used, nullptr, &other};
  lin.forward(x, rows).pow(2).sum().backward();
  ASSERT_TRUE(used.a.grad().defined());
  ASSERT_TRUE(used.b.grad().defined());
  ASSERT_TRUE(other.b.grad().defined());
  EXPECT_GT(used.b.grad().abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(unused.a.grad().defined());
  EXPECT_FALSE(unused.b.grad().defined());
  EXPECT_FALSE(lin.weight().requires_grad());
  EXPECT_FALSE(lin.weight().grad().defined());

  // The gradient of B for row 0 alone equals the gradient computed one row at a time.
  auto solo = LoraPair{used.a.detach().clone().set_requires_grad(true),
                       used.b.detach().clone().set_requires_grad(true), 1.0};
  lin.forward(x.narrow(0, 0, 1), solo).pow(2).sum().backward();
  EXPECT_TRUE(torch::allclose(used.b.grad(), solo.b.grad(), 1e-4, 1e-5));
  // The base weight tensor is shared, never copied per call.
  EXPECT_EQ(lin.weight().data_ptr(), w.data_ptr());
}

TEST(LoraLinear, RefusesPairOfWrongShape) {
  LoraLinear lin(torch::randn({6, 5}), at::Tensor());
  LoraPair p{torch::randn({2, 4}), torch::randn({6, 2}), 1.0};
  try {
    lin.forward(torch::randn({1, 1, 5}), p);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("do not fit a projection [6, 5]"));
    EXPECT_THAT(e.what(), HasSubstr("maybe an adapter for another base model?"));
  }
}

TEST(LoraWeights, CreateFollowsPeftInitAndNames) {
  const auto c = testing::micro_config();
  auto w = LoraWeights::create(c, 4, 8.0, {LoraTarget::kQ, LoraTarget::kDown}, false, 7);
  const auto* q = w.get(1, LoraTarget::kQ);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(w.get(1, LoraTarget::kK), nullptr);
  EXPECT_EQ(q->a.sizes(), (std::vector<std::int64_t>{4, 48}));
  EXPECT_EQ(q->b.sizes(), (std::vector<std::int64_t>{48, 4}));
  EXPECT_DOUBLE_EQ(q->scale, 2.0);
  EXPECT_EQ(q->b.abs().sum().item<double>(), 0.0);
  EXPECT_LE(q->a.abs().max().item<double>(), 1.0 / std::sqrt(48.0));
  EXPECT_TRUE(q->a.requires_grad());
  EXPECT_EQ(w.get(0, LoraTarget::kDown)->a.size(1), 80);
  auto rs = LoraWeights::create(c, 4, 8.0, {LoraTarget::kQ}, true, 7);
  EXPECT_DOUBLE_EQ(rs.get(0, LoraTarget::kQ)->scale, 4.0);  // alpha / sqrt(r)
  auto named = w.named_tensors();
  ASSERT_EQ(named.size(), 8u);
  EXPECT_EQ(named[0].first, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(named[3].first, "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight");
  // Same seed, same adapter.
  auto again = LoraWeights::create(c, 4, 8.0, {LoraTarget::kQ, LoraTarget::kDown}, false, 7);
  EXPECT_TRUE(torch::equal(again.get(1, LoraTarget::kQ)->a, q->a));
}

TEST(LoraWeights, SaveLoadRoundTripsBitExactly) {
  TempDir dir;
  auto w = LoraWeights::create(testing::micro_config(), 3, 6.0, {LoraTarget::kV}, false, 9);
  save_safetensors(dir.path() / "adapter_model.safetensors", w.named_tensors());
  auto st = SafeTensors::open(dir.path() / "adapter_model.safetensors");
  for (const auto& [name, t] : w.named_tensors()) EXPECT_TRUE(torch::equal(st->tensor(name), t));
}

TEST(CausalLMLora, ZeroBAdapterGivesBaseLogitsAndMixedBatchMatchesRows) {
  TempDir dir;
  const auto c = testing::write_micro_model(dir.path(), testing::micro_config(), 21);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  const std::vector<LoraTarget> all = {LoraTarget::kQ,   LoraTarget::kK,    LoraTarget::kV,
                                       LoraTarget::kO,   LoraTarget::kGate, LoraTarget::kUp,
                                       LoraTarget::kDown};
  auto fresh = LoraWeights::create(c, 4, 8.0, all, false, 1);
  auto ids = torch::randint(0, 97, {3, 7}, torch::kLong);
  torch::NoGradGuard no_grad;
  const LoraWeights* one[] = {&fresh};
  EXPECT_TRUE(torch::equal(model->forward(ids, {}, nullptr, one), model->forward(ids)));

  // Two trained-looking adapters (non-zero B), one row without.
  auto u1 = LoraWeights::create(c, 4, 8.0, all, false, 2);
  auto u2 = LoraWeights::create(c, 2, 4.0, {LoraTarget::kQ, LoraTarget::kV}, true, 3);
  for (auto* w : {&u1, &u2}) {
    for (auto& t : w->parameters()) t.normal_(0.0, 0.1);
  }
  const LoraWeights* rows[] = {&u1, nullptr, &u2};
  auto mixed = model->forward(ids, {}, nullptr, rows);
  for (int i = 0; i < 3; ++i) {
    std::vector<const LoraWeights*> single;
    if (rows[i] != nullptr) single.push_back(rows[i]);
    auto alone = model->forward(ids.narrow(0, i, 1), {}, nullptr, single);
    EXPECT_LT((mixed.narrow(0, i, 1) - alone).abs().max().item<double>(), 1e-4) << "row " << i;
  }
  // The adapters change the output.
  EXPECT_GT((mixed[0] - model->forward(ids.narrow(0, 0, 1))[0]).abs().max().item<double>(), 1e-3);
}

// Decoding a mixed batch with a KV cache (which keeps the rows' stacked pairs between steps)
// gives the logits of the whole sequence computed without a cache; an adapter changed in place
// between two steps counts from the next step on, exactly as a new adapter with those values
// would; a cleared cache serves other rows.
TEST(CausalLMLora, MixedBatchDecodeWithACacheMatchesTheUncachedForward) {
  TempDir dir;
  const auto c = testing::write_micro_model(dir.path(), testing::micro_config(), 22);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  const std::vector<LoraTarget> qv = {LoraTarget::kQ, LoraTarget::kV};
  auto u1 = LoraWeights::create(c, 4, 8.0, qv, false, 2);
  auto u2 = LoraWeights::create(c, 4, 8.0, qv, false, 3);
  auto u2_changed = LoraWeights::create(c, 4, 8.0, qv, false, 3);
  torch::NoGradGuard no_grad;
  for (auto* w : {&u1, &u2}) {
    for (auto& t : w->parameters()) t.normal_(0.0, 0.1);
  }
  {
    auto from = u2.parameters();
    auto to = u2_changed.parameters();
    for (std::size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i] * 1.5);
  }
  auto ids = torch::randint(0, 97, {3, 9}, torch::kLong);
  // Steps 5..8 after a prompt of 5; from step 7 on, the second row's adapter is u2 x 1.5: in
  // run 0 as another adapter object, in run 1 as u2 itself changed in place.
  std::vector<at::Tensor> steps[2];
  for (int run = 0; run < 2; ++run) {
    std::vector<const LoraWeights*> rows = {&u1, &u2, &u1};
    auto cache = model->new_cache();
    model->forward(ids.narrow(1, 0, 5), {}, &cache, rows);
    for (std::int64_t t = 5; t < 9; ++t) {
      if (t == 7 && run == 0) rows[1] = &u2_changed;
      if (t == 7 && run == 1) {
        for (auto& p : u2.parameters()) p.mul_(1.5);
      }
      steps[run].push_back(model->forward(ids.narrow(1, t, 1), {}, &cache, rows, true));
      if (t < 7) {
        auto whole = model->forward(ids.narrow(1, 0, t + 1), {}, nullptr, rows, true);
        EXPECT_LT((steps[run].back() - whole).abs().max().item<double>(), 1e-4)
            << "run " << run << " position " << t;
      }
    }
  }
  for (std::size_t k = 0; k < steps[0].size(); ++k) {
    EXPECT_TRUE(torch::equal(steps[0][k], steps[1][k])) << "step " << k;
  }
  EXPECT_FALSE(torch::equal(steps[0][2], steps[0][1]));
  // Other rows on a fresh prompt through the same cache object, cleared.
  auto cache = model->new_cache();
  std::vector<const LoraWeights*> rows = {&u1, &u2, &u1};
  model->forward(ids.narrow(1, 0, 8), {}, &cache, rows);
  cache.clear();
  rows = {&u2, nullptr, &u1};
  model->forward(ids.narrow(1, 0, 8), {}, &cache, rows);
  auto step = model->forward(ids.narrow(1, 8, 1), {}, &cache, rows, true);
  EXPECT_LT((step - model->forward(ids, {}, nullptr, rows, true)).abs().max().item<double>(), 1e-4);
}

TEST(CausalLMLora, GradientsFlowOnlyIntoTheSelectedUsersAdapter) {
  TempDir dir;
  const auto c = testing::write_micro_model(dir.path(), testing::micro_config(), 22);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  auto alice = LoraWeights::create(c, 4, 8.0, {LoraTarget::kQ, LoraTarget::kV}, false, 1);
  auto bob = LoraWeights::create(c, 4, 8.0, {LoraTarget::kQ, LoraTarget::kV}, false, 2);
  auto ids = torch::randint(0, 97, {2, 6}, torch::kLong);
  const LoraWeights* rows[] = {&alice, nullptr};
  auto logits = model->forward(ids, {}, nullptr, rows);
  torch::nn::functional::cross_entropy(logits.view({-1, 97}), ids.view({-1})).backward();
  for (const auto& t : alice.parameters()) {
    ASSERT_TRUE(t.grad().defined());
  }
  // B starts at zero, so A's gradient is zero at step 0 but B's is not.
  EXPECT_GT(alice.get(0, LoraTarget::kQ)->b.grad().abs().sum().item<double>(), 0.0);
  for (const auto& t : bob.parameters()) EXPECT_FALSE(t.grad().defined());
  for (const auto& [name, w] : model->named_weights()) {
    EXPECT_FALSE(w.requires_grad()) << name;
  }
}

}  // namespace
}  // namespace oap
