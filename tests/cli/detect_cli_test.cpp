// `oap detect`, run as a user runs it.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "cli_runner.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using testing::run_cli;

const std::string kSource = OAP_SOURCE_DIR;
const std::string kEvents = kSource + "/examples/data/events.jsonl";
const std::string kDetectors = kSource + "/examples/data/detectors.json";

std::vector<nlohmann::json> lines_of(const std::string& output) {
  std::vector<nlohmann::json> out;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

// One Welford z-score detector, no cold start: scores are plain z-scores of the user's history.
// Without a stream context, so that the scores are z-scores of the raw values.
constexpr const char* kZOnly =
    R"({"detect": {"detectors": {"z": {"type": "zscore"}}, "min_history": 0,
                   "context": {"season": "none"}, "shift": {"warmup": 2}}})";

TEST(DetectCli, HelpExplainsFormats) {
  auto r = run_cli("detect --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("--input"));
  EXPECT_THAT(r.output, HasSubstr("CSV input: a header row, a timestamp column"));
  EXPECT_THAT(run_cli("--help").output, HasSubstr("detect"));
}

TEST(DetectCli, SampleEventsWithShippedConfig) {
  auto r = run_cli("detect --input " + kEvents + " --config " + kDetectors);
  ASSERT_EQ(r.status, 0) << r.output.substr(0, 2000);
  auto rows = lines_of(r.output);
  ASSERT_EQ(rows.size(), 450u);
  std::map<std::string, int> sustained;
  std::int64_t bob_start = -1;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& j = rows[i];
    EXPECT_EQ(j["row"], i + 1);
    EXPECT_EQ(j["line"], i + 1);  // one event per line, no blank lines
    for (const char* name : {"z", "mahalanobis", "forest", "ensemble"}) {
      const auto& s = j["scores"][name];
      ASSERT_TRUE(s.is_object()) << name;
      double p = s["p_value"];
      EXPECT_GE(p, 0.0);
      EXPECT_LE(p, 1.0);
      EXPECT_EQ(s["flagged"].get<bool>(), p < 0.01) << name;
      EXPECT_EQ(s["contributions"].size(), 3u);
    }
    EXPECT_EQ(j["cold_start"].get<bool>(), j["user_events"].get<int>() <= 20) << i;
    if (j["shift"]["state"] == "sustained") {
      ++sustained[j["user"]];
      if (j["user"] == "bob" && bob_start < 0) bob_start = j["shift"]["start"];
    }
  }
  // bob's behaviour moves at his 76th event (index 75); nobody else's moves.
  EXPECT_EQ(sustained.size(), 1u);
  EXPECT_EQ(bob_start, 75);
}

TEST(DetectCli, CsvScoresAreZScoresOfTheUsersOwnHistory) {
  testing::TempDir dir;
  testing::write_file(dir / "z.json", kZOnly);
  // u1: a = 1, 2, 3 then 10 (mean 2, sd 1 -> z 8); b = 10, 20, 30 then 40 (z 2).
  // u2 is interleaved and must not disturb u1.
  testing::write_file(dir / "data.csv",
                      "timestamp,b,user,a\n"
                      "2024-01-01T00:00:00Z,10,u1,1\n"
                      "1704067260,500,u2,-7\n"
                      "2024-01-01T00:02:00Z,20,u1,2\n"
                      "2024-01-01T00:03:00Z,30,u1,3\n"
                      "\n"
                      "2024-01-01T00:04:00Z,40,u1,10\n");
  auto r = run_cli("detect --input " + (dir / "data.csv").string() + " --config " +
                   (dir / "z.json").string() + " --columns a,b");
  ASSERT_EQ(r.status, 0) << r.output;
  auto rows = lines_of(r.output);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[1]["user"], "u2");
  EXPECT_EQ(rows[1]["timestamp"], "2024-01-01T00:01:00.000000Z");
  const auto& last = rows[4];
  EXPECT_EQ(last["line"], 7);
  EXPECT_EQ(last["user_events"], 4);
  const auto& z = last["scores"]["z"];
  EXPECT_NEAR(z["contributions"][0].get<double>(), 8.0, 1e-12);  // --columns order: a, b
  EXPECT_NEAR(z["contributions"][1].get<double>(), 2.0, 1e-12);
  EXPECT_NEAR(z["score"].get<double>(), 8.0, 1e-12);
  // Sidak over 2 features: 1 - (1 - p1)^2 = 2 p1 - p1^2 with p1 = erfc(8 / sqrt 2).
  double p1 = std::erfc(8.0 / std::sqrt(2.0));
  EXPECT_NEAR(z["p_value"].get<double>() / (2 * p1 - p1 * p1), 1.0, 1e-9);
  EXPECT_TRUE(z["flagged"].get<bool>());
  EXPECT_EQ(last["flagged_by"], nlohmann::json::array({"z"}));
}

