#include "oap/detect/detector_bank.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"
#include "oap/detect/detector_factory.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

DetectorBankOptions bank_options(std::size_t min_history) {
  auto j = nlohmann::json::parse(R"({
    "detectors": {"z": {"type": "zscore"}, "m": {"type": "mahalanobis"},
                  "f": {"type": "isolation_forest", "options": {"n_trees": 10, "window": 32}}},
    "shift_input": "z"})");
  auto o = j.get<DetectorBankOptions>();
  o.min_history = min_history;
  return o;
}

std::vector<double> event(std::mt19937_64& rng, double shift = 0) {
  std::normal_distribution<double> g;
  return {g(rng) + shift, g(rng), 2 * g(rng)};
}

TEST(DetectorBank, ColdStartUsesThePopulation) {
  DetectorBank bank(bank_options(5));
  std::mt19937_64 rng(1);
  for (int i = 0; i < 50; ++i) bank.observe("veteran", event(rng));
  for (int i = 0; i < 7; ++i) {
    Observation o = bank.observe("newcomer", event(rng));
    EXPECT_EQ(o.cold_start, i < 5) << i;
    EXPECT_EQ(o.user_events, static_cast<std::uint64_t>(i + 1));
    ASSERT_EQ(o.scores.size(), 3u);
  }
  // The newcomer's first event is judged by the population (50 veteran events) not neutrally.
  DetectorBank fresh(bank_options(5));
  for (int i = 0; i < 50; ++i) fresh.observe("veteran", event(rng));
  Observation first = fresh.observe("another", std::vector<double>{40, 0, 0});
  EXPECT_TRUE(first.cold_start);
  EXPECT_TRUE(first.scores.at("z").flagged);
}

TEST(DetectorBank, ConcurrentUsersMatchSequentialRuns) {
  const int users = 8, events = 300;
  auto run_user = [](DetectorBank& bank, int u, std::vector<double>* out) {
    std::mt19937_64 rng(100 + u);
    for (int i = 0; i < events; ++i) {
      Observation o = bank.observe("user" + std::to_string(u), event(rng, i > 200 ? 5 : 0));
      if (out) out->push_back(o.scores.at("m").score + o.scores.at("f").score + o.shift.cusum_up);
    }
  };
  std::vector<std::vector<double>> expected(users), got(users);
  for (int u = 0; u < users; ++u) {
    DetectorBank solo(bank_options(0));
    run_user(solo, u, &expected[u]);
  }
  DetectorBank shared(bank_options(0));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int u = t; u < users; u += 4) run_user(shared, u, &got[u]);
    });
  }
  // Two more threads hammer one extra user at the same time (same-user serialization).
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      std::mt19937_64 rng(7);
      for (int i = 0; i < 200; ++i) shared.observe("hot", event(rng));
    });
  }
  for (auto& th : threads) th.join();
  for (int u = 0; u < users; ++u) EXPECT_EQ(got[u], expected[u]) << u;
  EXPECT_EQ(shared.users_in_memory(), static_cast<std::size_t>(users + 1));
}

// With a population (min_history > 0), warm users' points go to the population learner's
// thread (or, when it is behind, to the caller): under 4 threads of users it must lose none and
// leave each user's own scores alone. The population's Mahalanobis (forgetting 1 and a refit on
// every update: the same statistics in any order, up to rounding) then scores a newcomer as in a
// sequential run.
TEST(DetectorBank, PopulationLearnerLosesNoPointUnderConcurrentUsers) {
  const int users = 8, events = 400;
  auto o = bank_options(5);
  o.hold_back_flagged = false;  // a user's own detectors then depend on its events only
  o.detectors["m"]["options"] = {{"refit_interval", 1}};  // its covariance is always current
  auto run_user = [](DetectorBank& bank, int u, std::vector<double>* out) {
    std::mt19937_64 rng(300 + u);
    for (int i = 0; i < events; ++i) {
      Observation ob = bank.observe("user" + std::to_string(u), event(rng));
      if (!ob.cold_start) out->push_back(ob.scores.at("m").score + ob.scores.at("f").score);
    }
  };
  const std::vector<double> newcomer = {2.0, -1.0, 3.0};
  std::vector<std::vector<double>> expected(users), got(users);
  double expected_newcomer = 0;
  {
    DetectorBank sequential(o);
    for (int u = 0; u < users; ++u) run_user(sequential, u, &expected[u]);
    expected_newcomer = sequential.observe("new", newcomer).scores.at("m").score;
  }
  DetectorBank shared(o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int u = t; u < users; u += 4) run_user(shared, u, &got[u]);
    });
  }
  for (auto& th : threads) th.join();
  for (int u = 0; u < users; ++u) EXPECT_EQ(got[u], expected[u]) << u;
  const Observation first = shared.observe("new", newcomer);
  ASSERT_TRUE(first.cold_start);
  EXPECT_NEAR(first.scores.at("m").score, expected_newcomer, 1e-9 * (1 + expected_newcomer));
}

