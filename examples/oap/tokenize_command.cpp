// oap tokenize: text -> token ids (and back) with a model's tokenizer.

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_args.hpp"
#include "commands.hpp"
#include "jsonl_text.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"model", true, "Model folder with tokenizer.json or tokenizer.model.", "DIR"},
    {"text", true, "Text to encode.", "T"},
    {"jsonl", true,
     "Encode the \"text\" field of each line of a JSON Lines file (- reads stdin) and print "
     "one JSON array of ids per line, in order.",
     "FILE"},
    {"special", false, "Add the tokenizer's BOS/EOS post-processing tokens."},
};

constexpr const char* kHelp =
    "Usage: oap tokenize --model DIR (--text T | --jsonl FILE) [--special]\n\n"
    "Encodes T with the model's tokenizer and prints one JSON object: the token ids, each\n"
    "token's text (decoded alone; pieces of a multi-byte character show as U+FFFD), and the\n"
    "decoded round trip. With --jsonl, encodes many texts (a corpus) and prints only ids.\n\n";

// --jsonl: one JSON array of ids per input line; empty lines give empty arrays.
int tokenize_jsonl(const Tokenizer& tok, const std::string& path, bool special) {
  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) throw std::runtime_error("cannot open --jsonl file '" + path + "'");
  }
  std::istream& in = path == "-" ? std::cin : file;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::vector<std::int32_t> ids;
    if (!line.empty()) {
      ids = tok.encode(jsonl_text(line, path + ":" + std::to_string(line_no)), special);
    }
    std::cout << nlohmann::json(ids).dump() << "\n";
  }
  return 0;
}

}  // namespace

int run_tokenize(int argc, char** argv, int first) {
  Args args(argc, argv, first, kOptions);
  if (print_help_if_requested(args, kHelp, kOptions)) return 0;
  const auto model = args.value("model");
  const auto text = args.value("text");
  const auto jsonl = args.value("jsonl");
  if (!model) throw UsageError("--model is required");
  if (text && jsonl) throw UsageError("give --text or --jsonl, not both");
  if (!text && !jsonl) throw UsageError("--text or --jsonl is required");
  const auto tok = Tokenizer::load(*model);
  if (jsonl) return tokenize_jsonl(*tok, *jsonl, args.flag("special"));
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
