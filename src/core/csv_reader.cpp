#include "oap/core/csv_reader.hpp"

#include <istream>
#include <set>

#include "oap/core/error.hpp"

namespace oap {

CsvReader::CsvReader(std::istream& in, std::string source_name, char delimiter)
    : in_(in), source_(std::move(source_name)), delimiter_(delimiter) {
  OAP_CHECK(delimiter != '"' && delimiter != '\n' && delimiter != '\r', InvalidArgument,
            "csv: the delimiter cannot be a quote or a line break");
  if (!read_row(header_))
    throw ParseError(source_, line_ + 1, "", "no header row: the input is empty");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < header_.size(); ++i) {
    if (header_[i].empty()) {
      throw ParseError(source_, row_line_, "column " + std::to_string(i + 1),
                       "empty column name in the header");
    }
    if (!seen.insert(header_[i]).second) {
      throw ParseError(source_, row_line_, header_[i], "duplicate column name in the header");
    }
  }
}

std::optional<std::size_t> CsvReader::column(const std::string& name) const {
  for (std::size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] == name) return i;
  }
  return std::nullopt;
}

std::optional<std::vector<std::string>> CsvReader::next() {
  std::vector<std::string> fields;
  if (!read_row(fields)) return std::nullopt;
  if (fields.size() != header_.size()) {
    throw ParseError(source_, row_line_, "",
                     "expected " + std::to_string(header_.size()) +
                         " fields (as in the header), got " + std::to_string(fields.size()));
  }
  return fields;
}

bool CsvReader::read_row(std::vector<std::string>& fields) {
  fields.clear();
  std::string line;
  // Skip blank lines; a row starts at the first non-blank one.
  while (true) {
    if (!std::getline(in_, line)) {
      if (in_.bad()) throw IoError(source_ + ": read failed after line " + std::to_string(line_));
      return false;
    }
    ++line_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) break;
  }
  row_line_ = line_;
  std::string field;
  bool quoted = false;      // inside a quoted field
  bool was_quoted = false;  // the current field was quoted (only a delimiter may follow)
  std::size_t i = 0;
  while (true) {
    if (i == line.size()) {
      if (!quoted) break;
      // A line break inside quotes belongs to the field: continue with the next line.
      if (!std::getline(in_, line)) {
        throw ParseError(source_, row_line_, "column " + std::to_string(fields.size() + 1),
                         "unterminated quoted field");
      }
      ++line_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      field += '\n';
      i = 0;
      continue;
    }
    char c = line[i++];
    if (quoted) {
      if (c != '"') {
        field += c;
      } else if (i < line.size() && line[i] == '"') {
        field += '"';
        ++i;
      } else {
        quoted = false;
      }
    } else if (c == delimiter_) {
      fields.push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else if (was_quoted) {
      throw ParseError(source_, line_, "column " + std::to_string(fields.size() + 1),
                       std::string("unexpected '") + c + "' after a closing quote");
    } else if (c == '"' && field.empty()) {
      quoted = was_quoted = true;
    } else {
      field += c;
    }
  }
  fields.push_back(std::move(field));
  return true;
}

}  // namespace oap
