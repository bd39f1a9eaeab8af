// oap run / inspect / forget / generate --user: the pipeline of a data directory, as a user runs
// it, including kill -9 in the middle of a run and the same command again.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "cli_runner.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::run_cli;

const std::string kModel = std::string(OAP_SOURCE_DIR) + "/examples/models/tiny-en";

// users x n events with text; user "shift" changes topic and level at event n / 2.
std::filesystem::path write_events(const std::filesystem::path& dir, int n) {
  const char* topics[2] = {"the soup is warm and the bread is fresh from the oven",
                           "shares fell as bond yields rose and investors sold"};
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  const auto path = dir / "events.jsonl";
  std::ofstream out(path);
  for (int i = 0; i < n; ++i) {
    for (const std::string user : {"calm", "shift", "quiet"}) {
      const bool moved = user == "shift" && i >= n / 2;
      nlohmann::json e = {{"user", user},
                          {"timestamp", 1'700'000'000 + i * 60},
                          {"features", {(moved ? 8.0 : 0.0) + g(rng), g(rng)}},
                          {"text", std::string(topics[moved ? 1 : 0]) + " " + std::to_string(i)}};
      out << e.dump() << "\n";
    }
  }
  return path;
}

nlohmann::json last_json(const std::string& output) {
  std::istringstream in(output);
  std::string line, json;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '{') json = line;
  }
  return json.empty() ? nlohmann::json() : nlohmann::json::parse(json);
}

// Starts `oap run` and kills it with SIGKILL after `delay`; returns whether it was still
// running when killed (false: it had finished).
bool run_and_kill(const std::vector<std::string>& args, std::chrono::milliseconds delay) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(OAP_CLI));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execv(OAP_CLI, argv.data());
    _exit(127);
  }
  std::this_thread::sleep_for(delay);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

TEST(RunCli, KilledAnyTimeAndRunAgainLosesNoEventAndAppliesNoneTwice) {
  testing::TempDir dir;
  const auto events = write_events(dir.path(), 40);
  const auto data = dir / "data";
  const std::vector<std::string> args = {"run",  "--events",      events.string(), "--model",
                                         kModel, "--data-dir",    data.string(),   "--threads",
                                         "1",    "--wait-updates"};
  std::mt19937_64 rng(9);
  int kills = 0;
  std::uint64_t min_ms = 300, span_ms = 2500;
  for (int round = 0; round < 16; ++round) {
    const auto delay = std::chrono::milliseconds(min_ms + rng() % span_ms);
    if (run_and_kill(args, delay)) {
      ++kills;
      continue;
    }
    // It finished before the kill. After a kill that is the end; before any, this machine runs
    // the stream faster than the delays: start over from nothing with shorter ones.
    if (kills > 0) break;
    std::filesystem::remove_all(data);
    min_ms = std::max<std::uint64_t>(min_ms / 2, 20);
    span_ms = std::max<std::uint64_t>(span_ms / 2, 50);
  }
  std::string cmd;
  for (const auto& a : args) cmd += "'" + a + "' ";
  const auto done = run_cli(cmd + " --report " + (dir / "report.json").string());
  ASSERT_EQ(done.status, 0) << done.output;
  EXPECT_GT(kills, 0) << "the run was never interrupted: the test proves nothing";
  const auto report = nlohmann::json::parse(testing::read_file(dir / "report.json"));
  for (const std::string user : {"calm", "shift", "quiet"}) {
    const auto& u = report.at("users").at(user);
    EXPECT_EQ(u.at("events"), 40) << user;  // every event decided once
    EXPECT_EQ(u.at("nll").size(), 40u) << user;
    std::set<std::uint64_t> decided;
    for (const auto& d : u.at("decisions")) {
      EXPECT_TRUE(decided.insert(d.at("event").get<std::uint64_t>()).second) << user;
    }
    // The history, the detectors and the audit trail agree, and every adapter version loads.
    const auto inspect =
        run_cli("inspect --data-dir " + data.string() + " --user " + user + " --decisions 0");
    ASSERT_EQ(inspect.status, 0) << inspect.output;
    const auto j = nlohmann::json::parse(inspect.out);
    EXPECT_EQ(j.at("history_events"), 40) << user;
    EXPECT_EQ(j.at("decided_events"), 40) << user;
    EXPECT_EQ(j.at("detector_events"), 40) << user;
    for (const auto& v : j.at("versions")) {
      EXPECT_EQ(v.at("id").get<std::string>().size(), 32u);
    }
    const auto scored = run_cli("score --data-dir " + data.string() + " --user " + user +
                                " --text 'the soup is warm'");
    EXPECT_EQ(scored.status, 0) << scored.output;
  }
  // The same command once more: nothing left to apply.
  const auto again = run_cli(cmd);
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("120 events already applied"));
}

