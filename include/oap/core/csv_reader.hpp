#pragma once
// CsvReader: rows of fields from a CSV stream (RFC 4180 quoting), with a header row.

#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace oap {

// Splits a comma-separated stream into rows. The first non-blank line is the header; every
// later non-blank row must have as many fields as the header. Fields may be quoted with '"'
// (a quoted field may hold the delimiter, line breaks and "" for one quote); a trailing '\r'
// (Windows line ends) is dropped; blank lines are ignored. Fields are returned verbatim
// (no trimming, no type conversion).
//
// Errors are ParseError(source, line, field, reason): a stream without a header ("no header
// row"), a duplicate or empty header name, a row with the wrong number of fields, an
// unterminated quote, characters after a closing quote; IoError if the stream fails.
// Not thread-safe; the stream is borrowed and must outlive the reader.
class CsvReader {
 public:
  // Reads the header row at once.
  CsvReader(std::istream& in, std::string source_name, char delimiter = ',');

  const std::vector<std::string>& header() const { return header_; }
  // Index of the header column called name, or nullopt.
  std::optional<std::size_t> column(const std::string& name) const;
  // The next row (size header().size()), or nullopt at the end of the stream.
  std::optional<std::vector<std::string>> next();
  // The 1-based line on which the row last returned (or the header) started.
  std::size_t line() const { return row_line_; }
  const std::string& source() const { return source_; }

 private:
  // Reads one logical row (which may span lines inside quotes); false at end of stream.
  bool read_row(std::vector<std::string>& fields);

  std::istream& in_;
  std::string source_;
  char delimiter_;
  std::vector<std::string> header_;
  std::size_t line_ = 0;      // physical lines consumed
  std::size_t row_line_ = 0;  // first line of the last row
};

}  // namespace oap
