#pragma once
// AdapterManager: every user's current LoRA adapter, its versions, updates and mixed-adapter
// inference, over one shared base model.

#include <cstdint>
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "oap/adapt/adapter_manager_options.hpp"
#include "oap/adapt/adapter_store.hpp"
#include "oap/adapt/rapid_trainer.hpp"
#include "oap/adapt/update_report.hpp"
#include "oap/adapt/update_worker.hpp"
#include "oap/core/user_id.hpp"
#include "oap/llm/generator.hpp"
#include "oap/llm/lora_weights.hpp"
#include "oap/llm/peft_adapter.hpp"
#include "oap/llm/scorer.hpp"

namespace oap {

class CausalLM;
class Tokenizer;

// One accepted version of a user's adapter. Immutable once published: readers share it
// (std::shared_ptr<const UserAdapter>) and keep using it while a newer version replaces it.
struct UserAdapter {
  std::string version;       // the AdapterStore version id
  PeftAdapterConfig config;  // rank, alpha, targets, rsLoRA
  LoraWeights weights;       // float32 on the model's device, no grad
  std::size_t bytes = 0;     // tensor data held
};

// An asynchronous update: what to learn, and optionally other trainer settings for it.
struct UpdateRequest {
  TrainingData data;
  std::optional<RapidTrainerOptions> options;  // default: AdapterManagerOptions::trainer
};

// Per-user adapters over one shared, frozen base model: the current accepted version of each
// user (get), rapid updates gated by validation (update, schedule_update), versions, rollback,
// forget, PEFT import/export, and batches in which every row uses its own user's adapter.
//
// Resident adapters are cached under memory_budget_bytes with least-recently-used eviction and
// reloaded from the store when used again (bit-identical: float32 tensors round-trip exactly).
// Updates for one user run one at a time and in order; while one runs, get() keeps returning
// the last accepted version, and generation/scoring for that user and everyone else continues.
// An update never touches another user's adapter or the base weights.
//
// Thread safety: every method may be called concurrently from any thread. Ownership: shares the
// model and the store; returned adapters are shared, immutable snapshots.
class AdapterManager {
 public:
  AdapterManager(std::shared_ptr<const CausalLM> model, std::shared_ptr<AdapterStore> store,
                 AdapterManagerOptions options = {});
  // Finishes the queued updates (UpdateWorker::Shutdown::kFinish) before returning.
  ~AdapterManager();
  AdapterManager(const AdapterManager&) = delete;
  AdapterManager& operator=(const AdapterManager&) = delete;

  // The user's current accepted adapter, or nullptr if the user has none. A current version
  // that fails to load (corrupt, truncated, for another model) is removed from the store with
  // an error logged, and the newest version that loads becomes current.
  std::shared_ptr<const UserAdapter> get(const UserId& user);

  // Trains the user's adapter (a new one from options.lora if the user has none) on data and,
  // if the gate accepts, stores and publishes the result as the user's new current version.
  // Blocks until done; serialized with the user's other updates. Throws for bad data
  // (InvalidArgument) or a store failure (IoError); a rejected update is not an error.
  // info: extra fields for the new version's stored info (besides the report), e.g. what
  // decided the update.
  UpdateReport update(const UserId& user, const TrainingData& data,
                      const std::optional<RapidTrainerOptions>& options = std::nullopt,
                      const nlohmann::json& info = nlohmann::json::object());
  // The same on the update worker (AdapterManagerOptions::worker: queue, back-pressure). The
  // ticket's future carries the report or the exception.
  UpdateTicket<UpdateReport> schedule_update(const UserId& user, UpdateRequest request);
  // Blocks until no update is queued or running.
  void wait_idle();

  // Makes the current version's parent current again; returns its id, or nullopt if there is
  // nothing to roll back to (no adapter, a first version, or its parent was pruned).
  std::optional<std::string> rollback(const UserId& user);
  // A stored version of the user (not necessarily current), loaded and not cached; nullptr if
  // the user has no such version. Throws as load_peft_adapter / AdapterStore::open do.
  std::shared_ptr<const UserAdapter> get_version(const UserId& user, const std::string& id);
  // The user's stored versions, oldest first.
  std::vector<AdapterVersion> versions(const UserId& user) const;
  // Removes the user's adapters, every version and cached copy; updates of the user still
  // queued are dropped (their reports say so). Returns the number of versions removed.
  std::size_t forget(const UserId& user);

