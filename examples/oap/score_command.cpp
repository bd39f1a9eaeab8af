// oap score: per-token log-probabilities of a text under a model.

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_args.hpp"
#include "commands.hpp"
#include "model_args.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/scorer.hpp"
#include "oap/llm/tokenizer.hpp"
#include "personalizer_args.hpp"

namespace oap::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"model", true, "Hugging Face model folder (config.json, *.safetensors, tokenizer).", "DIR"},
    {"text", true, "Text to score (repeat for several; they are scored as one batch).", "T"},
    {"config", true,
     "The oap config file (docs/configuration.md); score reads its sections \"log\" and "
     "\"model\" and ignores the others. Options below override it.",
     "FILE"},
    {"adapter", true, "LoRA adapter folder (PEFT layout) to apply.", "DIR"},
    {"device", true, "cpu (default), cuda or cuda:N.", "D"},
    {"dtype", true, "float32 (default), bfloat16 or float16 (CUDA only).", "T"},
    {"threads", true, "Intra-op threads (default 0 = all cores).", "N"},
    {"user", true,
     "Score with this user's current adapter from --data-dir (the pipeline of oap run); "
     "--model defaults to the one oap run used there.",
     "U"},
    {"data-dir", true, "The data directory of --user (default oap-data).", "DIR"},
};

constexpr const char* kHelp =
    "Usage: oap score --model DIR --text T [OPTIONS]\n\n"
    "Tokenizes T (with the tokenizer's BOS if it adds one) and prints one JSON object per\n"
    "text: the token ids, the log-probability of each token given the ones before it (the\n"
    "first token has none: null), the mean negative log-likelihood and the perplexity.\n"
    "Positional arguments are scored as further texts.\n"
    "--adapter DIR applies a LoRA adapter saved in the PEFT layout (adapter_config.json,\n"
    "adapter_model.safetensors), such as the per-user adapters oap writes.\n\n";

}  // namespace

int run_score(int argc, char** argv, int first) {
  Args args(argc, argv, first, kOptions);
  if (print_help_if_requested(args, kHelp, kOptions)) return 0;
  const auto model_dir = args.value("model");
  const auto user = args.value("user");
  if (!model_dir && !user) throw UsageError("--model is required");
  std::vector<std::string> texts;
  if (auto t = args.value("text")) texts.push_back(*t);
  for (const auto& p : args.positional()) texts.push_back(p);
  if (texts.empty()) throw UsageError("--text is required");
  if (user) {
    if (args.value("adapter")) throw UsageError("--adapter and --user both choose an adapter");
    const auto p = open_personalizer(args, /*require_model=*/true);
    for (const auto& t : texts) {
      const auto s = p->score(*user, t);
      nlohmann::json lps = nlohmann::json::array({nullptr});
      for (double lp : s.logprobs) lps.push_back(lp);
      const nlohmann::json out = {{"user", *user},          {"text", t},
                                  {"ids", s.token_ids},     {"logprobs", lps},
                                  {"mean_nll", s.mean_nll}, {"perplexity", s.perplexity}};
      std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    return 0;
  }
  const ConfigFile config = config_from(args);
  CausalLMOptions mo = causal_lm_options_from(args, config.get<CausalLMOptions>("model"));
  const auto model = CausalLM::load(*model_dir, mo);
  const auto tok = Tokenizer::load(*model_dir);
  std::vector<std::vector<std::int32_t>> seqs;
  for (const auto& t : texts) {
    auto ids = tok->encode(t, /*add_special=*/true);
    if (ids.empty()) throw UsageError("text '" + t + "' encodes to no tokens");
    seqs.push_back(std::move(ids));
  }
  const auto adapter = peft_adapter_from(args, model->config(), mo.device);
  std::vector<const LoraWeights*> adapters;
  if (adapter) adapters.push_back(&adapter->weights);
  const auto scores = score(*model, seqs, adapters);
  for (std::size_t i = 0; i < scores.size(); ++i) {
    nlohmann::json lps = nlohmann::json::array({nullptr});
    for (double lp : scores[i].logprobs) lps.push_back(lp);
    nlohmann::json tokens = nlohmann::json::array();
    for (auto id : scores[i].token_ids) {
      const std::int32_t one[] = {id};
      tokens.push_back(tok->decode(one));
    }
    nlohmann::json out = {
        {"text", texts[i]}, {"ids", scores[i].token_ids},     {"tokens", tokens},
        {"logprobs", lps},  {"mean_nll", scores[i].mean_nll}, {"perplexity", scores[i].perplexity}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return 0;
}

}  // namespace oap::cli
