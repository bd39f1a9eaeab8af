#include "oap/llm/rope_scaling.hpp"

#include <cmath>
#include <numbers>

#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"

namespace oap {

RopeScaling rope_scaling_from_json(const nlohmann::json& j, const std::string& source) {
  using Type = RopeScaling::Type;
  RopeScaling s;
  if (j.is_null()) return s;
  OAP_CHECK(j.is_object(), ConfigError, source + ": rope_scaling must be an object or null");
  JsonObjectReader r(j, source);
  // Older files say "type", newer ones "rope_type"; some carry both.
  std::string type = r.get<std::string>("rope_type", r.get<std::string>("type", "default"));
  s.factor = r.get<double>("factor", 1.0);
  if (type == "default" || type == "none") {
    s.type = Type::kNone;
  } else if (type == "linear") {
    s.type = Type::kLinear;
  } else if (type == "dynamic") {
    s.type = Type::kDynamic;
  } else if (type == "llama3") {
    s.type = Type::kLlama3;
    s.low_freq_factor = r.get<double>("low_freq_factor", 1.0);
    s.high_freq_factor = r.get<double>("high_freq_factor", 4.0);
    s.original_max_position_embeddings = r.get<std::int64_t>("original_max_position_embeddings", 0);
    OAP_CHECK(s.original_max_position_embeddings > 0, ConfigError,
              source +
                  ".original_max_position_embeddings: llama3 rope scaling needs a positive "
                  "value");
    OAP_CHECK(s.high_freq_factor > s.low_freq_factor, ConfigError,
              source + ": llama3 rope scaling needs high_freq_factor > low_freq_factor");
  } else {
    OAP_THROW(ConfigError, source + ": unsupported rope scaling type '" + type +
                               "' (supported: default, linear, dynamic, llama3)");
  }
  OAP_CHECK(s.factor > 0 && std::isfinite(s.factor), ConfigError,
            source + ".factor: must be a positive number, got " + std::to_string(s.factor));
  return s;
}

void from_json(const nlohmann::json& j, RopeScaling& s) {
  s = rope_scaling_from_json(j, "rope_scaling");
}

void to_json(nlohmann::json& j, const RopeScaling& s) {
  using Type = RopeScaling::Type;
  switch (s.type) {
    case Type::kNone:
      j = nullptr;
      return;
    case Type::kLinear:
      j = {{"rope_type", "linear"}, {"factor", s.factor}};
      return;
    case Type::kDynamic:
      j = {{"rope_type", "dynamic"}, {"factor", s.factor}};
      return;
    case Type::kLlama3:
      j = {{"rope_type", "llama3"},
           {"factor", s.factor},
           {"low_freq_factor", s.low_freq_factor},
           {"high_freq_factor", s.high_freq_factor},
           {"original_max_position_embeddings", s.original_max_position_embeddings}};
      return;
  }
  j = nullptr;
}

std::vector<float> rope_inv_freq(const RopeScaling& s, double rope_theta, std::int64_t head_dim,
                                 std::int64_t max_position_embeddings, std::int64_t seq_len) {
  OAP_CHECK(head_dim > 0 && head_dim % 2 == 0, InvalidArgument,
            "rotary embeddings need an even head_dim, got " + std::to_string(head_dim));
  const auto d = static_cast<double>(head_dim);
  double base = rope_theta;
  if (s.type == RopeScaling::Type::kDynamic && seq_len > max_position_embeddings) {
    base = rope_theta * std::pow(s.factor * static_cast<double>(seq_len) /
                                         static_cast<double>(max_position_embeddings) -
                                     (s.factor - 1.0),
                                 d / (d - 2.0));
  }
  std::vector<float> inv(static_cast<std::size_t>(head_dim / 2));
  for (std::size_t i = 0; i < inv.size(); ++i) {
    // Hugging Face computes this in float32: base ** (arange(0, d, 2).float() / d).
    const float expo = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    double f = 1.0 / static_cast<double>(std::pow(static_cast<float>(base), expo));
    if (s.type == RopeScaling::Type::kLinear) {
      f /= s.factor;  // same as dividing the positions by factor
    } else if (s.type == RopeScaling::Type::kLlama3) {
      const double old_len = static_cast<double>(s.original_max_position_embeddings);
      const double low_wavelen = old_len / s.low_freq_factor;
      const double high_wavelen = old_len / s.high_freq_factor;
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_wavelen) {
        f /= s.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth =
            (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1.0 - smooth) * f / s.factor + smooth * f;
      }
    }
    inv[i] = static_cast<float>(f);
  }
  return inv;
}

}  // namespace oap
