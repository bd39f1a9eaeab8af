// oap detect: score a stream of events (JSON Lines or CSV) with per-user detectors.

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli_args.hpp"
#include "commands.hpp"
#include "event_args.hpp"
#include "oap/core/csv_event_reader.hpp"
#include "oap/core/error.hpp"
#include "oap/core/event_reader.hpp"
#include "oap/detect/detector_bank.hpp"

namespace oap::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"input", true, "The events: a JSON Lines file, a CSV file, or '-' for standard input.",
     "FILE"},
    {"config", true,
     "The oap config file (docs/configuration.md); detect reads its sections \"log\", "
     "\"events\", \"csv\" and \"detect\" (the DetectorBank: docs/detectors.md, "
     "examples/data/detectors.json) and ignores the others. Default: one z-score detector.",
     "FILE"},
    {"format", true, "jsonl, csv or auto (default): csv for a name ending in .csv.", "FORMAT"},
    {"timestamp-column", true,
     "CSV: the timestamp column (a date-time or seconds since the epoch). Default: "
     "timestamp.",
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
    timezone_option(),
    on_bad_line_option(),
    {"state-dir", true,
     "Restore users' detector state from DIR and save it there at the "
     "end (overrides the config's detect.state_dir).",
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
    "user column. Every feature value must be a finite number. A timestamp is a date-time\n"
    "(\"2015-02-26 21:42:53\", \"2015-02-26T21:42:53.250+01:00\"; without a zone it is read in\n"
    "--timezone, UTC by default) or seconds since the epoch.\n\n"
    "A bad row (unparsable, wrong number of features, NaN or infinite values) stops the run\n"
    "with its file, line and column; the rows before it have been printed. With\n"
    "--on-bad-line skip it is reported on stderr and the run goes on.\n\n";

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

  const ConfigFile config = config_from(args);
  DetectorBankOptions options = config.get<DetectorBankOptions>("detect");
  if (auto dir = args.value("state-dir")) options.state_dir = *dir;
  EventReaderOptions reader_options =
      event_reader_options_from(args, config.get<EventReaderOptions>("events"));
  CsvEventOptions csv_options = config.get<CsvEventOptions>("csv");
  if (auto v = args.value("timestamp-column")) csv_options.timestamp_column = *v;
  if (auto v = args.value("user-column")) csv_options.user_column = *v;
  if (auto v = args.value("user")) csv_options.user = *v;
  if (auto v = args.value("columns")) csv_options.columns = split_list(*v);
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
  // The next event and the line it is on, from whichever reader the format needs.
  std::optional<EventReader> jsonl;
  std::optional<CsvEventReader> csv;
  const auto skipped = [](const ParseError& e) { std::cerr << "skipped " << e.what() << "\n"; };
  if (format == "csv") {
    csv.emplace(*in, name, csv_options, reader_options);
    csv->set_on_bad_line(skipped);
  } else {
    jsonl.emplace(*in, name, reader_options);
    jsonl->set_on_bad_line(skipped);
  }
  const auto next = [&]() -> std::optional<std::pair<Event, std::size_t>> {
    auto event = csv ? csv->next() : jsonl->next();
    if (!event) return std::nullopt;
    return std::make_pair(std::move(*event), csv ? csv->line() : jsonl->lines_read());
  };

  std::size_t rows = 0;
  while (auto row = next()) {
    const auto& [event, line] = *row;
    ++rows;
    Observation obs;
    try {
      obs = bank.observe(event.user,
                         std::vector<double>(event.features.begin(), event.features.end()));
    } catch (const InvalidArgument& e) {
      // Wrong dimension or a non-finite value: say where it is in the input.
      throw ParseError(name, line, "features", e.what());
    }
    nlohmann::json out = obs;
    nlohmann::json flagged_by = nlohmann::json::array();
    for (const auto& [detector, s] : obs.scores) {
      if (s.flagged) flagged_by.push_back(detector);
    }
    out["row"] = rows;
    out["line"] = line;
    out["user"] = event.user;
    out["timestamp"] = format_rfc3339(event.timestamp);
    out["flagged_by"] = std::move(flagged_by);
    std::cout << out.dump() << "\n";
  }
  if (!bank.options().state_dir.empty()) bank.save_all();
  std::cout.flush();
  return 0;
}

}  // namespace oap::cli
