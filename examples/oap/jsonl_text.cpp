#include "jsonl_text.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace oap::cli {

std::string jsonl_text(const std::string& line, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(where + ": not JSON (" + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
    throw std::runtime_error(where + ": expected an object with a string \"text\" field");
  }
  return j["text"].get<std::string>();
}

}  // namespace oap::cli
