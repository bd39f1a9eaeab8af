#include "oap/llm/causal_lm.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>

#include "llm/model_test_util.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/safetensors.hpp"

#ifndef OAP_SOURCE_DIR
#error "OAP_SOURCE_DIR must be defined by the build"
#endif

namespace oap {
namespace {

// The same computation in another order (cached vs full forward, padded vs alone) in f32: the
// logits (of order 1-10) differ in the last bits; a wrong cache position or mask differs by ~1.
constexpr double kSameMathTol = 5e-5;

using ::testing::HasSubstr;
using testing::TempDir;
using testing::write_micro_model;

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// Runs tests/reference/llama_reference.py; returns its logits or an undefined tensor with the
// reason in *why.
at::Tensor python_logits(const std::filesystem::path& model, const nlohmann::json& input,
                         std::string* why) {
  const std::string py = testing::python_with_torch();
  if (py.empty()) {
    *why = "no Python with torch (apt-get install python3-torch)";
    return {};
  }
  const auto in = model / "ref_input.json";
  const auto out = model / "ref_logits.safetensors";
  std::ofstream(in) << input.dump();
  const std::string cmd = py + " " + OAP_SOURCE_DIR "/tests/reference/llama_reference.py " +
                          model.string() + " " + in.string() + " " + out.string();
  if (std::system(cmd.c_str()) != 0) {
    *why = "reference script failed: " + cmd;
    return {};
  }
  return SafeTensors::open(out)->tensor("logits").clone();
}

at::Tensor ids_tensor(const std::vector<std::vector<std::int64_t>>& rows) {
  std::vector<at::Tensor> ts;
  for (const auto& r : rows) ts.push_back(torch::tensor(r, torch::kLong));
  return torch::stack(ts);
}

TEST(CausalLM, MatchesIndependentPythonReferenceInFloat32) {
  TempDir dir;
  write_micro_model(dir.path(), testing::micro_config(), 5);
  auto model = CausalLM::load(dir.path(), {.device = "cpu", .dtype = "float32", .num_threads = 1});
  const std::vector<std::vector<std::int64_t>> ids = {{1, 5, 9, 22, 3, 96, 40, 7},
                                                      {0, 0, 0, 11, 12, 13, 14, 15}};
  const std::vector<std::vector<std::int64_t>> mask = {{1, 1, 1, 1, 1, 1, 1, 1},
                                                       {0, 0, 0, 1, 1, 1, 1, 1}};
  std::string why;
  auto ref = python_logits(dir.path(), {{"input_ids", ids}, {"attention_mask", mask}}, &why);
  if (!ref.defined()) GTEST_SKIP() << why;
  torch::NoGradGuard no_grad;
  auto logits = model->forward(ids_tensor(ids), ids_tensor(mask));
  ASSERT_EQ(logits.sizes(), ref.sizes());
  // Padding positions are garbage in both; compare the real ones.
  EXPECT_LT(max_abs_diff(logits[0], ref[0]), 1e-4);
  EXPECT_LT(max_abs_diff(logits[1].narrow(0, 3, 5), ref[1].narrow(0, 3, 5)), 1e-4);
  EXPECT_GT(logits.abs().max().item<double>(), 0.5);  // not a degenerate all-zero model
}

TEST(CausalLM, MatchesPythonReferenceForQwen2BiasesTiedHeadAndLinearRope) {
  TempDir dir;
  auto c = testing::micro_config();
  c.architecture = "Qwen2ForCausalLM";
  c.model_type = "qwen2";
  c.qkv_bias = true;
  c.tie_word_embeddings = true;
  c.rope_theta = 1000000.0;
  c.rope_scaling.type = RopeScaling::Type::kLinear;
  c.rope_scaling.factor = 2.0;
  write_micro_model(dir.path(), c, 6);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  const std::vector<std::vector<std::int64_t>> ids = {{4, 8, 15, 16, 23, 42}};
  std::string why;
  auto ref = python_logits(dir.path(), {{"input_ids", ids}}, &why);
  if (!ref.defined()) GTEST_SKIP() << why;
  torch::NoGradGuard no_grad;
  EXPECT_LT(max_abs_diff(model->forward(ids_tensor(ids)), ref), 1e-4);
}

TEST(CausalLM, MatchesPythonReferenceWithAttentionAndMlpBias) {
  TempDir dir;
  auto c = testing::micro_config();
  c.attention_bias = true;
  c.mlp_bias = true;
  c.num_key_value_heads = 6;  // plain multi-head attention
  write_micro_model(dir.path(), c, 7);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  const std::vector<std::vector<std::int64_t>> ids = {{3, 1, 4, 1, 5, 9, 2, 6, 5}};
  std::string why;
  auto ref = python_logits(dir.path(), {{"input_ids", ids}}, &why);
  if (!ref.defined()) GTEST_SKIP() << why;
  torch::NoGradGuard no_grad;
  EXPECT_LT(max_abs_diff(model->forward(ids_tensor(ids)), ref), 1e-4);
}

TEST(CausalLM, Bfloat16IsCloseToPythonReferenceInBfloat16) {
  TempDir dir;
  write_micro_model(dir.path(), testing::micro_config(), 8);
  auto model = CausalLM::load(dir.path(), {.dtype = "bfloat16", .num_threads = 1});
  const std::vector<std::vector<std::int64_t>> ids = {{1, 2, 3, 4, 5, 6}};
  std::string why;
  auto ref = python_logits(dir.path(), {{"input_ids", ids}, {"dtype", "bfloat16"}}, &why);
  if (!ref.defined()) GTEST_SKIP() << why;
  torch::NoGradGuard no_grad;
  auto logits = model->forward(ids_tensor(ids));
  // bf16 keeps 8 mantissa bits; kernels may round differently, so compare loosely relative to
  // the logit scale.
  const double scale = ref.abs().max().item<double>();
  EXPECT_LT(max_abs_diff(logits, ref), 0.05 * scale);
}

TEST(CausalLM, KVCacheDecodeEqualsFullForward) {
  TempDir dir;
  write_micro_model(dir.path(), testing::micro_config(), 9);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, 97, {2, 12}, torch::kLong);
  auto full = model->forward(ids);
  auto cache = model->new_cache();
  // Prompt of 5, then one token at a time (crossing the cache's initial capacity of 16 is
  // covered by the 12 + growth test below).
  auto first = model->forward(ids.narrow(1, 0, 5), {}, &cache);
  EXPECT_LT(max_abs_diff(first, full.narrow(1, 0, 5)), kSameMathTol);
  for (int t = 5; t < 12; ++t) {
    auto step = model->forward(ids.narrow(1, t, 1), {}, &cache);
    EXPECT_LT(max_abs_diff(step, full.narrow(1, t, 1)), kSameMathTol) << "position " << t;
  }
  EXPECT_EQ(cache.length(), 12);
  // Grow past the initial capacity in one chunk.
  auto ids2 = torch::randint(0, 97, {2, 40}, torch::kLong);
  auto full2 = model->forward(ids2);
  auto cache2 = model->new_cache();
  model->forward(ids2.narrow(1, 0, 10), {}, &cache2);
  auto rest = model->forward(ids2.narrow(1, 10, 30), {}, &cache2);
  EXPECT_LT(max_abs_diff(rest, full2.narrow(1, 10, 30)), kSameMathTol);
}

TEST(CausalLM, KVCacheTruncateRewindsToAPrefix) {
  // Reusing a cached prompt: truncate to the prompt's length, then decode another continuation;
  // it must equal the full forward pass of prompt + new continuation.
  TempDir dir;
  write_micro_model(dir.path(), testing::micro_config(), 14);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  torch::NoGradGuard no_grad;
  auto prompt = torch::randint(0, 97, {1, 6}, torch::kLong);
  auto first = torch::randint(0, 97, {1, 4}, torch::kLong);
  auto second = torch::randint(0, 97, {1, 3}, torch::kLong);
  auto cache = model->new_cache();
  model->forward(prompt, {}, &cache);
  model->forward(first, {}, &cache);
  ASSERT_EQ(cache.length(), 10);
  cache.truncate(6);
  EXPECT_EQ(cache.length(), 6);
  auto continued = model->forward(second, {}, &cache);
  EXPECT_EQ(cache.length(), 9);
  auto full = model->forward(torch::cat({prompt, second}, 1));
  EXPECT_LT(max_abs_diff(continued, full.narrow(1, 6, 3)), kSameMathTol);
  // Truncating past the end keeps everything; a negative length is refused.
  cache.truncate(100);
  EXPECT_EQ(cache.length(), 9);
  EXPECT_THROW(cache.truncate(-1), InvalidArgument);
  cache.truncate(0);
  EXPECT_EQ(cache.length(), 0);
}

TEST(CausalLM, UnmaskedDecodeStepEqualsStepWithAllOnesMask) {
  // A one-token step without an attention mask skips the mask; it must equal the masked path.
  TempDir dir;
  write_micro_model(dir.path(), testing::micro_config(), 14);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, 97, {2, 8}, torch::kLong);
  auto with_mask = model->new_cache();
  auto without = model->new_cache();
  model->forward(ids.narrow(1, 0, 7), {}, &with_mask);
  model->forward(ids.narrow(1, 0, 7), {}, &without);
  auto a = model->forward(ids.narrow(1, 7, 1), torch::ones({2, 8}, torch::kLong), &with_mask);
  auto b = model->forward(ids.narrow(1, 7, 1), {}, &without);
  EXPECT_TRUE(torch::equal(a, b)) << max_abs_diff(a, b);
}

