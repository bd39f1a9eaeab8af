#include "oap/llm/generation_options.hpp"

#include <cmath>

#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"

namespace oap {

void GenerationOptions::validate() const {
  OAP_CHECK(max_new_tokens > 0, ConfigError, "generation.max_new_tokens: must be > 0");
  OAP_CHECK(
      temperature >= 0 && std::isfinite(temperature), ConfigError,
      "generation.temperature: must be >= 0 (0 = greedy), got " + std::to_string(temperature));
  OAP_CHECK(top_p > 0 && top_p <= 1, ConfigError,
            "generation.top_p: must be in (0, 1], got " + std::to_string(top_p));
  OAP_CHECK(
      repetition_penalty > 0 && std::isfinite(repetition_penalty), ConfigError,
      "generation.repetition_penalty: must be > 0, got " + std::to_string(repetition_penalty));
  for (const auto& s : stop_strings) {
    OAP_CHECK(!s.empty(), ConfigError, "generation.stop_strings: empty stop string");
  }
}

void from_json(const nlohmann::json& j, GenerationOptions& o) {
  JsonObjectReader r(j, "generation");
  o.max_new_tokens = r.get<std::size_t>("max_new_tokens", o.max_new_tokens);
  o.temperature = r.get<double>("temperature", o.temperature);
  o.top_k = r.get<std::size_t>("top_k", o.top_k);
  o.top_p = r.get<double>("top_p", o.top_p);
  o.repetition_penalty = r.get<double>("repetition_penalty", o.repetition_penalty);
  o.seed = r.get<std::uint64_t>("seed", o.seed);
  o.stop_token_ids = r.get<std::vector<std::int64_t>>("stop_token_ids", o.stop_token_ids);
  o.stop_at_eos = r.get<bool>("stop_at_eos", o.stop_at_eos);
  o.stop_strings = r.get<std::vector<std::string>>("stop_strings", o.stop_strings);
  r.finish();
  o.validate();
}

void to_json(nlohmann::json& j, const GenerationOptions& o) {
  j = {{"max_new_tokens", o.max_new_tokens},
       {"temperature", o.temperature},
       {"top_k", o.top_k},
       {"top_p", o.top_p},
       {"repetition_penalty", o.repetition_penalty},
       {"seed", o.seed},
       {"stop_token_ids", o.stop_token_ids},
       {"stop_at_eos", o.stop_at_eos},
       {"stop_strings", o.stop_strings}};
}

}  // namespace oap
