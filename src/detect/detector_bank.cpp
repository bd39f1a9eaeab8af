#include "oap/detect/detector_bank.hpp"

#include "oap/core/atomic_file.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <exception>
#include <fstream>
#include <optional>
#include <system_error>

#include "core/log.hpp"
#include "oap/core/json_config.hpp"
#include "oap/detect/detector_factory.hpp"
#include "oap/detect/distributions.hpp"

namespace oap {

namespace {

struct NamedSpec {
  std::string name;
  nlohmann::json spec;
};

// Whether a detector spec is, or contains (an ensemble's member, a likelihood's inner), a
// likelihood detector.
bool has_likelihood(const nlohmann::json& spec) {
  if (spec.is_object()) {
    auto type = spec.find("type");
    if (type != spec.end() && *type == "likelihood") return true;
  }
  if (spec.is_structured()) {
    for (const auto& item : spec) {
      if (has_likelihood(item)) return true;
    }
  }
  return false;
}

std::string detector_context(const NamedSpec& d, std::size_t index) {
  return "bank.detectors: detector \"" + d.name + "\" (index " + std::to_string(index) + ")";
}

// The detectors of DetectorBankOptions::detectors in order, with non-empty unique names.
// Throws ConfigError naming the detector (index and name).
std::vector<NamedSpec> named_specs(const nlohmann::json& detectors) {
  std::vector<NamedSpec> out;
  if (detectors.is_object()) {
    for (const auto& [name, spec] : detectors.items()) out.push_back({name, spec});
  } else if (detectors.is_array()) {
    for (std::size_t i = 0; i < detectors.size(); ++i) {
      const nlohmann::json& item = detectors[i];
      const std::string where = "bank.detectors[" + std::to_string(i) + "]";
      OAP_CHECK(
          item.is_object(), ConfigError,
          where + ": expected an object {\"name\": ..., \"type\": ...}, got " + item.type_name());
      auto name = item.find("name");
      OAP_CHECK(name != item.end() && name->is_string(), ConfigError,
                where + ".name: expected a string (the detector's name), got " +
                    (name == item.end() ? std::string("nothing") : name->dump()));
      nlohmann::json spec = item;
      spec.erase("name");
      out.push_back({name->get<std::string>(), std::move(spec)});
    }
  } else {
    OAP_THROW(ConfigError, std::string("bank.detectors: expected an object {name: spec} or an "
                                       "array [{\"name\": ..., \"type\": ...}], got ") +
                               detectors.type_name());
  }
  OAP_CHECK(!out.empty(), ConfigError, "bank.detectors: at least one detector is required");
  for (std::size_t i = 0; i < out.size(); ++i) {
    OAP_CHECK(!out[i].name.empty(), ConfigError,
              detector_context(out[i], i) + ": the name must not be empty");
    for (std::size_t k = 0; k < i; ++k) {
      OAP_CHECK(
          out[k].name != out[i].name, ConfigError,
          detector_context(out[i], i) + ": the name is also used by index " + std::to_string(k));
    }
  }
  return out;
}

}  // namespace

struct DetectorBank::Set {
  std::vector<std::unique_ptr<Detector>> detectors;  // in names_ order
  ShiftMonitor shift;
  // Flagged points not learned (yet), oldest first: the user's event index and the point.
  std::deque<std::pair<std::uint64_t, std::vector<double>>> held;
  // The user's stream context (DetectorBankOptions::context), when it is not the identity,
  // and what it made of the current point (reused from event to event: no allocation).
  std::optional<StreamContext> context;
  std::vector<double> context_out;
};

// A user's entry. The bank keeps at most one resident Slot per user; an evicted one lives on
// (in evicting_) until its state is written, or taken over by the user's next Slot.
struct DetectorBank::Slot {
  Slot(UserId u, std::size_t d, std::shared_ptr<Slot> previous)
      : user(std::move(u)), dim(d), predecessor(std::move(previous)) {}