TEST(CausalLM, DecodeStepsRunOnDecodeThreadsAndRestoreTheCallersCount) {
  TempDir dir;
  write_micro_model(dir.path(), testing::micro_config(), 15);
  auto model = CausalLM::load(dir.path(), {.num_threads = 2, .decode_threads = 1});
  ASSERT_EQ(at::get_num_threads(), 2);
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, 97, {1, 10}, torch::kLong);
  auto full = model->forward(ids);
  auto cache = model->new_cache();
  model->forward(ids.narrow(1, 0, 6), {}, &cache);
  for (int t = 6; t < 10; ++t) {
    auto step = model->forward(ids.narrow(1, t, 1), {}, &cache);
    EXPECT_LT(max_abs_diff(step, full.narrow(1, t, 1)), kSameMathTol) << "position " << t;
    EXPECT_EQ(at::get_num_threads(), 2) << "after the step at position " << t;
  }
  EXPECT_THROW(model->forward(torch::tensor({{97}}, torch::kLong)), InvalidArgument);
  EXPECT_EQ(at::get_num_threads(), 2) << "after a step that threw";
}

TEST(CausalLMOptions, ReadsThreadAndMallocFieldsAndRefusesNegativeCounts) {
  auto o = nlohmann::json{{"decode_threads", 0}, {"decode_max_tokens", 8}}.get<CausalLMOptions>();
  EXPECT_EQ(o.decode_threads, 0);
  EXPECT_EQ(o.decode_max_tokens, 8);
  EXPECT_EQ(CausalLMOptions{}.decode_threads, 1);
  EXPECT_FALSE(
      nlohmann::json({{"tune_glibc_malloc", false}}).get<CausalLMOptions>().tune_glibc_malloc);
  try {
    nlohmann::json{{"decode_threads", -1}}.get<CausalLMOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("model.decode_threads: must be >= 0"));
  }
}