TEST(DetectCli, CsvWithoutUserColumnUsesOneUser) {
  testing::TempDir dir;
  testing::write_file(dir / "z.json", kZOnly);
  testing::write_file(dir / "d.txt", "when;x\n0;1\n60;3\n120;5\n");
  // --format csv for a name without .csv; ';' is not the delimiter, so "when;x" is one
  // column and the timestamp column is missing.
  auto missing = run_cli("detect --format csv --input " + (dir / "d.txt").string());
  EXPECT_EQ(missing.status, 1);
  EXPECT_THAT(missing.output, HasSubstr("d.txt:1: field 'timestamp': no timestamp column"));
  testing::write_file(dir / "d.txt", "when,x\n0,1\n60,3\n120,5\n");
  auto r = run_cli("detect --format csv --timestamp-column when --user alice --config " +
                   (dir / "z.json").string() + " --input " + (dir / "d.txt").string());
  ASSERT_EQ(r.status, 0) << r.output;
  auto rows = lines_of(r.output);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2]["user"], "alice");
  // History 1, 3: mean 2, sd sqrt(2); x = 5 -> z = 3 / sqrt(2).
  EXPECT_NEAR(rows[2]["scores"]["z"]["score"].get<double>(), 3.0 / std::sqrt(2.0), 1e-12);
}

TEST(DetectCli, BadInputNamesFileLineAndColumn) {
  testing::TempDir dir;
  auto detect = [&](const std::string& name, const std::string& content,
                    const std::string& extra = "") {
    testing::write_file(dir / name, content);
    return run_cli("detect " + extra + " --input " + (dir / name).string());
  };
  auto text = detect("a.csv", "timestamp,x\n0,1\n1,abc\n");
  EXPECT_EQ(text.status, 1);
  EXPECT_THAT(text.output, HasSubstr("a.csv:3: field 'x': not a finite number: \"abc\""));
  auto nan = detect("b.csv", "timestamp,x\n0,nan\n");
  EXPECT_THAT(nan.output, HasSubstr("b.csv:2: field 'x': not a finite number: \"nan\""));
  auto when = detect("c.csv", "timestamp,x\nyesterday,1\n");
  EXPECT_THAT(when.output, HasSubstr("c.csv:2: field 'timestamp': not a timestamp"));
  auto header_only = detect("d.csv", "timestamp,x\n");
  EXPECT_EQ(header_only.status, 1);
  EXPECT_THAT(header_only.output, HasSubstr("no data rows"));
  auto empty = detect("e.jsonl", "");
  EXPECT_EQ(empty.status, 1);
  EXPECT_THAT(empty.output, HasSubstr("no events"));
  auto dim = detect("f.jsonl",
                    "{\"user\":\"u\",\"timestamp\":1,\"features\":[1,2]}\n"
                    "{\"user\":\"u\",\"timestamp\":2,\"features\":[1]}\n");
  EXPECT_EQ(dim.status, 1);
  EXPECT_THAT(dim.output, HasSubstr("f.jsonl:2"));
  // Rows before the bad one were already printed.
  EXPECT_THAT(dim.output, HasSubstr("\"row\":1"));
  auto columns = detect("g.csv", "timestamp,x\n0,1\n", "--columns x,y");
  EXPECT_EQ(columns.status, 1);
  EXPECT_THAT(columns.output, HasSubstr("g.csv:1: field 'y': no feature column \"y\""));
}

