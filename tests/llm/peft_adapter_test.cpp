// PEFT adapter folders: save, load, and the adapter's effect on the logits.
#include "oap/llm/peft_adapter.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "llm/model_test_util.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/safetensors.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

// An adapter whose B is not zero (a fresh PEFT adapter would not change the output).
LoraWeights trained_like(const ModelConfig& c, const PeftAdapterConfig& ac, std::uint64_t seed) {
  auto w = LoraWeights::create(c, ac.rank, ac.alpha, ac.targets, ac.rslora, seed);
  torch::manual_seed(static_cast<std::int64_t>(seed));
  torch::NoGradGuard no_grad;
  for (auto& t : w.parameters()) t.normal_(0.0, 0.3);
  return w;
}

class PeftAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = testing::write_micro_model(model_dir_.path(), testing::micro_config(), 5);
    model_ = CausalLM::load(model_dir_.path(), {.num_threads = 1});
    adapter_config_.rank = 4;
    adapter_config_.alpha = 8;
    adapter_config_.targets = {LoraTarget::kQ, LoraTarget::kV, LoraTarget::kDown};
    adapter_config_.base_model = "micro";
  }
  at::Tensor logits(const LoraWeights* w) const {
    torch::NoGradGuard no_grad;
    auto ids = torch::tensor({{3, 17, 42, 5, 88}}, torch::kLong);
    if (w == nullptr) return model_->forward(ids);
    const LoraWeights* one[] = {w};
    return model_->forward(ids, {}, nullptr, one);
  }
  std::filesystem::path adapter_dir() const { return adapter_dir_.path() / "user_adapter"; }

  testing::TempDir model_dir_, adapter_dir_;
  ModelConfig config_;
  std::shared_ptr<CausalLM> model_;
  PeftAdapterConfig adapter_config_;
};

TEST_F(PeftAdapterTest, SaveLoadRoundTripsBitExactlyAndGivesTheSameLogits) {
  auto w = trained_like(config_, adapter_config_, 9);
  save_peft_adapter(adapter_dir(), w, adapter_config_);
  auto loaded = load_peft_adapter(adapter_dir(), config_);
  EXPECT_EQ(loaded.config.rank, 4);
  EXPECT_EQ(loaded.config.alpha, 8.0);
  EXPECT_EQ(loaded.config.targets, adapter_config_.targets);
  EXPECT_EQ(loaded.config.base_model, "micro");
  const auto a = w.named_tensors(), b = loaded.weights.named_tensors();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second.detach(), b[i].second)) << a[i].first;
  }
  EXPECT_DOUBLE_EQ(loaded.weights.get(1, LoraTarget::kV)->scale, 2.0);  // alpha / r
  const auto with = logits(&loaded.weights);
  EXPECT_TRUE(torch::equal(with, logits(&w)));
  // And the adapter matters: the logits move away from the base model's.
  EXPECT_GT((with - logits(nullptr)).abs().max().item<double>(), 1e-3);
}

TEST_F(PeftAdapterTest, WritesThePeftLayout) {
  adapter_config_.rslora = true;
  save_peft_adapter(adapter_dir(), trained_like(config_, adapter_config_, 2), adapter_config_);
  std::ifstream in(adapter_dir() / "adapter_config.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j.at("peft_type"), "LORA");
  EXPECT_EQ(j.at("task_type"), "CAUSAL_LM");
  EXPECT_EQ(j.at("r"), 4);
  EXPECT_EQ(j.at("use_rslora"), true);
  EXPECT_EQ(j.at("target_modules"), nlohmann::json({"q_proj", "v_proj", "down_proj"}));
  const auto st = SafeTensors::open(adapter_dir() / "adapter_model.safetensors");
  EXPECT_TRUE(st->contains("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
  EXPECT_EQ(st->tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").sizes(),
            (std::vector<std::int64_t>{4, config_.hidden_size}));
  EXPECT_DOUBLE_EQ(load_peft_adapter(adapter_dir(), config_).config.scale(), 8.0 / 2.0);
}

TEST_F(PeftAdapterTest, RefusesWhatItCannotApply) {
  save_peft_adapter(adapter_dir(), trained_like(config_, adapter_config_, 3), adapter_config_);
  const auto config_file = adapter_dir() / "adapter_config.json";
  std::ifstream in(config_file);
  const auto good = nlohmann::json::parse(in);
  // The error names the file at fault (the config, or the tensors that do not fit it).
  const auto expect_refused = [&](nlohmann::json j, const std::string& needle,
                                  const std::string& file = "adapter_config.json") {
    std::ofstream(config_file) << j.dump();
    try {
      load_peft_adapter(adapter_dir(), config_);
      ADD_FAILURE() << "accepted a config with " << needle;
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), HasSubstr(file));
      EXPECT_THAT(e.what(), HasSubstr(needle));
    }
  };
  auto j = good;
  j["peft_type"] = "IA3";
  expect_refused(j, "IA3");
  j = good;
  j["fan_in_fan_out"] = true;
  expect_refused(j, "fan_in_fan_out");
  j = good;
  j["target_modules"] = {"q_proj", "lm_head"};
  expect_refused(j, "lm_head");
  j = good;
  j["rank_pattern"] = {{"q_proj", 2}};
  expect_refused(j, "rank_pattern");
  j = good;
  j.erase("r");
  expect_refused(j, "adapter_config.json.r: missing");
  j = good;
  j["r"] = "4";
  expect_refused(j, "adapter_config.json.r: expected an integer, got string");
  // Not JSON at all: the one loader's error, with the line and column.
  std::ofstream(config_file) << "{\n  \"r\": 4,,\n}";
  try {
    load_peft_adapter(adapter_dir(), config_);
    ADD_FAILURE() << "accepted invalid JSON";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("adapter_config.json:2:"));
    EXPECT_THAT(e.what(), HasSubstr("invalid JSON"));
  }
  // Tensors that do not fit the model: rank in the config differs from the tensors'.
  j = good;
  j["r"] = 5;
  expect_refused(j, "expected [5, ", "adapter_model.safetensors");
  // The adapter of a model with more layers (extra tensors) or another width.
  std::ofstream(config_file) << good.dump();
  ModelConfig fewer = config_;
  fewer.num_hidden_layers = 1;
  EXPECT_THROW(load_peft_adapter(adapter_dir(), fewer), ConfigError);
  ModelConfig wider = config_;
  wider.hidden_size = 64;
  EXPECT_THROW(load_peft_adapter(adapter_dir(), wider), ConfigError);
  // Missing files.
  std::filesystem::remove(adapter_dir() / "adapter_model.safetensors");
  EXPECT_THROW(load_peft_adapter(adapter_dir(), config_), IoError);
  EXPECT_THROW(load_peft_adapter(adapter_dir() / "nope", config_), IoError);
}

}  // namespace
}  // namespace oap