TEST(CausalLMOptions, JsonRoundTripAndClearErrors) {
  CausalLMOptions o;
  o.dtype = "bfloat16";
  o.num_threads = 3;
  o.decode_threads = 0;
  o.decode_max_tokens = 2;
  o.tune_glibc_malloc = false;
  const nlohmann::json j = o;
  const auto back = j.get<CausalLMOptions>();
  EXPECT_EQ(back.dtype, "bfloat16");
  EXPECT_EQ(back.num_threads, 3);
  EXPECT_EQ(back.decode_max_tokens, 2);
  EXPECT_FALSE(back.tune_glibc_malloc);
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_EQ(nlohmann::json::object().get<CausalLMOptions>().device, "cpu");
  const auto error = [](const nlohmann::json& bad) {
    try {
      bad.get<CausalLMOptions>();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error({{"dtpye", "float32"}}), HasSubstr("model: unknown key(s) \"dtpye\""));
  EXPECT_THAT(error({{"dtype", "fp8"}}),
              HasSubstr("model.dtype: expected float32, bfloat16 or float16, got \"fp8\""));
  EXPECT_THAT(error({{"num_threads", "4"}}),
              HasSubstr("model.num_threads: expected an integer, got string \"4\""));
  EXPECT_THAT(error({{"device", "tpu"}}), HasSubstr("model.device: expected \"cpu\""));
}

// Logits [T, V] of one sequence computed the plain way from the model's weights, in float64:
// query position i attends to keys max(0, i - window + 1) .. i (window 0: all of 0 .. i).
// Independent of CausalLM::forward: per-position loops, no masks, no cache. Llama-style micro
// models only (no biases, no rope scaling).
at::Tensor naive_logits(const CausalLM& model, const std::vector<std::int64_t>& ids,
                        std::int64_t window) {
  const auto& c = model.config();
  std::map<std::string, at::Tensor> w;
  for (const auto& [name, t] : model.named_weights()) w[name] = t.to(torch::kDouble);
  const std::int64_t n = static_cast<std::int64_t>(ids.size());
  const std::int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, hd = c.head_dim;
  auto rms = [&](const at::Tensor& x, const at::Tensor& g) {
    return g * x / torch::sqrt(x.pow(2).mean(-1, true) + c.rms_norm_eps);
  };
  auto rope = [&](const at::Tensor& v) {  // v [n, heads, hd]; pairs (j, j + hd/2) rotate
    auto out = v.clone();
    for (std::int64_t p = 0; p < n; ++p) {
      for (std::int64_t j = 0; j < hd / 2; ++j) {
        const double a = static_cast<double>(p) * std::pow(c.rope_theta, -2.0 * j / hd);
        auto x1 = v.select(0, p).select(-1, j);
        auto x2 = v.select(0, p).select(-1, j + hd / 2);
        out.select(0, p).select(-1, j).copy_(x1 * std::cos(a) - x2 * std::sin(a));
        out.select(0, p).select(-1, j + hd / 2).copy_(x2 * std::cos(a) + x1 * std::sin(a));
      }
    }
    return out;
  };
  auto x = w["model.embed_tokens.weight"].index_select(0, torch::tensor(ids, torch::kLong));
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    auto h = rms(x, w[p + "input_layernorm.weight"]);
    auto q = rope(h.matmul(w[p + "self_attn.q_proj.weight"].t()).view({n, nh, hd}));
    auto k = rope(h.matmul(w[p + "self_attn.k_proj.weight"].t()).view({n, nkv, hd}));
    auto v = h.matmul(w[p + "self_attn.v_proj.weight"].t()).view({n, nkv, hd});
    auto ctx = torch::zeros({n, nh, hd}, torch::kDouble);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t lo = window > 0 ? std::max<std::int64_t>(0, i - window + 1) : 0;
      for (std::int64_t head = 0; head < nh; ++head) {
        const std::int64_t kvh = head / (nh / nkv);          // Hugging Face's repeat_kv order
        auto keys = k.slice(0, lo, i + 1).select(1, kvh);    // [i + 1 - lo, hd]
        auto values = v.slice(0, lo, i + 1).select(1, kvh);  // [i + 1 - lo, hd]
        auto probs = torch::softmax(keys.matmul(q[i][head]) / std::sqrt(double(hd)), 0);
        ctx[i][head].copy_(probs.matmul(values));
      }
    }
    x = x + ctx.view({n, nh * hd}).matmul(w[p + "self_attn.o_proj.weight"].t());
    h = rms(x, w[p + "post_attention_layernorm.weight"]);
    auto gated = torch::silu(h.matmul(w[p + "mlp.gate_proj.weight"].t())) *
                 h.matmul(w[p + "mlp.up_proj.weight"].t());
    x = x + gated.matmul(w[p + "mlp.down_proj.weight"].t());
  }
  x = rms(x, w["model.norm.weight"]);
  const auto& head = c.tie_word_embeddings ? w["model.embed_tokens.weight"] : w["lm_head.weight"];
  return x.matmul(head.t()).to(torch::kFloat);
}

