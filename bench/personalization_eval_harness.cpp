// The personalization evaluation's policies: static, periodic, noise-filtered (the same
// AdapterManager, RapidTrainer and DetectorBank as the Personalizer) and outlier-aware (the
// Personalizer itself), run over one stream.

#include "personalization_eval_harness.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>

#include "oap/adapt/adapter_manager.hpp"
#include "oap/adapt/adapter_store.hpp"
#include "oap/core/error.hpp"
#include "oap/core/event_reader.hpp"
#include "oap/detect/detector_bank.hpp"
#include "oap/features/text_features.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/scorer.hpp"
#include "oap/llm/tokenizer.hpp"
#include "oap/personalizer.hpp"
#include "oap/policy/deviation_policy.hpp"
#include "personalizer/training_plan.hpp"  // private to the library: the oracle plans as it does

namespace oap::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using Clock = std::chrono::steady_clock;
using Tokens = std::vector<std::int32_t>;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<std::string> strings_of(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return {};
  return j.at(key).get<std::vector<std::string>>();
}

// The user's probe texts as token ids, and their mean NLL under an adapter.
struct Probes {
  std::vector<Tokens> normal;
  std::vector<Tokens> fresh;  // probe_new

  static double mean_nll(const CausalLM& model, const std::vector<Tokens>& seqs,
                         const LoraWeights* weights) {
    if (seqs.empty()) return kNaN;
    const LoraWeights* one[] = {weights};
    double sum = 0.0;
    for (const auto& s : score(model, seqs, one)) sum += s.mean_nll;
    return sum / static_cast<double>(seqs.size());
  }
};

std::vector<Tokens> encode_all(const Tokenizer& tokenizer, const std::vector<std::string>& texts) {
  std::vector<Tokens> out;
  for (const auto& t : texts) {
    auto ids = tokenizer.encode(t, /*add_special=*/true);
    if (ids.size() >= 2) out.push_back(std::move(ids));
  }
  return out;
}

std::map<UserId, Probes> encode_probes(const Stream& stream, const Tokenizer& tokenizer) {
  std::map<UserId, Probes> out;
  for (const auto& [user, truth] : stream.users) {
    out[user] = {encode_all(tokenizer, truth.probe_normal), encode_all(tokenizer, truth.probe_new)};
  }
  return out;
}

// Whether the detectors flagged the event, as the Personalizer's report counts it.
bool flagged_by(const DeviationPolicy& policy, const Observation& detection, std::int64_t index,
                Timestamp time) {
  return policy.input_from(detection, index, time).p_value < policy.options().alpha;
}

void log_progress(const HarnessOptions& options, const Stream& stream, Policy policy,
                  std::size_t done, Clock::time_point start) {
  if (!options.verbose) return;
  std::cerr << "  " << stream.name << " " << policy_name(policy) << ": " << done << "/"
            << stream.events.size() << " events, " << static_cast<int>(seconds_since(start))
            << " s\n";
}

// Oracle: an update after the 1st, 2nd and 3rd event of the new behaviour, then one every
// `every` events (the Personalizer's follow_up_every).
bool oracle_due(std::size_t seen, std::size_t every) {
  return seen <= 3 || (seen - 3) % std::max<std::size_t>(every, 1) == 0;
}

