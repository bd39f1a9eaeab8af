#pragma once
// The personalization evaluation's harness (bench/personalization_eval): the same event streams
// through four adaptation policies over one base model, and the metrics of issue 12.
//
// Not part of the library: a quality evaluation program (bench/) and its test (tests/eval/).

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "oap/adapt/rapid_trainer_options.hpp"
#include "oap/core/event.hpp"
#include "oap/personalizer_options.hpp"

namespace oap {
class CausalLM;
class Tokenizer;
}  // namespace oap

namespace oap::eval {

// One simulated user's ground truth and the text pools that never appear in the stream
// (scripts/eval/make_eval_streams.py writes them to <stream>.users.json).
struct UserTruth {
  UserId user;
  std::string kind;                       // "shift_big", "shift_subtle", "blip", "stable"
  std::optional<int> shift_event;         // shift users: first event of the new behaviour
  std::vector<int> blip_events;           // blip users: the blip's events
  std::vector<std::string> reference;     // shift users: new behaviour, for the reference adapter
  std::vector<std::string> probe_new;     // shift users: new behaviour, to measure adapters on
  std::vector<std::string> probe_normal;  // the user's normal behaviour, to measure adapters on

  bool is_shift() const { return shift_event.has_value(); }
  bool is_blip() const { return !blip_events.empty(); }
  bool is_stable() const { return kind == "stable"; }
};

// A stream: every user's events in replay order, and the users' truths.
struct Stream {
  std::string name;
  std::vector<Event> events;
  std::map<UserId, UserTruth> users;
};

// Reads an events file (JSON Lines, oap events) and its "<stem>.users.json". Throws ParseError /
// IoError naming the file.
Stream load_stream(const std::filesystem::path& events_file);

// The four policies, in report order, and a diagnostic one that is not in the report unless
// asked for: kOracle is told the truth (a shift user's shift event) and updates on the new
// behaviour from its first event, as a detector-driven policy would with a perfect detector,
// so it bounds how fast the trainer can recover (docs/evaluation.md).
// kOracleWindow updates when the oracle does, on periodic's data (the newest `window` events,
// old and new behaviour alike, uniform weights).
enum class Policy { kStatic, kPeriodic, kNoiseFiltered, kOutlierAware, kOracle, kOracleWindow };
inline constexpr Policy kPolicies[] = {Policy::kStatic, Policy::kPeriodic, Policy::kNoiseFiltered,
                                       Policy::kOutlierAware};
// "static", "periodic", "noise_filtered", "outlier_aware", "oracle", "oracle_window".
const char* policy_name(Policy p);
// The policy of that name; nullopt if none.
std::optional<Policy> policy_named(const std::string& name);

// How the harness runs the policies and measures them. Plain value type.
struct HarnessOptions {
  // Outlier-aware: the Personalizer's configuration (default: as shipped, except that updates
  // finish before the next event, as for the other policies). data_dir is set per run. Its
  // adapters (LoRA shape, trainer), detectors and text signals are also those of static,
  // periodic and noise-filtered, so every policy trains and detects the same way.
  PersonalizerOptions personalizer = [] {
    PersonalizerOptions o;
    o.personalizer.wait_for_updates = true;
    return o;
  }();
  // Static: one update on the user's first static_after events. Default: 20 (the Personalizer's
  // initial profile comes at the same event).
  std::size_t static_after = 20;
  // Periodic and noise-filtered: an update after every `period` events of the user, on the
  // newest `window` events, every heldout_every-th of them held out for the trainer's gate.
  // Defaults: 10, 16, 4.
  std::size_t period = 10;
  std::size_t window = 16;
  std::size_t heldout_every = 4;
  // Reference adapter (per shift user, on its "reference" texts): this many AdamW steps, no
  // early stop, no gate. Default: 120.
  int reference_steps = 120;
  // Adaptation delay: the adapter counts as recovered once its NLL on the new behaviour (the
  // probe_new texts) is at most reference + delay_tolerance * (base - reference), i.e. it has
  // 90% of the improvement the reference adapter makes over the base model. Default: 0.10.
  double delay_tolerance = 0.10;
  // Blip damage: probe_normal NLL at most blip_horizon events after the blip's last event
  // (the worst of them) minus the NLL just before the blip. Default: 10.
  std::size_t blip_horizon = 10;
  // Where the per-run data directories go (removed afterwards). Required.
  std::filesystem::path work_dir;
  // Progress lines on stderr.
  bool verbose = true;
};

// What one policy did for one user, event by event.
struct UserRun {
  std::vector<double> nll;           // prequential NLL of each event's text (NaN: none)
  std::vector<double> probe_new;     // after each event: mean NLL of probe_new (shift users)
  std::vector<double> probe_normal;  // after each event: mean NLL of probe_normal
  double probe_new_start = 0.0;      // the same before the first event (the base model)
  double probe_normal_start = 0.0;
  std::vector<int> update_events;  // events after which an update ran (accepted or not)
  std::vector<bool> update_accepted;
  std::vector<int> update_steps;      // optimizer steps of each update
  std::vector<bool> update_reactive;  // the update answered a detected deviation
  int flagged = 0;  // events the detectors flagged (noise-filtered, outlier-aware)
};

struct PolicyRun {
  Policy policy = Policy::kStatic;
  std::map<UserId, UserRun> users;
  double seconds = 0.0;  // wall time of the whole run (scoring, detectors, training, probes)
};

// Per shift user: the reference adapter's and the base model's mean NLL on probe_new.
struct Reference {
  double nll = 0.0;
  double base_nll = 0.0;
  double seconds = 0.0;
};

// Runs one policy over the stream. The model and tokenizer are shared read-only.
PolicyRun run_policy(Policy policy, const Stream& stream,
                     const std::shared_ptr<const CausalLM>& model,
                     const std::shared_ptr<const Tokenizer>& tokenizer,
                     const HarnessOptions& options);

// Trains the reference adapter of every shift user of the stream.
std::map<UserId, Reference> train_references(const Stream& stream,
                                             const std::shared_ptr<const CausalLM>& model,
                                             const std::shared_ptr<const Tokenizer>& tokenizer,
                                             const HarnessOptions& options);

// The metrics of one policy on one stream (one seed): adaptation_delay, blip_damage,
// false_updates, update_steps, mean_nll and the extras (docs/evaluation.md).
nlohmann::json stream_metrics(const PolicyRun& run, const Stream& stream,
                              const std::map<UserId, Reference>& references,
                              const HarnessOptions& options);

// Mean NLL curves around the shift / blip (relative event index -> mean over users), for plots.
nlohmann::json stream_curves(const PolicyRun& run, const Stream& stream,
                             const std::map<UserId, Reference>& references);

// The report: {"policies": {name: {adaptation_delay, blip_damage, false_updates, update_steps,
// mean_nll, spread, ...}}, "seeds": N, "model": model, ...} from per-stream metrics
// (per_stream[i][policy name]) and curves.
// Policies: those that ran (each a key of every per_stream[i] and curves[i]).
nlohmann::json aggregate(const std::vector<nlohmann::json>& per_stream,
                         const std::vector<nlohmann::json>& curves, const std::string& model,
                         std::span<const Policy> policies = kPolicies);

}  // namespace oap::eval
