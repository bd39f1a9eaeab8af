// The oap command-line tool, run as a user runs it.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_runner.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing::run_cli;

const std::string kSample = std::string(OAP_SOURCE_DIR) + "/examples/data/events.jsonl";

TEST(Cli, HelpListsCommands) {
  auto r = run_cli("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("ingest"));
  auto usage = run_cli("");
  EXPECT_EQ(usage.status, 2);
  auto ingest_help = run_cli("ingest --help");
  EXPECT_EQ(ingest_help.status, 0);
  EXPECT_THAT(ingest_help.output, HasSubstr("--on-bad-line"));
  EXPECT_EQ(run_cli("help ingest").output, ingest_help.output);
}

TEST(Cli, UnknownCommandAndOptionAreUsageErrors) {
  auto r = run_cli("frobnicate");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("unknown command 'frobnicate'"));
  auto o = run_cli("ingest --frob x");
  EXPECT_EQ(o.status, 2);
  EXPECT_THAT(o.output, HasSubstr("unknown option --frob"));
  EXPECT_EQ(run_cli("ingest").status, 2);
}

TEST(Cli, IngestSampleSummarisesEachUser) {
  auto r = run_cli("ingest --json " + kSample);
  ASSERT_EQ(r.status, 0) << r.output;
  std::istringstream lines(r.output);
  std::string line;
  std::map<std::string, nlohmann::json> rows;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    rows[j["user"]] = j;
  }
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& [user, row] : rows) {
    EXPECT_EQ(row["events_read"], 150) << user;
    EXPECT_EQ(row["events_held"], 150) << user;
    EXPECT_EQ(row["dim"], 3) << user;
  }
  // bob's behaviour shifts half-way (20 -> 55 minutes): the mean lies in between.
  double bob_mean = rows["bob"]["mean"][0];
  EXPECT_GT(bob_mean, 30.0);
  EXPECT_LT(bob_mean, 45.0);
  EXPECT_EQ(rows["alice"]["first"], "2024-05-01T08:00:00.000000Z");
}

TEST(Cli, IngestIntoSqliteAccumulatesAcrossRuns) {
  testing::TempDir dir;
  std::string uri = "sqlite://" + (dir / "h.db").string();
  ASSERT_EQ(run_cli("ingest --store " + uri + " " + kSample).status, 0);
  auto second = run_cli("ingest --json --store " + uri + " " + kSample);
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_THAT(second.output, HasSubstr("\"events_held\":300"));
}

TEST(Cli, BadLineFailsWithLocationButKeepsEarlierEvents) {
  testing::TempDir dir;
  testing::write_file(dir / "bad.jsonl",
                      "{\"user\":\"x\",\"timestamp\":1,\"features\":[1]}\n"
                      "{\"user\":\"x\",\"timestamp\":2,\"features\":[\"a\"]}\n"
                      "{\"user\":\"x\",\"timestamp\":3,\"features\":[2]}\n");
  std::string uri = "sqlite://" + (dir / "h.db").string();
  auto r = run_cli("ingest --store " + uri + " " + (dir / "bad.jsonl").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("bad.jsonl:2: field 'features[0]': not a number"));
  EXPECT_THAT(r.output, HasSubstr("the 1 events before it were stored"));
  // The event before the bad line is in the store: one more makes two.
  testing::write_file(dir / "one.jsonl", "{\"user\":\"x\",\"timestamp\":4,\"features\":[3]}\n");
  auto check = run_cli("ingest --json --store " + uri + " " + (dir / "one.jsonl").string());
  EXPECT_THAT(check.output, HasSubstr("\"events_held\":2,"));

  auto skip = run_cli("ingest --json --on-bad-line skip " + (dir / "bad.jsonl").string());
  EXPECT_EQ(skip.status, 0);
  EXPECT_THAT(skip.output, HasSubstr("skipped " + (dir / "bad.jsonl").string() + ":2"));
  EXPECT_THAT(skip.output, HasSubstr("\"events_read\":2"));
}

TEST(Cli, EmptyAndMissingFilesAreErrors) {
  testing::TempDir dir;
  testing::write_file(dir / "empty.jsonl", "");
  auto r = run_cli("ingest " + (dir / "empty.jsonl").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("no events: the input is empty"));
  auto m = run_cli("ingest " + (dir / "missing.jsonl").string());
  EXPECT_EQ(m.status, 1);
  EXPECT_THAT(m.output, HasSubstr("cannot open"));
}

TEST(Cli, ConfigFileIsValidated) {
  testing::TempDir dir;
  testing::write_file(dir / "c.json", R"({"store": {"batch_size": 0}})");
  auto r = run_cli("ingest --config " + (dir / "c.json").string() + " " + kSample);
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("store.batch_size must be >= 1"));
  testing::write_file(dir / "typo.json", R"({"stor": {}})");
  auto t = run_cli("ingest --config " + (dir / "typo.json").string() + " " + kSample);
  EXPECT_EQ(t.status, 1);
  EXPECT_THAT(t.output, HasSubstr("unknown key(s) \"stor\""));
  testing::write_file(dir / "ok.json",
                      R"({"log": {"level": "error"}, "events": {"on_bad_line": "skip"},
                          "detect": {"min_history": 3}, "generation": {"top_k": 5}})");
  EXPECT_EQ(run_cli("ingest --config " + (dir / "ok.json").string() + " " + kSample).status, 0);
  testing::write_file(dir / "zone.json", R"({"events": {"timezone": "Mars/Olympus"}})");
  auto zone = run_cli("ingest --config " + (dir / "zone.json").string() + " " + kSample);
  EXPECT_EQ(zone.status, 1);
  EXPECT_THAT(zone.output, HasSubstr("events.timezone: expected \"UTC\" or a fixed offset"));
}

TEST(Cli, IngestReadsNaiveTimestampsInTheGivenZone) {
  testing::TempDir dir;
  testing::write_file(dir / "e.jsonl",
                      "{\"user\":\"u\",\"timestamp\":\"2015-02-26 21:42:53\",\"features\":[1]}\n"
                      "{\"user\":\"u\",\"timestamp\":\"2015-02-26 21:42:53Z\",\"features\":[2]}\n");
  auto utc = run_cli("ingest --json " + (dir / "e.jsonl").string());
  ASSERT_EQ(utc.status, 0) << utc.output;
  EXPECT_THAT(utc.output, HasSubstr("\"first\":\"2015-02-26T21:42:53.000000Z\""));
  EXPECT_THAT(utc.output, HasSubstr("\"last\":\"2015-02-26T21:42:53.000000Z\""));
  auto india = run_cli("ingest --json --timezone +05:30 " + (dir / "e.jsonl").string());
  ASSERT_EQ(india.status, 0) << india.output;
  EXPECT_THAT(india.output, HasSubstr("\"first\":\"2015-02-26T16:12:53.000000Z\""));
  EXPECT_THAT(india.output, HasSubstr("\"last\":\"2015-02-26T21:42:53.000000Z\""));
  auto bad = run_cli("ingest --batch 0x10 " + (dir / "e.jsonl").string());
  EXPECT_EQ(bad.status, 2);
  EXPECT_THAT(bad.output, HasSubstr("option --batch expects a non-negative integer, got \"0x10\""));
}

}  // namespace
}  // namespace oap