TEST(RunCli, ReportsInspectsGeneratesAndForgets) {
  testing::TempDir dir;
  const auto events = write_events(dir.path(), 30);
  const auto data = (dir / "data").string();
  const auto r = run_cli("run --events " + events.string() + " --model " + kModel + " --data-dir " +
                         data + " --threads 1 --wait-updates --decisions 5" + " --report " +
                         (dir / "report.json").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("nll first10"));
  EXPECT_THAT(r.output, HasSubstr("initial profile"));
  const auto report = nlohmann::json::parse(testing::read_file(dir / "report.json"));
  const auto& shift = report.at("users").at("shift");
  EXPECT_GE(shift.at("flagged").get<int>(), 3);
  ASSERT_FALSE(shift.at("updates").empty());
  const auto& first = shift.at("updates")[0];
  EXPECT_TRUE(first.at("accepted").get<bool>());
  EXPECT_LT(first.at("loss_after").get<double>(), first.at("loss_before").get<double>());
  EXPECT_EQ(first.at("version").get<std::string>().size(), 32u);
  EXPECT_THAT(first.at("reason").get<std::string>(), StartsWith("accepted: trigger loss"));
  std::set<std::uint64_t> listed;  // --decisions 5: the user's first five are printed
  for (const auto& d : shift.at("decisions")) {
    if (listed.size() < 5) listed.insert(d.at("event").get<std::uint64_t>());
  }
  for (const auto& u : shift.at("updates")) {  // the gate's rule, also for a rejection
    if (u.at("loss_before").is_null()) continue;  // a rollback
    const auto why = u.at("reason").get<std::string>();
    EXPECT_THAT(why, StartsWith(u.at("accepted").get<bool>() ? "accepted: " : "rejected: "));
    if (!u.at("accepted").get<bool>() && listed.count(u.at("event").get<std::uint64_t>())) {
      EXPECT_THAT(r.output, HasSubstr("-> update " + why));
    }
  }
  // generate --user uses the recorded model and the user's adapter.
  const auto g = run_cli("generate --data-dir " + data + " --user calm --prompt 'the soup'" +
                         " --max-tokens 5");
  ASSERT_EQ(g.status, 0) << g.output;
  EXPECT_FALSE(last_json(g.output).at("adapter").is_null());
  // forget: nothing of the user left; others intact.
  const auto f = run_cli("forget --data-dir " + data + " --user calm");
  ASSERT_EQ(f.status, 0) << f.output;
  EXPECT_EQ(last_json(f.output).at("events_removed"), 30);
  const auto gone = nlohmann::json::parse(
      run_cli("inspect --data-dir " + data + " --user calm --decisions 0").out);
  EXPECT_EQ(gone.at("history_events"), 0);
  EXPECT_TRUE(gone.at("versions").empty());
  const auto kept = nlohmann::json::parse(
      run_cli("inspect --data-dir " + data + " --user quiet --decisions 0").out);
  EXPECT_EQ(kept.at("history_events"), 30);
  // Usage errors.
  EXPECT_EQ(run_cli("run --data-dir " + data).status, 2);
  EXPECT_EQ(run_cli("inspect --data-dir " + data).status, 2);
  EXPECT_THAT(run_cli("run --help").output, HasSubstr("kill -9"));
  EXPECT_THAT(run_cli("forget --help").output, HasSubstr("no byte"));
}

}  // namespace
}  // namespace oap
