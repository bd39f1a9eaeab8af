#include "oap/detect/detector_bank.hpp"

#include "core/atomic_file.hpp"

#include <cmath>
#include <fstream>

#include "oap/core/json_config.hpp"
#include "oap/detect/detector_factory.hpp"
#include "oap/detect/distributions.hpp"

namespace oap {

struct DetectorBank::Set {
  std::vector<std::unique_ptr<Detector>> detectors;  // in names_ order
  ShiftMonitor shift;
};

struct DetectorBank::Slot {
  std::mutex mu;
  std::size_t dim = 0;
  std::unique_ptr<Set> set;     // guarded by mu
  std::uint64_t events = 0;     // guarded by mu
  std::uint64_t last_used = 0;  // guarded by the bank's mu_
};

void DetectorBankOptions::validate() const {
  OAP_CHECK(detectors.is_object() && !detectors.empty(), ConfigError,
            "bank.detectors must be an object of named detector specs, with at least one");
  OAP_CHECK(shift_input.empty() || detectors.contains(shift_input), ConfigError,
            "bank.shift_input: no detector named \"" + shift_input + "\"");
  OAP_CHECK(max_users >= 1, ConfigError, "bank.max_users must be >= 1");
  shift.validate();
}

void to_json(nlohmann::json& j, const DetectorBankOptions& o) {
  j = {{"detectors", o.detectors},     {"shift_input", o.shift_input}, {"shift", o.shift},
       {"min_history", o.min_history}, {"max_users", o.max_users},     {"state_dir", o.state_dir}};
}

void from_json(const nlohmann::json& j, DetectorBankOptions& o) {
  JsonObjectReader r(j, "bank");
  if (!r.raw("detectors").is_null()) o.detectors = r.raw("detectors");
  o.shift_input = r.get<std::string>("shift_input", o.shift_input);
  if (!r.raw("shift").is_null()) o.shift = r.raw("shift").get<ShiftMonitorOptions>();
  o.min_history = r.get<std::size_t>("min_history", o.min_history);
  o.max_users = r.get<std::size_t>("max_users", o.max_users);
  o.state_dir = r.get<std::string>("state_dir", o.state_dir);
  r.finish();
  o.validate();
  for (const auto& [name, spec] : o.detectors.items()) make_detector(spec, 1);  // check specs
}

void to_json(nlohmann::json& j, const Observation& o) {
  nlohmann::json scores = nlohmann::json::object();
  for (const auto& [name, s] : o.scores) scores[name] = s;
  j = {{"cold_start", o.cold_start},
       {"scores", scores},
       {"shift", o.shift},
       {"user_events", o.user_events}};
}

DetectorBank::DetectorBank(DetectorBankOptions options) : options_(std::move(options)) {
  options_.validate();
  for (const auto& [name, spec] : options_.detectors.items()) names_.push_back(name);
  if (options_.shift_input.empty()) options_.shift_input = names_.front();
}

DetectorBank::~DetectorBank() = default;

std::unique_ptr<DetectorBank::Set> DetectorBank::make_set(std::size_t dim) const {
  auto set = std::make_unique<Set>(Set{{}, ShiftMonitor(options_.shift)});
  for (const auto& name : names_)
    set->detectors.push_back(make_detector(options_.detectors[name], dim));
  return set;
}

std::filesystem::path DetectorBank::state_path(const UserId& user) const {
  return std::filesystem::path(options_.state_dir) / (user_file_stem(user) + ".json");
}

std::shared_ptr<DetectorBank::Slot> DetectorBank::slot_for(const UserId& user, std::size_t dim) {
  std::shared_ptr<Slot> evicted;
  UserId evicted_user;
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard lock(mu_);
    auto it = users_.find(user);
    if (it != users_.end()) {
      it->second->last_used = ++clock_;
      return it->second;
    }
    if (users_.size() >= options_.max_users) {
      auto lru = users_.begin();
      for (auto i = users_.begin(); i != users_.end(); ++i)
        if (i->second->last_used < lru->second->last_used) lru = i;
      evicted_user = lru->first;
      evicted = lru->second;
      users_.erase(lru);
    }
    slot = std::make_shared<Slot>();
    slot->last_used = ++clock_;
    slot->dim = dim;
    users_.emplace(user, slot);
  }
  if (evicted && !options_.state_dir.empty()) {
    std::lock_guard ev_lock(evicted->mu);
    if (evicted->set) write_state(evicted_user, *evicted);
  }
  return slot;
}