  const UserId user;
  Mutex mu;
  std::size_t dim OAP_GUARDED_BY(mu);
  std::unique_ptr<Set> set OAP_GUARDED_BY(mu);  // null until the first event is processed
  std::uint64_t events OAP_GUARDED_BY(mu) = 0;
  // Evicted and done with: its state is in the state file or in the user's newer Slot. A call
  // that finds its Slot retired looks the user up again.
  bool retired OAP_GUARDED_BY(mu) = false;
  // The user's previous Slot, if its eviction had not finished when this one was made: its
  // state is newer than the file.
  std::shared_ptr<Slot> predecessor OAP_GUARDED_BY(mu);
};

void DetectorBankOptions::validate() const {
  std::vector<NamedSpec> specs = named_specs(detectors);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    try {
      // Options do not depend on the dimension, which a user's first event fixes; 1 is valid.
      make_detector(specs[i].spec, 1);
    } catch (const Error& e) {
      // e.what() already ends with the location of the check that failed; keep that one.
      throw ConfigError(detector_context(specs[i], i) + ": " + e.what());
    }
    OAP_CHECK(!hold_back_flagged || !has_likelihood(specs[i].spec), ConfigError,
              detector_context(specs[i], i) +
                  ": a likelihood detector needs bank.hold_back_flagged false (a held-back point "
                  "never reaches its windows: after its first flag it would judge every point "
                  "against a frozen past)");
  }
  bool found = shift_input.empty();
  for (const auto& s : specs) found = found || s.name == shift_input;
  OAP_CHECK(found, ConfigError, "bank.shift_input: no detector named \"" + shift_input + "\"");
  OAP_CHECK(max_users >= 1, ConfigError,
            "bank.max_users must be >= 1, got " + std::to_string(max_users));
  OAP_CHECK(hold_back_window >= 1, ConfigError, "bank.hold_back_window must be >= 1, got 0");
  shift.validate();
  context.validate();
}

void to_json(nlohmann::json& j, const DetectorBankOptions& o) {
  j = {{"detectors", o.detectors},
       {"shift_input", o.shift_input},
       {"shift", o.shift},
       {"min_history", o.min_history},
       {"hold_back_flagged", o.hold_back_flagged},
       {"hold_back_window", o.hold_back_window},
       {"hold_back_after", o.hold_back_after},
       {"max_users", o.max_users},
       {"context", o.context},
       {"state_dir", o.state_dir}};
}

void from_json(const nlohmann::json& j, DetectorBankOptions& o) {
  JsonObjectReader r(j, "bank");
  if (!r.raw("detectors").is_null()) o.detectors = r.raw("detectors");
  o.shift_input = r.get<std::string>("shift_input", o.shift_input);
  if (!r.raw("shift").is_null()) o.shift = r.raw("shift").get<ShiftMonitorOptions>();
  o.min_history = r.get<std::size_t>("min_history", o.min_history);
  o.hold_back_flagged = r.get<bool>("hold_back_flagged", o.hold_back_flagged);
  o.hold_back_window = r.get<std::size_t>("hold_back_window", o.hold_back_window);
  o.hold_back_after = r.get<std::size_t>("hold_back_after", o.hold_back_after);
  o.max_users = r.get<std::size_t>("max_users", o.max_users);
  if (!r.raw("context").is_null()) o.context = r.raw("context").get<StreamContextOptions>();
  o.state_dir = r.get<std::string>("state_dir", o.state_dir);
  r.finish();
  o.validate();
}

void to_json(nlohmann::json& j, const Observation& o) {
  nlohmann::json scores = nlohmann::json::object();
  for (const auto& [name, s] : o.scores) scores[name] = s;
  j = {{"cold_start", o.cold_start},   {"scores", scores},     {"shift", o.shift},
       {"user_events", o.user_events}, {"learned", o.learned}, {"released", o.released},
       {"held_back", o.held_back}};
}

DetectorBank::DetectorBank(DetectorBankOptions options) : options_(std::move(options)) {
  options_.validate();
  for (auto& s : named_specs(options_.detectors)) {
    names_.push_back(std::move(s.name));
    specs_.push_back(std::move(s.spec));
  }
  if (options_.shift_input.empty()) options_.shift_input = names_.front();
  if (options_.min_history > 0)
    population_learner_ = std::thread([this] { run_population_learner(); });
}

DetectorBank::~DetectorBank() {
  if (!population_learner_.joinable()) return;
  {
    MutexLock lock(pending_mu_);
    stopping_ = true;
  }
  pending_cv_.notify_all();
  population_learner_.join();
}

std::unique_ptr<DetectorBank::Set> DetectorBank::make_set(std::size_t dim,
                                                          bool with_context) const {
  const bool context = with_context && options_.context.enabled();
  auto set = std::make_unique<Set>(Set{{}, ShiftMonitor(options_.shift), {}, std::nullopt, {}});
  const std::size_t features = context ? options_.context.output_dim(dim) : dim;
  for (const auto& spec : specs_) set->detectors.push_back(make_detector(spec, features));
  if (context) set->context.emplace(dim, options_.context);
  return set;
}

