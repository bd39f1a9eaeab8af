// oap adapt: train a LoRA adapter offline with the library's rapid trainer and write it in the
// PEFT layout.

#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_args.hpp"
#include "commands.hpp"
#include "model_args.hpp"
#include "oap/adapt/lora_config.hpp"
#include "oap/adapt/rapid_trainer.hpp"
#include "oap/adapt/text_samples.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/peft_adapter.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"model", true, "Hugging Face model folder (config.json, *.safetensors, tokenizer).", "DIR"},
    {"data", true, "JSON Lines of {\"text\": ..., \"weight\": w} (weight optional, default 1).",
     "FILE"},
    {"out", true, "Folder to write the adapter to (PEFT layout).", "DIR"},
    {"from", true, "Continue training this adapter (PEFT folder) instead of a new one.", "DIR"},
    {"config", true,
     "The oap config file (docs/configuration.md); adapt reads its sections \"log\", \"model\", "
     "\"lora\" and \"trainer\". Options below override it.",
     "FILE"},
    {"steps", true, "AdamW steps at most (default 10, or trainer.steps).", "N"},
    {"lr", true, "Learning rate (default 0.002, or trainer.learning_rate).", "X"},
    {"rank", true, "LoRA rank of a new adapter (default 8, or lora.rank).", "R"},
    {"alpha", true, "lora_alpha of a new adapter (default 16, or lora.alpha).", "A"},
    {"targets", true, "Modules of a new adapter, comma-separated (default q_proj,v_proj).", "LIST"},
    {"holdout", true,
     "Every N-th text is held out for the validation gate instead of trained on (default 5; "
     "0 = no held-out texts, no held-out check).",
     "N"},
    {"device", true, "cpu (default), cuda or cuda:N.", "D"},
    {"dtype", true, "float32 (default) or bfloat16 (training computes in this dtype).", "T"},
    {"threads", true, "Intra-op threads (default 0 = all cores).", "N"},
};

constexpr const char* kHelp =
    "Usage: oap adapt --model DIR --data FILE --out DIR [OPTIONS]\n\n"
    "Trains a LoRA adapter on the texts in FILE with the same trainer the library uses for\n"
    "per-user updates (RapidTrainer: weighted loss, AdamW, gradient clipping, early stop), and\n"
    "writes it to --out as a PEFT folder (adapter_config.json, adapter_model.safetensors) that\n"
    "oap generate/score --adapter and Python PEFT load. Every N-th text (--holdout) is kept out\n"
    "of training; the validation gate refuses an adapter that makes them worse or does not\n"
    "lower the training loss: then nothing is written and the exit status is 1.\n"
    "Prints one JSON object: the loss before and after on the training and held-out texts,\n"
    "the steps taken, the time, and whether the adapter was accepted and written.\n\n";

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

int run_adapt(int argc, char** argv, int first) {
  Args args(argc, argv, first, kOptions);
  if (print_help_if_requested(args, kHelp, kOptions)) return 0;
  const auto model_dir = args.value("model");
  const auto data = args.value("data");
  const auto out = args.value("out");
  if (!model_dir) throw UsageError("--model is required");
  if (!data) throw UsageError("--data is required");
  if (!out) throw UsageError("--out is required");
  const ConfigFile config = config_from(args);
  const CausalLMOptions mo = causal_lm_options_from(args, config.get<CausalLMOptions>("model"));
  auto lora = config.get<LoraConfig>("lora");
  auto trainer = config.get<RapidTrainerOptions>("trainer");
  if (auto n = args.number<int>("steps")) trainer.steps = *n;
  if (auto x = args.number<double>("lr")) trainer.learning_rate = *x;
  if (auto r = args.number<std::int64_t>("rank")) lora.rank = *r;
  if (auto a = args.number<double>("alpha")) lora.alpha = *a;
  if (auto t = args.value("targets")) lora.targets = split_list(*t);
  const std::size_t holdout = args.number<std::size_t>("holdout").value_or(5);
  const auto from = args.value("from");
  if (from && (args.value("rank") || args.value("alpha") || args.value("targets"))) {
    throw UsageError(
        "--rank, --alpha and --targets describe a new adapter; with --from the "
        "adapter's own are used");
  }
  try {
    lora.validate();
    trainer.validate();
  } catch (const ConfigError& e) {
    throw UsageError(e.what());
  }

  const auto samples = read_text_samples(*data);
  std::shared_ptr<const CausalLM> model = CausalLM::load(*model_dir, mo);
  const auto tok = Tokenizer::load(*model_dir);
  TrainingData training;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    auto ids = tok->encode(samples[i].text, /*add_special=*/true);
    if (ids.size() < 2) {
      std::cerr << "oap adapt: text " << i + 1 << " of " << *data
                << " has fewer than 2 tokens; skipped\n";
      continue;
    }
    const bool held = holdout > 0 && (i + 1) % holdout == 0;
    (held ? training.heldout : training.trigger).push_back({std::move(ids), samples[i].weight});
  }
  if (training.trigger.empty()) throw UsageError(*data + " has no text to train on");

  PeftAdapterConfig peft;
  LoraWeights start;
  if (from) {
    auto loaded = load_peft_adapter(*from, model->config(), mo.device);
    peft = loaded.config;
    start = std::move(loaded.weights);
  } else {
    peft = lora.peft();
    start = LoraWeights::create(model->config(), lora.rank, lora.alpha, peft.targets, lora.rslora,
                                lora.init_seed, mo.device);
  }
  peft.base_model = *model_dir;
  const RapidTrainer rapid(model, trainer);
  const auto result = rapid.train(start, training, lora.dropout);
  const auto& r = result.report;
  nlohmann::json report = r;
  report.erase("version");
  report.erase("base_version");
  report["written"] = r.accepted ? *out : "";
  if (r.accepted) save_peft_adapter(*out, result.weights, peft);
  std::cout << report.dump() << "\n";
  if (!r.accepted) {
    std::cerr << "oap adapt: " << r.reason << "; nothing written\n";
    return 1;
  }
  return 0;
}

}  // namespace oap::cli