TEST(DetectorBank, PersistsAndRestoresExactly) {
  testing::TempDir tmp;
  const auto& dir = tmp.path();
  auto o = bank_options(3);
  o.state_dir = dir.string();
  std::mt19937_64 rng(5);
  std::vector<std::vector<double>> stream;
  for (int i = 0; i < 80; ++i) stream.push_back(event(rng, i > 60 ? 4 : 0));
  DetectorBank a(o);
  for (int i = 0; i < 50; ++i) a.observe("../etc/passwd", stream[i]);
  EXPECT_TRUE(a.save_user("../etc/passwd"));
  EXPECT_FALSE(a.save_user("nobody"));
  // The file name is the escaped stem, inside state_dir.
  EXPECT_TRUE(std::filesystem::exists(dir / (user_file_stem("../etc/passwd") + ".json")));
  DetectorBank b(o);
  // user_events: from memory (a), from the file (b, before it loads the user), unknown users.
  EXPECT_EQ(a.user_events("../etc/passwd"), 50u);
  EXPECT_EQ(b.user_events("../etc/passwd"), 50u);
  EXPECT_EQ(b.user_events("nobody"), 0u);
  EXPECT_EQ(b.users_in_memory(), 0u);  // asking does not load the user
  for (int i = 50; i < 80; ++i) {
    nlohmann::json ja = a.observe("../etc/passwd", stream[i]);
    nlohmann::json jb = b.observe("../etc/passwd", stream[i]);
    EXPECT_EQ(ja, jb) << i;
  }
  EXPECT_EQ(b.user_events("../etc/passwd"), 80u);
}

TEST(DetectorBank, EvictsLeastRecentlyUsedAndRestoresIt) {
  testing::TempDir tmp;
  auto o = bank_options(0);
  o.state_dir = tmp.path().string();
  o.max_users = 2;
  DetectorBank bank(o), reference(bank_options(0));
  std::mt19937_64 rng(9);
  for (int i = 0; i < 40; ++i) {
    auto x = event(rng);
    bank.observe("a", x);
    reference.observe("a", x);
  }
  bank.observe("b", event(rng));
  bank.observe("c", event(rng));  // evicts "a" to its file
  EXPECT_EQ(bank.users_in_memory(), 2u);
  auto x = event(rng);
  nlohmann::json restored = bank.observe("a", x), kept = reference.observe("a", x);
  EXPECT_EQ(restored, kept);
}

// Many threads, few resident users, users coming back while they are being evicted: every
// event must end up in its user's state exactly once (an eviction that wrote the state file
// after a returning user had read it lost the events in between, or the whole state).
TEST(DetectorBank, EvictionUnderConcurrencyLosesNoEvent) {
  testing::TempDir tmp;
  DetectorBankOptions o;
  o.detectors = {{"z", {{"type", "zscore"}}}};
  o.min_history = 5;
  o.max_users = 2;
  o.state_dir = tmp.path().string();
  o.hold_back_flagged = false;  // every event learned: n_seen counts them all
  constexpr int kUsers = 6, kThreads = 4, kEventsPerThread = 400;
  std::vector<std::atomic<std::uint64_t>> observed(kUsers);
  {
    DetectorBank bank(o);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(1000 + t);
        for (int i = 0; i < kEventsPerThread; ++i) {
          int u = static_cast<int>(rng() % kUsers);
          bank.observe("user" + std::to_string(u), event(rng));
          ++observed[u];
        }
      });
    }
    for (auto& th : threads) th.join();
    bank.save_all();
  }
  std::uint64_t total = 0;
  for (int u = 0; u < kUsers; ++u) {
    auto path = tmp / (user_file_stem("user" + std::to_string(u)) + ".json");
    ASSERT_TRUE(std::filesystem::exists(path)) << u;
    nlohmann::json state = load_json_file(path);
    EXPECT_EQ(state.at("events").get<std::uint64_t>(), observed[u].load()) << "user" << u;
    EXPECT_EQ(restore_detector(state.at("detectors").at("z"))->n_seen(), observed[u].load())
        << "user" << u;
    total += observed[u];
  }
  EXPECT_EQ(total, static_cast<std::uint64_t>(kThreads * kEventsPerThread));
}

