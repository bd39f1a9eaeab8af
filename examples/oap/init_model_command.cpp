// oap init-model: write a random-weight model in the Hugging Face layout.

#include <iostream>

#include "cli_args.hpp"
#include "commands.hpp"
#include "oap/llm/model_init.hpp"
#include "oap/llm/model_preset.hpp"

namespace oap::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"preset", true,
     "Model shape: tiny (~1M parameters), small (~30M), smollm-135m, "
     "qwen2.5-0.5b.",
     "NAME"},
    {"out", true, "Folder to write (created if missing; files in it are replaced).", "DIR"},
    {"seed", true, "Seed of the random weights (default 0).", "N"},
    {"dtype", true,
     "Stored dtype: float32 or bfloat16 (default: the preset's; qwen2.5-0.5b "
     "is bfloat16, the others float32).",
     "TYPE"},
    {"tokenizer-vocab", true,
     "Vocabulary of the trained byte-level BPE tokenizer (default "
     "1024; at most the model's vocab_size).",
     "N"},
    {"no-tokenizer", false, "Do not write tokenizer.json."},
};

constexpr const char* kHelp =
    "Usage: oap init-model --preset NAME --out DIR [OPTIONS]\n\n"
    "Writes a model with random weights in the Hugging Face layout, for tests and benchmarks:\n"
    "config.json, model.safetensors, generation_config.json and a byte-level BPE\n"
    "tokenizer.json trained on a small built-in English corpus (its <|endoftext|> token is the\n"
    "model's bos/eos). The shapes of smollm-135m and qwen2.5-0.5b are those of the published\n"
    "models; the weights are random (normal, std 0.02), so the text it generates is noise.\n\n";

}  // namespace

int run_init_model(int argc, char** argv, int first) {
  Args args(argc, argv, first, kOptions);
  if (print_help_if_requested(args, kHelp, kOptions)) return 0;
  const auto preset = args.value("preset");
  const auto out = args.value("out");
  if (!preset) throw UsageError("--preset is required");
  if (!out) throw UsageError("--out is required");
  InitModelOptions o;
  if (auto seed = args.number<std::uint64_t>("seed")) o.seed = *seed;
  if (auto dtype = args.value("dtype")) o.dtype = *dtype;
  if (auto v = args.number<std::size_t>("tokenizer-vocab")) o.tokenizer_vocab_size = *v;
  o.write_tokenizer = !args.flag("no-tokenizer");
  const auto config = init_random_model(model_preset(*preset), *out, o);
  std::cout << "wrote " << *preset << " (" << config.architecture << ", " << config.num_parameters()
            << " parameters, " << config.torch_dtype << ") to " << *out << "\n";
  return 0;
}

}  // namespace oap::cli
