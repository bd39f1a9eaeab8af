// oap detect: score a stream of events (JSON Lines or CSV) with per-user detectors.

#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "commands.hpp"
#include "oap/core/csv_reader.hpp"
#include "oap/core/error.hpp"
#include "oap/core/event_reader.hpp"
#include "oap/core/json_config.hpp"
#include "oap/detect/detector_bank.hpp"

namespace oap::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"input", true, "The events: a JSON Lines file, a CSV file, or '-' for standard input.",
     "FILE"},
    {"config", true,
     "DetectorBank configuration (JSON; see docs/detectors.md and "
     "examples/data/detectors.json). Default: one z-score detector.",
     "FILE"},
    {"format", true, "jsonl, csv or auto (default): csv for a name ending in .csv.", "FORMAT"},
    {"timestamp-column", true,
     "CSV: the timestamp column (RFC 3339 or seconds since the "
     "epoch). Default: timestamp.",
     "NAME"},
    {"user-column", true, "CSV: the user column, used when the header has it. Default: user.",
     "NAME"},
    {"user", true,
     "CSV without a user column: the user every row belongs to. Default: "
     "default.",
     "ID"},
    {"columns", true,
     "CSV: comma-separated feature columns, in this order. Default: every "
     "column but the timestamp and user columns.",
     "LIST"},
    {"state-dir", true,
     "Restore users' detector state from DIR and save it there at the "
     "end (overrides the config's state_dir).",
     "DIR"},
};

constexpr const char* kHelp =
    "Usage: oap detect --input FILE [--config FILE] [OPTIONS]\n\n"
    "Scores every input row against its user's own history with the detectors of a\n"
    "DetectorBank (z-score, Mahalanobis, isolation forest, ensemble), then learns from it, and\n"
    "prints one JSON line per input row:\n"
    "  {\"row\": 1, \"line\": 2, \"user\": \"alice\", \"timestamp\": \"...Z\", \"cold_start\": "
    "false,\n"
    "   \"user_events\": 1, \"flagged_by\": [\"z\"],\n"
    "   \"scores\": {\"z\": {\"score\": ..., \"p_value\": ..., \"flagged\": ..., "
    "\"contributions\": [...]}},\n"
    "   \"shift\": {\"state\": \"none\"|\"warmup\"|\"transient\"|\"sustained\", \"start\": ..., "
    "...}}\n"
    "Rows are processed in file order. While a user has fewer than min_history events the\n"
    "scores come from population detectors (cold_start true).\n\n"
    "JSON Lines input: one event per line, {\"user\", \"timestamp\", \"features\": [...]}.\n"
    "CSV input: a header row, a timestamp column, numeric feature columns and optionally a\n"
    "user column. Every feature value must be a finite number.\n\n"
    "A bad row (unparsable, wrong number of features, NaN or infinite values) stops the run\n"
    "with its file, line and column; the rows before it have been printed.\n\n";

// One input row, whatever the format.
struct Row {
  UserId user;
  Timestamp timestamp;
  std::vector<double> features;
  std::size_t line = 0;
};

// Rows from either input format.
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual std::optional<Row> next() = 0;
};

class JsonlSource final : public RowSource {
 public:
  JsonlSource(std::istream& in, std::string name) : reader_(in, std::move(name)) {}
  std::optional<Row> next() override {
    auto e = reader_.next();
    if (!e) return std::nullopt;
    return Row{
        e->user, e->timestamp, {e->features.begin(), e->features.end()}, reader_.lines_read()};
  }

 private:
  EventReader reader_;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

class CsvSource final : public RowSource {
 public:
  CsvSource(std::istream& in, std::string name, const Args& args) : reader_(in, name) {
    std::string ts_name = args.value("timestamp-column").value_or("timestamp");
    auto ts = reader_.column(ts_name);
    if (!ts) {
      throw ParseError(name, reader_.line(), ts_name,
                       "no timestamp column \"" + ts_name +
                           "\" in the header (use "
                           "--timestamp-column)");
    }
    timestamp_ = *ts;
    user_ = reader_.column(args.value("user-column").value_or("user"));
    default_user_ = args.value("user").value_or("default");
    validate_user_id(default_user_);
    if (auto list = args.value("columns")) {
      for (const auto& c : split_list(*list)) {
        auto idx = reader_.column(c);
        if (!idx) throw UsageError("--columns: no column \"" + c + "\" in the header of " + name);
        features_.push_back(*idx);
      }
    } else {
      for (std::size_t i = 0; i < reader_.header().size(); ++i) {
        if (i != timestamp_ && (!user_ || i != *user_)) features_.push_back(i);
      }
    }
    if (features_.empty()) {
      throw ParseError(name, reader_.line(), "", "no feature columns in the header");
    }
  }