std::filesystem::path DetectorBank::state_path(const UserId& user) const {
  return std::filesystem::path(options_.state_dir) / (user_file_stem(user) + ".json");
}

void DetectorBank::write_state(Slot& slot) OAP_REQUIRES(slot.mu) {
  nlohmann::json dets = nlohmann::json::object();
  for (std::size_t i = 0; i < names_.size(); ++i) dets[names_[i]] = slot.set->detectors[i]->save();
  nlohmann::json held = nlohmann::json::array();
  for (const auto& [index, x] : slot.set->held) held.push_back({{"index", index}, {"x", x}});
  nlohmann::json state = {{"user", slot.user},
                          {"dim", slot.dim},
                          {"events", slot.events},
                          {"detectors", dets},
                          {"shift", slot.set->shift.save()},
                          {"held", held}};
  if (slot.set->context) state["context"] = slot.set->context->save();
  std::filesystem::create_directories(options_.state_dir);
  write_text_file_atomic(state_path(slot.user), state.dump());
}

// Takes over the state of the user's previous Slot if its eviction has not written it yet
// (then that Slot is retired and its writer skips it); otherwise the file already holds it.
// Locks go from the newer Slot to the older, never back.
void DetectorBank::adopt_predecessor(Slot& slot) OAP_REQUIRES(slot.mu) {
  if (!slot.predecessor) return;
  std::shared_ptr<Slot> prev = std::move(slot.predecessor);
  MutexLock lock(prev->mu);
  if (prev->retired) return;
  adopt_predecessor(*prev);
  if (prev->set) {
    slot.set = std::move(prev->set);
    slot.events = prev->events;
    slot.dim = prev->dim;
  }
  prev->retired = true;
}

// Finds or makes the user's resident Slot and marks it most recently used; evicts the least
// recently used user if that makes one too many (writing its state outside mu_).
std::shared_ptr<DetectorBank::Slot> DetectorBank::slot_for(const UserId& user, std::size_t dim) {
  std::shared_ptr<Slot> slot, evicted;
  {
    MutexLock lock(mu_);
    if (auto it = users_.find(user); it != users_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return lru_.front();
    }
    auto previous = evicting_.find(user);
    slot =
        std::make_shared<Slot>(user, dim, previous == evicting_.end() ? nullptr : previous->second);
    lru_.push_front(slot);
    users_.emplace(user, lru_.begin());
    if (users_.size() > options_.max_users) {
      evicted = std::move(lru_.back());
      lru_.pop_back();
      users_.erase(evicted->user);
      if (options_.state_dir.empty()) {
        evicted.reset();  // forgotten: without state_dir there is nothing to write or hand over
      } else {
        evicting_[evicted->user] = evicted;
      }
    }
  }
  if (evicted) retire(evicted);
  return slot;
}

// Writes an evicted Slot's state (unless the user's newer Slot took it over first) and marks it
// retired, then forgets it. A call still holding the Slot either ran before (its event is in
// the file) or sees it retired and starts over.
void DetectorBank::retire(const std::shared_ptr<Slot>& slot) {
  {
    MutexLock lock(slot->mu);
    if (!slot->retired) {
      adopt_predecessor(*slot);
      if (slot->set) write_state(*slot);  // on IoError the Slot stays in evicting_, state intact
      slot->retired = true;
      slot->set.reset();
    }
  }
  MutexLock lock(mu_);
  auto it = evicting_.find(slot->user);
  if (it != evicting_.end() && it->second == slot) evicting_.erase(it);
}