// Static, periodic and noise-filtered (and the oracle): the same pieces as the Personalizer
// (adapter manager, trainer options, text signals, detector bank), with their own update schedule.
PolicyRun run_baseline(Policy policy, const Stream& stream,
                       const std::shared_ptr<const CausalLM>& model,
                       const std::shared_ptr<const Tokenizer>& tokenizer,
                       const HarnessOptions& options) {
  const auto start = Clock::now();
  const auto& po = options.personalizer;
  const auto dir = options.work_dir / (stream.name + "-" + policy_name(policy));
  std::filesystem::remove_all(dir);
  AdapterManager adapters(
      model, std::shared_ptr<AdapterStore>(open_adapter_store(dir / "adapters", po.adapters.store)),
      po.adapters);
  TextFeatureExtractor text(model, tokenizer, po.text_features);
  const DeviationPolicy deviation(po.policy);
  std::unique_ptr<DetectorBank> bank;
  if (policy == Policy::kNoiseFiltered) {
    auto detect = po.detect;
    detect.state_dir.clear();
    bank = std::make_unique<DetectorBank>(detect);
  }
  const auto probes = encode_probes(stream, *tokenizer);
  struct History {
    std::vector<Event> events;  // the oracle's training plan reads them as the Personalizer does
    std::vector<Tokens> tokens;
    std::vector<bool> flagged;
    double probe_normal = kNaN, probe_new = kNaN;
  };
  std::map<UserId, History> history;
  PolicyRun run;
  run.policy = policy;
  auto measure = [&](const UserId& user, History& h, const LoraWeights* w) {
    const auto& p = probes.at(user);
    h.probe_normal = Probes::mean_nll(*model, p.normal, w);
    h.probe_new = Probes::mean_nll(*model, p.fresh, w);
  };
  for (const auto& [user, truth] : stream.users) {
    measure(user, history[user], nullptr);
    run.users[user].probe_normal_start = history[user].probe_normal;
    run.users[user].probe_new_start = history[user].probe_new;
  }
  std::size_t done = 0;
  for (const auto& e : stream.events) {
    auto& h = history.at(e.user);
    auto& u = run.users[e.user];
    const auto index = static_cast<std::int64_t>(h.tokens.size());
    const auto adapter = adapters.get(e.user);
    const LoraWeights* weights = adapter ? &adapter->weights : nullptr;
    const auto tf = text.extract(e.text, weights);  // the same NLL the Personalizer reports
    u.nll.push_back(tf.nll);
    bool flagged = false;
    if (bank) {
      std::vector<double> x(e.features.begin(), e.features.end());
      // As the Personalizer stores them (float) and feeds them to its bank.
      for (double v : tf.values) x.push_back(static_cast<float>(v));
      flagged = flagged_by(deviation, bank->observe(e.user, x, e.timestamp), index, e.timestamp);
      u.flagged += flagged ? 1 : 0;
    }
    h.tokens.push_back(tokenizer->encode(e.text, /*add_special=*/true));
    if (policy == Policy::kOracle) h.events.push_back(e);
    h.flagged.push_back(flagged);

    const std::size_t n = h.tokens.size();
    TrainingData data;
    auto trainer = po.adapters.trainer;
    bool due = false;
    const bool oracle = policy == Policy::kOracle || policy == Policy::kOracleWindow;
    const bool profile = policy == Policy::kStatic || oracle;
    const auto& truth = stream.users.at(e.user);
    // Periodic's data: the newest `window` events, every heldout_every-th held out
    // (noise-filtered leaves flagged events out).
    auto window_data = [&] {
      TrainingData w;
      std::size_t k = 0;
      for (std::size_t i = n > options.window ? n - options.window : 0; i < n; ++i) {
        if (h.flagged[i] || h.tokens[i].size() < 2) continue;
        const bool hold =
            options.heldout_every > 0 && k++ % options.heldout_every == options.heldout_every - 1;
        (hold ? w.heldout : w.trigger).push_back({h.tokens[i], 1.0});
      }
      return w;
    };
    if (profile && n == options.static_after) {
      due = true;
      for (std::size_t i = 0; i < n; ++i) {  // every fifth held out, as for a first profile
        (i % 5 == 4 ? data.heldout : data.trigger).push_back({h.tokens[i], 1.0});
      }
    } else if (oracle) {
      if (truth.is_shift() && index >= *truth.shift_event) {
        const auto shift = static_cast<std::size_t>(*truth.shift_event);
        due = oracle_due(n - shift, po.policy.follow_up_every);
        if (due && policy == Policy::kOracle) {
          // The Personalizer's plan of a new context (the first) and its follow-ups, from the
          // shift's true start.
          const detail::UpdatePlan plan{n - 1, static_cast<std::int64_t>(shift), 1.0,
                                        n - shift == 1, /*judge_on_trigger=*/true};
          data = detail::plan_training_data(
              h.events, n - 1, plan, po.personalizer,
              [&](const std::string& t) { return tokenizer->encode(t, /*add_special=*/true); });
        } else if (due) {
          data = window_data();
        }
        if (policy == Policy::kOracle && n - shift == 1) {  // a new context, as the Personalizer
          trainer.steps = std::max(
              1, static_cast<int>(trainer.steps * po.personalizer.new_context_steps_factor + 0.5));
          trainer.replay_ratio *= po.personalizer.new_context_replay_factor;
        }
      }
    } else if (policy != Policy::kStatic && n % options.period == 0) {
      due = true;
      data = window_data();
    }
    bool changed = false;
    if (due && !data.trigger.empty()) {
      const auto r = adapters.update(e.user, data, trainer);
      u.update_events.push_back(static_cast<int>(index));
      u.update_accepted.push_back(r.accepted);
      u.update_steps.push_back(r.steps);
      u.update_reactive.push_back(false);
      changed = r.accepted;
    }
    if (changed) {
      const auto now = adapters.get(e.user);
      measure(e.user, h, now ? &now->weights : nullptr);
    }
    u.probe_normal.push_back(h.probe_normal);
    u.probe_new.push_back(h.probe_new);
    if (++done % 500 == 0) log_progress(options, stream, policy, done, start);
  }
  run.seconds = seconds_since(start);
  std::filesystem::remove_all(dir);
  return run;
}