TEST(CausalLM, MistralSlidingWindowMatchesPlainComputation) {
  TempDir dir;
  auto config = testing::micro_config();
  config.architecture = "MistralForCausalLM";
  config.model_type = "mistral";
  config.sliding_window = 4;
  write_micro_model(dir.path(), config, 16);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  ASSERT_EQ(model->config().sliding_window, 4);
  torch::NoGradGuard no_grad;
  const std::vector<std::int64_t> ids = {3, 17, 42, 8, 91, 0, 56, 23, 77, 5, 64, 30};
  auto logits = model->forward(torch::tensor(ids, torch::kLong).unsqueeze(0))[0];
  EXPECT_LT(max_abs_diff(logits, naive_logits(*model, ids, 4)), 1e-4);
  // The window matters from position 4 on, and the reference can tell.
  auto unwindowed = naive_logits(*model, ids, 0);
  EXPECT_LT(max_abs_diff(logits.narrow(0, 0, 4), unwindowed.narrow(0, 0, 4)), 1e-4);
  EXPECT_GT(max_abs_diff(logits.narrow(0, 4, 8), unwindowed.narrow(0, 4, 8)), 1e-2);
  // Decoding through the cache past the window gives the same logits.
  auto cache = model->new_cache();
  auto ids_t = torch::tensor(ids, torch::kLong).unsqueeze(0);
  model->forward(ids_t.narrow(1, 0, 3), {}, &cache);
  for (std::int64_t t = 3; t < 12; ++t) {
    auto step = model->forward(ids_t.narrow(1, t, 1), {}, &cache)[0];
    EXPECT_LT(max_abs_diff(step, logits.narrow(0, t, 1)), kSameMathTol) << "position " << t;
  }
}

