#include "oap/personalizer.hpp"

#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <utility>

#include "core/log.hpp"
#include "oap/adapt/adapter_manager.hpp"
#include "oap/adapt/adapter_store.hpp"
#include "oap/core/error.hpp"
#include "oap/core/utf8.hpp"
#include "oap/features/text_features.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/tokenizer.hpp"
#include "oap/policy/audit_trail.hpp"
#include "oap/policy/deviation_policy.hpp"
#include "oap/store/history_store.hpp"
#include "personalizer/training_plan.hpp"

namespace oap {
namespace {

using Progress = std::vector<std::pair<std::string, std::int64_t>>;

// What the Personalizer keeps per user between events. Guarded by its mu.
struct UserState {
  std::mutex mu;
  bool loaded = false;
  std::uint64_t events = 0;       // decided events (the next event's index)
  std::uint64_t store_ahead = 0;  // events the history store holds beyond the audit (a crash
                                  // between the two): the next ones are not appended again
  PolicyState policy;
  // The adapter before the last new context (rollback target). With policy: the state the
  // audit trail holds, apart from policy.events (the trail's count of decisions is the true
  // one), as of the last committed event.
  std::string previous_version;
  std::atomic<std::uint64_t> epoch{0};  // bumped by forget(): queued updates are dropped
  // Held by a running update of the user from its epoch check to its audit record, and by
  // forget() (after mu): forget() waits for a running update instead of racing it.
  std::mutex update_mu;
};

nlohmann::json user_state_json(const PolicyState& policy, const std::string& previous_version) {
  return {{"policy", policy}, {"previous_version", previous_version}};
}

// Whether two policy states differ in more than their count of events. Compares a with b's
// count in place and puts a's back (a copy would copy its deques on every event).
bool differ_beyond_count(PolicyState& a, const PolicyState& b) {
  const auto events = std::exchange(a.events, b.events);
  const bool differ = !(a == b);
  a.events = events;
  return differ;
}

}  // namespace

struct Personalizer::Impl {
  using Job = detail::UpdatePlan;
  struct QueuedJob {
    Job plan;
    std::uint64_t epoch = 0;
  };

  PersonalizerOptions options;
  std::shared_ptr<const CausalLM> model;
  std::shared_ptr<const Tokenizer> tokenizer;
  std::unique_ptr<HistoryStore> store;
  std::unique_ptr<DetectorBank> bank;
  DeviationPolicy policy;
  std::unique_ptr<AuditTrail> audit;
  std::unique_ptr<AdapterManager> adapters;    // null without a model
  std::unique_ptr<TextFeatureExtractor> text;  // null without a model
  std::vector<DeviationCallback> callbacks;

  std::mutex users_mu;
  std::map<UserId, std::shared_ptr<UserState>> users;  // guarded by users_mu

  mutable std::mutex stats_mu;
  Stats stats;  // guarded by stats_mu (updates_pending: derived from the worker)

  // Last: destroyed (drained) first, while everything its jobs use still exists.
  std::unique_ptr<UpdateWorker<QueuedJob, UpdateReport>> worker;

  Impl(PersonalizerOptions o, std::shared_ptr<const CausalLM> m, std::shared_ptr<const Tokenizer> t)
      : options(std::move(o)),
        model(std::move(m)),
        tokenizer(std::move(t)),
        policy(options.policy) {}

  std::shared_ptr<UserState> state_of(const UserId& user) {
    std::lock_guard lock(users_mu);
    auto& s = users[user];
    if (!s) s = std::make_shared<UserState>();
    return s;
  }

  std::vector<std::int32_t> encode(const std::string& text) const {
    return tokenizer->encode(text, /*add_special=*/true);
  }