// The eviction order is least recently used first: an observe() of a resident user makes it
// the most recent. Which users were evicted shows in which state files exist.
TEST(DetectorBank, EvictionOrderIsLeastRecentlyUsed) {
  testing::TempDir tmp;
  auto o = bank_options(0);
  o.state_dir = tmp.path().string();
  o.max_users = 3;
  DetectorBank bank(o);
  std::mt19937_64 rng(3);
  auto saved = [&](const std::string& u) {
    return std::filesystem::exists(tmp / (user_file_stem(u) + ".json"));
  };
  for (const char* u : {"a", "b", "c"}) bank.observe(u, event(rng));
  bank.observe("a", event(rng));  // recency now: a, c, b
  EXPECT_FALSE(saved("a") || saved("b") || saved("c"));
  bank.observe("d", event(rng));  // evicts b
  EXPECT_TRUE(saved("b"));
  EXPECT_FALSE(saved("a") || saved("c"));
  bank.observe("c", event(rng));  // c, d, a
  bank.observe("e", event(rng));  // evicts a
  EXPECT_TRUE(saved("a"));
  EXPECT_FALSE(saved("c") || saved("d"));
  bank.observe("b", event(rng));  // b comes back (restored), evicts d
  EXPECT_TRUE(saved("d"));
  EXPECT_FALSE(saved("c") || saved("e"));
  EXPECT_EQ(bank.users_in_memory(), 3u);
  EXPECT_EQ(bank.observe("b", event(rng)).user_events, 3u);  // b's two events were kept
}

// The bank against a reference built from the detectors themselves: the population scores a
// cold-start user's event and learns it; it also learns every warm user's event, in order (the
// bank defers that to batches; the scores must be exactly those of learning it at once). A
// user's own detectors learn every event and score once warm. Two dimensions, users arriving
// throughout, gaps between cold-start events shorter and longer than the population batch.
TEST(DetectorBank, ScoresMatchAReferenceOfThePopulationLearningEveryEvent) {
  const std::size_t min_history = 5;
  auto o = bank_options(min_history);
  o.hold_back_flagged = false;  // the reference learns every event
  o.context.season = StreamContextOptions::Season::kNone;  // the reference sees the events
  DetectorBank bank(o);
  const auto& specs = o.detectors;  // object form: by name
  using Set = std::vector<std::unique_ptr<Detector>>;
  auto make_set = [&](std::size_t dim) {
    Set set;
    for (const auto& [name, spec] : specs.items()) set.push_back(make_detector(spec, dim));
    return set;
  };
  std::map<std::size_t, Set> population;
  std::map<std::string, Set> own;
  std::map<std::string, std::uint64_t> seen;
  std::mt19937_64 rng(21);
  std::normal_distribution<double> g;
  int newcomers = 0;
  std::vector<std::string> users;
  for (int i = 0; i < 1500; ++i) {
    // A new user every so often (gaps of 10 to 200 events), else one of the known ones.
    if (users.empty() || rng() % (i < 700 ? 10 : 200) == 0)
      users.push_back("user" + std::to_string(newcomers++));
    const std::string& user = users[rng() % users.size()];
    const std::size_t dim = (user.back() - '0') % 2 == 0 ? 3 : 2;
    std::vector<double> x(dim);
    for (auto& v : x) v = g(rng);
    Observation got = bank.observe(user, x);

    auto [pop_it, new_dim] = population.try_emplace(dim);
    if (new_dim) pop_it->second = make_set(dim);
    auto [own_it, new_user] = own.try_emplace(user);
    if (new_user) own_it->second = make_set(dim);
    const bool cold = seen[user]++ < min_history;
    ASSERT_EQ(got.cold_start, cold) << i;
    std::size_t k = 0;
    for (const auto& [name, spec] : specs.items()) {
      Score expected;
      if (cold) {
        pop_it->second[k]->score_and_update(x, expected);
        own_it->second[k]->update(x);
      } else {
        own_it->second[k]->score_and_update(x, expected);
        pop_it->second[k]->update(x);
      }
      ASSERT_EQ(nlohmann::json(got.scores.at(name)), nlohmann::json(expected))
          << "event " << i << " user " << user << " detector " << name;
      ++k;
    }
  }
  EXPECT_GT(newcomers, 20);
}