// Builds the user's set on first use: from its previous Slot, else from its state file when
// there is one, else fresh. The caller holds slot.mu, so a second thread observing the same
// new user waits for this.
void DetectorBank::ensure_set(Slot& slot) OAP_REQUIRES(slot.mu) {
  if (slot.set) return;
  adopt_predecessor(slot);
  if (slot.set) return;
  std::filesystem::path path = state_path(slot.user);
  if (!options_.state_dir.empty() && std::filesystem::exists(path)) {
    nlohmann::json state = load_json_file(path);
    JsonObjectReader r(state, path.string());
    const auto dim = r.require<std::size_t>("dim");
    auto set = make_set(dim, /*with_context=*/true);
    // Files written without a stream context have no "context"; one saved with a context the
    // bank no longer uses (or the other way round) is refused: its detectors saw other features.
    const auto& context = r.raw("context");
    OAP_CHECK(context.is_null() == !set->context, ConfigError,
              path.string() + ": the state was saved " + (context.is_null() ? "without" : "with") +
                  " a stream context, the bank's options have " + (set->context ? "one" : "none"));
    if (set->context) set->context->load(context);
    JsonObjectReader dets(r.require_raw("detectors"), path.string() + ".detectors");
    for (std::size_t i = 0; i < names_.size(); ++i)
      set->detectors[i]->load(dets.require_raw(names_[i]));
    set->shift.load(r.require_raw("shift"));
    // Files written before held-back points existed have no "held".
    for (const auto& h : r.raw("held")) {
      JsonObjectReader point(h, path.string() + ".held");
      auto x = point.require<std::vector<double>>("x");
      OAP_CHECK(x.size() == set->detectors[0]->dim(), ConfigError,
                path.string() + ".held: a point of " + std::to_string(x.size()) +
                    " features in a state of dimension " +
                    std::to_string(set->detectors[0]->dim()));
      set->held.emplace_back(point.require<std::uint64_t>("index"), std::move(x));
      point.finish();
    }
    slot.events = r.require<std::uint64_t>("events");
    slot.dim = dim;
    slot.set = std::move(set);
  } else {
    slot.set = make_set(slot.dim, /*with_context=*/true);
  }
}

DetectorBank::Set& DetectorBank::population_set(std::size_t dim) {
  auto& pop = population_[dim];
  if (!pop) pop = make_set(dim, /*with_context=*/false);  // dim: the events' features
  return *pop;
}

// The population learns the pending points of warm users, in the order they were observed.
// Batches are taken and learned under population_mu_, so they are learned in order too.
void DetectorBank::learn_pending() {
  {
    MutexLock lock(pending_mu_);
    std::swap(pending_, draining_);
  }
  const double* row = draining_.values.data();
  for (std::size_t dim : draining_.dims) {
    for (auto& d : population_set(dim).detectors) d->update({row, dim});
    row += dim;
  }
  draining_.values.clear();  // keeps the capacity: the next swap allocates nothing
  draining_.dims.clear();
}

void DetectorBank::learn_pending_batch() {
  MutexLock lock(population_mu_);
  learn_pending();
}

// The population learner: waits for a full batch, then learns everything pending. Its work is
// off the callers' threads; a cold-start user's observe learns what is pending first anyway,
// so when the learner runs changes no score. Unlearned points at destruction are dropped with
// the population (it is not persisted).
void DetectorBank::run_population_learner() {
  for (;;) {
    {
      MutexLock lock(pending_mu_);
      while (!stopping_ && pending_.dims.size() < kPopulationBatch) pending_cv_.wait(lock);
      if (stopping_) return;
    }
    try {
      learn_pending_batch();
    } catch (const std::exception& e) {
      // Validated points; an update can only fail for memory. The batch is lost to the
      // population (the prior), never to a user's own detectors.
      detail::logger()->error("detector bank: the population could not learn a batch: {}",
                              e.what());
    }
  }
}

// A warm user's scored point under hold_back_flagged: learned, held back, or (on a sustained
// shift) learned after the held-back points from the shift's start.
void DetectorBank::learn_or_hold(Set& set, std::uint64_t index, std::span<const double> x,
                                 bool flagged, Observation& obs) const {
  auto learn = [&](std::span<const double> point) {
    for (auto& d : set.detectors) d->update(point);
  };
  // Points held longer than the window were a blip: they are never learned.
  while (!set.held.empty() && index - set.held.front().first >= options_.hold_back_window) {
    set.held.pop_front();
  }
  if (obs.shift.state == ShiftState::kSustained) {
    const auto start = static_cast<std::uint64_t>(std::max<std::int64_t>(obs.shift.start, 0));
    for (const auto& [i, point] : set.held) {
      if (i < start) continue;
      learn(point);
      ++obs.released;
    }
    set.held.clear();
    learn(x);
    obs.learned = true;
  } else if (flagged) {
    set.held.emplace_back(index, std::vector<double>(x.begin(), x.end()));
    obs.learned = false;
  } else {
    // Nothing learned since x was scored: detectors may reuse their score of x.
    for (std::size_t i = 0; i < names_.size(); ++i) {
      set.detectors[i]->update_scored(x, obs.scores[names_[i]]);
    }
    obs.learned = true;
  }
}

