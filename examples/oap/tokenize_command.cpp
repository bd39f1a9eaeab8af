// oap tokenize: text -> token ids (and back) with a model's tokenizer.

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_args.hpp"
#include "commands.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"model", true, "Model folder with tokenizer.json or tokenizer.model.", "DIR"},
    {"text", true, "Text to encode.", "T"},
    {"special", false, "Add the tokenizer's BOS/EOS post-processing tokens."},
};

constexpr const char* kHelp =
    "Usage: oap tokenize --model DIR --text T [--special]\n\n"
    "Encodes T with the model's tokenizer and prints one JSON object: the token ids, each\n"
    "token's text (decoded alone; pieces of a multi-byte character show as U+FFFD), and the\n"
    "decoded round trip.\n\n";

}  // namespace

int run_tokenize(int argc, char** argv, int first) {
  Args args(argc, argv, first, kOptions);
  if (print_help_if_requested(args, kHelp, kOptions)) return 0;
  const auto model = args.value("model");
  const auto text = args.value("text");
  if (!model) throw UsageError("--model is required");
  if (!text) throw UsageError("--text is required");
  const auto tok = Tokenizer::load(*model);
  const auto ids = tok->encode(*text, args.flag("special"));
  nlohmann::json pieces = nlohmann::json::array();
  for (auto id : ids) {
    const std::int32_t one[] = {id};
    pieces.push_back(tok->decode(one));
  }
  nlohmann::json out = {
      {"ids", ids}, {"tokens", pieces}, {"count", ids.size()}, {"decoded", tok->decode(ids)}};
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace oap::cli
