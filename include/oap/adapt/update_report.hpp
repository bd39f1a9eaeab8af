#pragma once
// UpdateReport: what one rapid adapter update did and whether it was accepted.

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace oap {

// The outcome of one update (RapidTrainer::train, AdapterManager::update). Plain value type.
// Losses are weighted mean per-token negative log-likelihoods in nats (NaN where there were no
// such samples).
struct UpdateReport {
  bool accepted = false;
  // Why it was accepted or rejected ("trigger loss 3.10 -> 2.41, held-out 2.95 -> 2.96 within
  // tolerance 3.01"), or the error that stopped it.
  std::string reason;
  // The new version's id when accepted and stored (AdapterManager), else empty.
  std::string version;
  // The version the update started from ("" for a fresh adapter).
  std::string base_version;
  double trigger_loss_before = 0.0;
  double trigger_loss_after = 0.0;
  double heldout_loss_before = 0.0;
  double heldout_loss_after = 0.0;
  int steps = 0;  // optimizer steps taken (early stop may take fewer than asked)
  std::size_t trigger_samples = 0;
  std::size_t replay_samples = 0;
  std::size_t heldout_samples = 0;
  double seconds = 0.0;  // wall time of the whole update, evaluation and gate included
};

// Non-finite losses are written as null.
void to_json(nlohmann::json& j, const UpdateReport& r);
void from_json(const nlohmann::json& j, UpdateReport& r);

}  // namespace oap