// hold_back_flagged: a blip is scored but never learned; a sustained shift releases the
// held-back points from its start and the new behaviour becomes the detectors' normal.
TEST(DetectorBank, HoldsBackABlipAndLearnsASustainedShift) {
  testing::TempDir tmp;
  DetectorBankOptions o;
  o.detectors = {{"z", {{"type", "zscore"}}}};
  o.min_history = 0;
  o.state_dir = tmp.path().string();
  o.hold_back_flagged = true;  // the Personalizer's setting (the bank's default is false)
  o.hold_back_window = 8;
  DetectorBank bank(o);
  o.hold_back_flagged = false;
  DetectorBank learns_all(o);
  std::mt19937_64 rng(5);
  auto n_seen = [&](DetectorBank& b, const std::string& user) {
    b.save_user(user);
    const auto state = load_json_file(tmp / (user_file_stem(user) + ".json"));
    return restore_detector(state.at("detectors").at("z"))->n_seen();
  };
  // What the bank says it learned is what its detectors saw: n_seen counts exactly the points
  // reported learned (plus held-back points released later).
  std::uint64_t learned = 0;
  auto observe_u = [&](const std::vector<double>& x) {
    const auto obs = bank.observe("u", x);
    learned += (obs.learned ? 1 : 0) + obs.released;
    return obs;
  };
  for (int i = 0; i < 200; ++i) {
    const auto x = event(rng);
    observe_u(x);
    learns_all.observe("v", x);
  }
  EXPECT_GE(learned, 180u);  // some ordinary points are flagged (alpha, short history) and held
  EXPECT_EQ(n_seen(bank, "u"), learned);
  // The blip: flagged, not learned, held back.
  const std::vector<double> blip = {25.0, 0.0, 0.0};
  const auto b = observe_u(blip);
  EXPECT_TRUE(b.scores.at("z").flagged);
  EXPECT_FALSE(b.learned);
  EXPECT_GE(b.held_back, 1u);
  EXPECT_NE(b.shift.state, ShiftState::kSustained);
  EXPECT_EQ(n_seen(bank, "u"), learned);
  learns_all.observe("v", blip);
  EXPECT_EQ(n_seen(learns_all, "v"), 201u);
  // Back to normal: the blip expires after hold_back_window events and is never learned.
  for (int i = 0; i < 10; ++i) {
    const auto x = event(rng);
    EXPECT_EQ(observe_u(x).released, 0u);
    learns_all.observe("v", x);
  }
  EXPECT_EQ(n_seen(bank, "u"), learned);
  // The protected detector's spread of feature 0 did not grow with the blip: an ordinary but
  // unusual point looks more unusual to it than to the detector that learned the blip.
  const std::vector<double> probe = {2.5, 0.0, 0.0};
  EXPECT_LT(observe_u(probe).scores.at("z").p_value,
            learns_all.observe("v", probe).scores.at("z").p_value);

  // A sustained shift: the first shifted points are held back, then released together.
  std::size_t released = 0, held_max = 0;
  bool sustained = false;
  for (int i = 0; i < 20 && !sustained; ++i) {
    const auto obs = observe_u(event(rng, 12.0));
    held_max = std::max(held_max, obs.held_back);
    if (obs.shift.state == ShiftState::kSustained) {
      sustained = true;
      released = obs.released;
      EXPECT_TRUE(obs.learned);
      EXPECT_EQ(obs.held_back, 0u);
    } else {
      EXPECT_FALSE(obs.learned) << i;
    }
  }
  ASSERT_TRUE(sustained);
  EXPECT_GE(released, 1u);
  EXPECT_LE(released, held_max);  // those from the shift's start (older ones were not)
  EXPECT_EQ(n_seen(bank, "u"), learned);
  // Held-back points survive a save and restore.
  const std::vector<double> far_point = {-60.0, 0.0, 0.0};
  const auto far = bank.observe("u", far_point);
  ASSERT_FALSE(far.learned);
  ASSERT_GE(far.held_back, 1u);
  bank.save_user("u");
  o.hold_back_flagged = true;
  DetectorBank restored(o);
  const auto next = restored.observe("u", event(rng, 12.0));
  EXPECT_GE(next.held_back, far.held_back);  // restored (and maybe this one too)
  EXPECT_EQ(next.user_events, far.user_events + 1);
}