// Outlier-aware: the Personalizer as configured (shipped defaults unless told otherwise).
PolicyRun run_personalizer(const Stream& stream, const std::shared_ptr<const CausalLM>& model,
                           const std::shared_ptr<const Tokenizer>& tokenizer,
                           const HarnessOptions& options) {
  const auto start = Clock::now();
  auto po = options.personalizer;
  po.data_dir = options.work_dir / (stream.name + "-" + policy_name(Policy::kOutlierAware));
  std::filesystem::remove_all(po.data_dir);
  PolicyRun run;
  run.policy = Policy::kOutlierAware;
  {
    Personalizer p(po, model, tokenizer);
    const DeviationPolicy deviation(po.policy);
    std::map<UserId, std::pair<double, double>> level;  // probe normal, new
    auto measure = [&](const UserId& user) {
      // Personalizer::score: the user's current adapter, the same tokens as the baselines'.
      const auto& truth = stream.users.at(user);
      auto mean_of = [&](const std::vector<std::string>& texts) {
        if (texts.empty()) return kNaN;
        double sum = 0.0;
        for (const auto& t : texts) sum += p.score(user, t).mean_nll;
        return sum / static_cast<double>(texts.size());
      };
      level[user] = {mean_of(truth.probe_normal), mean_of(truth.probe_new)};
    };
    for (const auto& [user, truth] : stream.users) {
      measure(user);
      run.users[user].probe_normal_start = level[user].first;
      run.users[user].probe_new_start = level[user].second;
    }
    std::size_t done = 0;
    for (const auto& e : stream.events) {
      auto& u = run.users[e.user];
      const auto o = p.observe(e);
      const auto index = static_cast<int>(o.event);
      u.nll.push_back(o.nll.value_or(kNaN));
      u.flagged += flagged_by(deviation, o.detection, o.event, e.timestamp) ? 1 : 0;
      const bool initial = o.decision.reason.rfind("adapt: initial profile", 0) == 0;
      bool changed = false;
      if (o.update) {
        const auto r = o.update->result.get();
        u.update_events.push_back(index);
        u.update_accepted.push_back(r.accepted);
        u.update_steps.push_back(r.steps);
        u.update_reactive.push_back(!initial);
        changed = r.accepted;
      } else if (o.decision.action == Action::kRollback) {
        u.update_events.push_back(index);
        u.update_accepted.push_back(true);
        u.update_steps.push_back(0);
        u.update_reactive.push_back(true);
        changed = true;
      }
      if (changed) measure(e.user);
      u.probe_normal.push_back(level[e.user].first);
      u.probe_new.push_back(level[e.user].second);
      if (++done % 500 == 0) log_progress(options, stream, Policy::kOutlierAware, done, start);
    }
    p.wait_idle();
  }
  run.seconds = seconds_since(start);
  std::filesystem::remove_all(po.data_dir);
  return run;
}

}  // namespace

const char* policy_name(Policy p) {
  switch (p) {
    case Policy::kStatic:
      return "static";
    case Policy::kPeriodic:
      return "periodic";
    case Policy::kNoiseFiltered:
      return "noise_filtered";
    case Policy::kOutlierAware:
      return "outlier_aware";
    case Policy::kOracle:
      return "oracle";
    case Policy::kOracleWindow:
      return "oracle_window";
  }
  return "?";
}

std::optional<Policy> policy_named(const std::string& name) {
  for (Policy p : {Policy::kStatic, Policy::kPeriodic, Policy::kNoiseFiltered,
                   Policy::kOutlierAware, Policy::kOracle, Policy::kOracleWindow}) {
    if (name == policy_name(p)) return p;
  }
  return std::nullopt;
}

