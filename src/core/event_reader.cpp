#include "oap/core/event_reader.hpp"

#include <istream>
#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"

namespace oap {

void EventReaderOptions::validate() const {
  OAP_CHECK(max_line_bytes > 0, ConfigError, "events.max_line_bytes must be > 0");
  OAP_CHECK(timezone > -UtcOffset{24 * 60} && timezone < UtcOffset{24 * 60}, ConfigError,
            "events.timezone must be less than 24 hours from UTC, got " +
                std::to_string(timezone.count()) + " minutes");
}

void to_json(nlohmann::json& j, const EventReaderOptions& o) {
  j = {{"on_bad_line", o.on_bad_line == OnBadLine::kFail ? "fail" : "skip"},
       {"max_line_bytes", o.max_line_bytes},
       {"timezone", format_utc_offset(o.timezone)}};
}

void from_json(const nlohmann::json& j, EventReaderOptions& o) {
  JsonObjectReader r(j, "events");
  std::string mode = r.get<std::string>("on_bad_line", "fail");
  OAP_CHECK(mode == "fail" || mode == "skip", ConfigError,
            "events.on_bad_line must be \"fail\" or \"skip\", got \"" + mode + "\"");
  o.on_bad_line = mode == "fail" ? OnBadLine::kFail : OnBadLine::kSkip;
  o.max_line_bytes = r.get<std::size_t>("max_line_bytes", o.max_line_bytes);
  std::string zone = r.get<std::string>("timezone", format_utc_offset(o.timezone));
  auto offset = parse_utc_offset(zone);
  OAP_CHECK(offset.has_value(), ConfigError,
            "events.timezone: expected \"UTC\" or a fixed offset such as \"+05:30\" or "
            "\"-08:00\", got \"" +
                zone + "\" (named zones are not supported: give the offset of the data)");
  o.timezone = *offset;
  r.finish();
  o.validate();
}

EventReader::EventReader(std::istream& in, std::string source_name, EventReaderOptions options)
    : in_(in), source_(std::move(source_name)), options_(options) {
  options_.validate();
}

void EventReader::set_on_bad_line(std::function<void(const ParseError&)> callback) {
  on_bad_line_ = std::move(callback);
}

void EventReader::expect_dimension(const UserId& user, std::size_t dim) { dims_[user] = dim; }

std::optional<Event> EventReader::next() {
  std::string line;
  while (std::getline(in_, line)) {
    ++line_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++nonblank_;
    try {
      if (auto event = parse_line(line)) {
        ++events_;
        return event;
      }
    } catch (const ParseError& e) {
      ++bad_;
      if (options_.on_bad_line == OnBadLine::kFail) throw;
      if (on_bad_line_) on_bad_line_(e);
    }
  }
  if (in_.bad())
    OAP_THROW(IoError, "read error in " + source_ + " after line " + std::to_string(line_));
  if (nonblank_ == 0) {
    throw ParseError(source_, 0, "",
                     "no events: the input is empty (expected JSON Lines, one event per line)");
  }
  return std::nullopt;
}

std::optional<Event> EventReader::parse_line(const std::string& line) {
  if (line.size() > options_.max_line_bytes) {
    throw ParseError(source_, line_, "",
                     "line too long: " + std::to_string(line.size()) + " bytes (limit " +
                         std::to_string(options_.max_line_bytes) + ")");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    // Syntax errors and number overflow (1e400). nlohmann's byte offset is within the line;
    // its message already says what was expected.
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    throw ParseError(source_, line_, "", "malformed JSON: " + what);
  }
  Event event = event_from_json(j, source_, line_, options_.timezone);
  auto [it, inserted] = dims_.try_emplace(event.user, event.features.size());
  if (!inserted && it->second != event.features.size()) {
    throw ParseError(source_, line_, "features",
                     "user \"" + event.user + "\" has " + std::to_string(it->second) +
                         " features, this event has " + std::to_string(event.features.size()));
  }
  return event;
}

}  // namespace oap