// Without a population (min_history 0) a user's own detectors judge from its first events;
// holding back what they flag then, they would never learn the user. hold_back_after lets them
// warm up first. The failure it prevents is shown with hold_back_after 0.
TEST(DetectorBank, HoldBackStartsAfterTheUsersDetectorsWarmedUp) {
  auto flagged_late = [](std::size_t hold_back_after) {
    DetectorBankOptions o;
    o.detectors = {{"z", {{"type", "zscore"}}}, {"m", {{"type", "mahalanobis"}}}};
    o.min_history = 0;
    o.hold_back_flagged = true;
    o.hold_back_after = hold_back_after;
    DetectorBank bank(o);
    std::mt19937_64 rng(8);
    std::normal_distribution<double> g;
    int flagged = 0;
    for (int i = 0; i < 300; ++i) {
      std::vector<double> x(16);
      for (auto& v : x) v = g(rng);
      const auto obs = bank.observe("u", x);
      const bool any = obs.scores.at("z").flagged || obs.scores.at("m").flagged;
      if (i < static_cast<int>(hold_back_after)) {
        EXPECT_TRUE(obs.learned) << i;
      }
      if (i >= 200) flagged += any ? 1 : 0;
    }
    return flagged;
  };
  EXPECT_LT(flagged_late(20), 15);  // of 100 ordinary points; two detectors at alpha 0.01
  EXPECT_GT(flagged_late(0), 50);   // the runaway: held back, never learned, flagged forever
  // The key in the config file, and back.
  const auto o = nlohmann::json({{"hold_back_after", 7}}).get<DetectorBankOptions>();
  EXPECT_EQ(o.hold_back_after, 7u);
  EXPECT_EQ(nlohmann::json(o).get<DetectorBankOptions>().hold_back_after, 7u);
  EXPECT_EQ(DetectorBankOptions{}.hold_back_after, 20u);
}

TEST(DetectorBank, ArrayFormKeepsTheOrderOfTheFile) {
  auto array = nlohmann::json::parse(R"({"detectors": [
      {"name": "zz", "type": "zscore", "options": {"alpha": 0.05}},
      {"name": "aa", "type": "mahalanobis"}]})")
                   .get<DetectorBankOptions>();
  DetectorBank a(array);
  EXPECT_EQ(a.options().shift_input, "zz");  // the first element
  std::vector<double> x{1, 2};
  Observation o = a.observe("u", x);
  EXPECT_EQ(o.scores.size(), 2u);
  EXPECT_TRUE(o.scores.count("aa") && o.scores.count("zz"));
  // The object form is read sorted by name: the first detector is the alphabetically first.
  auto object = nlohmann::json::parse(R"({"detectors": {"zz": {"type": "zscore"},
                                                         "aa": {"type": "mahalanobis"}}})")
                    .get<DetectorBankOptions>();
  EXPECT_EQ(DetectorBank(object).options().shift_input, "aa");
  // Both forms round-trip through JSON.
  EXPECT_EQ(nlohmann::json(array).get<DetectorBankOptions>().detectors, array.detectors);
}