  // Stores the PEFT folder dir (validated against the model) as the user's new current version;
  // returns its id. Throws ConfigError/IoError naming the file for an adapter that does not fit.
  std::string import_peft(const UserId& user, const std::filesystem::path& dir);
  // Writes the user's current adapter as a PEFT folder. Throws InvalidArgument if the user has
  // no adapter.
  void export_peft(const UserId& user, const std::filesystem::path& dir);

  // Mixed-adapter inference: row i uses users[i]'s current adapter (none if the user has none).
  // users.size() must equal sequences.size().
  std::vector<SequenceScore> score(std::span<const UserId> users,
                                   const std::vector<std::vector<std::int32_t>>& sequences,
                                   std::size_t batch_size = 8);
  // Row i continues prompts[i] with users[i]'s adapter, all rows in one batch per step.
  std::vector<GenerationResult> generate(std::span<const UserId> users,
                                         const std::vector<std::vector<std::int32_t>>& prompts,
                                         const GenerationOptions& options,
                                         std::shared_ptr<const Tokenizer> tokenizer = nullptr);

  struct Stats {
    std::size_t resident_adapters = 0;
    std::size_t resident_bytes = 0;
    std::uint64_t hits = 0;       // get() served from memory
    std::uint64_t loads = 0;      // get() loaded a version from the store
    std::uint64_t evictions = 0;  // adapters dropped from memory for the budget
    std::uint64_t updates_accepted = 0;
    std::uint64_t updates_rejected = 0;
  };
  Stats stats() const;

  const AdapterManagerOptions& options() const { return options_; }
  const CausalLM& model() const { return *model_; }

 private:
  struct Resident {
    std::shared_ptr<const UserAdapter> adapter;
    std::list<UserId>::iterator lru;  // position in lru_ (front: most recent)
  };
  struct UserState {
    std::mutex update_mu;          // serializes update/rollback/forget/import of the user
    std::uint64_t generation = 0;  // GUARDED_BY(mu_): bumped when the current version changes
    std::uint64_t epoch = 0;       // GUARDED_BY(mu_): bumped by forget (drops queued updates)
  };

  // epoch: for a queued update, the user's epoch when it was queued (dropped if forget() ran
  // since).
  UpdateReport run_update(const UserId& user, const TrainingData& data,
                          const RapidTrainerOptions& options, const nlohmann::json& info,
                          std::optional<std::uint64_t> epoch = std::nullopt);
  std::shared_ptr<UserState> state(const UserId& user);
  std::shared_ptr<const UserAdapter> load_current(const UserId& user);
  std::shared_ptr<const UserAdapter> load_version(const UserId& user, const std::string& id);
  // Stores weights as a new current version with the given parent; publishes it.
  std::string store_version(const UserId& user, const LoraWeights& weights,
                            const std::string& parent, const nlohmann::json& info);
  void publish(const UserId& user, std::shared_ptr<const UserAdapter> adapter);
  void drop_resident(const UserId& user);    // requires mu_
  void evict_to_budget(const UserId& keep);  // requires mu_

  std::shared_ptr<const CausalLM> model_;
  std::shared_ptr<AdapterStore> store_;
  AdapterManagerOptions options_;
  PeftAdapterConfig peft_config_;
  RapidTrainer trainer_;

  mutable std::mutex mu_;
  std::map<UserId, std::shared_ptr<UserState>> users_;  // GUARDED_BY(mu_)
  std::map<UserId, Resident> resident_;                 // GUARDED_BY(mu_)
  std::list<UserId> lru_;                               // GUARDED_BY(mu_)
  Stats stats_;                                         // GUARDED_BY(mu_)

  // Last member: destroyed (and drained) first, while everything it uses still exists.
  std::unique_ptr<UpdateWorker<std::pair<UpdateRequest, std::uint64_t>, UpdateReport>> worker_;
};

}  // namespace oap
