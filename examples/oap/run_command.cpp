// oap run: replay a stream of events through the whole pipeline (Personalizer) and report.

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_args.hpp"
#include "commands.hpp"
#include "event_args.hpp"
#include "oap/core/atomic_file.hpp"
#include "oap/core/event_reader.hpp"
#include "personalizer_args.hpp"

namespace oap::cli {
namespace {

std::vector<OptionSpec> options() {
  auto specs = personalizer_option_specs();
  specs.insert(specs.begin(),
               {"events", true, "JSON Lines events to replay (docs/file-formats.md).", "FILE"});
  specs.push_back(
      {"report", true, "Write the JSON report (docs/file-formats.md) to this file.", "FILE"});
  specs.push_back({"wait-updates", false,
                   "Run each update before the next event (the same results on every run)."});
  specs.push_back({"decisions", true,
                   "After the summary, list each user's first N decisions other than ignore, with "
                   "the reason and the update's outcome (default 0).",
                   "N"});
  specs.push_back(timezone_option());
  return specs;
}

constexpr const char* kHelp =
    "Usage: oap run --events FILE [--model DIR] [--data-dir DIR] [--config FILE] [OPTIONS]\n\n"
    "Replays the events through the pipeline: history store, text signals (with a model),\n"
    "deviation detectors, the deviation policy, per-user adapter updates. Shows progress\n"
    "(events/s, deviations, updates), then a summary per user, and writes a JSON report with\n"
    "--report. Everything is kept in the data directory: killed at any moment (even kill -9)\n"
    "and run again with the same command, it resumes after the last event it committed; no\n"
    "event is lost or applied twice. Without --model there are no text signals and no\n"
    "adapters: deviations are detected and decided only. oap generate/score/inspect/forget\n"
    "--user U --data-dir DIR then use the same data directory and, by default, the same model.\n\n";

// How many lines the file has (for the progress total).
std::size_t count_lines(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::size_t n = 0;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) n += buf[i] == '\n';
  }
  return n;
}

class ProgressLine {
 public:
  ProgressLine(std::size_t total) : total_(total), tty_(::isatty(STDERR_FILENO) == 1) {}

  void update(std::size_t done, std::size_t deviations, std::size_t updates, bool last = false) {
    const auto now = Clock::now();
    if (!last && now - shown_ < (tty_ ? std::chrono::milliseconds(200) : std::chrono::seconds(5))) {
      return;
    }
    shown_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(done - first_) / secs : 0.0;
    char line[256];
    if (tty_) {
      const int width = 30;
      const int filled =
          total_ ? static_cast<int>(width * std::min(1.0, double(done) / total_)) : 0;
      std::snprintf(line, sizeof line,
                    "\r[%-*s] %zu/%zu events  %.0f events/s  deviations %zu  updates %zu   ", width,
                    std::string(static_cast<std::size_t>(filled), '#').c_str(), done, total_, rate,
                    deviations, updates);
      std::cerr << line << (last ? "\n" : "") << std::flush;
    } else {
      std::snprintf(line, sizeof line,
                    "%zu/%zu events, %.0f events/s, deviations %zu, updates %zu\n", done, total_,
                    rate, deviations, updates);
      std::cerr << line << std::flush;
    }
  }
  void started_at(std::size_t done) { first_ = done; }

 private:
  using Clock = std::chrono::steady_clock;
  std::size_t total_;
  bool tty_;
  std::size_t first_ = 0;
  Clock::time_point start_ = Clock::now();
  Clock::time_point shown_{};
};

}  // namespace

