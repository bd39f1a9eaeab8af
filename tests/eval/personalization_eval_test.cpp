// The personalization evaluation's harness (bench/personalization_eval_*): its metrics on
// hand-made runs, and a tiny stream through all four policies with a random-weight model.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/model_init.hpp"
#include "oap/llm/model_preset.hpp"
#include "oap/llm/tokenizer.hpp"
#include "personalization_eval_harness.hpp"
#include "test_util.hpp"

namespace oap::eval {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// A shift user at event 4 of 10, whose adapter gets within 0.05 of a reference at 4.0 at event 7.
UserRun shift_run() {
  UserRun u;
  u.nll = std::vector<double>(10, 4.0);
  u.probe_new_start = 5.0;
  u.probe_new = {5.0, 5.0, 5.0, 5.0, 5.0, 4.8, 4.3, 4.05, 4.05, 4.05};
  u.probe_normal_start = 4.0;
  u.probe_normal = std::vector<double>(10, 4.0);
  return u;
}

TEST(PersonalizationEvalMetrics, DelayDamageAndFalseUpdatesFollowTheirDefinitions) {
  Stream s;
  s.name = "hand";
  s.users["a"] = {"a", "shift_big", 4, {}, {}, {}, {}};
  s.users["b"] = {"b", "blip", std::nullopt, {5, 6}, {}, {}, {}};
  s.users["c"] = {"c", "stable", std::nullopt, {}, {}, {}, {}};
  PolicyRun run;
  run.users["a"] = shift_run();
  UserRun blip;
  blip.nll = std::vector<double>(10, 3.0);
  blip.probe_normal_start = 3.0;
  blip.probe_normal = {3.0, 3.0, 3.0, 3.0, 2.9, 2.9, 3.2, 3.3, 3.1, 3.0};
  run.users["b"] = blip;
  UserRun stable;
  stable.nll = std::vector<double>(10, 2.0);
  stable.update_events = {3, 6, 9};
  stable.update_accepted = {true, false, true};
  stable.update_steps = {10, 10, 5};
  stable.update_reactive = {false, true, false};
  run.users["c"] = stable;
  std::map<UserId, Reference> refs = {{"a", {4.0, 5.0, 0.0}}};
  HarnessOptions o;
  // Base 5, reference 4: recovered at NLL <= 4.1, first at event 7, the 4th new event; half
  // the gap (<= 4.5) at event 6; the literal reading (<= 4.4) at event 6 too.
  o.delay_tolerance = 0.1;
  o.blip_horizon = 2;  // worst of events 6..8 (3.3) minus event 4 (2.9)
  const auto m = stream_metrics(run, s, refs, o);
  EXPECT_DOUBLE_EQ(m.at("adaptation_delay").get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(m.at("extra").at("adaptation_delay_half").get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(m.at("extra").at("adaptation_delay_literal").get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(m.at("extra").at("recovered_share").get<double>(), 1.0);
  EXPECT_NEAR(m.at("blip_damage").get<double>(), 0.4, 1e-12);
  EXPECT_EQ(m.at("false_updates").get<int>(), 2);  // beyond the stable user's first
  EXPECT_EQ(m.at("update_steps").get<int>(), 25);
  EXPECT_EQ(m.at("extra").at("false_alarms").get<int>(), 1);
  EXPECT_DOUBLE_EQ(m.at("mean_nll").get<double>(), 3.0);

  // Never recovered: censored at the new events the stream had (6), and counted as not reached.
  refs["a"].nll = 3.0;
  const auto never = stream_metrics(run, s, refs, o);
  EXPECT_DOUBLE_EQ(never.at("adaptation_delay").get<double>(), 6.0);
  EXPECT_DOUBLE_EQ(never.at("extra").at("recovered_share").get<double>(), 0.0);
  // Already at the level before the shift: no delay.
  refs["a"].nll = 5.0;
  EXPECT_DOUBLE_EQ(stream_metrics(run, s, refs, o).at("adaptation_delay").get<double>(), 0.0);
}

TEST(PersonalizationEvalMetrics, AggregateHasTheIssueShapeAndTheSpreadOverSeeds) {
  Stream s;
  s.users["a"] = {"a", "shift_subtle", 4, {}, {}, {}, {}};
  PolicyRun run;
  run.users["a"] = shift_run();
  HarnessOptions o;
  std::vector<nlohmann::json> per_stream, curves;
  for (double ref : {4.0, 5.0}) {  // delays 4 and 0
    nlohmann::json m, c;
    for (Policy p : kPolicies) {
      m[policy_name(p)] = stream_metrics(run, s, {{"a", {ref, 5.0, 0.0}}}, o);
      c[policy_name(p)] = stream_curves(run, s, {{"a", {ref, 5.0, 0.0}}});
    }
    per_stream.push_back(m);
    curves.push_back(c);
  }
  const auto j = aggregate(per_stream, curves, "m");
  EXPECT_EQ(j.at("seeds").get<int>(), 2);
  EXPECT_EQ(j.at("model").get<std::string>(), "m");
  ASSERT_EQ(j.at("policies").size(), 4u);
  for (const char* name : {"static", "periodic", "noise_filtered", "outlier_aware"}) {
    const auto& p = j.at("policies").at(name);
    EXPECT_DOUBLE_EQ(p.at("adaptation_delay").get<double>(), 2.0) << name;
    EXPECT_DOUBLE_EQ(p.at("spread").at("adaptation_delay").at("max").get<double>(), 4.0);
    EXPECT_NEAR(p.at("spread").at("adaptation_delay").at("std").get<double>(), std::sqrt(8.0),
                1e-12);
    for (const char* key : {"blip_damage", "false_updates", "update_steps", "mean_nll"}) {
      EXPECT_TRUE(p.contains(key)) << name << " " << key;
    }
  }
  // The shift curve starts 10 events before the shift: the excess over the reference there is
  // the adapter's start level minus the reference (5 - 4 and 5 - 5, averaged).
  const auto& curve = j.at("curves").at("periodic").at("shift").at("probe_new_excess");
  EXPECT_NEAR(curve.at(0).get<double>(), 0.5, 1e-12);
}

TEST(PersonalizationEvalStream, LoadNeedsTheGroundTruthBeside) {
  TempDir dir;
  testing::write_file(dir / "s.jsonl",
                      R"({"user": "a", "timestamp": 1, "features": [1, 2], "text": "x"})"
                      "\n");
  try {
    load_stream(dir / "s.jsonl");
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), HasSubstr("s.users.json"));
  }
  testing::write_file(dir / "s.users.json", R"({"users": []})");
  try {
    load_stream(dir / "s.jsonl");
    FAIL() << "no error";
  } catch (const ParseError& e) {
    EXPECT_THAT(e.what(), HasSubstr("user \"a\""));
  }
}

// Three users (shift, blip, stable) of 24 events, two ways of writing, through every policy
// with a random-weight model and small settings: every metric is a finite number.
TEST(PersonalizationEvalHarness, ATinyStreamRunsThroughAllFourPolicies) {
  TempDir dir;
  init_random_model(model_preset("tiny"), dir / "model", {.seed = 5, .dtype = "", .init_std = 0.1});
  auto model = std::shared_ptr<const CausalLM>(CausalLM::load(dir / "model", {.num_threads = 1}));
  auto tokenizer = std::shared_ptr<const Tokenizer>(Tokenizer::load(dir / "model"));
  std::mt19937_64 rng(3);
  const std::vector<std::string> words[] = {
      {"the", "soup", "is", "warm", "and", "bread", "fresh", "we", "cook", "rice", "onions"},
      {"market", "shares", "fell", "as", "bond", "yields", "rose", "banks", "sold", "stocks"}};
  auto text = [&](int style) {
    std::string t;
    for (int i = 0; i < 12; ++i) t += (i ? " " : "") + words[style][rng() % words[style].size()];
    return t;
  };
  auto texts = [&](int style, int n) {
    std::vector<std::string> v;
    for (int i = 0; i < n; ++i) v.push_back(text(style));
    return v;
  };
  Stream s;
  s.name = "tiny";
  s.users["shift"] = {"shift", "shift_big", 12, {}, texts(1, 12), texts(1, 3), texts(0, 3)};
  s.users["blip"] = {"blip", "blip", std::nullopt, {14}, {}, {}, texts(0, 3)};
  s.users["stable"] = {"stable", "stable", std::nullopt, {}, {}, {}, texts(0, 3)};
  std::normal_distribution<double> g;
  for (int i = 0; i < 24; ++i) {
    for (const char* user : {"blip", "shift", "stable"}) {
      const bool other =
          (std::string(user) == "shift" && i >= 12) || (std::string(user) == "blip" && i == 14);
      Event e;
      e.user = user;
      e.timestamp = timestamp_from_micros(1'700'000'000'000'000 + i * 3'600'000'000LL);
      e.features = {static_cast<float>((other ? 8.0 : 0.0) + g(rng)), static_cast<float>(g(rng))};
      e.text = text(other ? 1 : 0);
      s.events.push_back(e);
    }
  }
  HarnessOptions o;
  o.work_dir = dir / "work";
  o.verbose = false;
  o.static_after = 8;
  o.period = 6;
  o.window = 8;
  o.reference_steps = 4;
  o.personalizer.detect.min_history = 5;
  o.personalizer.policy.initial_adapt_after = 8;
  o.personalizer.adapters.trainer.steps = 2;
  o.personalizer.adapters.lora.rank = 4;
  const auto refs = train_references(s, model, tokenizer, o);
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_TRUE(std::isfinite(refs.at("shift").nll));
  nlohmann::json m, c;
  for (Policy p : kPolicies) {
    const auto run = run_policy(p, s, model, tokenizer, o);
    ASSERT_EQ(run.users.size(), 3u) << policy_name(p);
    for (const auto& [user, u] : run.users) {
      EXPECT_EQ(u.nll.size(), 24u) << policy_name(p) << " " << user;
      EXPECT_EQ(u.probe_normal.size(), 24u);
    }
    m[policy_name(p)] = stream_metrics(run, s, refs, o);
    c[policy_name(p)] = stream_curves(run, s, refs);
  }
  const auto j = aggregate({m}, {c}, "random-tiny");
  EXPECT_EQ(j.at("seeds").get<int>(), 1);
  for (Policy p : kPolicies) {
    const auto& r = j.at("policies").at(policy_name(p));
    for (const char* key :
         {"adaptation_delay", "blip_damage", "false_updates", "update_steps", "mean_nll"}) {
      ASSERT_TRUE(r.at(key).is_number()) << policy_name(p) << " " << key << ": " << r.dump();
      EXPECT_TRUE(std::isfinite(r.at(key).get<double>())) << policy_name(p) << " " << key;
    }
    EXPECT_GT(r.at("update_steps").get<double>(), 0.0) << policy_name(p);
  }
  // Static trains once per user; periodic every 6 events of 24: 4 per user.
  EXPECT_EQ(j.at("policies").at("static").at("extra").at("updates").at("mean").get<int>(), 3);
  EXPECT_EQ(j.at("policies").at("periodic").at("extra").at("updates").at("mean").get<int>(), 12);
  EXPECT_FALSE(std::filesystem::exists(o.work_dir / "tiny-outlier_aware"));

  // The oracle (a diagnostic, not in kPolicies): every user's profile after 8 events (index 7),
  // then the shift user's updates after the 1st, 2nd and 3rd event of its new behaviour (the
  // shift is at 12) and every follow_up_every (5) events after; nothing on a blip.
  const auto oracle = run_policy(Policy::kOracle, s, model, tokenizer, o);
  EXPECT_EQ(oracle.users.at("shift").update_events, (std::vector<int>{7, 12, 13, 14, 19}));
  EXPECT_EQ(oracle.users.at("blip").update_events, std::vector<int>{7});
  EXPECT_EQ(oracle.users.at("stable").update_events, std::vector<int>{7});
  // The new context trains new_context_steps_factor (2) times the trainer's steps (2).
  EXPECT_LE(oracle.users.at("shift").update_steps[1], 4);
  const Policy only[] = {Policy::kOracle};
  const auto oj = aggregate({{{"oracle", stream_metrics(oracle, s, refs, o)}}},
                            {{{"oracle", stream_curves(oracle, s, refs)}}}, "random-tiny", only);
  ASSERT_EQ(oj.at("policies").size(), 1u);
  EXPECT_EQ(oj.at("policies").at("oracle").at("extra").at("updates").at("mean").get<int>(), 7);
  for (Policy p : kPolicies) EXPECT_EQ(policy_named(policy_name(p)), p);
  EXPECT_EQ(policy_named("oracle"), Policy::kOracle);
  EXPECT_EQ(policy_named("oracle_window"), Policy::kOracleWindow);
  // oracle_window: the same schedule, periodic's data (the newest 8 events here).
  const auto window = run_policy(Policy::kOracleWindow, s, model, tokenizer, o);
  EXPECT_EQ(window.users.at("shift").update_events, oracle.users.at("shift").update_events);
  EXPECT_EQ(window.users.at("blip").update_events, std::vector<int>{7});
  EXPECT_FALSE(policy_named("perfect").has_value());
}

}  // namespace
}  // namespace oap::eval
