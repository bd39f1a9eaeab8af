#pragma once
// RapidTrainer: a few AdamW steps on one user's adapter, weighted by the deviation, with replay
// of normal history and a validation gate.

#include <cstdint>
#include <memory>
#include <vector>

#include "oap/adapt/rapid_trainer_options.hpp"
#include "oap/adapt/update_report.hpp"
#include "oap/llm/lora_weights.hpp"

namespace oap {

class CausalLM;

// One text as token ids, with its weight in the loss.
struct TrainingSample {
  std::vector<std::int32_t> tokens;  // >= 2 ids (the first has no context and is not predicted)
  double weight = 1.0;  // finite, >= 0; used for trigger samples (replay/held-out count 1 each)
};

// What one update learns from and is judged on.
struct TrainingData {
  // The deviating behaviour that triggered the update; weights carry the deviation's strength.
  std::vector<TrainingSample> trigger;
  // The user's recent normal history, mixed in (RapidTrainerOptions::replay_ratio) so that a
  // transient blip does not overwrite the user's profile.
  std::vector<TrainingSample> replay;
  // Recent normal history kept out of training: the gate rejects an update that makes it worse.
  std::vector<TrainingSample> heldout;
};

// A trained adapter and its report. weights are fresh tensors (float32, no grad), owned here.
struct TrainingResult {
  LoraWeights weights;
  UpdateReport report;  // report.version stays empty: versions are the AdapterManager's
};

// Trains a copy of an adapter on TrainingData:
//   1. losses before: weighted mean NLL of trigger and held-out samples under `start`;
//   2. up to options.steps AdamW steps on the weighted trigger + replay loss (per-sample mean
//      token NLL, padding excluded; documented on RapidTrainerOptions::replay_ratio), gradients
//      clipped to max_grad_norm, early stop after `patience` steps without trigger improvement;
//   3. losses after, and the gate: accepted only if the trigger loss went down (when required),
//      the held-out loss stayed within tolerance and everything is finite.
// Base weights are never touched; `start` is not modified.
// Thread safety: train() is const and may run concurrently (each call has its own copy and
// optimizer); the model is shared read-only. Ownership: shares the model.
class RapidTrainer {
 public:
  explicit RapidTrainer(std::shared_ptr<const CausalLM> model, RapidTrainerOptions options = {});

  // start: the user's current adapter (a full-size LoraWeights for this model). lora_dropout:
  // LoraConfig::dropout, applied while training only. Throws InvalidArgument for no trigger
  // samples, a sample of fewer than 2 tokens, an out-of-vocabulary id, or a negative or
  // non-finite weight; options.validate()'s ConfigError.
  TrainingResult train(const LoraWeights& start, const TrainingData& data,
                       double lora_dropout = 0.0) const;
  // As train(), with other options for this call.
  TrainingResult train(const LoraWeights& start, const TrainingData& data,
                       const RapidTrainerOptions& options, double lora_dropout = 0.0) const;

  const RapidTrainerOptions& options() const { return options_; }

 private:
  std::shared_ptr<const CausalLM> model_;
  RapidTrainerOptions options_;
};

}  // namespace oap
