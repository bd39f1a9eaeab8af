#pragma once
// PersonalizerOptions: every setting of the Personalizer pipeline, one JSON section each.

#include <cstddef>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "oap/adapt/adapter_manager_options.hpp"
#include "oap/detect/detector_bank.hpp"
#include "oap/features/text_features.hpp"
#include "oap/policy/deviation_policy.hpp"
#include "oap/store/store_options.hpp"

namespace oap {

// When an event's text becomes numeric signals for the detectors (TextFeatureExtractor).
enum class TextSignals {
  kAuto,   // for events with text, when a model is loaded
  kNever,  // never: the detectors see the event's features only
};

// How updates are built from a decision and run. Plain value type; JSON section "personalizer".
struct UpdatePlanOptions {
  // The newest deviating events (from the decision's trigger_start) used as trigger samples.
  // Default: 16. Requires >= 1.
  std::size_t trigger_samples = 16;
  // Normal history before the trigger replayed beside it (RapidTrainerOptions::replay_ratio
  // sets its weight). Default: 16.
  std::size_t replay_samples = 16;
  // Normal history held out of training for the validation gate (taken from the same recent
  // history, every few events; from the trigger events when there is no history before them).
  // Default: 4.
  std::size_t heldout_samples = 4;
  // A new context (sustained shift) trains harder: steps times this factor, replay_ratio times
  // the other. Defaults: 2, 0.25. Require > 0 and >= 0.
  double new_context_steps_factor = 2.0;
  double new_context_replay_factor = 0.25;
  // observe() waits for the update it scheduled (and returns its report in the ticket, ready),
  // so that a replay gives the same results every time; otherwise updates run on the worker
  // while observe() goes on. Default: false.
  bool wait_for_updates = false;
  // Texts longer than this (bytes) are refused by observe(). Default: 65536. Requires >= 1.
  std::size_t max_text_bytes = 65536;
  // Text signals (see TextSignals). JSON "auto" | "never". Default: kAuto.
  TextSignals text_signals = TextSignals::kAuto;

  void validate() const;
};

void to_json(nlohmann::json& j, const UpdatePlanOptions& o);
void from_json(const nlohmann::json& j, UpdatePlanOptions& o);

// The detectors' defaults of a Personalizer: DetectorBankOptions' defaults with flagged points
// held back (`"hold_back_flagged": true`: a blip never enters the detectors' state, issue 11)
// and without the stream context (`"context": {"season": "none"}`). On the personalization
// evaluation's tune streams the daily season slowed the recovery after a shift (11.0 against 8.2
// events to half the reference adapter's gain, docs/evaluation.md): a user's context learns
// every event, so its running mean absorbs a shift that the detectors hold back. A config file's "detect" section
// is read over these (a "context" key given there starts from StreamContextOptions' defaults).
DetectorBankOptions personalizer_detect_defaults();

// Everything a Personalizer is built from. Its data directory holds, by default:
//   history.db        the history store (sqlite), unless store_uri says otherwise
//   detectors/        per-user detector state (DetectorBankOptions::state_dir is set to it)
//   adapters/         the adapter store (versioned PEFT folders)
//   audit.db          the audit trail: decisions, update outcomes, per-user policy state
struct PersonalizerOptions {
  std::filesystem::path data_dir;  // required
  std::string store_uri;           // "" = "sqlite://<data_dir>/history.db"
  StoreOptions store;
  DetectorBankOptions detect = personalizer_detect_defaults();
  DeviationPolicyOptions policy;
  AdapterManagerOptions adapters;
  TextFeatureOptions text_features;
  UpdatePlanOptions personalizer;

  // Throws ConfigError naming the section and field.
  void validate() const;
};

}  // namespace oap