// validate() builds every spec once, so a bad spec made in code fails when the options are
// checked (the bank's constructor), not at the first observe(); the message names the
// detector by name and index, then the spec's field and value.
TEST(DetectorBank, ValidateChecksEachDetectorSpec) {
  auto message_of = [](const nlohmann::json& detectors) -> std::string {
    DetectorBankOptions o;
    o.hold_back_flagged = true;  // what a likelihood detector cannot work with
    o.detectors = detectors;
    try {
      o.validate();
    } catch (const ConfigError& e) {
      EXPECT_THROW(DetectorBank{o}, ConfigError);
      return e.what();
    }
    return "(no error)";
  };
  const nlohmann::json ok = {{"type", "zscore"}};
  // Unknown kind.
  EXPECT_THAT(message_of({{"a", ok}, {"b", {{"type", "knn"}}}}),
              AllOf(HasSubstr("detector \"b\" (index 1)"), HasSubstr("detector.type"),
                    HasSubstr("got \"knn\"")));
  // A parameter out of range.
  EXPECT_THAT(
      message_of({{"z", {{"type", "zscore"}, {"options", {{"alpha", 2}}}}}}),
      AllOf(HasSubstr("detector \"z\" (index 0)"), HasSubstr("zscore.alpha"), HasSubstr("got 2")));
  // A parameter of the wrong type, inside an ensemble member.
  EXPECT_THAT(
      message_of(
          {{"e",
            {{"type", "ensemble"},
             {"members", {{{"type", "isolation_forest"}, {"options", {{"n_trees", "many"}}}}}}}}}),
      AllOf(HasSubstr("detector \"e\" (index 0)"), HasSubstr("n_trees"), HasSubstr("\"many\"")));
  // A field no detector has: specs carry no dimension (a user's first event fixes it).
  EXPECT_THAT(message_of({{"z", {{"type", "zscore"}, {"dim", 3}}}}),
              AllOf(HasSubstr("detector \"z\" (index 0)"), HasSubstr("\"dim\"")));
  EXPECT_THAT(message_of({{"z", 5}}),
              AllOf(HasSubstr("detector \"z\""), HasSubstr("expected a JSON object, got number")));
  // The array form: positions, names.
  EXPECT_THAT(message_of(nlohmann::json::array(
                  {{{"name", "a"}, {"type", "zscore"}},
                   {{"name", "b"}, {"type", "mahalanobis"}, {"options", {{"forgetting", 0}}}}})),
              AllOf(HasSubstr("detector \"b\" (index 1)"), HasSubstr("mahalanobis.forgetting"),
                    HasSubstr("got 0")));
  EXPECT_THAT(message_of(nlohmann::json::array({{{"type", "zscore"}}})),
              HasSubstr("bank.detectors[0].name: expected a string"));
  EXPECT_THAT(message_of(nlohmann::json::array(
                  {{{"name", "a"}, {"type", "zscore"}}, {{"name", "a"}, {"type", "zscore"}}})),
              HasSubstr("detector \"a\" (index 1): the name is also used by index 0"));
  EXPECT_THAT(message_of(nlohmann::json::array()), HasSubstr("at least one detector"));
  EXPECT_THAT(message_of(nlohmann::json::object()), HasSubstr("at least one detector"));
  EXPECT_THAT(message_of("zscore"), HasSubstr("expected an object {name: spec} or an array"));
  EXPECT_EQ(message_of({{"a", ok}}), "(no error)");
  // A likelihood detector, also inside an ensemble, needs hold_back_flagged off.
  const nlohmann::json likelihood = {{"type", "likelihood"}, {"inner", ok}};
  EXPECT_THAT(message_of({{"a", ok}, {"l", likelihood}}),
              AllOf(HasSubstr("detector \"l\" (index 1)"),
                    HasSubstr("needs bank.hold_back_flagged false")));
  EXPECT_THAT(message_of({{"e", {{"type", "ensemble"}, {"members", {ok, likelihood}}}}}),
              HasSubstr("detector \"e\" (index 0): a likelihood detector needs"));
  DetectorBankOptions o;
  o.detectors = {{"l", likelihood}};
  o.hold_back_flagged = false;
  EXPECT_NO_THROW(o.validate());
}

// The names of the files in dir whose bytes contain needle.
std::vector<std::string> files_containing(const std::filesystem::path& dir,
                                          const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (testing::read_file(f.path()).find(needle) != std::string::npos) {
      out.push_back(f.path().filename().string());
    }
  }
  return out;
}

TEST(DetectorBank, ForgetRemovesTheUserFromMemoryAndFromStateDir) {
  testing::TempDir tmp;
  auto o = bank_options(3);  // its isolation forest keeps raw points in its window
  o.state_dir = tmp.path().string();
  const std::string secret = "forget/me-Qz7";
  const std::string marker = "98765.4321";  // a feature value, as the JSON state writes it
  DetectorBank bank(o);
  std::mt19937_64 rng(21);
  for (int i = 0; i < 40; ++i) {
    auto x = event(rng);
    x[1] = 98765.4321;
    bank.observe(secret, x);
    bank.observe("other", event(rng));
  }
  bank.save_all();
  const auto secret_file = tmp / (user_file_stem(secret) + ".json");
  const auto other_file = tmp / (user_file_stem("other") + ".json");
  const std::string other_state = testing::read_file(other_file);
  // What a process that died while writing the state leaves.
  testing::write_file(tmp / (user_file_stem(secret) + ".json.tmp.4242.0"),
                      testing::read_file(secret_file));
  // The search finds the user before (so that finding nothing later means something).
  EXPECT_THAT(files_containing(tmp.path(), marker), ::testing::SizeIs(2));
  EXPECT_THAT(files_containing(tmp.path(), secret), ::testing::SizeIs(2));

  EXPECT_TRUE(bank.forget(secret));
  EXPECT_THAT(files_containing(tmp.path(), marker), ::testing::IsEmpty());
  EXPECT_THAT(files_containing(tmp.path(), secret), ::testing::IsEmpty());
  EXPECT_EQ(bank.users_in_memory(), 1u);
  EXPECT_EQ(testing::read_file(other_file), other_state);
  EXPECT_FALSE(bank.forget(secret));
  EXPECT_FALSE(bank.forget("nobody"));

  // The user starts from nothing, the dimension included; the other user goes on.
  Observation again = bank.observe(secret, std::vector<double>{1, 2});
  EXPECT_EQ(again.user_events, 1u);
  EXPECT_TRUE(again.cold_start);
  EXPECT_EQ(bank.observe("other", event(rng)).user_events, 41u);
  EXPECT_TRUE(bank.forget(secret));  // in memory only: never saved since
  EXPECT_FALSE(std::filesystem::exists(secret_file));
}

