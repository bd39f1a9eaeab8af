#include "oap/adapt/adapter_manager.hpp"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"

namespace oap {
namespace {

std::size_t tensor_bytes(const LoraWeights& w) {
  std::size_t bytes = 0;
  for (const auto& t : w.parameters()) bytes += static_cast<std::size_t>(t.nbytes());
  return bytes;
}

std::shared_ptr<const UserAdapter> make_adapter(std::string version, PeftAdapterConfig config,
                                                LoraWeights weights) {
  auto a = std::make_shared<UserAdapter>();
  a->version = std::move(version);
  a->config = std::move(config);
  a->weights = std::move(weights);
  a->bytes = tensor_bytes(a->weights);
  return a;
}

}  // namespace

AdapterManager::AdapterManager(std::shared_ptr<const CausalLM> model,
                               std::shared_ptr<AdapterStore> store, AdapterManagerOptions options)
    : model_(std::move(model)),
      store_(std::move(store)),
      options_(std::move(options)),
      trainer_(model_, options_.trainer) {
  OAP_CHECK(store_ != nullptr, InvalidArgument, "AdapterManager needs an AdapterStore");
  options_.validate();
  peft_config_ = options_.lora.peft();
  peft_config_.base_model = options_.base_model;
  using Job = std::pair<UpdateRequest, std::uint64_t>;
  worker_ = std::make_unique<UpdateWorker<Job, UpdateReport>>(
      [this](const UserId& user, Job& job) {
        return run_update(user, job.first.data, job.first.options.value_or(options_.trainer),
                          nlohmann::json::object(), job.second);
      },
      [](Job& pending, Job&& incoming) {
        // Coalesce: a queued update absorbs a newer one. Trigger samples add up; the replay
        // and held-out history and the options are the newer request's.
        if (pending.second != incoming.second) {
          pending = std::move(incoming);
          return;
        }
        auto& into = pending.first.data.trigger;
        auto& from = incoming.first.data.trigger;
        into.insert(into.end(), std::make_move_iterator(from.begin()),
                    std::make_move_iterator(from.end()));
        pending.first.data.replay = std::move(incoming.first.data.replay);
        pending.first.data.heldout = std::move(incoming.first.data.heldout);
        if (incoming.first.options) pending.first.options = incoming.first.options;
      },
      options_.worker);
}

AdapterManager::~AdapterManager() { worker_.reset(); }

std::shared_ptr<AdapterManager::UserState> AdapterManager::state(const UserId& user) {
  std::lock_guard lock(mu_);
  auto& s = users_[user];
  if (!s) s = std::make_shared<UserState>();
  return s;
}

std::shared_ptr<const UserAdapter> AdapterManager::get(const UserId& user) {
  validate_user_id(user);
  std::uint64_t generation;
  {
    std::lock_guard lock(mu_);
    if (auto it = resident_.find(user); it != resident_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      ++stats_.hits;
      return it->second.adapter;
    }
    auto& s = users_[user];
    if (!s) s = std::make_shared<UserState>();
    generation = s->generation;
  }
  auto adapter = load_current(user);
  if (!adapter) return nullptr;
  std::lock_guard lock(mu_);
  ++stats_.loads;
  // Publish only if no update, rollback or forget changed the user's version meanwhile;
  // otherwise serve what was loaded once, without caching it.
  auto& s = users_[user];
  if (s && s->generation == generation && !resident_.contains(user)) {
    lru_.push_front(user);
    resident_[user] = Resident{adapter, lru_.begin()};
    stats_.resident_bytes += adapter->bytes;
    ++stats_.resident_adapters;
    evict_to_budget(user);
  }
  return adapter;
}

std::shared_ptr<const UserAdapter> AdapterManager::load_version(const UserId& user,
                                                                const std::string& id) {
  const auto dir = store_->open(user, id);
  auto peft = load_peft_adapter(dir, model_->config(), model_->options().device);
  return make_adapter(id, std::move(peft.config), std::move(peft.weights));
}

std::shared_ptr<const UserAdapter> AdapterManager::load_current(const UserId& user) {
  // A version that does not load is removed and the next newest tried, so a corrupt file costs
  // the user that version, not the adapter.
  for (;;) {
    const auto current = store_->current(user);
    if (!current) return nullptr;
    try {
      return load_version(user, current->id);
    } catch (const Error& e) {
      detail::logger()->error("adapter version {} of user {} does not load and is removed: {}",
                              current->id, user, e.what());
      store_->remove(user, current->id);
    }
  }
}

void AdapterManager::publish(const UserId& user, std::shared_ptr<const UserAdapter> adapter) {
  std::lock_guard lock(mu_);
  auto& s = users_[user];
  if (!s) s = std::make_shared<UserState>();
  ++s->generation;
  drop_resident(user);
  if (!adapter) return;
  lru_.push_front(user);
  stats_.resident_bytes += adapter->bytes;
  ++stats_.resident_adapters;
  resident_[user] = Resident{std::move(adapter), lru_.begin()};
  evict_to_budget(user);
}

void AdapterManager::drop_resident(const UserId& user) {
  auto it = resident_.find(user);
  if (it == resident_.end()) return;
  stats_.resident_bytes -= it->second.adapter->bytes;
  --stats_.resident_adapters;
  lru_.erase(it->second.lru);
  resident_.erase(it);
}

void AdapterManager::evict_to_budget(const UserId& keep) {
  while (stats_.resident_bytes > options_.memory_budget_bytes && !lru_.empty()) {
    const UserId victim = lru_.back();
    if (victim == keep) break;  // the most recent is at the front; keep never is the only one
    drop_resident(victim);
    ++stats_.evictions;
  }
}

std::string AdapterManager::store_version(const UserId& user, const LoraWeights& weights,
                                          const std::string& parent, const nlohmann::json& info) {
  const auto version = store_->add(
      user,
      [&](const std::filesystem::path& dir) { save_peft_adapter(dir, weights, peft_config_); },
      parent, info);
  // The published copy is the one just saved (same tensors): identical to what a reload reads.
  publish(user, make_adapter(version.id, peft_config_, weights));
  return version.id;
}

UpdateReport AdapterManager::update(const UserId& user, const TrainingData& data,
                                    const std::optional<RapidTrainerOptions>& options,
                                    const nlohmann::json& info) {
  validate_user_id(user);
  OAP_CHECK(info.is_object(), InvalidArgument, "AdapterManager::update: info must be an object");
  return run_update(user, data, options.value_or(options_.trainer), info);
}

UpdateReport AdapterManager::run_update(const UserId& user, const TrainingData& data,
                                        const RapidTrainerOptions& options,
                                        const nlohmann::json& extra_info,
                                        std::optional<std::uint64_t> epoch) {
  auto st = state(user);
  std::lock_guard user_lock(st->update_mu);
  if (epoch) {
    std::lock_guard lock(mu_);
    if (st->epoch != *epoch) {
      UpdateReport r;
      r.reason = "dropped: the user was forgotten after this update was queued";
      return r;
    }
  }
  const auto current = get(user);
  LoraWeights start;
  if (current) {
    start = current->weights;
  } else {
    const auto& l = options_.lora;
    start = LoraWeights::create(model_->config(), l.rank, l.alpha, peft_config_.targets, l.rslora,
                                l.init_seed, model_->options().device);
  }
  auto result = trainer_.train(start, data, options, options_.lora.dropout);
  auto& report = result.report;
  report.base_version = current ? current->version : "";
  if (report.accepted) {
    nlohmann::json info = report;
    info.update(extra_info);
    report.version = store_version(user, result.weights, report.base_version, info);
  }
  std::lock_guard lock(mu_);
  ++(report.accepted ? stats_.updates_accepted : stats_.updates_rejected);
  return report;
}

UpdateTicket<UpdateReport> AdapterManager::schedule_update(const UserId& user,
                                                           UpdateRequest request) {
  validate_user_id(user);
  std::uint64_t epoch;
  {
    auto st = state(user);
    std::lock_guard lock(mu_);
    epoch = st->epoch;
  }
  return worker_->submit(user, {std::move(request), epoch});
}

void AdapterManager::wait_idle() { worker_->wait_idle(); }

std::optional<std::string> AdapterManager::rollback(const UserId& user) {
  validate_user_id(user);
  auto st = state(user);
  std::lock_guard user_lock(st->update_mu);
  const auto current = store_->current(user);
  if (!current || current->parent.empty()) return std::nullopt;
  const auto all = store_->versions(user);
  const bool parent_kept = std::any_of(
      all.begin(), all.end(), [&](const AdapterVersion& v) { return v.id == current->parent; });
  if (!parent_kept) return std::nullopt;
  store_->set_current(user, current->parent);
  publish(user, nullptr);  // the next get() loads the parent
  return current->parent;
}

std::shared_ptr<const UserAdapter> AdapterManager::get_version(const UserId& user,
                                                               const std::string& id) {
  validate_user_id(user);
  const auto all = store_->versions(user);
  const bool known =
      std::any_of(all.begin(), all.end(), [&](const AdapterVersion& v) { return v.id == id; });
  return known ? load_version(user, id) : nullptr;
}

std::vector<AdapterVersion> AdapterManager::versions(const UserId& user) const {
  validate_user_id(user);
  return store_->versions(user);
}

std::size_t AdapterManager::forget(const UserId& user) {
  validate_user_id(user);
  auto st = state(user);
  std::lock_guard user_lock(st->update_mu);
  {
    std::lock_guard lock(mu_);
    ++st->epoch;
  }
  publish(user, nullptr);
  return store_->forget(user);
}

std::string AdapterManager::import_peft(const UserId& user, const std::filesystem::path& dir) {
  validate_user_id(user);
  auto peft = load_peft_adapter(dir, model_->config(), model_->options().device);
  auto st = state(user);
  std::lock_guard user_lock(st->update_mu);
  const auto current = store_->current(user);
  const nlohmann::json info = {{"imported_from", dir.string()}};
  PeftAdapterConfig config = peft.config;
  config.base_model = options_.base_model;
  const auto version = store_->add(
      user, [&](const std::filesystem::path& to) { save_peft_adapter(to, peft.weights, config); },
      current ? current->id : "", info);
  publish(user, make_adapter(version.id, config, peft.weights));
  return version.id;
}

void AdapterManager::export_peft(const UserId& user, const std::filesystem::path& dir) {
  const auto adapter = get(user);
  OAP_CHECK(adapter != nullptr, InvalidArgument,
            "export_peft: user \"" + user + "\" has no adapter");
  save_peft_adapter(dir, adapter->weights, adapter->config);
}

std::vector<SequenceScore> AdapterManager::score(
    std::span<const UserId> users, const std::vector<std::vector<std::int32_t>>& sequences,
    std::size_t batch_size) {
  OAP_CHECK(users.size() == sequences.size(), InvalidArgument,
            "AdapterManager::score: " + std::to_string(users.size()) + " users for " +
                std::to_string(sequences.size()) + " sequences");
  std::vector<std::shared_ptr<const UserAdapter>> held;  // alive for the whole call
  std::vector<const LoraWeights*> rows;
  for (const auto& u : users) {
    held.push_back(get(u));
    rows.push_back(held.back() ? &held.back()->weights : nullptr);
  }
  return oap::score(*model_, sequences, rows, batch_size);
}

std::vector<GenerationResult> AdapterManager::generate(
    std::span<const UserId> users, const std::vector<std::vector<std::int32_t>>& prompts,
    const GenerationOptions& options, std::shared_ptr<const Tokenizer> tokenizer) {
  OAP_CHECK(users.size() == prompts.size(), InvalidArgument,
            "AdapterManager::generate: " + std::to_string(users.size()) + " users for " +
                std::to_string(prompts.size()) + " prompts");
  std::vector<std::shared_ptr<const UserAdapter>> held;
  std::vector<const LoraWeights*> rows;
  for (const auto& u : users) {
    held.push_back(get(u));
    rows.push_back(held.back() ? &held.back()->weights : nullptr);
  }
  Generator generator(model_, std::move(tokenizer));
  return generator.generate_batch(prompts, options, rows);
}

AdapterManager::Stats AdapterManager::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace oap
