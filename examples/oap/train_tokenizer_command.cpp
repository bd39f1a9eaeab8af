// oap train-tokenizer: train a byte-level BPE tokenizer.json on text files.

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_args.hpp"
#include "commands.hpp"
#include "jsonl_text.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"out", true, "tokenizer.json to write (replaced atomically).", "FILE"},
    {"vocab-size", true,
     "Vocabulary size, special tokens included (the model's vocab_size: tiny 1024, small "
     "8192).",
     "N"},
    {"special", true,
     "Comma-separated special tokens, given the last ids in this order (default "
     "<|endoftext|>,<|im_start|>,<|im_end|>, as init-model writes).",
     "LIST"},
};

constexpr const char* kHelp =
    "Usage: oap train-tokenizer --out FILE --vocab-size N [OPTIONS] INPUT...\n\n"
    "Trains a byte-level BPE tokenizer (the Llama-3 split regex, 256 byte tokens, then merges\n"
    "learned most-frequent-pair first, then the special tokens) on the INPUT files and writes\n"
    "a Hugging Face tokenizer.json. An INPUT ending in .jsonl is JSON Lines: each line's \"text\"\n"
    "field is one document; any other INPUT is one document. Deterministic: the same inputs\n"
    "give the same file. Training stops early if no pair is left to merge.\n\n";

std::vector<std::string> split_specials(const std::string& list) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(list);
  while (std::getline(in, cur, ',')) {
    if (cur.empty()) throw UsageError("--special: empty token in '" + list + "'");
    out.push_back(cur);
  }
  return out;
}

// Appends the documents of one input file to docs.
void read_documents(const std::string& path, std::vector<std::string>& docs) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open input '" + path + "'");
  if (path.size() < 6 || path.compare(path.size() - 6, 6, ".jsonl") != 0) {
    std::ostringstream all;
    all << in.rdbuf();
    docs.push_back(std::move(all).str());
    return;
  }
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    docs.push_back(jsonl_text(line, path + ":" + std::to_string(line_no)));
  }
}

}  // namespace

int run_train_tokenizer(int argc, char** argv, int first) {
  Args args(argc, argv, first, kOptions);
  if (print_help_if_requested(args, kHelp, kOptions)) return 0;
  const auto out = args.value("out");
  if (!out) throw UsageError("--out is required");
  const auto vocab = args.number<std::size_t>("vocab-size");
  if (!vocab) throw UsageError("--vocab-size is required");
  if (args.positional().empty()) throw UsageError("no INPUT file given");
  const auto specials =
      split_specials(args.value("special").value_or("<|endoftext|>,<|im_start|>,<|im_end|>"));
  std::vector<std::string> docs;
  for (const auto& path : args.positional()) read_documents(path, docs);
  std::size_t bytes = 0;
  for (const auto& d : docs) bytes += d.size();
  write_byte_level_bpe_tokenizer(docs, *vocab, specials, *out);
  const auto tok = Tokenizer::from_json_file(*out);
  std::cout << "wrote " << *out << ": " << tok->vocab_size() << " tokens (" << specials.size()
            << " special) from " << docs.size() << " documents, " << bytes << " bytes\n";
  return 0;
}

}  // namespace oap::cli
