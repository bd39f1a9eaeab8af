#pragma once
// SentencePieceTokenizer: a SentencePiece .model behind the Tokenizer interface. Private to the
// library; users get it through Tokenizer::from_sentencepiece_file / Tokenizer::load.

#include <filesystem>
#include <memory>

#include "oap/llm/tokenizer.hpp"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace oap::detail {

// Wraps sentencepiece::SentencePieceProcessor (Debian's libsentencepiece). add_special
// prepends the model's BOS (as Llama-2's tokenizer does; no EOS). decode(skip_special=false)
// writes control tokens (<s>, </s>) as their piece text; skip_special=true leaves them out.
// Thread safety: SentencePieceProcessor's encode/decode are const and thread-safe; so is this.
class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Throws IoError naming the file and SentencePiece's reason if it cannot be loaded.
  explicit SentencePieceTokenizer(const std::filesystem::path& model);
  ~SentencePieceTokenizer() override;

  std::vector<std::int32_t> encode(std::string_view text, bool add_special) const override;
  std::string decode(std::span<const std::int32_t> ids, bool skip_special) const override;
  std::size_t vocab_size() const override;
  std::optional<std::int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::int32_t> bos_id() const override;
  std::optional<std::int32_t> eos_id() const override;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

}  // namespace oap::detail