Observation DetectorBank::observe(const UserId& user, std::span<const double> input,
                                  std::optional<Timestamp> time) {
  validate_user_id(user);
  Observation obs;
  bool batch_full = false;
  bool backlog = false;
  for (;;) {
    std::shared_ptr<Slot> slot = slot_for(user, input.size());
    MutexLock lock(slot->mu);
    if (slot->retired) continue;  // evicted since the lookup: its state moved on; look again
    ensure_set(*slot);
    OAP_CHECK(input.size() == slot->dim, InvalidArgument,
              "detector bank: user \"" + user + "\" has " + std::to_string(slot->dim) +
                  " features, this event has " + std::to_string(input.size()));
    check_point(input, slot->dim, "detector bank");
    Set& set = *slot->set;
    // What the detectors see: the input, or its stream context (which learns the point now).
    std::span<const double> x = input;
    if (set.context) {
      set.context->apply(input, time, set.context_out);
      x = set.context_out;
    }
    obs.cold_start = slot->events < options_.min_history;
    // The monitor gets the normal quantile of the shift input's p-value, N(0, 1) while the user
    // behaves as before, which is what CUSUM's k and h (in sds) are designed for. -log10(p) is
    // skewed and gave ~4x more false alarms (docs/benchmarks.md, "Detectors").
    auto observe_shift = [&] {
      obs.shift = set.shift.observe(normal_isf(obs.scores[options_.shift_input].p_value));
    };
    if (obs.cold_start) {
      {
        MutexLock pop_lock(population_mu_);
        learn_pending();
        // The population compares the event itself with every user's (a new user's stream
        // context has nothing to tell yet: no previous point, no slot, its own mean only).
        Set& pop = population_set(input.size());
        for (std::size_t i = 0; i < names_.size(); ++i) {
          pop.detectors[i]->score_and_update(input, obs.scores[names_[i]]);
        }
      }
      // The user's own history starts now (under the user's lock only).
      for (auto& d : set.detectors) d->update(x);
      observe_shift();
    } else if (options_.hold_back_flagged && slot->events >= options_.hold_back_after) {
      bool flagged = false;
      for (std::size_t i = 0; i < names_.size(); ++i) {
        auto& score = obs.scores[names_[i]];
        set.detectors[i]->score_into(x, score);
        flagged = flagged || score.flagged;
      }
      observe_shift();
      learn_or_hold(set, slot->events, x, flagged, obs);
    } else {
      for (std::size_t i = 0; i < names_.size(); ++i) {
        set.detectors[i]->score_and_update(x, obs.scores[names_[i]]);
      }
      observe_shift();
    }
    // The population keeps learning from users past their cold start too (it is the prior for
    // the next new user), in batches: a warm user's event appends x to the pending points
    // (under pending_mu_, a copy of d values) and does not wait for the population lock; the
    // population learner learns them, or this call when the learner is far behind.
    if (!obs.cold_start && options_.min_history > 0) {
      MutexLock pending_lock(pending_mu_);
      pending_.values.insert(pending_.values.end(), input.begin(), input.end());
      pending_.dims.push_back(input.size());
      batch_full = pending_.dims.size() % kPopulationBatch == 0;
      backlog = pending_.dims.size() >= kPopulationBatch * kPopulationBacklog;
    }
    obs.held_back = set.held.size();
    obs.user_events = ++slot->events;
    break;
  }
  // Outside the user's lock: the user's next event need not wait for the population.
  if (backlog) {
    learn_pending_batch();
  } else if (batch_full) {
    pending_cv_.notify_one();
  }
  return obs;
}

bool DetectorBank::save_user(const UserId& user) {
  OAP_CHECK(!options_.state_dir.empty(), InvalidArgument,
            "detector bank: save_user needs options.state_dir");
  for (;;) {
    std::shared_ptr<Slot> slot;
    {
      MutexLock lock(mu_);
      auto it = users_.find(user);
      if (it == users_.end()) return false;
      slot = *it->second;
    }
    MutexLock lock(slot->mu);
    if (slot->retired) continue;  // evicted since the lookup (and saved by its eviction)
    adopt_predecessor(*slot);
    // No set: created by a concurrent observe() that has not run yet; the file is current.
    if (!slot->set) return false;
    write_state(*slot);
    return true;
  }
}

