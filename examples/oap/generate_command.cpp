// oap generate: continue a prompt with a model.

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_args.hpp"
#include "commands.hpp"
#include "model_args.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/generator.hpp"
#include "oap/llm/tokenizer.hpp"
#include "personalizer_args.hpp"

namespace oap::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"model", true, "Hugging Face model folder (config.json, *.safetensors, tokenizer).", "DIR"},
    {"prompt", true, "Prompt text.", "P"},
    {"config", true,
     "The oap config file (docs/configuration.md); generate reads its sections \"log\", "
     "\"model\" and \"generation\" and ignores the others. Options below override it.",
     "FILE"},
    {"max-tokens", true, "New tokens at most (default 64).", "N"},
    {"temperature", true, "0 (default) = greedy; > 0 samples.", "X"},
    {"top-k", true, "Sample among the k most likely tokens (default 0 = off).", "K"},
    {"top-p", true, "Nucleus sampling mass (default 1 = off).", "P"},
    {"repetition-penalty", true, "Penalty for tokens already seen (default 1 = off).", "X"},
    {"seed", true, "Sampler seed (default 0).", "N"},
    {"stop", true, "Stop when the output contains this string.", "S"},
    {"adapter", true, "LoRA adapter folder (PEFT layout) to apply.", "DIR"},
    {"device", true, "cpu (default), cuda or cuda:N.", "D"},
    {"dtype", true, "float32 (default), bfloat16 or float16 (CUDA only).", "T"},
    {"threads", true, "Intra-op threads (default 0 = all cores).", "N"},
    {"decode-threads", true,
     "Intra-op threads of each one-token decode step (default 1; 0 = --threads).", "N"},
    {"stream", false, "Print text as it is generated, then the JSON summary on stderr."},
    {"user", true,
     "Generate with this user's current adapter from --data-dir (the pipeline of oap run); "
     "--model defaults to the one oap run used there.",
     "U"},
    {"data-dir", true, "The data directory of --user (default oap-data).", "DIR"},
};

constexpr const char* kHelp =
    "Usage: oap generate --model DIR --prompt P [OPTIONS]\n\n"
    "Generates a continuation of P and prints one JSON object with the prompt ids, the new\n"
    "token ids, the text and why generation stopped (length, stop_token, stop_string).\n"
    "Stops at the model's eos_token_id. Same options and seed, same output.\n"
    "--adapter DIR applies a LoRA adapter saved in the PEFT layout (adapter_config.json,\n"
    "adapter_model.safetensors), such as the per-user adapters oap writes.\n\n";

}  // namespace

int run_generate(int argc, char** argv, int first) {
  Args args(argc, argv, first, kOptions);
  if (print_help_if_requested(args, kHelp, kOptions)) return 0;
  const auto model_dir = args.value("model");
  const auto prompt = args.value("prompt");
  const auto user = args.value("user");
  if (!model_dir && !user) throw UsageError("--model is required");
  if (!prompt) throw UsageError("--prompt is required");
  if (user && args.value("adapter")) {
    throw UsageError("--adapter and --user both choose an adapter; give one");
  }
  const ConfigFile config = config_from(args);
  CausalLMOptions mo = causal_lm_options_from(args, config.get<CausalLMOptions>("model"));
  GenerationOptions go = config.get<GenerationOptions>("generation");
  if (auto n = args.number<std::size_t>("max-tokens")) go.max_new_tokens = *n;
  if (auto x = args.number<double>("temperature")) go.temperature = *x;
  if (auto n = args.number<std::size_t>("top-k")) go.top_k = *n;
  if (auto x = args.number<double>("top-p")) go.top_p = *x;
  if (auto x = args.number<double>("repetition-penalty")) go.repetition_penalty = *x;
  if (auto n = args.number<std::uint64_t>("seed")) go.seed = *n;
  if (auto s = args.value("stop")) go.stop_strings.push_back(*s);
  go.validate();

  const bool stream = args.flag("stream");
  TokenCallback cb;
  if (stream) {
    cb = [](std::int32_t, std::string_view piece) {
      std::cout << piece << std::flush;
      return true;
    };
  }
  nlohmann::json out;
  if (user) {
    const auto p = open_personalizer(args, /*require_model=*/true);
    const auto r = p->generate(*user, *prompt, go, cb);
    out = {{"user", *user},
           {"adapter", p->inspect(*user, 0).value("adapter", nlohmann::json())},
           {"ids", r.tokens},
           {"text", r.text},
           {"finish_reason", r.finish_reason}};
  } else {
    std::shared_ptr<const CausalLM> model = CausalLM::load(*model_dir, mo);
    std::shared_ptr<const Tokenizer> tok = Tokenizer::load(*model_dir);
    Generator gen(model, tok);
    const auto ids = tok->encode(*prompt, /*add_special=*/true);
    const auto adapter = peft_adapter_from(args, model->config(), mo.device);
    const auto r = gen.generate(std::span<const std::int32_t>(ids), go,
                                adapter ? &adapter->weights : nullptr, cb);
    out = {{"prompt_ids", ids},
           {"ids", r.tokens},
           {"text", r.text},
           {"finish_reason", r.finish_reason}};
  }
  const auto dumped = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (stream) {
    std::cout << "\n";
    std::cerr << dumped << "\n";
  } else {
    std::cout << dumped << "\n";
  }
  return 0;
}

}  // namespace oap::cli
