#pragma once
// EventReader: validated events from a JSON Lines stream, one event per line.

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <unordered_map>

#include "oap/core/error.hpp"
#include "oap/core/event.hpp"
#include "oap/core/timestamp.hpp"

namespace oap {

// What the reader does with a bad line.
enum class OnBadLine {
  kFail,  // throw the ParseError; the events before it have already been returned
  kSkip,  // report it to the on_bad_line callback (and count it), then go on with the next line
};

// How event files are read (JSON Lines by EventReader, CSV by CsvEventReader). Plain value type;
// the config section "events".
struct EventReaderOptions {
  // What to do with a line that is not a valid event. Default: kFail.
  OnBadLine on_bad_line = OnBadLine::kFail;
  // Lines longer than this (bytes) are bad lines ("line too long"). JSON Lines only.
  // Default: 16 MiB.
  std::size_t max_line_bytes = 16u << 20;
  // The zone of date-times written without one ("2015-02-26 21:42:53"), a fixed offset from
  // UTC; JSON "UTC" or "+05:30" / "-08:00" (parse_utc_offset). Date-times with a zone and seconds
  // since the epoch are not affected. Default: UTC.
  UtcOffset timezone{0};

  void validate() const;
};
void to_json(nlohmann::json& j, const EventReaderOptions& o);
void from_json(const nlohmann::json& j, EventReaderOptions& o);

// Reads events from JSON Lines (event_from_json, naive date-times at options.timezone). Blank
// lines are ignored. A line is bad when it is not valid
// JSON, is not a valid event (see event_from_json), or has a different number of features
// than the first event of the same user (the user's dimension; it can be seeded with
// expect_dimension for users already known, e.g. from a store).
// A stream with no event line at all (empty, or only blank lines) is an error in either mode.
//
// Not thread-safe: use one reader per thread. The stream is borrowed and must outlive the
// reader.
class EventReader {
 public:
  EventReader(std::istream& in, std::string source_name, EventReaderOptions options = {});

  // The next valid event, or nullopt at the end of the stream. Throws ParseError for a bad
  // line under OnBadLine::kFail, for a stream without any event line, and IoError if the
  // stream fails.
  std::optional<Event> next();

  // Called with each skipped line's error under OnBadLine::kSkip. Default: none.
  void set_on_bad_line(std::function<void(const ParseError&)> callback);

  // Declares user's feature dimension, as if an event of that size had been read.
  void expect_dimension(const UserId& user, std::size_t dim);

  std::size_t lines_read() const { return line_; }
  std::size_t events_read() const { return events_; }
  std::size_t bad_lines() const { return bad_; }

 private:
  std::optional<Event> parse_line(const std::string& line);

  std::istream& in_;
  std::string source_;
  EventReaderOptions options_;
  std::function<void(const ParseError&)> on_bad_line_;
  std::unordered_map<UserId, std::size_t> dims_;
  std::size_t line_ = 0;
  std::size_t events_ = 0;
  std::size_t bad_ = 0;
  std::size_t nonblank_ = 0;
};

}  // namespace oap