  std::optional<Row> next() override {
    auto fields = reader_.next();
    if (!fields) {
      if (rows_ == 0) {
        throw ParseError(reader_.source(), reader_.line(), "",
                         "no data rows: the file has only a header");
      }
      return std::nullopt;
    }
    ++rows_;
    const auto& f = *fields;
    Row row;
    row.line = reader_.line();
    row.user = user_ ? f[*user_] : default_user_;
    try {
      validate_user_id(row.user);
    } catch (const Error& e) {
      throw ParseError(reader_.source(), row.line, reader_.header()[*user_], e.what());
    }
    const std::string& ts = f[timestamp_];
    auto t = parse_rfc3339(ts);
    if (!t) {
      if (auto seconds = number(ts)) t = timestamp_from_seconds(*seconds);
    }
    if (!t) {
      throw ParseError(reader_.source(), row.line, reader_.header()[timestamp_],
                       "not a timestamp (RFC 3339 or seconds since the epoch): \"" + ts + "\"");
    }
    row.timestamp = *t;
    for (std::size_t idx : features_) {
      auto v = number(f[idx]);
      if (!v) {
        throw ParseError(reader_.source(), row.line, reader_.header()[idx],
                         "not a finite number: \"" + f[idx] + "\"");
      }
      row.features.push_back(*v);
    }
    return row;
  }

 private:
  // A finite decimal number filling the whole field (surrounding spaces allowed).
  static std::optional<double> number(const std::string& s) {
    std::size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
    if (b == std::string::npos) return std::nullopt;
    const char* first = s.data() + b;
    const char* last = s.data() + e + 1;
    if (*first == '+') ++first;
    double v = 0;
    auto [ptr, ec] = std::from_chars(first, last, v);
    if (ec != std::errc() || ptr != last || !std::isfinite(v)) return std::nullopt;
    return v;
  }

  CsvReader reader_;
  std::size_t timestamp_ = 0;
  std::optional<std::size_t> user_;
  UserId default_user_;
  std::vector<std::size_t> features_;
  std::size_t rows_ = 0;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

int run_detect(int argc, char** argv, int first) {
  Args args(argc, argv, first, kOptions);
  if (print_help_if_requested(args, kHelp, kOptions)) return 0;
  if (!args.positional().empty()) {
    throw UsageError("unexpected argument \"" + args.positional().front() +
                     "\" (the input is given with --input)");
  }
  auto input = args.value("input");
  if (!input) throw UsageError("no input: give --input FILE");
  std::string format = args.value("format").value_or("auto");
  if (format == "auto") format = ends_with(*input, ".csv") ? "csv" : "jsonl";
  if (format != "jsonl" && format != "csv") {
    throw UsageError("--format must be jsonl, csv or auto, got \"" + format + "\"");
  }

  DetectorBankOptions options;
  if (auto path = args.value("config")) options = load_json_file(*path).get<DetectorBankOptions>();
  if (auto dir = args.value("state-dir")) options.state_dir = *dir;
  DetectorBank bank(options);

  std::ifstream file;
  std::istream* in = &std::cin;
  std::string name = "<stdin>";
  if (*input != "-") {
    file.open(*input, std::ios::binary);
    if (!file) throw IoError("cannot open " + *input);
    in = &file;
    name = *input;
  }
  std::unique_ptr<RowSource> source;
  if (format == "csv") {
    source = std::make_unique<CsvSource>(*in, name, args);
  } else {
    source = std::make_unique<JsonlSource>(*in, name);
  }

  std::size_t rows = 0;
  while (auto row = source->next()) {
    ++rows;
    Observation obs;
    try {
      obs = bank.observe(row->user, row->features);
    } catch (const InvalidArgument& e) {
      // Wrong dimension or a non-finite value: say where it is in the input.
      throw ParseError(name, row->line, "features", e.what());
    }
    nlohmann::json out = obs;
    nlohmann::json flagged_by = nlohmann::json::array();
    for (const auto& [detector, s] : obs.scores) {
      if (s.flagged) flagged_by.push_back(detector);
    }
    out["row"] = rows;
    out["line"] = row->line;
    out["user"] = row->user;
    out["timestamp"] = format_rfc3339(row->timestamp);
    out["flagged_by"] = std::move(flagged_by);
    std::cout << out.dump() << "\n";
  }
  if (!bank.options().state_dir.empty()) bank.save_all();
  std::cout.flush();
  return 0;
}

}  // namespace oap::cli
