#include "oap/llm/model_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "oap/core/error.hpp"
#include "oap/llm/model_preset.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

nlohmann::json smollm_json() {
  // The config.json of HuggingFaceTB/SmolLM-135M (abridged to the fields that matter + noise).
  return nlohmann::json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 576,
    "initializer_range": 0.02, "intermediate_size": 1536, "max_position_embeddings": 2048,
    "model_type": "llama", "num_attention_heads": 9, "num_hidden_layers": 30,
    "num_key_value_heads": 3, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null,
    "rope_theta": 10000.0, "tie_word_embeddings": true, "torch_dtype": "float32",
    "transformers_version": "4.40.1", "use_cache": true, "vocab_size": 49152})");
}

std::string config_error(const nlohmann::json& j) {
  try {
    j.get<ModelConfig>();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ModelConfig, ParsesSmolLMAndDerivesHeadDim) {
  const auto c = smollm_json().get<ModelConfig>();
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.hidden_size, 576);
  EXPECT_EQ(c.head_dim, 64);  // 576 / 9
  EXPECT_EQ(c.num_kv_groups(), 3);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.bos_token_id, 0);
  EXPECT_EQ(c.eos_token_ids, std::vector<std::int64_t>{0});
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kNone);
  EXPECT_FALSE(c.has_qkv_bias());
  // SmolLM-135M has 134,515,008 parameters (tied head).
  EXPECT_EQ(c.num_parameters(), 134515008);
}

TEST(ModelConfig, Qwen2HasQkvBiasAndEosList) {
  auto j = smollm_json();
  j["architectures"] = {"Qwen2ForCausalLM"};
  j["model_type"] = "qwen2";
  j["eos_token_id"] = {151643, 151645};
  j["vocab_size"] = 151936;
  const auto c = j.get<ModelConfig>();
  EXPECT_TRUE(c.has_qkv_bias());
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.eos_token_ids, (std::vector<std::int64_t>{151643, 151645}));
  // qwen2.5-0.5b preset: 494,032,768 parameters, as published.
  EXPECT_EQ(model_preset("qwen2.5-0.5b").num_parameters(), 494032768);
}

TEST(ModelConfig, ErrorsNameTheSource) {
  auto j = smollm_json();
  j["architectures"] = {"GPT2LMHeadModel"};
  EXPECT_THAT([&] { model_config_from_json(j, "m/config.json"); },
              ::testing::ThrowsMessage<ConfigError>(
                  HasSubstr("m/config.json: unsupported architecture 'GPT2LMHeadModel'")));
  j = smollm_json();
  j["rope_scaling"] = {{"rope_type", "yarn"}};
  EXPECT_THAT([&] { model_config_from_json(j, "m/config.json"); },
              ::testing::ThrowsMessage<ConfigError>(HasSubstr("m/config.json.rope_scaling: ")));
  EXPECT_TRUE(nlohmann::json(RopeScaling{}).is_null());
  EXPECT_EQ(nlohmann::json().get<RopeScaling>().type, RopeScaling::Type::kNone);
  const RopeScaling linear{RopeScaling::Type::kLinear, 2.0};
  EXPECT_EQ(nlohmann::json(nlohmann::json(linear).get<RopeScaling>()), nlohmann::json(linear));
  EXPECT_THAT(
      [] {
        nlohmann::json({{"type", "yarn"}}).get<RopeScaling>();
      },
      ::testing::ThrowsMessage<ConfigError>(
          HasSubstr("rope_scaling: unsupported rope scaling type 'yarn'")));
}

TEST(ModelConfig, RefusesUnknownArchitectureByName) {
  auto j = smollm_json();
  j["architectures"] = {"GPT2LMHeadModel"};
  EXPECT_THAT(config_error(j), HasSubstr("unsupported architecture 'GPT2LMHeadModel'"));
  j.erase("architectures");
  j["model_type"] = "gpt2";
  EXPECT_THAT(config_error(j), HasSubstr("unsupported model_type 'gpt2'"));
  j["model_type"] = "mistral";
  EXPECT_EQ(j.get<ModelConfig>().architecture, "MistralForCausalLM");
}

TEST(ModelConfig, ReadsMistralSlidingWindowAndRefusesQwen2Window) {
  auto j = smollm_json();
  j["architectures"] = {"MistralForCausalLM"};
  j["model_type"] = "mistral";
  j["sliding_window"] = 4096;  // Mistral-7B-v0.1
  const auto c = j.get<ModelConfig>();
  EXPECT_EQ(c.sliding_window, 4096);
  EXPECT_EQ(nlohmann::json(nlohmann::json(c).get<ModelConfig>()), nlohmann::json(c));
  j["sliding_window"] = nullptr;  // v0.2 and later
  EXPECT_FALSE(j.get<ModelConfig>().sliding_window.has_value());
  j["sliding_window"] = 0;
  EXPECT_THAT(config_error(j), HasSubstr("sliding_window must be positive or null, got 0"));
  // Llama configs have no window; a stray key does not invent one.
  auto llama = smollm_json();
  llama["sliding_window"] = 16;
  EXPECT_FALSE(llama.get<ModelConfig>().sliding_window.has_value());
  auto qwen = smollm_json();
  qwen["architectures"] = {"Qwen2ForCausalLM"};
  qwen["model_type"] = "qwen2";
  qwen["sliding_window"] = 32768;
  qwen["use_sliding_window"] = false;  // as Qwen2.5 ships
  EXPECT_FALSE(qwen.get<ModelConfig>().sliding_window.has_value());
  qwen["use_sliding_window"] = true;
  EXPECT_THAT(config_error(qwen),
              HasSubstr("use_sliding_window: Qwen2's per-layer sliding window is not supported"));
}

