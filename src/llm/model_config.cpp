#include "oap/llm/model_config.hpp"

#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"

namespace oap {
namespace {

constexpr const char* kSupported = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";

std::string architecture_for_model_type(const std::string& model_type) {
  if (model_type == "llama") return "LlamaForCausalLM";
  if (model_type == "mistral") return "MistralForCausalLM";
  if (model_type == "qwen2") return "Qwen2ForCausalLM";
  return "";
}

std::optional<std::int64_t> optional_id(const nlohmann::json& v, const std::string& where) {
  if (v.is_null()) return std::nullopt;
  OAP_CHECK(v.is_number_integer(), ConfigError, where + ": expected an integer token id or null");
  return v.get<std::int64_t>();
}

std::optional<std::int64_t> optional_int(const nlohmann::json& v, const std::string& where) {
  if (v.is_null()) return std::nullopt;
  OAP_CHECK(v.is_number_integer(), ConfigError, where + ": expected an integer or null");
  return v.get<std::int64_t>();
}

}  // namespace

ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& source) {
  OAP_CHECK(j.is_object(), ConfigError, source + ": a model config must be a JSON object");
  // No finish(): Hugging Face configs carry many keys that do not affect inference.
  JsonObjectReader r(j, source);
  ModelConfig c;
  c.model_type = r.get<std::string>("model_type", "");
  const auto& archs = r.raw("architectures");
  if (archs.is_array() && !archs.empty()) {
    OAP_CHECK(archs[0].is_string(), ConfigError, source + ".architectures[0]: expected a string");
    c.architecture = archs[0].get<std::string>();
  } else {
    OAP_CHECK(archs.is_null() || archs.is_array(), ConfigError,
              source + ".architectures: expected a list of class names");
    c.architecture = architecture_for_model_type(c.model_type);
    OAP_CHECK(!c.architecture.empty(), ConfigError,
              source + ": no architectures and unsupported model_type '" + c.model_type +
                  "' (supported: llama, mistral, qwen2)");
  }
  OAP_CHECK(c.architecture == "LlamaForCausalLM" || c.architecture == "MistralForCausalLM" ||
                c.architecture == "Qwen2ForCausalLM",
            ConfigError,
            source + ": unsupported architecture '" + c.architecture +
                "' (supported: " + kSupported + ")");
  if (c.model_type.empty()) {
    c.model_type = c.architecture == "Qwen2ForCausalLM"     ? "qwen2"
                   : c.architecture == "MistralForCausalLM" ? "mistral"
                                                            : "llama";
  }
  const bool qwen2 = c.architecture == "Qwen2ForCausalLM";

  auto required = [&](const char* key) {
    OAP_CHECK(j.contains(key), ConfigError, source + ": missing required field '" + key + "'");
    return r.get<std::int64_t>(key, 0);
  };
  c.vocab_size = required("vocab_size");
  c.hidden_size = required("hidden_size");
  c.intermediate_size = required("intermediate_size");
  c.num_hidden_layers = required("num_hidden_layers");
  c.num_attention_heads = required("num_attention_heads");
  c.num_key_value_heads = r.get<std::int64_t>("num_key_value_heads", c.num_attention_heads);
  const auto& hd = r.raw("head_dim");
  if (hd.is_null()) {
    OAP_CHECK(c.num_attention_heads > 0, ConfigError,
              source + ".num_attention_heads: must be positive");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  } else {
    c.head_dim = r.get<std::int64_t>("head_dim", 0);
  }
  c.rms_norm_eps = r.get<double>("rms_norm_eps", 1e-6);
  c.rope_theta = r.get<double>("rope_theta", 10000.0);
  c.max_position_embeddings = r.get<std::int64_t>("max_position_embeddings", 2048);
  c.tie_word_embeddings = r.get<bool>("tie_word_embeddings", false);
  c.attention_bias = r.get<bool>("attention_bias", false);
  c.qkv_bias = qwen2;  // Qwen2 always has q/k/v biases and no o bias; its config says nothing
  c.mlp_bias = r.get<bool>("mlp_bias", false);
  c.hidden_act = r.get<std::string>("hidden_act", "silu");
  c.torch_dtype = r.get<std::string>("torch_dtype", r.get<std::string>("dtype", "float32"));
  c.bos_token_id = optional_id(r.raw("bos_token_id"), source + ".bos_token_id");
  c.pad_token_id = optional_id(r.raw("pad_token_id"), source + ".pad_token_id");
  const auto& eos = r.raw("eos_token_id");
  if (eos.is_array()) {
    for (std::size_t i = 0; i < eos.size(); ++i) {
      OAP_CHECK(eos[i].is_number_integer(), ConfigError,
                source + ".eos_token_id[" + std::to_string(i) + "]: expected an integer");
      c.eos_token_ids.push_back(eos[i].get<std::int64_t>());
    }
  } else if (auto id = optional_id(eos, source + ".eos_token_id")) {
    c.eos_token_ids.push_back(*id);
  }

  if (c.model_type == "mistral" || c.architecture == "MistralForCausalLM") {
    c.sliding_window = optional_int(r.raw("sliding_window"), source + ".sliding_window");
  }
  // Qwen2's window applies only to layers from max_window_layers on; not implemented, so refuse
  // rather than compute something else. Qwen2 and Qwen2.5 checkpoints ship with it off.
  OAP_CHECK(!(qwen2 && r.get<bool>("use_sliding_window", false)), ConfigError,
            source +
                ".use_sliding_window: Qwen2's per-layer sliding window is not supported "
                "(set it to false to attend to all positions)");

  // transformers v5 moves rope_theta and the scaling into "rope_parameters".
  const auto& params = r.raw("rope_parameters");
  if (params.is_object()) {
    if (params.contains("rope_theta")) {
      OAP_CHECK(params["rope_theta"].is_number(), ConfigError,
                source + ".rope_parameters.rope_theta: expected a number");
      c.rope_theta = params["rope_theta"].get<double>();
    }
    c.rope_scaling = rope_scaling_from_json(params, source + ".rope_parameters");
  } else {
    c.rope_scaling = rope_scaling_from_json(r.raw("rope_scaling"), source + ".rope_scaling");
  }
  c.validate();
  return c;
}