  // Restores the user's state from the audit trail and brings the detectors level with it:
  // events the history holds beyond the detectors' state (kept out by a crash before their
  // state was saved) are replayed through the bank. Requires s.mu.
  void load(const UserId& user, UserState& s) {
    if (s.loaded) return;
    s.events = audit->events(user);
    if (auto saved = audit->user_state(user)) {
      s.policy = saved->at("policy").get<PolicyState>();
      s.previous_version = saved->value("previous_version", std::string());
    } else {
      s.policy = PolicyState{};
      s.previous_version.clear();
    }
    s.policy.events = s.events;  // the saved state's count is that of its last change
    const std::uint64_t in_store = store->count(user);
    s.store_ahead = in_store > s.events ? in_store - s.events : 0;
    std::uint64_t in_bank = bank->user_events(user);
    if (in_bank > s.events) {  // the detectors saw an event the audit never committed
      bank->forget(user);
      in_bank = 0;
    }
    if (in_bank < s.events) {
      const auto history = store->recent(user, static_cast<std::size_t>(in_store));
      for (std::uint64_t i = in_bank; i < s.events && i < history.size(); ++i) {
        const auto& f = history[i].features;
        bank->observe(user, std::vector<double>(f.begin(), f.end()), history[i].timestamp);
      }
    }
    s.loaded = true;
  }

  UpdateReport run_job(const UserId& user, QueuedJob& job) {
    auto st = state_of(user);
    // Without it, a forget() between the epoch check and the training would remove the user
    // and then see this update store a new adapter version trained on the forgotten history.
    std::lock_guard update_lock(st->update_mu);
    UpdateReport report;
    if (st->epoch.load() != job.epoch) {
      report.reason = "dropped: the user was forgotten after this update was queued";
      return report;
    }
    auto plan = job.plan;  // leave_out is filled in below; the queued job stays as submitted
    const std::size_t count = store->count(user);
    const std::size_t span =
        count -
        static_cast<std::size_t>(std::max<std::int64_t>(
            0, std::min<std::int64_t>(plan.trigger_start, static_cast<std::int64_t>(count))));
    const auto& plan_options = options.personalizer;
    const auto recent = store->recent(
        user, span + plan_options.replay_samples * 2 + plan_options.heldout_samples * 2);
    if (plan.consolidation) {  // the events the policy only observed stay out
      for (const auto& r : audit->decisions(user, count - recent.size())) {
        if (r.decision.action == Action::kObserve) plan.leave_out.push_back(r.event);
      }
    }
    const auto data =
        detail::plan_training_data(recent, count == 0 ? 0 : count - 1, plan, plan_options,
                                   [&](const std::string& t) { return encode(t); });
    if (data.trigger.empty()) {
      report.reason = "rejected: no text to learn from in the trigger events";
    } else {
      auto trainer = options.adapters.trainer;
      if (plan.new_context) {
        trainer.steps = std::max(
            1, static_cast<int>(trainer.steps * plan_options.new_context_steps_factor + 0.5));
        trainer.replay_ratio *= plan_options.new_context_replay_factor;
      }
      report = adapters->update(user, data, trainer, {{"decision_event", plan.event}});
    }
    audit->record_update({user, plan.event, report});  // epoch unchanged: update_mu held
    std::lock_guard lock(stats_mu);
    ++(report.accepted ? stats.updates_accepted : stats.updates_rejected);
    return report;
  }

