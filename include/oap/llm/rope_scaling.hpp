#pragma once
// RopeScaling: how a checkpoint stretches rotary position embeddings, and the inverse frequencies.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace oap {

// The rotary-embedding scaling of a Hugging Face config ("rope_scaling" or "rope_parameters").
// Plain value type.
struct RopeScaling {
  enum class Type { kNone, kLinear, kDynamic, kLlama3 };
  Type type = Type::kNone;
  double factor = 1.0;            // linear/dynamic/llama3: the stretch factor (> 0)
  double low_freq_factor = 1.0;   // llama3 only
  double high_freq_factor = 4.0;  // llama3 only
  std::int64_t original_max_position_embeddings = 0;  // llama3 only (8192 for Llama 3.1)
};

// The Hugging Face spelling; null for kNone.
void to_json(nlohmann::json& j, const RopeScaling& s);
// Reads {"type"|"rope_type": "default"|"linear"|"dynamic"|"llama3", "factor", ...}; null is
// kNone. Throws ConfigError naming "rope_scaling" and the field for anything else (yarn,
// longrope, ... are refused by name).
void from_json(const nlohmann::json& j, RopeScaling& s);
// As from_json, with errors naming source ("model/config.json.rope_scaling").
RopeScaling rope_scaling_from_json(const nlohmann::json& j, const std::string& source);

// The rotary inverse frequencies, as Hugging Face computes them (in double, rounded to float at
// the end as HF does in float32): inv_freq[i] = 1 / theta^(2i/head_dim), i < head_dim/2, then
// the scaling. seq_len (the longest position + 1 in the current call) matters only for kDynamic,
// which rescales theta once seq_len exceeds max_position_embeddings.
std::vector<float> rope_inv_freq(const RopeScaling& scaling, double rope_theta,
                                 std::int64_t head_dim, std::int64_t max_position_embeddings,
                                 std::int64_t seq_len);

}  // namespace oap
