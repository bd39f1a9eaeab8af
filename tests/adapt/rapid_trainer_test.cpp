#include "oap/adapt/rapid_trainer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "adapt/adapt_test_util.hpp"
#include "oap/adapt/lora_config.hpp"
#include "oap/llm/peft_adapter.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/scorer.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using testing::style_samples;
using testing::TempDir;

LoraWeights fresh_adapter(const CausalLM& model, std::uint64_t seed = 1) {
  return LoraWeights::create(model.config(), 8, 16.0, {LoraTarget::kQ, LoraTarget::kV}, false,
                             seed);
}

double nll(const CausalLM& model, const std::vector<TrainingSample>& samples,
           const LoraWeights& w) {
  std::vector<std::vector<std::int32_t>> seqs;
  for (const auto& s : samples) seqs.push_back(s.tokens);
  const LoraWeights* one[] = {&w};
  double total = 0;
  for (const auto& r : score(model, seqs, one)) total += r.mean_nll;
  return total / static_cast<double>(seqs.size());
}

class RapidTrainerTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::shared_ptr<const CausalLM> model_ = testing::load_micro_model(dir_.path());
};

TEST_F(RapidTrainerTest, AnUpdateLowersTheLossOnTheNewTextAndIsAccepted) {
  RapidTrainerOptions o;
  o.learning_rate = 1e-2;
  RapidTrainer trainer(model_, o);
  TrainingData data;
  data.trigger = style_samples(1, 100, 4);
  data.replay = style_samples(0, 200, 4);
  data.heldout = style_samples(0, 300, 4);
  const auto start = fresh_adapter(*model_);
  const auto start_copy = start.clone();
  const auto result = trainer.train(start, data);
  const auto& r = result.report;
  EXPECT_TRUE(r.accepted) << r.reason;
  EXPECT_THAT(r.reason, HasSubstr("accepted"));
  EXPECT_GT(r.steps, 0);
  EXPECT_LE(r.steps, 10);
  EXPECT_LT(r.trigger_loss_after, r.trigger_loss_before - 0.05);
  // The report's losses are what scoring says (fresh B = 0: the start is the base model).
  EXPECT_NEAR(r.trigger_loss_before, nll(*model_, data.trigger, start), 1e-9);
  EXPECT_NEAR(r.trigger_loss_after, nll(*model_, data.trigger, result.weights), 1e-9);
  // New text of the new style (not trained on) got more likely too: it learned the style.
  const auto unseen = style_samples(1, 900, 4);
  EXPECT_LT(nll(*model_, unseen, result.weights), nll(*model_, unseen, start));
  // The start adapter is untouched and the result holds no gradient state.
  const auto before = start_copy.parameters();
  const auto after = start.parameters();
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], after[i]));
  for (const auto& p : result.weights.parameters()) {
    EXPECT_FALSE(p.requires_grad());
    EXPECT_FALSE(p.grad().defined());
  }
  EXPECT_EQ(r.trigger_samples, 4u);
  EXPECT_EQ(r.replay_samples, 4u);
  EXPECT_EQ(r.heldout_samples, 4u);
  EXPECT_GT(r.seconds, 0.0);
}

TEST_F(RapidTrainerTest, TheGateRejectsAHarmfulUpdate) {
  // A huge learning rate wrecks the adapter: the held-out text gets much worse (or non-finite).
  RapidTrainerOptions o;
  o.learning_rate = 50.0;
  o.max_grad_norm = 0;
  o.patience = 0;
  RapidTrainer trainer(model_, o);
  TrainingData data;
  data.trigger = style_samples(1, 100, 4);
  data.heldout = style_samples(0, 300, 4);
  const auto result = trainer.train(fresh_adapter(*model_), data);
  EXPECT_FALSE(result.report.accepted);
  EXPECT_THAT(result.report.reason, HasSubstr("rejected"));
  // The same update with a sane learning rate passes the same gate.
  o.learning_rate = 1e-2;
  o.max_grad_norm = 1.0;
  EXPECT_TRUE(trainer.train(fresh_adapter(*model_), data, o).report.accepted);
}

TEST_F(RapidTrainerTest, TheGateRejectsAnUpdateThatDoesNotLowerTheTriggerLoss) {
  // Zero steps of effect: a learning rate too small to move the loss.
  RapidTrainerOptions o;
  o.learning_rate = 1e-12;
  o.steps = 1;
  RapidTrainer trainer(model_, o);
  TrainingData data;
  data.trigger = style_samples(1, 100, 2);
  auto r = trainer.train(fresh_adapter(*model_), data).report;
  EXPECT_FALSE(r.accepted);
  EXPECT_THAT(r.reason, HasSubstr("trigger loss did not go down"));
  o.require_trigger_improvement = false;
  r = trainer.train(fresh_adapter(*model_), data, o).report;
  EXPECT_TRUE(r.accepted) << r.reason;
}