Stream load_stream(const std::filesystem::path& events_file) {
  Stream s;
  s.name = events_file.stem().string();
  std::ifstream in(events_file, std::ios::binary);
  OAP_CHECK(in.good(), IoError, "personalization_eval: cannot read " + events_file.string());
  EventReader reader(in, events_file.string());
  while (auto e = reader.next()) s.events.push_back(std::move(*e));
  const auto users_file = events_file.parent_path() / (events_file.stem().string() + ".users.json");
  std::ifstream uin(users_file, std::ios::binary);
  OAP_CHECK(uin.good(), IoError,
            "personalization_eval: cannot read " + users_file.string() +
                " (the ground truth make_eval_streams.py writes beside " +
                events_file.filename().string() + ")");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(uin);
    for (const auto& u : j.at("users")) {
      UserTruth t;
      t.user = u.at("user").get<std::string>();
      t.kind = u.at("kind").get<std::string>();
      if (!u.at("shift_event").is_null()) t.shift_event = u.at("shift_event").get<int>();
      t.blip_events = u.at("blip_events").get<std::vector<int>>();
      t.reference = strings_of(u, "reference");
      t.probe_new = strings_of(u, "probe_new");
      t.probe_normal = strings_of(u, "probe_normal");
      s.users[t.user] = std::move(t);
    }
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(users_file.string(), 0, "", std::string("personalization_eval: ") + e.what());
  }
  for (const auto& e : s.events) {
    if (s.users.count(e.user) == 0) {
      throw ParseError(events_file.string(), 0, "user",
                       "personalization_eval: events of user \"" + e.user + "\", who is not in " +
                           users_file.string());
    }
  }
  return s;
}

PolicyRun run_policy(Policy policy, const Stream& stream,
                     const std::shared_ptr<const CausalLM>& model,
                     const std::shared_ptr<const Tokenizer>& tokenizer,
                     const HarnessOptions& options) {
  OAP_CHECK(!options.work_dir.empty(), InvalidArgument,
            "personalization_eval: HarnessOptions::work_dir is required");
  OAP_CHECK(options.period >= 1 && options.window >= 2 && options.static_after >= 2,
            InvalidArgument,
            "personalization_eval: period must be >= 1, window and static_after >= 2");
  PolicyRun run = policy == Policy::kOutlierAware
                      ? run_personalizer(stream, model, tokenizer, options)
                      : run_baseline(policy, stream, model, tokenizer, options);
  if (options.verbose) {
    std::cerr << "  " << stream.name << " " << policy_name(policy) << ": " << stream.events.size()
              << " events in " << static_cast<int>(run.seconds) << " s\n";
  }
  return run;
}

std::map<UserId, Reference> train_references(const Stream& stream,
                                             const std::shared_ptr<const CausalLM>& model,
                                             const std::shared_ptr<const Tokenizer>& tokenizer,
                                             const HarnessOptions& options) {
  const auto& po = options.personalizer;
  const auto dir = options.work_dir / (stream.name + "-reference");
  std::filesystem::remove_all(dir);
  std::map<UserId, Reference> out;
  {
    AdapterManager adapters(
        model,
        std::shared_ptr<AdapterStore>(open_adapter_store(dir / "adapters", po.adapters.store)),
        po.adapters);
    // Rounds of up to 20 steps on most of the reference texts; a round is kept only if the
    // rest (held out) got better: plenty of the new behaviour, trained until it stops helping.
    const int round = std::min(20, std::max(1, options.reference_steps));
    auto trainer = po.adapters.trainer;
    trainer.steps = round;
    trainer.patience = 0;
    trainer.replay_ratio = 0.0;
    trainer.heldout_tolerance = 0.0;
    trainer.heldout_tolerance_abs = 0.0;
    trainer.require_trigger_improvement = false;
    for (const auto& [user, truth] : stream.users) {
      if (!truth.is_shift()) continue;
      const auto start = Clock::now();
      const auto texts = encode_all(*tokenizer, truth.reference);
      TrainingData data;
      for (std::size_t i = 0; i < texts.size(); ++i) {
        (i % 6 == 5 ? data.heldout : data.trigger).push_back({texts[i], 1.0});
      }
      OAP_CHECK(!data.trigger.empty() && !data.heldout.empty(), InvalidArgument,
                "personalization_eval: shift user \"" + user + "\" of " + stream.name +
                    " has too few reference texts (" + std::to_string(texts.size()) + ")");
      const UserId ref = "reference-" + user;
      for (int done = 0; done < options.reference_steps; done += round) {
        if (!adapters.update(ref, data, trainer).accepted) break;
      }
      const auto probe = encode_all(*tokenizer, truth.probe_new);
      const auto adapter = adapters.get(ref);
      Reference r;
      r.nll = Probes::mean_nll(*model, probe, adapter ? &adapter->weights : nullptr);
      r.base_nll = Probes::mean_nll(*model, probe, nullptr);
      r.seconds = seconds_since(start);
      out[user] = r;
      if (options.verbose) {
        std::cerr << "  " << stream.name << " reference " << user << ": probe NLL " << r.base_nll
                  << " (base) -> " << r.nll << " (" << static_cast<int>(r.seconds) << " s)\n";
      }
    }
  }
  std::filesystem::remove_all(dir);
  return out;
}

}  // namespace oap::eval