int run_run(int argc, char** argv, int first) {
  const auto specs = options();
  Args args(argc, argv, first, specs);
  if (print_help_if_requested(args, kHelp, specs)) return 0;
  const auto events_path = args.value("events");
  if (!events_path) throw UsageError("--events is required");
  std::ifstream in(*events_path, std::ios::binary);
  if (!in) throw UsageError("cannot read " + *events_path);
  const bool wait = args.flag("wait-updates");
  auto personalizer = open_personalizer(args, /*require_model=*/false, /*record=*/true, wait);
  auto& p = *personalizer;
  const EventReaderOptions reader_options =
      event_reader_options_from(args, config_from(args).get<EventReaderOptions>("events"));
  EventReader reader(in, *events_path, reader_options);
  // Progress is kept per input file: the same command resumes where it stopped.
  const std::string key = "run:" + std::filesystem::weakly_canonical(*events_path).string();
  const std::int64_t applied = p.progress(key).value_or(0);
  const std::size_t total = count_lines(*events_path);
  ProgressLine progress(total);
  std::size_t deviations = 0, updates = 0, resumed = 0;
  while (auto e = reader.next()) {
    const auto line = static_cast<std::int64_t>(reader.lines_read());
    if (line <= applied) {
      ++resumed;
      continue;
    }
    if (resumed > 0 && deviations == 0 && updates == 0) progress.started_at(resumed);
    const auto o = p.observe(*e, {{key, line}});
    if (o.decision.action != Action::kIgnore) ++deviations;
    if (o.update) ++updates;
    progress.update(reader.lines_read(), deviations, updates);
  }
  progress.update(reader.lines_read(), deviations, updates, /*last=*/true);
  if (resumed > 0) {
    std::cerr << "oap run: resumed after line " << applied << " (" << resumed
              << " events already applied)\n";
  }
  p.wait_idle();

  // The report, from the audit trail: every event of every user in this data directory.
  nlohmann::json users = nlohmann::json::object();
  std::printf("%-16s %7s %7s %6s %7s %8s %8s %6s %12s %12s\n", "user", "events", "flagged", "adapt",
              "new_ctx", "escalate", "rollback", "upd ok", "nll first10", "nll last10");
  for (const auto& user : p.users()) {
    const auto j = p.report(user);
    users[user] = j;
    const auto& nll = j.at("nll");
    auto mean_of = [&](bool first_part) {
      std::vector<double> v;
      for (const auto& x : nll) {
        if (!x.is_null()) v.push_back(x.get<double>());
      }
      if (v.empty()) return std::nan("");
      const std::size_t k = std::max<std::size_t>(1, v.size() / 10);
      double s = 0;
      for (std::size_t i = 0; i < k; ++i) s += first_part ? v[i] : v[v.size() - 1 - i];
      return s / static_cast<double>(k);
    };
    std::map<std::string, int> actions;
    for (const auto& d : j.at("decisions")) ++actions[d.at("action").get<std::string>()];
    int ok = 0;
    for (const auto& u : j.at("updates")) ok += u.at("accepted").get<bool>() ? 1 : 0;
    std::printf("%-16.16s %7d %7d %6d %7d %8d %8d %6d %12.3f %12.3f\n", user.c_str(),
                j.at("events").get<int>(), j.at("flagged").get<int>(), actions["adapt"],
                actions["new_context"], actions["escalate"], actions["rollback"], ok, mean_of(true),
                mean_of(false));
  }
  const std::size_t listed = args.number<std::size_t>("decisions").value_or(0);
  if (listed > 0) {
    for (const auto& [user, j] : users.items()) {
      std::printf("\n%s:\n", user.c_str());
      std::map<std::uint64_t, const nlohmann::json*> outcome;
      for (const auto& u : j.at("updates")) outcome[u.at("event").get<std::uint64_t>()] = &u;
      std::size_t n = 0;
      for (const auto& d : j.at("decisions")) {
        if (n++ == listed) break;
        const auto event = d.at("event").get<std::uint64_t>();
        std::string result;
        if (auto it = outcome.find(event); it != outcome.end()) {
          const auto& u = *it->second;
          const bool accepted = u.at("accepted").get<bool>();
          const std::string why = u.value("reason", std::string());
          if (!accepted && why.rfind("rejected", 0) == 0) {
            result = " -> update " + why;  // the gate's rule and numbers
          } else if (u.at("loss_before").is_number() && u.at("loss_after").is_number()) {
            char buf[96];
            std::snprintf(buf, sizeof buf, " -> update %s (loss %.2f -> %.2f)",
                          accepted ? "accepted" : "rejected", u.at("loss_before").get<double>(),
                          u.at("loss_after").get<double>());
            result = buf;
          } else {
            result = accepted ? " -> done" : " -> not done";
          }
        }
        std::printf("  event %3llu  %-11s %s%s\n", static_cast<unsigned long long>(event),
                    d.at("action").get<std::string>().c_str(),
                    d.at("reason").get<std::string>().c_str(), result.c_str());
      }
    }
  }
  if (auto report = args.value("report")) {
    write_text_file_atomic(*report, nlohmann::json{{"users", users}}.dump(1) + "\n");
  }
  return 0;
}

}  // namespace oap::cli