  // Decisions of the user that scheduled an update and have no recorded outcome (a crash or a
  // shutdown came first): found done in the adapter store (their version carries the decision),
  // or scheduled again.
  void resume_updates() {
    for (const auto& user : audit->users()) {
      const auto updates = audit->updates(user);
      std::int64_t last = -1;
      for (const auto& u : updates) last = std::max<std::int64_t>(last, u.event);
      const auto versions = adapters->versions(user);
      for (const auto& d : audit->decisions(user, static_cast<std::uint64_t>(last + 1))) {
        if (d.decision.action != Action::kAdapt && d.decision.action != Action::kNewContext) {
          continue;
        }
        bool done = false;
        for (const auto& v : versions) {
          if (v.info.value("decision_event", std::int64_t{-1}) ==
              static_cast<std::int64_t>(d.event)) {
            UpdateReport r = v.info.get<UpdateReport>();
            r.version = v.id;
            audit->record_update({user, d.event, r});
            done = true;
          }
        }
        if (done) continue;
        worker->submit(user, {detail::plan_of(d.event, d.decision), state_of(user)->epoch.load()});
      }
    }
  }
};

Personalizer::Personalizer(PersonalizerOptions options, std::shared_ptr<const CausalLM> model,
                           std::shared_ptr<const Tokenizer> tokenizer)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(model), std::move(tokenizer))) {
  auto& m = *impl_;
  auto& o = m.options;
  o.validate();
  OAP_CHECK((m.model == nullptr) == (m.tokenizer == nullptr), InvalidArgument,
            "Personalizer: a model needs its tokenizer (pass both or neither)");
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  OAP_CHECK(
      !ec, IoError,
      "Personalizer: cannot create data directory " + o.data_dir.string() + ": " + ec.message());
  const std::string uri =
      o.store_uri.empty() ? "sqlite://" + (o.data_dir / "history.db").string() : o.store_uri;
  m.store = open_store(uri, o.store);
  o.detect.state_dir = (o.data_dir / "detectors").string();
  m.bank = std::make_unique<DetectorBank>(o.detect);
  m.audit = open_audit_trail(o.data_dir / "audit.db");
  if (m.model) {
    m.adapters = std::make_unique<AdapterManager>(m.model,
                                                  std::shared_ptr<AdapterStore>(open_adapter_store(
                                                      o.data_dir / "adapters", o.adapters.store)),
                                                  o.adapters);
    if (o.personalizer.text_signals == TextSignals::kAuto) {
      m.text = std::make_unique<TextFeatureExtractor>(m.model, m.tokenizer, o.text_features);
    }
  }
  m.worker = std::make_unique<UpdateWorker<Impl::QueuedJob, UpdateReport>>(
      [&m](const UserId& user, Impl::QueuedJob& job) { return m.run_job(user, job); },
      [](Impl::QueuedJob& pending, Impl::QueuedJob&& incoming) {
        // Coalesce: one update learns from the earliest trigger to the latest event.
        if (pending.epoch != incoming.epoch) {
          pending = incoming;
          return;
        }
        detail::merge_into(pending.plan, incoming.plan);
      },
      o.adapters.worker);
  if (m.adapters) {
    m.resume_updates();
    // Deterministic replays: the resumed updates finish before the next event, as they would
    // have without the interruption.
    if (o.personalizer.wait_for_updates) m.worker->wait_idle();
  }
}

Personalizer::~Personalizer() {
  if (!impl_) return;
  impl_->worker.reset();  // finishes the queued updates
  try {
    impl_->bank->save_all();
    impl_->store->flush();
  } catch (const std::exception& e) {
    detail::logger()->error("Personalizer: saving state at close failed: {}", e.what());
  }
}

const PersonalizerOptions& Personalizer::options() const { return impl_->options; }

void Personalizer::on_deviation(DeviationCallback callback) {
  impl_->callbacks.push_back(std::move(callback));
}

