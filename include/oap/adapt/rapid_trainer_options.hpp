#pragma once
// RapidTrainerOptions: how a rapid adapter update trains and when it is accepted.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>

namespace oap {

// Settings of one rapid update (RapidTrainer). Plain value type.
struct RapidTrainerOptions {
  // AdamW steps at most. Default: 10. Requires >= 1.
  int steps = 10;
  // AdamW learning rate. Default: 0.002. Requires a finite value > 0.
  double learning_rate = 2e-3;
  // AdamW decoupled weight decay. Default: 0. Requires >= 0.
  double weight_decay = 0.0;
  // AdamW moment decay rates and epsilon. Defaults: 0.9, 0.999, 1e-8. Betas in [0, 1).
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  // Gradients are clipped to this global L2 norm before each step; 0 disables. Default: 1.
  double max_grad_norm = 1.0;
  // Replay of the user's recent normal history, as a share of the trigger samples' weight: the
  // loss is (sum_i w_i L_i + replay_ratio * n_trigger * mean_j R_j) /
  // (sum_i w_i + replay_ratio * n_trigger), with w_i the trigger samples' weights (the
  // deviation's strength) and L_i, R_j per-sample mean token NLLs. So a weakly weighted trigger
  // (a blip) moves the adapter little and mostly reinforces the normal history. 0: no replay.
  // Default: 1. Requires >= 0.
  double replay_ratio = 1.0;
  // Samples in one forward pass (trigger and replay together); more are cycled over steps.
  // Default: 16. Requires >= 1.
  std::size_t batch_size = 16;
  // Tokens kept per sample (the last ones); longer samples are cut. Default: 256. Requires >= 2.
  std::size_t max_tokens = 256;
  // Early stop: stop when the trigger loss has not improved by min_improvement (nats) for
  // patience consecutive steps. 0 disables. Default: 3.
  int patience = 3;
  double min_improvement = 1e-3;
  // Validation gate. Rejected (previous version kept) when the held-out samples' weighted mean
  // NLL after the update exceeds before * (1 + heldout_tolerance) + heldout_tolerance_abs, or
  // when require_trigger_improvement and the trigger loss did not go down. Defaults: 0,
  // 0.005 nats, true. Tolerances require >= 0. (A relative tolerance of 0.02, the earlier
  // default, allowed ~0.09 nats on the shipped tiny model: more than an adapter's whole gain
  // there, so follow-up updates could undo a first update's progress; docs/evaluation.md.)
  double heldout_tolerance = 0.0;
  double heldout_tolerance_abs = 0.005;
  bool require_trigger_improvement = true;
  // Seed of the order replay samples are drawn in. (Dropout draws from LibTorch's global
  // generator.) Default: 0.
  std::uint64_t seed = 0;

  // Throws ConfigError naming the field and value.
  void validate() const;
};

void to_json(nlohmann::json& j, const RapidTrainerOptions& o);
// Reads the fields present (others keep their defaults); unknown keys are an error.
void from_json(const nlohmann::json& j, RapidTrainerOptions& o);

}  // namespace oap