TEST(DetectCli, CsvTimestampsAsExportersWriteThem) {
  testing::TempDir dir;
  // pandas' to_csv and spreadsheets: "YYYY-MM-DD HH:MM:SS", no 'T', no zone.
  testing::write_file(dir / "p.csv",
                      "timestamp,value\n"
                      "2015-02-26 21:42:53,1\n"
                      "2015-02-26 21:47:53.5,2\n"
                      "2015-02-26T22:00:00+01:00,3\n"
                      "2015-02-26 22:00,4\n");
  const std::string run = "detect --input " + (dir / "p.csv").string();
  auto r = run_cli(run);
  ASSERT_EQ(r.status, 0) << r.output;
  auto rows = lines_of(r.output);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0]["timestamp"], "2015-02-26T21:42:53.000000Z");
  EXPECT_EQ(rows[1]["timestamp"], "2015-02-26T21:47:53.500000Z");
  EXPECT_EQ(rows[2]["timestamp"], "2015-02-26T21:00:00.000000Z");
  EXPECT_EQ(rows[3]["timestamp"], "2015-02-26T22:00:00.000000Z");
  // The same file read as India time: naive times move, the one with a zone does not.
  auto india = run_cli(run + " --timezone +05:30");
  ASSERT_EQ(india.status, 0) << india.output;
  rows = lines_of(india.output);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0]["timestamp"], "2015-02-26T16:12:53.000000Z");
  EXPECT_EQ(rows[2]["timestamp"], "2015-02-26T21:00:00.000000Z");
  // ... and so does the config key.
  testing::write_file(dir / "pst.json", R"({"events": {"timezone": "-08:00"}})");
  auto pst = run_cli("detect --config " + (dir / "pst.json").string() + " --input " +
                     (dir / "p.csv").string());
  ASSERT_EQ(pst.status, 0) << pst.output;
  EXPECT_EQ(lines_of(pst.output)[0]["timestamp"], "2015-02-27T05:42:53.000000Z");
  // JSON Lines events follow the same rule.
  testing::write_file(dir / "e.jsonl",
                      "{\"user\":\"u\",\"timestamp\":\"2015-02-26 21:42:53\",\"features\":[1]}\n");
  auto jsonl = run_cli("detect --timezone=-08:00 --input " + (dir / "e.jsonl").string());
  ASSERT_EQ(jsonl.status, 0) << jsonl.output;
  EXPECT_EQ(lines_of(jsonl.output)[0]["timestamp"], "2015-02-27T05:42:53.000000Z");

  auto zone = run_cli(run + " --timezone Europe/Paris");
  EXPECT_EQ(zone.status, 2);
  EXPECT_THAT(zone.output, HasSubstr("--timezone expects UTC or a fixed offset such as +05:30 or "
                                     "-08:00, got \"Europe/Paris\""));
}

TEST(DetectCli, BadTimestampsNameTheValueAndTheAcceptedForms) {
  testing::TempDir dir;
  for (const char* bad : {"2015-02-30 00:00:00", "2015-2-3 00:00:00", "2015-02-26 25:00",
                          "2015-02-26 21:42:53 UTC", "2015-02-26"}) {
    testing::write_file(dir / "b.csv", std::string("timestamp,x\n0,1\n") + bad + ",2\n");
    auto r = run_cli("detect --input " + (dir / "b.csv").string());
    EXPECT_EQ(r.status, 1) << bad;
    EXPECT_THAT(r.output,
                HasSubstr("b.csv:3: field 'timestamp': not a timestamp: \"" + std::string(bad) +
                          "\" (expected a date-time YYYY-MM-DD "
                          "HH:MM[:SS[.fraction]]"));
    EXPECT_THAT(r.output, HasSubstr("or seconds since the epoch"));
    EXPECT_THAT(r.output, HasSubstr("\"row\":1"));  // the row before it was printed
  }
}

TEST(DetectCli, SkipModeReportsBadRowsAndGoesOn) {
  testing::TempDir dir;
  testing::write_file(dir / "s.csv", "timestamp,x\n0,1\nsoon,2\n2,0.7x\n3,4\n");
  auto r = run_cli("detect --on-bad-line skip --input " + (dir / "s.csv").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("skipped " + (dir / "s.csv").string() +
                                  ":3: field 'timestamp': not a timestamp"));
  EXPECT_THAT(r.output, HasSubstr(":4: field 'x': not a finite number: \"0.7x\""));
  EXPECT_THAT(r.output, HasSubstr("\"line\":5"));
  EXPECT_THAT(r.output, HasSubstr("\"row\":2"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("\"row\":3")));
}