Personalizer::Observation Personalizer::observe(const Event& event, const Progress& progress) {
  auto& m = *impl_;
  const auto& po = m.options.personalizer;
  validate_event(event);
  OAP_CHECK(event.text.size() <= po.max_text_bytes, InvalidArgument,
            "Personalizer::observe: the text of user \"" + event.user + "\"'s event has " +
                std::to_string(event.text.size()) + " bytes, more than max_text_bytes (" +
                std::to_string(po.max_text_bytes) + ")");
  if (auto bad = invalid_utf8_at(event.text)) {
    OAP_THROW(InvalidArgument, "Personalizer::observe: the text of user \"" + event.user +
                                   "\"'s event is not valid UTF-8 (byte " + std::to_string(*bad) +
                                   ")");
  }
  auto st = m.state_of(event.user);
  std::lock_guard user_lock(st->mu);
  m.load(event.user, *st);

  Observation out;
  out.user = event.user;
  out.event = st->events;
  // Text signals under the user's current adapter: the surprise is also the event's
  // prequential NLL (before anything learns from it).
  std::shared_ptr<const UserAdapter> adapter;
  if (m.adapters) adapter = m.adapters->get(event.user);
  const LoraWeights* weights = adapter ? &adapter->weights : nullptr;
  // The features as the store keeps them (float), so that a replay from the history feeds the
  // detectors exactly what they saw.
  std::vector<float> stored(event.features.begin(), event.features.end());
  std::vector<std::int32_t> tokens;
  if (m.model && !event.text.empty()) {
    if (m.text) {
      auto tf = m.text->extract(event.text, weights);
      out.nll = tf.nll;
      for (double v : tf.values) stored.push_back(static_cast<float>(v));
      tokens = std::move(tf.tokens);
    } else {
      tokens = m.encode(event.text);
    }
    if (!out.nll && tokens.size() >= 2) {
      const LoraWeights* one[] = {weights};
      out.nll = oap::score(*m.model, {tokens}, one)[0].mean_nll;
    }
  }
  out.features.assign(stored.begin(), stored.end());
  if (auto dim = m.store->dimension(event.user); dim && *dim != stored.size()) {
    OAP_THROW(InvalidArgument, "Personalizer::observe: user \"" + event.user + "\"'s events have " +
                                   std::to_string(*dim) +
                                   " features (event features + text signals); this one has " +
                                   std::to_string(stored.size()) + " (" +
                                   std::to_string(event.features.size()) + " + " +
                                   std::to_string(stored.size() - event.features.size()) +
                                   ": an event with text gets text signals, one without does not)");
  }
  OAP_CHECK(!stored.empty(), InvalidArgument,
            "Personalizer::observe: user \"" + event.user +
                "\"'s event has neither features nor text (with a model) to judge");

  // History (durable before the decision is), unless a crash left it there already.
  if (st->store_ahead > 0) {
    --st->store_ahead;
  } else {
    Event kept = event;
    kept.features = stored;
    m.store->append(kept);
    m.store->flush();
  }
  out.detection = m.bank->observe(event.user, out.features, event.timestamp);

  // The decision.
  PolicyInput in =
      m.policy.input_from(out.detection, static_cast<std::int64_t>(out.event), event.timestamp);
  in.surprise = out.nll;
  if (m.adapters && st->policy.probation_start >= 0 && !st->previous_version.empty() &&
      tokens.size() >= 2) {
    if (auto previous = m.adapters->get_version(event.user, st->previous_version)) {
      const LoraWeights* one[] = {&previous->weights};
      in.surprise_previous = oap::score(*m.model, {tokens}, one)[0].mean_nll;
    }
  }
  auto [decision, next_policy] = m.policy.decide(in, st->policy);
  out.decision = decision;
  std::string previous_version = st->previous_version;
  if (decision.action == Action::kNewContext) previous_version = adapter ? adapter->version : "";
  AuditRecord record;
  record.user = event.user;
  record.event = out.event;
  record.time = event.timestamp;
  record.decision = decision;
  record.p_value = in.p_value;
  record.detector = in.detector;
  record.shift_state = out.detection.shift.state;
  record.nll = out.nll;
  record.learned = out.detection.learned;
  // The detectors' scores, not the whole observation. The per-feature contributions explain an
  // action; for an ignored event they are left out: they were ~1 KB of the ~1.5 KB row, its
  // JSON and log pages most of the audit trail's cost per event (docs/benchmarks.md).
  record.scores = nlohmann::json::object();
  for (const auto& [name, s] : out.detection.scores) {
    record.scores[name] = decision.action == Action::kIgnore ? verdict_json(s) : nlohmann::json(s);
  }
  // The commit point. The state is written only when the event changed it beyond its count
  // (most events of a stable user do not); a user's first event always writes it.
  if (st->events == 0 || previous_version != st->previous_version ||
      differ_beyond_count(next_policy, st->policy)) {
    m.audit->record(record, user_state_json(next_policy, previous_version), progress);
  } else {
    m.audit->record_keeping_state(record, progress);
  }
  st->policy = std::move(next_policy);
  st->previous_version = std::move(previous_version);
  ++st->events;
  {
    std::lock_guard lock(m.stats_mu);
    ++m.stats.events;
    ++m.stats.by_action[static_cast<int>(decision.action)];
  }

  // The decision's action.
  if (m.adapters) {
    if (decision.action == Action::kAdapt || decision.action == Action::kNewContext) {
      out.update =
          m.worker->submit(event.user, {detail::plan_of(out.event, decision), st->epoch.load()});
      if (po.wait_for_updates) out.update->result.wait();
    } else if (decision.action == Action::kRollback) {
      UpdateReport r;
      r.trigger_loss_before = r.trigger_loss_after = std::numeric_limits<double>::quiet_NaN();
      r.heldout_loss_before = r.heldout_loss_after = r.trigger_loss_before;
      if (auto to = m.adapters->rollback(event.user)) {
        r.accepted = true;
        r.version = *to;
        r.reason = "rolled back to version " + *to + ": " + decision.reason;
      } else {
        r.reason = "nothing to roll back to: " + decision.reason;
      }
      m.audit->record_update({event.user, out.event, r});
    }
  }
  if (decision.action != Action::kIgnore) {
    for (const auto& cb : m.callbacks) cb(event, out);
  }
  return out;
}

