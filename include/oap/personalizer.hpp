#pragma once
// Personalizer: the facade that wires history, detectors, the deviation policy, per-user
// adapters and the model into one pipeline: behaviour in, personalized generation out.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oap/adapt/update_report.hpp"
#include "oap/adapt/update_worker.hpp"
#include "oap/core/event.hpp"
#include "oap/detect/detector_bank.hpp"
#include "oap/llm/generation_options.hpp"
#include "oap/llm/generator.hpp"
#include "oap/llm/scorer.hpp"
#include "oap/personalizer_options.hpp"
#include "oap/policy/decision.hpp"

namespace oap {

class CausalLM;
class Tokenizer;

// The pipeline of one application process:
//
//   observe(event): validate -> text signals (surprise under the user's adapter, embedding) ->
//   history store -> DetectorBank (flagged points held back) -> DeviationPolicy -> audit trail
//   (the decision, the user's policy state if it changed, and progress, in one transaction:
//   the commit point)
//   -> the decision's action: a rapid update of the user's adapter on the update worker
//   (adapt, new context), a rollback, and the on_deviation callbacks (every action but ignore;
//   escalate is the application's cue).
//
// Restart-safe: everything lives in options.data_dir, and reopening it restores the history,
// the detectors (state files, plus a replay from the history of whatever a crash kept out of
// them), the adapters, the audit trail and each user's policy state; updates decided but not
// finished before a crash are run again (or found done, by the decision they carry).
//
// Without a model (nullptr) the Personalizer detects and decides but has no text signals, no
// adapters and no generation; updates are decided and audited only.
//
// Thread safety: every method is safe to call concurrently, except on_deviation(), which is for
// setup before the first observe(). Events of one user are processed
// one at a time in call order; different users in parallel. observe() does not train: updates
// run on the worker (unless UpdatePlanOptions::wait_for_updates). Callbacks run on the thread
// that called observe(), after the decision is committed; an exception from one propagates out
// of that observe() (the event stays recorded).
// Ownership: shares the model and tokenizer; owns the stores, the bank, the adapters and the
// worker.
class Personalizer {
 public:
  // What observe() says about one event.
  struct Observation {
    UserId user;
    std::uint64_t event = 0;       // the user's 0-based event index
    oap::Observation detection;    // detector scores, shift state, whether the point was learned
    std::vector<double> features;  // what the detectors saw: the event's features + text signals
    std::optional<double> nll;     // the text's mean NLL under the user's adapter before this
                                   // event was learned (prequential); absent without text/model
    Decision decision;
    // For kAdapt and kNewContext: the update's ticket (its future carries the UpdateReport).
    std::optional<UpdateTicket<UpdateReport>> update;
  };
  using DeviationCallback = std::function<void(const Event& event, const Observation& o)>;

  // Opens (creating if needed) the pipeline in options.data_dir. model and tokenizer may both
  // be null (no text, no adapters); otherwise both are needed. Throws ConfigError for invalid
  // options, StoreError/IoError if the data directory cannot be opened (another process has it
  // open, a file of another kind, ...).
  Personalizer(PersonalizerOptions options, std::shared_ptr<const CausalLM> model = nullptr,
               std::shared_ptr<const Tokenizer> tokenizer = nullptr);
  // Finishes queued updates, saves the detectors' state and closes the stores.
  ~Personalizer();
  Personalizer(const Personalizer&) = delete;
  Personalizer& operator=(const Personalizer&) = delete;

  // Runs one event through the pipeline (see the class comment). Throws InvalidArgument, and
  // changes nothing, for a bad event: invalid user id, non-finite features, meta not an object,
  // text over max_text_bytes or not valid UTF-8, or a feature count (with text signals) unlike
  // the user's earlier events. progress: optional (key, value) pairs committed with the decision
  // (oap run records how many input lines it has applied).
  Observation observe(const Event& event,
                      const std::vector<std::pair<std::string, std::int64_t>>& progress = {});

  // Generation and scoring with the user's current adapter (the base model for a user without
  // one). InvalidArgument without a model.
  GenerationResult generate(const UserId& user, std::string_view prompt,
                            const GenerationOptions& options = {},
                            const TokenCallback& on_token = {});
  SequenceScore score(const UserId& user, std::string_view text);

  // Removes everything of the user: history, detector state, adapter versions, audit trail,
  // policy state, caches; queued updates of the user are dropped, and a running one is waited
  // for (its version is removed with the rest). Afterwards no byte of the user's text or
  // features remains in the data directory. Returns the number of events the history held.
  std::size_t forget(const UserId& user);

  // What the pipeline holds about the user: history size, decided events, policy state,
  // adapter versions, recent decisions and updates (JSON; docs/file-formats.md). Loads the
  // user first, as observe() does: detectors a crash left behind the history are brought
  // level with it, so detector_events is what the next event will be judged by.
  nlohmann::json inspect(const UserId& user, std::size_t recent_decisions = 20);

  // Every user the audit trail has decisions for, sorted.
  std::vector<UserId> users();
  // The user's entry of `oap run`'s report (docs/file-formats.md):
  //   {"events": N, "flagged": N, "decisions": [{"event", "action", "reason"}, ...],
  //    "updates": [{"event", "accepted", "loss_before", "loss_after", "version", "reason"}, ...],
  //    "nll": [x or null per event]}
  // decisions lists every decision but kIgnore; flagged counts events whose p-value was below
  // the policy's alpha; nll is the prequential NLL of each event's text (null without text).
  nlohmann::json report(const UserId& user);

  struct Stats {
    std::uint64_t events = 0;                         // observed since open
    std::uint64_t by_action[6] = {0, 0, 0, 0, 0, 0};  // decisions since open, by Action
    std::uint64_t updates_accepted = 0;
    std::uint64_t updates_rejected = 0;
    std::uint64_t updates_failed = 0;
    std::uint64_t updates_pending = 0;  // queued or running now
  };
  Stats stats() const;

  // Called for every decision other than kIgnore (see the class comment). Add before the first
  // observe(); callbacks are kept for the Personalizer's lifetime.
  void on_deviation(DeviationCallback callback);

  // Blocks until no update is queued or running.
  void wait_idle();
  // Progress committed under key (see observe), or nullopt.
  std::optional<std::int64_t> progress(const std::string& key) const;

  const PersonalizerOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace oap
