// oap ingest: JSON Lines events -> history store, then a per-user summary.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_args.hpp"
#include "commands.hpp"
#include "event_args.hpp"
#include "oap/core/event_reader.hpp"
#include "oap/core/logging.hpp"
#include "oap/store/history_store.hpp"

namespace oap::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"store", true, "History store URI: memory:// (default) or sqlite:///path/to/file.db.", "URI"},
    {"config", true,
     "The oap config file (docs/configuration.md); ingest reads its sections \"log\", "
     "\"store\" and \"events\" and ignores the others.",
     "FILE"},
    on_bad_line_option(),
    timezone_option(),
    {"batch", true, "Events per append_batch call (default 1024).", "N"},
    {"json", false, "Print the summary as one JSON object per user instead of a table."},
};

constexpr const char* kHelp =
    "Usage: oap ingest [OPTIONS] FILE...\n\n"
    "Reads behaviour events from JSON Lines files (one event per line, '-' for standard\n"
    "input), appends them to a history store and prints a summary per user: events read,\n"
    "events now held, feature dimension, first and last timestamp, and the mean and\n"
    "standard deviation of each feature over the events read.\n\n"
    "An event line looks like:\n"
    "  {\"user\": \"alice\", \"timestamp\": \"2024-05-01T12:00:00Z\", \"features\": [0.2, 1.5],\n"
    "   \"text\": \"optional\", \"meta\": {\"optional\": true}}\n"
    "The timestamp may also be \"2024-05-01 12:00:00\" (no zone: read in --timezone, UTC by\n"
    "default), carry an offset (+05:30), or be seconds since the epoch. Every event of a user\n"
    "must have the same number of features. A bad line is reported with its file, line and\n"
    "field.\n\n";

// Per-user statistics over the events read (Welford per feature).
struct UserSummary {
  std::size_t events = 0;
  Timestamp first = Timestamp::max();
  Timestamp last = Timestamp::min();
  std::vector<double> mean, m2;

  void add(const Event& e) {
    ++events;
    first = std::min(first, e.timestamp);
    last = std::max(last, e.timestamp);
    if (mean.empty()) {
      mean.assign(e.features.size(), 0.0);
      m2.assign(e.features.size(), 0.0);
    }
    for (std::size_t i = 0; i < e.features.size(); ++i) {
      double delta = e.features[i] - mean[i];
      mean[i] += delta / static_cast<double>(events);
      m2[i] += delta * (e.features[i] - mean[i]);
    }
  }
  double stddev(std::size_t i) const {
    return events > 1 ? std::sqrt(m2[i] / static_cast<double>(events - 1)) : 0.0;
  }
};

std::string fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

int run_ingest(int argc, char** argv, int first) {
  Args args(argc, argv, first, kOptions);
  if (print_help_if_requested(args, kHelp, kOptions)) return 0;
  if (args.positional().empty()) throw UsageError("no input file given");

  const ConfigFile config = config_from(args);
  LogOptions log_options = config.get<LogOptions>("log");
  StoreOptions store_options = config.get<StoreOptions>("store");
  EventReaderOptions reader_options =
      event_reader_options_from(args, config.get<EventReaderOptions>("events"));
  std::size_t batch = args.number<std::size_t>("batch").value_or(1024);
  if (batch == 0) throw UsageError("--batch must be at least 1");
  setup_logging(log_options);

  std::string uri = args.value("store").value_or("memory://");
  auto store = open_store(uri, store_options);

  std::map<UserId, UserSummary> summary;
  std::size_t total = 0, bad = 0;
  std::vector<Event> pending;
  auto store_pending = [&] {
    store->append_batch(pending);
    for (const Event& e : pending) summary[e.user].add(e);
    total += pending.size();
    pending.clear();
  };

  for (const std::string& file : args.positional()) {
    std::ifstream file_stream;
    std::istream* in = &std::cin;
    if (file != "-") {
      file_stream.open(file, std::ios::binary);
      if (!file_stream) {
        std::cerr << "oap ingest: error: cannot open " << file << "\n";
        return 1;
      }
      in = &file_stream;
    }
    EventReader reader(*in, file == "-" ? "<stdin>" : file, reader_options);
    reader.set_on_bad_line([&](const ParseError& e) {
      ++bad;
      std::cerr << "skipped " << e.what() << "\n";
    });
    for (const auto& user : store->users()) {
      if (auto dim = store->dimension(user)) reader.expect_dimension(user, *dim);
    }
    try {
      while (auto event = reader.next()) {
        pending.push_back(std::move(*event));
        if (pending.size() >= batch) store_pending();
      }
    } catch (const ParseError& e) {
      store_pending();
      store->flush();
      std::cerr << "oap ingest: error: " << e.what() << "\n";
      if (e.line() > 0) {
        std::cerr << "stopped there; the " << total
                  << " events before it were stored. Use --on-bad-line skip to go on past bad "
                     "lines.\n";
      }
      return 1;
    }
    store_pending();
  }
  store->flush();

  if (args.flag("json")) {
    for (const auto& [user, s] : summary) {
      nlohmann::json stddev = nlohmann::json::array();
      for (std::size_t i = 0; i < s.mean.size(); ++i) stddev.push_back(s.stddev(i));
      nlohmann::json row = {{"user", user},
                            {"events_read", s.events},
                            {"events_held", store->count(user)},
                            {"dim", s.mean.size()},
                            {"first", format_rfc3339(s.first)},
                            {"last", format_rfc3339(s.last)},
                            {"mean", s.mean},
                            {"stddev", stddev}};
      std::cout << row.dump() << "\n";
    }
  } else {
    std::cout << "ingested " << total << " events of " << summary.size() << " users into " << uri
              << " (" << bad << " bad lines skipped)\n";
    std::printf("%-16s %7s %7s %4s  %-27s  %-27s  %s\n", "user", "read", "held", "dim", "first",
                "last", "feature mean (stddev)");
    for (const auto& [user, s] : summary) {
      std::string stats;
      for (std::size_t i = 0; i < s.mean.size(); ++i) {
        stats += (i ? "  " : "") + fixed(s.mean[i]) + " (" + fixed(s.stddev(i)) + ")";
      }
      std::fflush(stdout);
      std::printf("%-16s %7zu %7zu %4zu  %-27s  %-27s  %s\n", user.c_str(), s.events,
                  store->count(user), s.mean.size(), format_rfc3339(s.first).c_str(),
                  format_rfc3339(s.last).c_str(), stats.c_str());
    }
  }
  return bad > 0 && total == 0 ? 1 : 0;
}

}  // namespace oap::cli