ModelConfig ModelConfig::from_file(const std::filesystem::path& path) {
  OAP_CHECK(std::filesystem::exists(path), IoError,
            "model path " + path.string() +
                " does not exist (expected a Hugging Face model directory or its config.json)");
  const auto file = std::filesystem::is_directory(path) ? path / "config.json" : path;
  return model_config_from_json(load_json_file(file), file.string());
}

void from_json(const nlohmann::json& j, ModelConfig& c) {
  c = model_config_from_json(j, "config.json");
}

void to_json(nlohmann::json& j, const ModelConfig& c) {
  j = {
      {"architectures", {c.architecture}},
      {"model_type", c.model_type},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"num_key_value_heads", c.num_key_value_heads},
      {"head_dim", c.head_dim},
      {"rms_norm_eps", c.rms_norm_eps},
      {"rope_theta", c.rope_theta},
      {"rope_scaling", c.rope_scaling},
      {"max_position_embeddings", c.max_position_embeddings},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"mlp_bias", c.mlp_bias},
      {"hidden_act", c.hidden_act},
      {"torch_dtype", c.torch_dtype},
      {"bos_token_id", c.bos_token_id ? nlohmann::json(*c.bos_token_id) : nlohmann::json(nullptr)},
      {"pad_token_id", c.pad_token_id ? nlohmann::json(*c.pad_token_id) : nlohmann::json(nullptr)},
  };
  if (c.model_type != "qwen2") j["attention_bias"] = c.attention_bias;
  if (c.model_type == "mistral") {
    j["sliding_window"] =
        c.sliding_window ? nlohmann::json(*c.sliding_window) : nlohmann::json(nullptr);
  }
  if (c.eos_token_ids.size() == 1) {
    j["eos_token_id"] = c.eos_token_ids[0];
  } else if (c.eos_token_ids.empty()) {
    j["eos_token_id"] = nullptr;
  } else {
    j["eos_token_id"] = c.eos_token_ids;
  }
}

void ModelConfig::validate() const {
  auto positive = [](std::int64_t v, const char* name) {
    OAP_CHECK(v > 0, ConfigError,
              std::string("model config: ") + name + " must be positive, got " + std::to_string(v));
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_hidden_layers, "num_hidden_layers");
  positive(num_attention_heads, "num_attention_heads");
  positive(num_key_value_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  positive(max_position_embeddings, "max_position_embeddings");
  OAP_CHECK(num_attention_heads % num_key_value_heads == 0, ConfigError,
            "model config: num_attention_heads (" + std::to_string(num_attention_heads) +
                ") must be a multiple of num_key_value_heads (" +
                std::to_string(num_key_value_heads) + ")");
  OAP_CHECK(
      head_dim % 2 == 0, ConfigError,
      "model config: head_dim must be even for rotary embeddings, got " + std::to_string(head_dim));
  OAP_CHECK(rms_norm_eps > 0, ConfigError, "model config: rms_norm_eps must be positive");
  OAP_CHECK(rope_theta > 0, ConfigError, "model config: rope_theta must be positive");
  OAP_CHECK(hidden_act == "silu", ConfigError,
            "model config: unsupported hidden_act '" + hidden_act + "' (only silu)");
  for (auto id : eos_token_ids) {
    OAP_CHECK(id >= 0 && id < vocab_size, ConfigError,
              "model config: eos_token_id " + std::to_string(id) + " is outside the vocabulary");
  }
  OAP_CHECK(!sliding_window || *sliding_window > 0, ConfigError,
            "model config: sliding_window must be positive or null, got " +
                std::to_string(sliding_window.value_or(0)));
  OAP_CHECK(!sliding_window || model_type == "mistral", ConfigError,
            "model config: sliding_window is only supported for Mistral, not " + model_type);
  if (bos_token_id) {
    OAP_CHECK(*bos_token_id >= 0 && *bos_token_id < vocab_size, ConfigError,
              "model config: bos_token_id " + std::to_string(*bos_token_id) +
                  " is outside the vocabulary");
  }
}

std::int64_t ModelConfig::num_parameters() const {
  const std::int64_t q = num_attention_heads * head_dim;
  const std::int64_t kv = num_key_value_heads * head_dim;
  std::int64_t layer = hidden_size * (q + 2 * kv) + q * hidden_size +
                       3 * hidden_size * intermediate_size + 2 * hidden_size;
  if (has_qkv_bias()) layer += q + 2 * kv;
  if (attention_bias) layer += hidden_size;
  if (mlp_bias) layer += 2 * intermediate_size + hidden_size;
  std::int64_t total = num_hidden_layers * layer + vocab_size * hidden_size + hidden_size;
  if (!tie_word_embeddings) total += vocab_size * hidden_size;
  return total;
}

}  // namespace oap
