#include "oap/core/csv_event_reader.hpp"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "oap/core/json_config.hpp"
#include "oap/core/parse_number.hpp"
#include "oap/core/timestamp.hpp"

namespace oap {
namespace {

// A cell without the spaces around it (exporters often write "a, b").
std::string_view trimmed(const std::string& cell) {
  std::size_t b = cell.find_first_not_of(' ');
  if (b == std::string::npos) return {};
  std::size_t e = cell.find_last_not_of(' ');
  return std::string_view(cell).substr(b, e - b + 1);
}

}  // namespace

void CsvEventOptions::validate() const {
  OAP_CHECK(!timestamp_column.empty(), ConfigError, "csv.timestamp_column must not be empty");
  OAP_CHECK(!user_column.empty(), ConfigError, "csv.user_column must not be empty");
  if (auto problem = user_id_problem(user); !problem.empty()) {
    OAP_THROW(ConfigError, "csv.user: invalid user id \"" + user + "\": " + problem);
  }
  std::set<std::string> seen;
  for (const auto& c : columns) {
    OAP_CHECK(!c.empty(), ConfigError, "csv.columns: empty column name");
    OAP_CHECK(seen.insert(c).second, ConfigError,
              "csv.columns: column \"" + c + "\" is listed twice");
    OAP_CHECK(c != timestamp_column, ConfigError,
              "csv.columns: \"" + c + "\" is the timestamp column, not a feature");
  }
}

void to_json(nlohmann::json& j, const CsvEventOptions& o) {
  j = {{"timestamp_column", o.timestamp_column},
       {"user_column", o.user_column},
       {"user", o.user},
       {"columns", o.columns}};
}

void from_json(const nlohmann::json& j, CsvEventOptions& o) {
  JsonObjectReader r(j, "csv");
  o.timestamp_column = r.get<std::string>("timestamp_column", o.timestamp_column);
  o.user_column = r.get<std::string>("user_column", o.user_column);
  o.user = r.get<std::string>("user", o.user);
  o.columns = r.get<std::vector<std::string>>("columns", o.columns);
  r.finish();
  o.validate();
}

CsvEventReader::CsvEventReader(std::istream& in, std::string source_name, CsvEventOptions columns,
                               EventReaderOptions options)
    : csv_(in, std::move(source_name)), options_(options) {
  columns.validate();
  options_.validate();
  const auto& header = csv_.header();
  auto ts = csv_.column(columns.timestamp_column);
  if (!ts) {
    throw ParseError(csv_.source(), csv_.line(), columns.timestamp_column,
                     "no timestamp column \"" + columns.timestamp_column +
                         "\" in the header (name it with csv.timestamp_column)");
  }
  timestamp_ = *ts;
  user_ = csv_.column(columns.user_column);
  default_user_ = columns.user;
  if (!columns.columns.empty()) {
    for (const auto& name : columns.columns) {
      auto idx = csv_.column(name);
      if (!idx) {
        throw ParseError(csv_.source(), csv_.line(), name,
                         "no feature column \"" + name + "\" in the header (csv.columns)");
      }
      OAP_CHECK(!user_ || *idx != *user_, ConfigError,
                "csv.columns: \"" + name + "\" is the user column, not a feature");
      features_.push_back(*idx);
    }
  } else {
    for (std::size_t i = 0; i < header.size(); ++i) {
      if (i != timestamp_ && (!user_ || i != *user_)) features_.push_back(i);
    }
  }
  if (features_.empty()) {
    throw ParseError(csv_.source(), csv_.line(), "", "no feature columns in the header");
  }
  for (std::size_t idx : features_) feature_names_.push_back(header[idx]);
}

void CsvEventReader::set_on_bad_line(std::function<void(const ParseError&)> callback) {
  on_bad_line_ = std::move(callback);
}

std::optional<Event> CsvEventReader::next() {
  while (true) {
    std::optional<std::vector<std::string>> fields;
    try {
      fields = csv_.next();
      if (!fields) break;
      ++rows_;
      Event event = parse_row(*fields);
      ++events_;
      return event;
    } catch (const ParseError& e) {
      // A row with the wrong number of fields counts as a row too.
      if (!fields) ++rows_;
      ++bad_;
      if (options_.on_bad_line == OnBadLine::kFail) throw;
      if (on_bad_line_) on_bad_line_(e);
    }
  }
  if (rows_ == 0) {
    throw ParseError(csv_.source(), csv_.line(), "", "no data rows: the file has only a header");
  }
  return std::nullopt;
}

void CsvEventReader::fail(std::size_t column, const std::string& reason) const {
  throw ParseError(csv_.source(), csv_.line(), csv_.header()[column], reason);
}

Event CsvEventReader::parse_row(const std::vector<std::string>& f) const {
  Event e;
  if (user_) {
    e.user = f[*user_];
    if (auto problem = user_id_problem(e.user); !problem.empty()) {
      fail(*user_, "invalid user id: " + problem);
    }
  } else {
    e.user = default_user_;
  }
  const std::string& ts = f[timestamp_];
  auto t = parse_timestamp(trimmed(ts), options_.timezone);
  if (!t) fail(timestamp_, describe_bad_timestamp(ts));
  e.timestamp = *t;
  e.features.reserve(features_.size());
  for (std::size_t idx : features_) {
    auto v = parse_number<double>(trimmed(f[idx]));
    if (!v) fail(idx, "not a finite number: \"" + f[idx] + "\"");
    if (std::fabs(*v) > std::numeric_limits<float>::max()) {
      fail(idx, "outside the float range: \"" + f[idx] + "\"");
    }
    e.features.push_back(static_cast<float>(*v));
  }
  return e;
}

}  // namespace oap
