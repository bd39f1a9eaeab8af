#include "oap/detect/detector_bank.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <thread>

#include "oap/core/error.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

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
  for (int i = 50; i < 80; ++i) {
    nlohmann::json ja = a.observe("../etc/passwd", stream[i]);
    nlohmann::json jb = b.observe("../etc/passwd", stream[i]);
    EXPECT_EQ(ja, jb) << i;
  }
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
