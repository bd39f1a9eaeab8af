#include "oap/core/error.hpp"

namespace oap {
namespace {

std::string compose(const std::string& source, std::size_t line, const std::string& field,
                    const std::string& message) {
  std::string out = source.empty() ? std::string("<input>") : source;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!field.empty()) out += "field '" + field + "': ";
  out += message;
  return out;
}

}  // namespace

ParseError::ParseError(std::string source, std::size_t line, std::string field, std::string message)
    : Error(compose(source, line, field, message)),
      source_(std::move(source)),
      line_(line),
      field_(std::move(field)),
      reason_(std::move(message)) {}

namespace detail {

std::string with_location(const std::string& message, const char* file, int line) {
  return message + " [" + file + ":" + std::to_string(line) + "]";
}

}  // namespace detail
}  // namespace oap