TEST(DetectCli, ConfigFileIsSectioned) {
  testing::TempDir dir;
  // The old section-less form of a DetectorBank configuration gets a pointer to the sections.
  testing::write_file(dir / "old.json", R"({"detectors": {"z": {"type": "zscore"}}})");
  auto old = run_cli("detect --config " + (dir / "old.json").string() + " --input " + kEvents);
  EXPECT_EQ(old.status, 1);
  EXPECT_THAT(old.output, HasSubstr("unknown key(s) \"detectors\""));
  EXPECT_THAT(old.output, HasSubstr("{\"detect\":"));
  // Sections for other commands are ignored; csv options come from the file.
  testing::write_file(dir / "all.json",
                      R"({"store": {"batch_size": 8}, "model": {"dtype": "bfloat16"},
                          "csv": {"timestamp_column": "when", "user": "carol"},
                          "detect": {"detectors": {"z": {"type": "zscore"}}}})");
  testing::write_file(dir / "c.csv", "when,x\n0,1\n60,2\n");
  auto r = run_cli("detect --config " + (dir / "all.json").string() + " --input " +
                   (dir / "c.csv").string());
  ASSERT_EQ(r.status, 0) << r.output;
  auto rows = lines_of(r.output);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1]["user"], "carol");
  EXPECT_TRUE(rows[1]["scores"].contains("z"));
  EXPECT_THAT(run_cli("detect --help").output, HasSubstr("\"detect\""));
}

TEST(DetectCli, UsageAndConfigErrors) {
  auto no_input = run_cli("detect");
  EXPECT_EQ(no_input.status, 2);
  EXPECT_THAT(no_input.output, HasSubstr("no input: give --input FILE"));
  auto format = run_cli("detect --format xml --input " + kEvents);
  EXPECT_EQ(format.status, 2);
  EXPECT_THAT(format.output, HasSubstr("--format must be jsonl, csv or auto, got \"xml\""));
  testing::TempDir dir;
  testing::write_file(dir / "bad.json", R"({"detect": {"detectors": {"z": {"type": "zscor"}}}})");
  auto bad = run_cli("detect --config " + (dir / "bad.json").string() + " --input " + kEvents);
  EXPECT_EQ(bad.status, 1);
  EXPECT_THAT(bad.output, HasSubstr("detector.type must be"));
  EXPECT_THAT(bad.output, HasSubstr("got \"zscor\""));
  auto missing = run_cli("detect --input " + (dir / "none.jsonl").string());
  EXPECT_EQ(missing.status, 1);
  EXPECT_THAT(missing.output, HasSubstr("cannot open"));
}

TEST(DetectCli, StateDirCarriesUsersAcrossRuns) {
  testing::TempDir dir;
  testing::write_file(dir / "z.json", kZOnly);
  testing::write_file(dir / "one.csv", "timestamp,user,x\n0,u,1\n1,u,2\n2,u,3\n");
  testing::write_file(dir / "two.csv", "timestamp,user,x\n3,u,10\n");
  std::string common =
      " --config " + (dir / "z.json").string() + " --state-dir " + (dir / "state").string();
  std::filesystem::create_directories(dir / "state");
  ASSERT_EQ(run_cli("detect --input " + (dir / "one.csv").string() + common).status, 0);
  EXPECT_FALSE(std::filesystem::is_empty(dir / "state"));
  auto r = run_cli("detect --input " + (dir / "two.csv").string() + common);
  ASSERT_EQ(r.status, 0) << r.output;
  auto rows = lines_of(r.output);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["user_events"], 4);
  // History 1, 2, 3 restored: mean 2, sd 1 -> z = 8.
  EXPECT_NEAR(rows[0]["scores"]["z"]["score"].get<double>(), 8.0, 1e-12);
}

}  // namespace
}  // namespace oap
