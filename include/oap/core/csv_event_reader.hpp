#pragma once
// CsvEventReader: validated events from a CSV stream with a header row, one event per row.

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "oap/core/csv_reader.hpp"
#include "oap/core/error.hpp"
#include "oap/core/event.hpp"
#include "oap/core/event_reader.hpp"

namespace oap {

// Which CSV columns make an event. Plain value type; the config section "csv".
struct CsvEventOptions {
  // The column holding each row's timestamp: a date-time or seconds since the epoch
  // (parse_timestamp). Default: "timestamp".
  std::string timestamp_column = "timestamp";
  // The column holding each row's user id, used when the header has it. Default: "user".
  std::string user_column = "user";
  // The user of every row when the header has no user_column. Must be a valid user id.
  // Default: "default".
  std::string user = "default";
  // The feature columns, in this order. Empty: every column but the timestamp and user
  // columns, in header order. Default: empty.
  std::vector<std::string> columns;

  // Throws ConfigError naming the bad field (an empty column name, a column listed twice, an
  // invalid user id).
  void validate() const;
};
void to_json(nlohmann::json& j, const CsvEventOptions& o);
void from_json(const nlohmann::json& j, CsvEventOptions& o);

// Reads events from CSV (RFC 4180, see CsvReader): each data row is one event with the
// timestamp, user and feature columns of CsvEventOptions (text empty, meta {}). A feature cell is
// a finite decimal number (surrounding spaces allowed) within the float range; a timestamp cell
// is read by parse_timestamp, naive date-times in EventReaderOptions::timezone.
// EventReaderOptions::on_bad_line applies to bad rows (a wrong number of fields, a bad
// timestamp, user id or number); max_line_bytes applies to JSON Lines only.
//
// Errors are ParseError(source, line, column, reason). The header is checked at construction:
// a missing timestamp column or listed feature column, or no feature column at all, is an error
// in either mode, as is a file without any data row. IoError if the stream fails.
// Not thread-safe: use one reader per thread. The stream is borrowed and must outlive the reader.
class CsvEventReader {
 public:
  CsvEventReader(std::istream& in, std::string source_name, CsvEventOptions columns = {},
                 EventReaderOptions options = {});

  // The next valid event, or nullopt at the end of the stream. Throws ParseError for a bad
  // row under OnBadLine::kFail and for a file with a header but no data row.
  std::optional<Event> next();

  // Called with each skipped row's error under OnBadLine::kSkip. Default: none.
  void set_on_bad_line(std::function<void(const ParseError&)> callback);

  // The names of the feature columns, in feature order.
  const std::vector<std::string>& feature_names() const { return feature_names_; }
  // The 1-based line on which the row last read (or the header) started.
  std::size_t line() const { return csv_.line(); }
  std::size_t events_read() const { return events_; }
  std::size_t bad_rows() const { return bad_; }

 private:
  Event parse_row(const std::vector<std::string>& fields) const;
  [[noreturn]] void fail(std::size_t column, const std::string& reason) const;

  CsvReader csv_;
  EventReaderOptions options_;
  std::function<void(const ParseError&)> on_bad_line_;
  std::size_t timestamp_ = 0;
  std::optional<std::size_t> user_;
  UserId default_user_;
  std::vector<std::size_t> features_;
  std::vector<std::string> feature_names_;
  std::size_t rows_ = 0;
  std::size_t events_ = 0;
  std::size_t bad_ = 0;
};

}  // namespace oap
