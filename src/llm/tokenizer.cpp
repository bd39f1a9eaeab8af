#include "oap/llm/tokenizer.hpp"

#include <fstream>
#include <sstream>

#include "llm/bpe_tokenizer.hpp"
#if OAP_HAVE_SENTENCEPIECE
#include "llm/sentencepiece_tokenizer.hpp"
#endif
#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"

namespace oap {

std::unique_ptr<Tokenizer> Tokenizer::load(const std::filesystem::path& model_dir) {
  OAP_CHECK(std::filesystem::is_directory(model_dir), IoError,
            "model directory " + model_dir.string() + " does not exist");
  if (std::filesystem::exists(model_dir / "tokenizer.json")) {
    return from_json_file(model_dir / "tokenizer.json");
  }
  if (std::filesystem::exists(model_dir / "tokenizer.model")) {
    return from_sentencepiece_file(model_dir / "tokenizer.model");
  }
  OAP_THROW(IoError, "no tokenizer in " + model_dir.string() +
                         ": expected tokenizer.json or tokenizer.model");
}

std::unique_ptr<Tokenizer> Tokenizer::from_json_file(const std::filesystem::path& tokenizer_json) {
  nlohmann::json tokenizer = load_json_file(tokenizer_json);
  nlohmann::json config;  // null unless tokenizer_config.json lies beside it
  auto config_path = tokenizer_json.parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) config = load_json_file(config_path);
  return std::make_unique<detail::BpeTokenizer>(tokenizer, tokenizer_json.string(), config);
}

std::unique_ptr<Tokenizer> Tokenizer::from_sentencepiece_file(const std::filesystem::path& model) {
#if OAP_HAVE_SENTENCEPIECE
  return std::make_unique<detail::SentencePieceTokenizer>(model);
#else
  OAP_THROW(ConfigError, "cannot load SentencePiece model " + model.string() +
                             ": oap was built without SentencePiece support (it needs "
                             "libsentencepiece-dev at build time and OAP_WITH_SENTENCEPIECE=ON, "
                             "the default; see src/llm/tokenizer_sources.cmake); a tokenizer.json "
                             "of the same model can be used instead");
#endif
}

}  // namespace oap
