#include "personalizer_args.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "model_args.hpp"
#include "oap/core/atomic_file.hpp"
#include "oap/core/json_config.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap::cli {

std::vector<OptionSpec> personalizer_option_specs() {
  return {
      {"data-dir", true,
       "The pipeline's data directory: history, detector state, adapters, audit trail "
       "(default oap-data).",
       "DIR"},
      {"model", true,
       "Hugging Face model folder (default: the one `oap run` used on this data directory).",
       "DIR"},
      {"config", true,
       "The oap config file (docs/configuration.md): sections log, store, detect, policy, "
       "adapters, text_features, personalizer, model (default: what `oap run` used).",
       "FILE"},
      {"threads", true, "Intra-op threads (default 0 = all cores).", "N"},
  };
}

std::unique_ptr<Personalizer> open_personalizer(const Args& args, bool require_model, bool record,
                                                bool wait_for_updates) {
  const std::filesystem::path data_dir = args.value("data-dir").value_or("oap-data");
  const auto recorded_path = data_dir / "oap-run.json";
  nlohmann::json recorded = nlohmann::json::object();
  if (std::filesystem::exists(recorded_path)) recorded = load_json_file(recorded_path);
  ConfigFile config = config_from(args);
  nlohmann::json config_json = nlohmann::json::object();
  if (args.value("config")) {
    config_json = load_json_file(*args.value("config"));
  } else if (recorded.contains("config")) {
    config_json = recorded.at("config");
    config = ConfigFile(config_json, recorded_path.string() + " (config)");
  }
  std::string model_dir = args.value("model").value_or(recorded.value("model", std::string()));
  if (require_model && model_dir.empty()) {
    throw UsageError("--model is required (no model recorded in " + recorded_path.string() + ")");
  }
  PersonalizerOptions o;
  o.data_dir = data_dir;
  o.store = config.get<StoreOptions>("store");
  o.detect = config.get<DetectorBankOptions>("detect", personalizer_detect_defaults());
  o.policy = config.get<DeviationPolicyOptions>("policy");
  o.adapters = config.get<AdapterManagerOptions>("adapters");
  o.text_features = config.get<TextFeatureOptions>("text_features");
  o.personalizer = config.get<UpdatePlanOptions>("personalizer");
  if (wait_for_updates) o.personalizer.wait_for_updates = true;
  std::shared_ptr<const CausalLM> model;
  std::shared_ptr<const Tokenizer> tokenizer;
  if (!model_dir.empty()) {
    model_dir = std::filesystem::absolute(model_dir).lexically_normal().string();
    model = CausalLM::load(model_dir,
                           causal_lm_options_from(args, config.get<CausalLMOptions>("model")));
    tokenizer = Tokenizer::load(model_dir);
  }
  auto p = std::make_unique<Personalizer>(o, model, tokenizer);
  if (record) {
    // Atomic: a reader (or the next run after a crash) sees the old or the new file, never half.
    const nlohmann::json j = {{"model", model_dir}, {"config", config_json}};
    write_text_file_atomic(recorded_path, j.dump(2) + "\n");
  }
  return p;
}

}  // namespace oap::cli