// Builds the user's set on first use, from its state file when there is one. Caller holds
// slot.mu, so a second thread observing the same new user waits for this.
void DetectorBank::ensure_set(const UserId& user, Slot& slot) {
  if (slot.set) return;
  std::filesystem::path path = state_path(user);
  if (!options_.state_dir.empty() && std::filesystem::exists(path)) {
    nlohmann::json state = load_json_file(path);
    JsonObjectReader r(state, path.string());
    auto set = make_set(r.require<std::size_t>("dim"));
    JsonObjectReader dets(r.require_raw("detectors"), path.string() + ".detectors");
    for (std::size_t i = 0; i < names_.size(); ++i)
      set->detectors[i]->load(dets.require_raw(names_[i]));
    set->shift.load(r.require_raw("shift"));
    slot.events = r.require<std::uint64_t>("events");
    slot.dim = set->detectors[0]->dim();
    slot.set = std::move(set);
  } else {
    slot.set = make_set(slot.dim);
  }
}

Observation DetectorBank::observe(const UserId& user, std::span<const double> x) {
  validate_user_id(user);
  std::shared_ptr<Slot> slot = slot_for(user, x.size());
  std::lock_guard lock(slot->mu);
  ensure_set(user, *slot);
  OAP_CHECK(x.size() == slot->dim, InvalidArgument,
            "detector bank: user \"" + user + "\" has " + std::to_string(slot->dim) +
                " features, this event has " + std::to_string(x.size()));
  check_point(x, slot->dim, "detector bank");
  Set& set = *slot->set;
  Observation obs;
  obs.cold_start = slot->events < options_.min_history;
  if (obs.cold_start) {
    {
      std::lock_guard pop_lock(population_mu_);
      auto& pop = population_[slot->dim];
      if (!pop) pop = make_set(slot->dim);
      for (std::size_t i = 0; i < names_.size(); ++i) {
        pop->detectors[i]->score_and_update(x, obs.scores[names_[i]]);
      }
    }
    // The user's own history starts now (under the user's lock only).
    for (auto& d : set.detectors) d->update(x);
  } else {
    for (std::size_t i = 0; i < names_.size(); ++i) {
      set.detectors[i]->score_and_update(x, obs.scores[names_[i]]);
    }
    // The population keeps learning from users past their cold start too (it is the prior
    // for the next new user).
    if (options_.min_history > 0) {
      std::lock_guard pop_lock(population_mu_);
      auto& pop = population_[slot->dim];
      if (!pop) pop = make_set(slot->dim);
      for (auto& d : pop->detectors) d->update(x);
    }
  }
  // The monitor gets the normal quantile of the p-value, N(0, 1) while the user behaves as
  // before, which is what CUSUM's k and h (in sds) are designed for. -log10(p) is skewed and
  // gave ~4x more false alarms (docs/benchmarks.md, "Detectors").
  double p = obs.scores[options_.shift_input].p_value;
  obs.shift = set.shift.observe(normal_isf(p));
  obs.user_events = ++slot->events;
  return obs;
}

void DetectorBank::write_state(const UserId& user, Slot& slot) {
  nlohmann::json dets = nlohmann::json::object();
  for (std::size_t i = 0; i < names_.size(); ++i) dets[names_[i]] = slot.set->detectors[i]->save();
  nlohmann::json state = {{"user", user},
                          {"dim", slot.dim},
                          {"events", slot.events},
                          {"detectors", dets},
                          {"shift", slot.set->shift.save()}};
  std::filesystem::create_directories(options_.state_dir);
  detail::write_text_file_atomic(state_path(user), state.dump());
}

bool DetectorBank::save_user(const UserId& user) {
  OAP_CHECK(!options_.state_dir.empty(), InvalidArgument,
            "detector bank: save_user needs options.state_dir");
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard lock(mu_);
    auto it = users_.find(user);
    if (it == users_.end()) return false;
    slot = it->second;
  }
  std::lock_guard lock(slot->mu);
  if (!slot->set) return false;  // created by a concurrent observe() that has not run yet
  write_state(user, *slot);
  return true;
}

void DetectorBank::save_all() {
  std::vector<UserId> ids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, slot] : users_) ids.push_back(id);
  }
  for (const auto& id : ids) save_user(id);
}

std::size_t DetectorBank::users_in_memory() const {
  std::lock_guard lock(mu_);
  return users_.size();
}

}  // namespace oap