TEST_F(RapidTrainerTest, ABlipWithReplayDamagesTheNormalTextLessThanWithout) {
  // An adapter that knows the user's normal style 0.
  RapidTrainerOptions learn;
  learn.learning_rate = 1e-2;
  learn.steps = 30;
  learn.patience = 0;
  RapidTrainer trainer(model_, learn);
  TrainingData normal;
  normal.trigger = style_samples(0, 10, 8);
  const auto profile = trainer.train(fresh_adapter(*model_), normal);
  ASSERT_TRUE(profile.report.accepted) << profile.report.reason;
  const auto probe = style_samples(0, 500, 6);  // the user's normal text, never trained on
  const double before = nll(*model_, probe, profile.weights);

  // A blip: two texts of style 1 with a moderate deviation weight; no held-out gate here, so
  // both updates are applied and their damage compared.
  RapidTrainerOptions blip = learn;
  blip.steps = 10;
  TrainingData data;
  data.trigger = style_samples(1, 700, 2, /*weight=*/0.5);
  data.replay = style_samples(0, 20, 8);
  blip.replay_ratio = 1.0;
  const auto with_replay = trainer.train(profile.weights, data, blip);
  blip.replay_ratio = 0.0;
  const auto without_replay = trainer.train(profile.weights, data, blip);
  const double damage_with = nll(*model_, probe, with_replay.weights) - before;
  const double damage_without = nll(*model_, probe, without_replay.weights) - before;
  EXPECT_GT(damage_without, 0.0);
  EXPECT_LT(damage_with, 0.5 * damage_without)
      << "damage with replay " << damage_with << ", without " << damage_without;
  // Both still learned the blip somewhat.
  EXPECT_LT(with_replay.report.trigger_loss_after, with_replay.report.trigger_loss_before);
}

TEST_F(RapidTrainerTest, ZeroWeightTriggersLearnNothing) {
  RapidTrainer trainer(model_);
  TrainingData data;
  data.trigger = style_samples(1, 100, 2, /*weight=*/0.0);
  const auto r = trainer.train(fresh_adapter(*model_), data).report;
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.steps, 0);
  EXPECT_THAT(r.reason, HasSubstr("weights sum to 0"));
}

TEST_F(RapidTrainerTest, PaddingDoesNotChangeTheLoss) {
  // A batch of samples of different lengths trains exactly like the loss says: the
  // per-sample losses of the padded batch equal each sample scored alone, so a step on
  // [short, long] with weights [1, 0] equals a step on [short] alone.
  RapidTrainerOptions o;
  o.steps = 1;
  o.learning_rate = 1e-2;
  o.require_trigger_improvement = false;
  RapidTrainer trainer(model_, o);
  TrainingData padded;
  padded.trigger = {{testing::style_text(1, 1, 6), 1.0}, {testing::style_text(1, 2, 30), 0.0}};
  TrainingData alone;
  alone.trigger = {{testing::style_text(1, 1, 6), 1.0}};
  const auto a = trainer.train(fresh_adapter(*model_), padded).weights.parameters();
  const auto b = trainer.train(fresh_adapter(*model_), alone).weights.parameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_LT((a[i] - b[i]).abs().max().item<double>(), 1e-6) << "parameter " << i;
  }
}

TEST_F(RapidTrainerTest, RefusesBadInputWithClearErrors) {
  RapidTrainer trainer(model_);
  const auto w = fresh_adapter(*model_);
  TrainingData data;
  try {
    trainer.train(w, data);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("no trigger samples"));
  }
  data.trigger = {{{5}, 1.0}};
  try {
    trainer.train(w, data);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("trigger sample 0 has 1 token(s)"));
  }
  data.trigger = {{{5, 6, 7}, -1.0}};
  try {
    trainer.train(w, data);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("weight -1"));
  }
  data.trigger = {{{5, 6, 7}, 1.0}};
  data.heldout = {{{5, 6, 970}, 1.0}};
  try {
    trainer.train(w, data);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("token id 970 outside the vocabulary"));
  }
  data.heldout.clear();
  auto shorter = model_->config();
  shorter.num_hidden_layers = 1;
  EXPECT_THROW(trainer.train(LoraWeights::create(shorter, 8, 16, {LoraTarget::kQ}, false, 1),
                             data),
               InvalidArgument);
  RapidTrainerOptions bad;
  bad.learning_rate = -1;
  try {
    RapidTrainer(model_, bad);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("trainer.learning_rate must be a finite number > 0"));
  }
}

TEST(RapidTrainerOptions, JsonRoundTripAndUnknownKeys) {
  RapidTrainerOptions o;
  o.steps = 7;
  o.replay_ratio = 0.25;
  nlohmann::json j = o;
  auto back = j.get<RapidTrainerOptions>();
  EXPECT_EQ(back.steps, 7);
  EXPECT_EQ(back.replay_ratio, 0.25);
  j["stepz"] = 3;
  try {
    (void)j.get<RapidTrainerOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("stepz"));
  }
}

TEST(LoraConfig, ValidatesTargetsAndConvertsToPeft) {
  LoraConfig c;
  c.targets = {"q_proj", "gate_proj"};
  const auto p = c.peft();
  ASSERT_EQ(p.targets.size(), 2u);
  EXPECT_EQ(p.targets[1], LoraTarget::kGate);
  EXPECT_DOUBLE_EQ(p.scale(), 2.0);
  c.targets = {"q_proj", "qproj"};
  try {
    c.validate();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("lora.targets[1]: \"qproj\" is not one of"));
  }
  c.targets = {"v_proj", "v_proj"};
  EXPECT_THROW(c.validate(), ConfigError);
  nlohmann::json j = {{"rank", 4}, {"rslora", true}};
  const auto r = j.get<LoraConfig>();
  EXPECT_EQ(r.rank, 4);
  EXPECT_TRUE(r.rslora);
  EXPECT_DOUBLE_EQ(r.peft().scale(), 16.0 / 2.0);
}

}  // namespace
}  // namespace oap