std::uint64_t DetectorBank::user_events(const UserId& user) {
  for (;;) {
    std::shared_ptr<Slot> slot;
    {
      MutexLock lock(mu_);
      if (auto it = users_.find(user); it != users_.end()) {
        slot = *it->second;
      } else if (auto ev = evicting_.find(user); ev != evicting_.end()) {
        slot = ev->second;
      }
    }
    if (!slot) break;
    MutexLock lock(slot->mu);
    if (slot->retired) continue;  // its state moved on (to the file or a newer Slot): look again
    adopt_predecessor(*slot);
    if (slot->set) return slot->events;
    break;  // made by an observe() that has not run yet: the file (if any) is current
  }
  if (options_.state_dir.empty()) return 0;
  const auto path = state_path(user);
  if (!std::filesystem::exists(path)) return 0;
  const nlohmann::json state = load_json_file(path);
  JsonObjectReader r(state, path.string());
  return r.require<std::uint64_t>("events");
}

void DetectorBank::save_all() {
  std::vector<UserId> ids;
  {
    MutexLock lock(mu_);
    for (const auto& [id, slot] : users_) ids.push_back(id);
  }
  for (const auto& id : ids) save_user(id);
}

// Drops the state of slot and of the Slots before it (locks from the newer to the older, as
// adopt_predecessor takes them); true if any held a detector set. A call holding one of them
// finds it retired and looks the user up again.
bool DetectorBank::drop(std::shared_ptr<Slot> slot) {
  if (!slot) return false;
  MutexLock lock(slot->mu);
  bool had = false;
  if (!slot->retired) {
    had = slot->set != nullptr;
    slot->set.reset();
    slot->events = 0;
    slot->retired = true;
  }
  return drop(std::move(slot->predecessor)) || had;
}

bool DetectorBank::forget(const UserId& user) {
  validate_user_id(user);
  // Stands in for the user until the file is gone: registered as evicting, it becomes the
  // predecessor of any Slot made for the user meanwhile, and every path that reads or writes
  // the file (ensure_set, retire, save_user) first adopts its predecessor, so waits on this
  // lock. It holds nothing (retired), so such a Slot starts from nothing.
  auto barrier = std::make_shared<Slot>(user, 0, nullptr);
  bool found = false;
  std::exception_ptr error;
  {
    MutexLock barrier_lock(barrier->mu);
    barrier->retired = true;
    std::shared_ptr<Slot> resident, evicting;
    {
      MutexLock lock(mu_);
      if (auto it = users_.find(user); it != users_.end()) {
        resident = *it->second;
        lru_.erase(it->second);
        users_.erase(it);
      }
      if (auto it = evicting_.find(user); it != evicting_.end()) evicting = it->second;
      evicting_[user] = barrier;
    }
    // Waits for a call working on either (an observe, an eviction writing the file) to finish.
    found = drop(std::move(resident));
    found = drop(std::move(evicting)) || found;
    if (!options_.state_dir.empty()) {
      try {
        const std::filesystem::path path = state_path(user);
        std::error_code ec;
        found = std::filesystem::remove(path, ec) || found;
        OAP_CHECK(!ec, IoError,
                  "detector bank: cannot delete the state file " + path.string() + " of user \"" +
                      user + "\": " + ec.message());
        // Left by a process that died inside write_file_atomic: "<file>.tmp.<pid>.<n>".
        const std::string tmp_prefix = path.filename().string() + ".tmp.";
        std::filesystem::directory_iterator files(options_.state_dir, ec);
        OAP_CHECK(!ec || ec == std::errc::no_such_file_or_directory, IoError,
                  "detector bank: cannot list state_dir " + options_.state_dir +
                      " for temporary state files of user \"" + user + "\": " + ec.message());
        for (const auto& entry : files) {
          if (!entry.path().filename().string().starts_with(tmp_prefix)) continue;
          std::error_code rm;
          found = std::filesystem::remove(entry.path(), rm) || found;
          OAP_CHECK(!rm, IoError,
                    "detector bank: cannot delete " + entry.path().string() +
                        ", a temporary state file of user \"" + user + "\": " + rm.message());
        }
      } catch (...) {
        error = std::current_exception();
      }
    }
  }
  {
    MutexLock lock(mu_);
    auto it = evicting_.find(user);
    if (it != evicting_.end() && it->second == barrier) evicting_.erase(it);
  }
  if (error) std::rethrow_exception(error);
  return found;
}

std::size_t DetectorBank::users_in_memory() const {
  MutexLock lock(mu_);
  return users_.size();
}

}  // namespace oap
