#include "oap/llm/peft_adapter.hpp"

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/atomic_file.hpp"
#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"
#include "oap/llm/safetensors.hpp"

namespace oap {
namespace {

constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";

// adapter_config.json; keys oap does not use are ignored (PEFT writes many).
PeftAdapterConfig parse_config(const nlohmann::json& j, const std::string& file) {
  const auto fail = [&](const std::string& what) { OAP_THROW(ConfigError, file + ": " + what); };
  if (!j.is_object()) fail("not a JSON object");
  JsonObjectReader r(j, file);
  const auto peft_type = r.get<std::string>("peft_type", "LORA");
  if (peft_type != "LORA") fail("peft_type is \"" + peft_type + "\"; oap reads LoRA adapters only");
  PeftAdapterConfig c;
  c.rank = r.require<std::int64_t>("r");
  c.alpha = r.get<double>("lora_alpha", static_cast<double>(c.rank));
  c.rslora = r.get<bool>("use_rslora", false);
  c.base_model = r.get<std::string>("base_model_name_or_path", "");
  if (r.get<bool>("fan_in_fan_out", false)) fail("fan_in_fan_out = true is not supported");
  if (r.get<bool>("use_dora", false)) fail("use_dora = true (DoRA) is not supported");
  if (const auto bias = r.get<std::string>("bias", "none"); bias != "none") {
    fail("bias = \"" + bias + "\" is not supported (only \"none\")");
  }
  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    if (const auto& v = r.raw(key); !v.is_null() && !v.empty()) {
      fail(std::string(key) + " is not supported (one rank and alpha for all modules)");
    }
  }
  for (const char* key : {"layers_to_transform", "modules_to_save"}) {
    if (!r.raw(key).is_null()) fail(std::string(key) + " is not supported");
  }
  const auto& modules = r.require_raw("target_modules");
  const std::vector<std::string> names =
      modules.is_string() ? std::vector<std::string>{modules.get<std::string>()}
                          : r.require<std::vector<std::string>>("target_modules");
  for (const auto& name : names) {
    auto t = parse_lora_target(name);
    if (!t) {
      fail("target_modules: \"" + name +
           "\" is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj "
           "(regular expressions are not supported)");
    }
    c.targets.push_back(*t);
  }
  if (c.rank <= 0) fail("r must be > 0, got " + std::to_string(c.rank));
  if (!std::isfinite(c.alpha)) fail("lora_alpha must be a finite number");
  if (c.targets.empty()) fail("target_modules is empty");
  return c;
}

}  // namespace

double PeftAdapterConfig::scale() const { return lora_scale(alpha, rank, rslora); }

void save_peft_adapter(const std::filesystem::path& dir, const LoraWeights& weights,
                       const PeftAdapterConfig& config) {
  OAP_CHECK(config.rank > 0, InvalidArgument, "save_peft_adapter: rank must be > 0");
  auto tensors = weights.named_tensors();
  for (auto& [name, t] : tensors) {
    const bool is_a = name.ends_with(".lora_A.weight");
    const auto r = is_a ? t.size(0) : t.size(1);
    OAP_CHECK(t.dim() == 2 && r == config.rank, InvalidArgument,
              "save_peft_adapter: " + name + " has shape " + c10::str(t.sizes()) +
                  ", expected rank " + std::to_string(config.rank));
    t = t.detach();
  }
  nlohmann::json modules = nlohmann::json::array();
  for (auto t : config.targets) modules.push_back(std::string(lora_target_name(t)));
  const nlohmann::json j = {
      {"peft_type", "LORA"},        {"task_type", "CAUSAL_LM"},
      {"r", config.rank},           {"lora_alpha", config.alpha},
      {"target_modules", modules},  {"use_rslora", config.rslora},
      {"lora_dropout", 0.0},        {"bias", "none"},
      {"fan_in_fan_out", false},    {"inference_mode", true},
      {"modules_to_save", nullptr}, {"base_model_name_or_path", config.base_model}};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  OAP_CHECK(!ec, IoError, "cannot create adapter folder " + dir.string() + ": " + ec.message());
  save_safetensors(dir / kWeightsFile, tensors, {{"format", "pt"}});
  detail::write_text_file_atomic(dir / kConfigFile, j.dump(2) + "\n");
}

PeftAdapter load_peft_adapter(const std::filesystem::path& dir, const ModelConfig& model,
                              const std::string& device) {
  const auto config_path = dir / kConfigFile;
  const auto weights_path = dir / kWeightsFile;
  for (const auto& p : {config_path, weights_path}) {
    OAP_CHECK(std::filesystem::is_regular_file(p), IoError,
              "adapter folder " + dir.string() + " has no " + p.filename().string());
  }
  PeftAdapter out{parse_config(load_json_file(config_path), config_path.string()),
                  LoraWeights(model.num_hidden_layers)};
  const auto& c = out.config;
  const auto st = SafeTensors::open(weights_path);
  const std::string where = weights_path.string();
  const auto opts = torch::TensorOptions().dtype(torch::kFloat).device(torch::Device(device));
  std::set<std::string> expected;
  for (std::int64_t layer = 0; layer < model.num_hidden_layers; ++layer) {
    for (auto t : c.targets) {
      const std::string prefix = peft_module_name(layer, t);
      const std::string a_name = prefix + ".lora_A.weight", b_name = prefix + ".lora_B.weight";
      expected.insert(a_name);
      expected.insert(b_name);
      const bool has_a = st->contains(a_name), has_b = st->contains(b_name);
      // PEFT saves every targeted module of every layer; a missing pair means another model.
      OAP_CHECK(has_a && has_b, ConfigError,
                where + ": no " + (has_a ? b_name : a_name) + " (target " +
                    std::string(lora_target_name(t)) + " of layer " + std::to_string(layer) +
                    "; is the adapter for this model?)");
      const auto [in, out_features] = lora_target_shape(model, t);
      auto a = st->tensor(a_name);
      auto b = st->tensor(b_name);
      OAP_CHECK(a.dim() == 2 && a.size(0) == c.rank && a.size(1) == in, ConfigError,
                where + ": " + a_name + " has shape " + c10::str(a.sizes()) + ", expected [" +
                    std::to_string(c.rank) + ", " + std::to_string(in) + "]");
      OAP_CHECK(b.dim() == 2 && b.size(0) == out_features && b.size(1) == c.rank, ConfigError,
                where + ": " + b_name + " has shape " + c10::str(b.sizes()) + ", expected [" +
                    std::to_string(out_features) + ", " + std::to_string(c.rank) + "]");
      OAP_CHECK(a.is_floating_point() && b.is_floating_point(), ConfigError,
                where + ": " + prefix + " is not a floating-point tensor");
      out.weights.set(layer, t,
                      LoraPair{a.to(opts, /*non_blocking=*/false, /*copy=*/true),
                               b.to(opts, /*non_blocking=*/false, /*copy=*/true), c.scale()});
    }
  }
  for (const auto& name : st->names()) {
    OAP_CHECK(expected.contains(name), ConfigError,
              where + ": unexpected tensor " + name +
                  " (not a LoRA A/B of target_modules in the model's " +
                  std::to_string(model.num_hidden_layers) + " layers)");
  }
  return out;
}

}  // namespace oap