TEST(CausalLM, LeftPaddedBatchEqualsRowsRunAlone) {
  TempDir dir;
  write_micro_model(dir.path(), testing::micro_config(), 10);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  torch::NoGradGuard no_grad;
  const std::vector<std::int64_t> a = {5, 6, 7, 8, 9, 10, 11};
  const std::vector<std::int64_t> b = {50, 60, 70};
  auto batch = ids_tensor({a, {0, 0, 0, 0, 50, 60, 70}});
  auto mask = ids_tensor({{1, 1, 1, 1, 1, 1, 1}, {0, 0, 0, 0, 1, 1, 1}});
  auto logits = model->forward(batch, mask);
  auto alone_a = model->forward(ids_tensor({a}));
  auto alone_b = model->forward(ids_tensor({b}));
  EXPECT_LT(max_abs_diff(logits[0], alone_a[0]), kSameMathTol);
  EXPECT_LT(max_abs_diff(logits[1].narrow(0, 4, 3), alone_b[0]), kSameMathTol);

  // And decoding on from the padded batch with the cache matches each row alone.
  auto cache = model->new_cache();
  model->forward(batch, mask, &cache);
  auto next = ids_tensor({{12}, {80}});
  auto mask2 = torch::cat({mask, torch::ones({2, 1}, torch::kLong)}, 1);
  auto step = model->forward(next, mask2, &cache);
  auto a2 = model->forward(ids_tensor({{5, 6, 7, 8, 9, 10, 11, 12}}));
  auto b2 = model->forward(ids_tensor({{50, 60, 70, 80}}));
  EXPECT_LT(max_abs_diff(step[0][0], a2[0][7]), kSameMathTol);
  EXPECT_LT(max_abs_diff(step[1][0], b2[0][3]), kSameMathTol);
}

TEST(CausalLM, LastOnlyReturnsTheLastPosition) {
  TempDir dir;
  write_micro_model(dir.path(), testing::micro_config(), 11);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, 97, {1, 6}, torch::kLong);
  auto last = model->forward(ids, {}, nullptr, {}, /*last_only=*/true);
  ASSERT_EQ(last.sizes(), (std::vector<std::int64_t>{1, 1, 97}));
  EXPECT_LT(max_abs_diff(last[0][0], model->forward(ids)[0][5]), kSameMathTol);
}

