// spm_train_fixture: trains the small SentencePiece model the SentencePiece tests use, and
// encodes text with SentencePiece itself as the tests' oracle. Links libsentencepiece only (no
// oap, no LibTorch, whose libprotobuf clashes with libsentencepiece's in one process).
//
//   spm_train_fixture train DIR             writes DIR/corpus.txt and DIR/tokenizer.model
//   spm_train_fixture encode MODEL TEXT...  prints the ids of each TEXT, one line each
//
// Exits 0 on success, 1 with a message on stderr otherwise.

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

// A BPE model with byte_fallback and no normalization, so decode inverts encode, on a generated
// corpus of 2000 lines of 12 words (fixed seed: the same model every run).
int train(const std::filesystem::path& dir) {
  const std::vector<std::string> words = {"user",        "topic", "changed", "physics", "adapter",
                                          "caf\xC3\xA9", "model", "the",     "a",       "quickly"};
  std::mt19937 rng(3);
  std::string corpus;
  for (int line = 0; line < 2000; ++line) {
    for (int i = 0; i < 12; ++i) corpus += (i ? " " : "") + words[rng() % words.size()];
    corpus += "\n";
  }
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "corpus.txt", std::ios::binary) << corpus;
  auto status = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + (dir / "corpus.txt").string() +
      " --model_prefix=" + (dir / "tokenizer").string() +
      " --vocab_size=300 --model_type=bpe --character_coverage=1.0 --byte_fallback=true"
      " --normalization_rule_name=identity --remove_extra_whitespaces=false"
      " --minloglevel=2");
  if (!status.ok()) {
    std::fprintf(stderr, "spm_train_fixture: training failed: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

int encode(const std::string& model, const std::vector<std::string>& texts) {
  sentencepiece::SentencePieceProcessor sp;
  if (auto status = sp.Load(model); !status.ok()) {
    std::fprintf(stderr, "spm_train_fixture: cannot load %s: %s\n", model.c_str(),
                 status.ToString().c_str());
    return 1;
  }
  for (const auto& text : texts) {
    std::vector<int> ids;
    if (auto status = sp.Encode(text, &ids); !status.ok()) {
      std::fprintf(stderr, "spm_train_fixture: cannot encode: %s\n", status.ToString().c_str());
      return 1;
    }
    for (std::size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "train" && argc == 3) return train(argv[2]);
  if (mode == "encode" && argc >= 3)
    return encode(argv[2], std::vector<std::string>(argv + 3, argv + argc));
  std::fprintf(stderr,
               "usage: spm_train_fixture train DIR\n"
               "       spm_train_fixture encode MODEL TEXT...\n");
  return 1;
}