GenerationResult Personalizer::generate(const UserId& user, std::string_view prompt,
                                        const GenerationOptions& options,
                                        const TokenCallback& on_token) {
  auto& m = *impl_;
  OAP_CHECK(m.model != nullptr, InvalidArgument, "Personalizer::generate needs a model");
  validate_user_id(user);
  const auto adapter = m.adapters->get(user);
  Generator generator(m.model, m.tokenizer);
  return generator.generate(prompt, options, adapter ? &adapter->weights : nullptr, on_token);
}

SequenceScore Personalizer::score(const UserId& user, std::string_view text) {
  auto& m = *impl_;
  OAP_CHECK(m.model != nullptr, InvalidArgument, "Personalizer::score needs a model");
  validate_user_id(user);
  const auto adapter = m.adapters->get(user);
  const auto ids = m.encode(std::string(text));
  OAP_CHECK(!ids.empty(), InvalidArgument, "Personalizer::score: the text encodes to no tokens");
  const LoraWeights* one[] = {adapter ? &adapter->weights : nullptr};
  return oap::score(*m.model, {ids}, one)[0];
}

std::size_t Personalizer::forget(const UserId& user) {
  auto& m = *impl_;
  validate_user_id(user);
  auto st = m.state_of(user);
  std::lock_guard user_lock(st->mu);
  std::lock_guard update_lock(st->update_mu);  // a running update of the user finishes first
  ++st->epoch;                                 // queued updates of the user are dropped
  if (m.adapters) m.adapters->forget(user);
  const std::size_t events = m.store->forget(user);
  m.bank->forget(user);
  m.audit->forget(user);
  st->loaded = false;
  st->policy = PolicyState{};
  st->previous_version.clear();
  st->events = 0;
  st->store_ahead = 0;
  return events;
}

