#pragma once
// The oap::Error family and the check macros that throw it.

#include <cstddef>
#include <stdexcept>
#include <string>

namespace oap {

// Base of every exception oap throws. what() names the object, the value and, where one helps,
// a hint, followed by the source location that raised it: "... [src/store/sqlite_store.cpp:42]".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An argument or value that breaks a documented precondition.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// A file or stream could not be read or written.
class IoError : public Error {
 public:
  using Error::Error;
};

// A configuration (JSON options) that is malformed or out of range.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A history store failed (database error, corrupt row, closed store).
class StoreError : public Error {
 public:
  using Error::Error;
};

// One bad record in an input (a line of JSON Lines, a CSV row). Carries where it is:
// the source name (usually a file path), the 1-based line number (0 if not line-based) and
// the field ("features[3]", "user"; empty for whole-line problems).
class ParseError : public Error {
 public:
  ParseError(std::string source, std::size_t line, std::string field, std::string message);

  const std::string& source() const noexcept { return source_; }
  std::size_t line() const noexcept { return line_; }
  const std::string& field() const noexcept { return field_; }
  // The message without source, line and field.
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string source_;
  std::size_t line_;
  std::string field_;
  std::string reason_;
};

namespace detail {
// Appends " [file:line]" to message. file is __FILE__ as compiled: the project's own targets are
// built with -fmacro-prefix-map (cmake/OapTargetOptions.cmake), so it is relative to the project
// root ("src/store/sqlite_store.cpp") wherever the checkout lives.
std::string with_location(const std::string& message, const char* file, int line);

template <typename E>
[[noreturn]] void raise(const char* file, int line, const std::string& message) {
  throw E(with_location(message, file, line));
}
}  // namespace detail

}  // namespace oap

// Throws ErrorType(message + location) unless cond holds. message is any expression convertible
// to std::string; it is evaluated only when the check fails.
#define OAP_CHECK(cond, ErrorType, message)                           \
  do {                                                                \
    if (!(cond)) {                                                    \
      ::oap::detail::raise<ErrorType>(__FILE__, __LINE__, (message)); \
    }                                                                 \
  } while (0)

// Unconditionally throws ErrorType(message + location).
#define OAP_THROW(ErrorType, message) ::oap::detail::raise<ErrorType>(__FILE__, __LINE__, (message))