TEST(DetectorBank, ForgetsEvictedUsersAndUsersWithoutStateDir) {
  testing::TempDir tmp;
  auto o = bank_options(0);
  o.state_dir = tmp.path().string();
  o.max_users = 1;
  DetectorBank bank(o);
  std::mt19937_64 rng(4);
  for (int i = 0; i < 5; ++i) bank.observe("a", event(rng));
  bank.observe("b", event(rng));  // evicts "a" to its file
  const auto a_file = tmp / (user_file_stem("a") + ".json");
  ASSERT_TRUE(std::filesystem::exists(a_file));
  EXPECT_TRUE(bank.forget("a"));
  EXPECT_FALSE(std::filesystem::exists(a_file));
  EXPECT_EQ(bank.users_in_memory(), 1u);  // "b"
  EXPECT_EQ(bank.observe("a", event(rng)).user_events, 1u);

  DetectorBank memory_only(bank_options(0));
  for (int i = 0; i < 5; ++i) memory_only.observe("a", event(rng));
  EXPECT_TRUE(memory_only.forget("a"));
  EXPECT_FALSE(memory_only.forget("a"));
  EXPECT_EQ(memory_only.users_in_memory(), 0u);
  EXPECT_EQ(memory_only.observe("a", event(rng)).user_events, 1u);
}

// The population detectors pool every user: forgetting one leaves them as they were, so a new
// user's cold-start scores are those of a bank that forgot no one.
TEST(DetectorBank, ForgetLeavesThePopulationAsItWas) {
  DetectorBank forgets(bank_options(5)), keeps(bank_options(5));
  std::mt19937_64 rng(8);
  auto both = [&](const std::string& user, const std::vector<double>& x) {
    nlohmann::json a = forgets.observe(user, x), b = keeps.observe(user, x);
    return std::make_pair(a, b);
  };
  for (int i = 0; i < 100; ++i) both(i % 3 ? "a" : "b", event(rng));  // a part still pending
  EXPECT_TRUE(forgets.forget("a"));
  for (int i = 0; i < 5; ++i) {
    auto [a, b] = both("newcomer", event(rng, 2));
    EXPECT_TRUE(a.at("cold_start").get<bool>());
    EXPECT_EQ(a.at("scores"), b.at("scores")) << i;
  }
}