nlohmann::json Personalizer::inspect(const UserId& user, std::size_t recent_decisions) {
  auto& m = *impl_;
  validate_user_id(user);
  {
    auto st = m.state_of(user);
    std::lock_guard user_lock(st->mu);
    m.load(user, *st);
  }
  nlohmann::json j;
  j["user"] = user;
  j["history_events"] = m.store->count(user);
  if (auto d = m.store->dimension(user)) j["dimension"] = *d;
  const auto decided = m.audit->events(user);
  j["decided_events"] = decided;
  j["detector_events"] = m.bank->user_events(user);
  if (auto s = m.audit->user_state(user)) {
    j["state"] = *s;
    // Written when it last changed: the count of events is the trail's.
    if (j["state"].contains("policy")) j["state"]["policy"]["events"] = decided;
  }
  nlohmann::json versions = nlohmann::json::array();
  if (m.adapters) {
    for (const auto& v : m.adapters->versions(user)) {
      versions.push_back({{"id", v.id},
                          {"created", format_rfc3339(v.created)},
                          {"parent", v.parent},
                          {"info", v.info}});
    }
    const auto current = m.adapters->get(user);
    j["adapter"] = current ? nlohmann::json(current->version) : nlohmann::json(nullptr);
  }
  j["versions"] = versions;
  nlohmann::json decisions = nlohmann::json::array();
  const std::uint64_t from = decided > recent_decisions ? decided - recent_decisions : 0;
  for (const auto& d : m.audit->decisions(user, from)) {
    decisions.push_back({{"event", d.event},
                         {"time", format_rfc3339(d.time)},
                         {"action", std::string(action_name(d.decision.action))},
                         {"reason", d.decision.reason},
                         {"p_value", d.p_value},
                         {"shift", shift_state_name(d.shift_state)},
                         {"nll", d.nll ? nlohmann::json(*d.nll) : nlohmann::json(nullptr)}});
  }
  j["decisions"] = decisions;
  nlohmann::json updates = nlohmann::json::array();
  for (const auto& u : m.audit->updates(user)) {
    nlohmann::json r = u.report;
    r["event"] = u.event;
    updates.push_back(r);
  }
  j["updates"] = updates;
  return j;
}

std::vector<UserId> Personalizer::users() { return impl_->audit->users(); }

nlohmann::json Personalizer::report(const UserId& user) {
  auto& m = *impl_;
  validate_user_id(user);
  nlohmann::json decisions = nlohmann::json::array();
  nlohmann::json nll = nlohmann::json::array();
  std::size_t events = 0, flagged = 0;
  for (const auto& d : m.audit->decisions(user)) {
    ++events;
    if (d.p_value < m.options.policy.alpha) ++flagged;
    nll.push_back(d.nll ? nlohmann::json(*d.nll) : nlohmann::json(nullptr));
    if (d.decision.action == Action::kIgnore) continue;
    decisions.push_back({{"event", d.event},
                         {"action", std::string(action_name(d.decision.action))},
                         {"reason", d.decision.reason}});
  }
  nlohmann::json updates = nlohmann::json::array();
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  for (const auto& u : m.audit->updates(user)) {
    updates.push_back({{"event", u.event},
                       {"accepted", u.report.accepted},
                       {"loss_before", number(u.report.trigger_loss_before)},
                       {"loss_after", number(u.report.trigger_loss_after)},
                       {"version", u.report.version},
                       {"reason", u.report.reason}});
  }
  return {{"events", events},
          {"flagged", flagged},
          {"decisions", decisions},
          {"updates", updates},
          {"nll", nll}};
}

Personalizer::Stats Personalizer::stats() const {
  auto& m = *impl_;
  Stats s;
  {
    std::lock_guard lock(m.stats_mu);
    s = m.stats;
  }
  const auto w = m.worker->stats();
  s.updates_pending = w.pending + w.running;
  s.updates_failed = w.failed;
  return s;
}

void Personalizer::wait_idle() { impl_->worker->wait_idle(); }

std::optional<std::int64_t> Personalizer::progress(const std::string& key) const {
  return impl_->audit->progress(key);
}

}  // namespace oap