TEST(CausalLM, RefusesBadCheckpointsAndInputs) {
  TempDir dir;
  auto c = write_micro_model(dir.path(), testing::micro_config(), 12);
  // A config that disagrees with the weights.
  nlohmann::json j = c;
  j["intermediate_size"] = 64;
  std::ofstream(dir.path() / "config.json") << j.dump();
  try {
    CausalLM::load(dir.path());
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("model.layers.0.mlp.gate_proj.weight' has shape [80, 48] but "
                                    "config.json implies [64, 48]"));
  }
  std::ofstream(dir.path() / "config.json") << nlohmann::json(c).dump();
  try {
    CausalLM::load(dir.path(), {.device = "cpu", .dtype = "float16"});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("float16 is not supported on the CPU"));
  }
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  try {
    model->forward(torch::tensor({{1, 97}}, torch::kLong));
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("token id 97 outside the vocabulary [0, 97)"));
  }
  try {
    model->forward(torch::tensor({{1, 2}}, torch::kLong), torch::ones({1, 3}, torch::kLong));
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("attention_mask must be [B, past + T] = [1, 2]"));
  }
}

TEST(CausalLM, HiddenStatesThroughTheHeadAreTheLogits) {
  TempDir dir;
  const auto c = write_micro_model(dir.path(), testing::micro_config(), 15);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  torch::NoGradGuard no_grad;
  auto ids = torch::tensor({{3, 1, 4, 1, 5}}, torch::kLong);
  const auto h = model->hidden_states(ids);
  ASSERT_EQ(h.sizes(), (std::vector<std::int64_t>{1, 5, c.hidden_size}));
  EXPECT_TRUE(torch::equal(model->logits(h), model->forward(ids)));
  const auto last = model->hidden_states(ids, {}, nullptr, {}, /*last_only=*/true);
  EXPECT_TRUE(torch::equal(last[0][0], h[0][4]));
}

TEST(CausalLM, RefusesAnAdapterWithAnotherLayerCount) {
  TempDir dir;
  const auto c = write_micro_model(dir.path(), testing::micro_config(), 13);
  auto model = CausalLM::load(dir.path(), {.num_threads = 1});
  torch::NoGradGuard no_grad;
  auto ids = torch::tensor({{1, 2, 3}}, torch::kLong);
  auto shorter_config = c;
  shorter_config.num_hidden_layers = 1;
  const auto shorter =
      LoraWeights::create(shorter_config, 2, 4.0, {LoraTarget::kQ}, false, /*seed=*/1);
  const LoraWeights* one[] = {&shorter};
  try {
    model->forward(ids, {}, nullptr, one);
    FAIL() << "an adapter with 1 layer applied to a 2-layer model";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("adapter 0 has 1 layers, the model 2"));
  }
  // Per-row adapters are checked too; a full-size set with some pairs missing is fine.
  LoraWeights partial(c.num_hidden_layers);
  const auto full = LoraWeights::create(c, 2, 4.0, {LoraTarget::kQ}, false, 1);
  partial.set(1, LoraTarget::kQ, *full.get(1, LoraTarget::kQ));
  auto two_rows = torch::tensor({{1, 2, 3}, {4, 5, 6}}, torch::kLong);
  const LoraWeights* rows[] = {&partial, &shorter};
  EXPECT_THROW(model->forward(two_rows, {}, nullptr, rows), InvalidArgument);
  const LoraWeights* ok_rows[] = {&partial, nullptr};
  EXPECT_NO_THROW(model->forward(two_rows, {}, nullptr, ok_rows));
}

TEST(CausalLM, RunsOnCudaWhenAvailable) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device in this LibTorch build";
  TempDir dir;
  write_micro_model(dir.path(), testing::micro_config(), 13);
  auto cpu = CausalLM::load(dir.path(), {.device = "cpu"});
  auto gpu = CausalLM::load(dir.path(), {.device = "cuda"});
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, 97, {2, 9}, torch::kLong);
  EXPECT_LT(max_abs_diff(gpu->forward(ids).cpu(), cpu->forward(ids)), 1e-3);
}

}  // namespace
}  // namespace oap
