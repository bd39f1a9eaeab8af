#include "oap/adapt/text_samples.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "oap/core/error.hpp"

namespace oap {

std::vector<TextSample> read_text_samples(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  OAP_CHECK(in.good(), IoError, "cannot read text samples file " + path.string());
  const std::string source = path.string();
  std::vector<TextSample> out;
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw ParseError(source, n, "", std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object()) throw ParseError(source, n, "", "expected a JSON object");
    const auto text = j.find("text");
    if (text == j.end() || !text->is_string() || text->get<std::string>().empty()) {
      throw ParseError(source, n, "text", "expected a non-empty string");
    }
    TextSample s{text->get<std::string>(), 1.0};
    if (const auto w = j.find("weight"); w != j.end()) {
      if (!w->is_number() || !std::isfinite(w->get<double>()) || w->get<double>() < 0) {
        throw ParseError(source, n, "weight", "expected a finite number >= 0, got " + w->dump());
      }
      s.weight = w->get<double>();
    }
    out.push_back(std::move(s));
  }
  OAP_CHECK(!in.bad(), IoError, "error reading " + source);
  if (out.empty()) throw ParseError(source, 0, "", "no text samples");
  return out;
}

}  // namespace oap