// One interleaving made deterministic: the user's state file is a FIFO, so an observe() that
// restores the user blocks inside it, holding the user's lock, until the test writes the state.
// forget() must wait for it (that event ran first and is forgotten with the rest), and an
// observe() that comes while forget() waits must start from nothing: it may neither read the
// old file nor be deleted with it.
TEST(DetectorBank, ForgetWaitsForAnObserveInFlightAndTheNextOneStartsFromNothing) {
  testing::TempDir tmp;
  auto o = bank_options(0);
  o.state_dir = tmp.path().string();
  std::string state;  // a saved state of "u" with 500 events
  {
    testing::TempDir other;
    auto o2 = o;
    o2.state_dir = other.path().string();
    DetectorBank writer(o2);
    std::mt19937_64 rng(6);
    for (int i = 0; i < 500; ++i) writer.observe("u", event(rng));
    ASSERT_TRUE(writer.save_user("u"));
    state = testing::read_file(other / (user_file_stem("u") + ".json"));
  }
  const auto fifo = tmp / (user_file_stem("u") + ".json");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  DetectorBank bank(o);
  std::mt19937_64 rng(7);
  std::uint64_t first = 0, next = 0;
  bool forgot = false;
  // Runs f, turning an exception into a test failure (a thread must not end by throwing).
  const auto reporting = [](auto f) {
    return [f] {
      try {
        f();
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
    };
  };
  std::thread restoring(reporting([&] { first = bank.observe("u", event(rng)).user_events; }));
  // Opening the write end returns once the observe has opened the FIFO to read the state: it
  // holds the user's lock from now until the state is written.
  const int fd = ::open(fifo.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  std::thread forgetting(reporting([&] { forgot = bank.forget("u"); }));
  // The user leaves the table in the same step that makes later observes wait for forget().
  while (bank.users_in_memory() != 0) std::this_thread::yield();
  std::mt19937_64 rng2(8);
  std::thread after(reporting([&] { next = bank.observe("u", event(rng2)).user_events; }));
  ASSERT_EQ(::write(fd, state.data(), state.size()), static_cast<ssize_t>(state.size()));
  ::close(fd);
  restoring.join();
  forgetting.join();
  after.join();
  EXPECT_EQ(first, 501u);  // restored, then learned its event
  EXPECT_TRUE(forgot);
  EXPECT_EQ(next, 1u);  // from nothing
  EXPECT_FALSE(std::filesystem::exists(fifo));
}

// Forgets of one user while threads observe it and other users, with evictions writing state
// files all the while. Under TSan this checks the locking. The counts check that the other
// users lose no event, and that no state from before the last forget comes back (an observe
// that read the old file after that forget began would bring back events the bound below does
// not count): what user0 holds at the end can only come from observes that returned after the
// last forget began.
TEST(DetectorBank, ForgetUnderConcurrentObservesAndEvictions) {
  testing::TempDir tmp;
  DetectorBankOptions o;
  o.detectors = {{"z", {{"type", "zscore"}}}};
  o.min_history = 5;
  o.max_users = 2;
  o.state_dir = tmp.path().string();
  constexpr int kUsers = 5, kThreads = 3, kEventsPerThread = 300, kForgets = 40;
  std::vector<std::atomic<std::uint64_t>> observed(kUsers);
  std::atomic<int> forgets_begun{0};
  std::atomic<std::uint64_t> user0_after_last_forget{0};
  DetectorBank bank(o);
  std::mt19937_64 rng(77);
  for (int i = 0; i < 1000; ++i) bank.observe("user0", event(rng));  // a long history, saved
  bank.save_all();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(2000 + t);
      for (int i = 0; i < kEventsPerThread; ++i) {
        int u = static_cast<int>(rng() % kUsers);
        bank.observe("user" + std::to_string(u), event(rng));
        ++observed[u];
        if (u == 0 && forgets_begun.load() == kForgets) ++user0_after_last_forget;
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < kForgets; ++i) {
      ++forgets_begun;
      bank.forget("user0");
      std::this_thread::yield();
    }
  });
  for (auto& th : threads) th.join();
  bank.save_all();
  for (int u = 1; u < kUsers; ++u) {
    auto path = tmp / (user_file_stem("user" + std::to_string(u)) + ".json");
    ASSERT_TRUE(std::filesystem::exists(path)) << u;
    EXPECT_EQ(load_json_file(path).at("events").get<std::uint64_t>(), observed[u].load())
        << "user" << u;
  }
  const auto user0 = tmp / (user_file_stem("user0") + ".json");
  if (std::filesystem::exists(user0)) {
    EXPECT_LE(load_json_file(user0).at("events").get<std::uint64_t>(),
              user0_after_last_forget.load());
  }
  bank.forget("user0");
  EXPECT_FALSE(std::filesystem::exists(user0));
  EXPECT_EQ(bank.observe("user0", event(rng)).user_events, 1u);
}

TEST(DetectorBank, Errors) {
  DetectorBank bank(bank_options(0));
  bank.observe("u", std::vector<double>{1, 2, 3});
  try {
    bank.observe("u", std::vector<double>{1, 2});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("user \"u\" has 3 features, this event has 2"));
  }
  EXPECT_THROW(bank.observe("u", std::vector<double>{1, NAN, 3}), InvalidArgument);
  EXPECT_THROW(bank.observe("", std::vector<double>{1, 2, 3}), InvalidArgument);
  EXPECT_THROW(bank.forget(""), InvalidArgument);
  try {
    nlohmann::json{{"detectors", {{"z", {{"type", "zscore"}}}}}, {"shift_input", "q"}}
        .get<DetectorBankOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no detector named \"q\""));
  }
  EXPECT_THROW(
      nlohmann::json({{"detectors", {{"z", {{"type", "knn"}}}}}}).get<DetectorBankOptions>(),
      ConfigError);
}

}  // namespace
}  // namespace oap