TEST(ModelConfig, RefusesInconsistentOrMistypedFields) {
  auto j = smollm_json();
  j["num_key_value_heads"] = 4;
  EXPECT_THAT(config_error(j), HasSubstr("must be a multiple of num_key_value_heads (4)"));
  j = smollm_json();
  j.erase("hidden_size");
  EXPECT_THAT(config_error(j), HasSubstr("missing required field 'hidden_size'"));
  j = smollm_json();
  j["hidden_size"] = "576";
  EXPECT_THAT(config_error(j), HasSubstr("hidden_size"));
  j = smollm_json();
  j["hidden_act"] = "gelu";
  EXPECT_THAT(config_error(j), HasSubstr("unsupported hidden_act 'gelu'"));
  j = smollm_json();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_THAT(config_error(j), HasSubstr("unsupported rope scaling type 'yarn'"));
  j = smollm_json();
  j["eos_token_id"] = 50000;
  EXPECT_THAT(config_error(j), HasSubstr("eos_token_id 50000 is outside the vocabulary"));
}

TEST(ModelConfig, RoundTripsThroughJson) {
  auto j = smollm_json();
  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  const auto c = j.get<ModelConfig>();
  const auto c2 = nlohmann::json(c).get<ModelConfig>();
  EXPECT_EQ(nlohmann::json(c2), nlohmann::json(c));
  EXPECT_EQ(c2.rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_EQ(c2.rope_scaling.original_max_position_embeddings, 8192);
}

TEST(ModelConfig, ReadsRopeParameters) {
  auto j = smollm_json();
  j.erase("rope_theta");
  j["rope_parameters"] = {{"rope_type", "linear"}, {"rope_theta", 500000.0}, {"factor", 2.0}};
  const auto c = j.get<ModelConfig>();
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kLinear);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 2.0);
}

TEST(RopeScaling, InverseFrequenciesMatchClosedForms) {
  RopeScaling none;
  auto inv = rope_inv_freq(none, 10000.0, 8, 2048, 10);
  ASSERT_EQ(inv.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(inv[i], std::pow(10000.0, -2.0 * i / 8), 1e-7);

  RopeScaling linear;
  linear.type = RopeScaling::Type::kLinear;
  linear.factor = 4.0;
  auto lin = rope_inv_freq(linear, 10000.0, 8, 2048, 10);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(lin[i], inv[i] / 4.0, 1e-7);

  RopeScaling dynamic;
  dynamic.type = RopeScaling::Type::kDynamic;
  dynamic.factor = 2.0;
  EXPECT_EQ(rope_inv_freq(dynamic, 10000.0, 8, 100, 100), inv);  // within the trained length
  auto dyn = rope_inv_freq(dynamic, 10000.0, 8, 100, 200);
  const double base = 10000.0 * std::pow(2.0 * 200 / 100 - 1.0, 8.0 / 6.0);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(dyn[i], std::pow(base, -2.0 * i / 8), 1e-6 * inv[i]);

  // llama3 (Llama 3.1: factor 8, low 1, high 4, original 8192) with head_dim 128, theta 5e5:
  // short wavelengths are kept, long ones divided by 8, the band between is interpolated.
  RopeScaling l3;
  l3.type = RopeScaling::Type::kLlama3;
  l3.factor = 8.0;
  l3.low_freq_factor = 1.0;
  l3.high_freq_factor = 4.0;
  l3.original_max_position_embeddings = 8192;
  auto base3 = rope_inv_freq(none, 500000.0, 128, 131072, 1);
  auto s3 = rope_inv_freq(l3, 500000.0, 128, 131072, 1);
  for (std::size_t i = 0; i < s3.size(); ++i) {
    const double wl = 2 * std::numbers::pi / base3[i];
    if (wl < 8192.0 / 4) {
      EXPECT_FLOAT_EQ(s3[i], base3[i]);
    } else if (wl > 8192.0) {
      EXPECT_FLOAT_EQ(s3[i], base3[i] / 8.0f);
    } else {
      EXPECT_LT(s3[i], base3[i]);
      EXPECT_GT(s3[i], base3[i] / 8.0f);
    }
  }
}

TEST(ModelPreset, ShapesAndUnknownName) {
  const auto tiny = model_preset("tiny");
  EXPECT_GT(tiny.num_parameters(), 700000);
  EXPECT_LT(tiny.num_parameters(), 1300000);
  const auto small = model_preset("small");
  EXPECT_GT(small.num_parameters(), 25000000);
  EXPECT_LT(small.num_parameters(), 35000000);
  EXPECT_EQ(model_preset("smollm-135m").num_parameters(), 134515008);
  try {
    model_preset("huge");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown model preset 'huge' (presets: tiny, small"));
  }
}

}  // namespace
}  // namespace oap

namespace oap {
namespace {

TEST(ModelConfig, MissingModelPathIsNamed) {
  try {
    ModelConfig::from_file("/nonexistent/oap/model");
    FAIL() << "accepted a missing path";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("model path /nonexistent/oap/model does not exist"));
  }
}

}  // namespace
}  // namespace oap
