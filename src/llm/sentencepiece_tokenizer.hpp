#pragma once
// SentencePieceTokenizer: a SentencePiece .model behind the Tokenizer interface. Private to the
// library; users get it through Tokenizer::from_sentencepiece_file / Tokenizer::load.

#include <filesystem>
#include <memory>

#include "llm/sentencepiece_library.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap::detail {

// A SentencePiece model held by the SentencePiece plugin (SentencePieceLibrary), which liboap
// loads in isolation on first use; liboap itself does not link libsentencepiece. add_special
// prepends the model's BOS (as Llama-2's tokenizer does; no EOS). decode(skip_special=false)
// writes control tokens (<s>, </s>) as their piece text; skip_special=true leaves them out.
// Thread safety: immutable after construction; the plugin's calls on a loaded model are
// thread-safe, so all methods are safe from many threads.
class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Throws IoError naming the file and SentencePiece's reason if it cannot be loaded, and what
  // SentencePieceLibrary::instance() throws if the plugin cannot be loaded.
  explicit SentencePieceTokenizer(const std::filesystem::path& model);

  std::vector<std::int32_t> encode(std::string_view text, bool add_special) const override;
  std::string decode(std::span<const std::int32_t> ids, bool skip_special) const override;
  std::size_t vocab_size() const override { return static_cast<std::size_t>(piece_count_); }
  std::optional<std::int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::int32_t> bos_id() const override { return optional_id(bos_id_); }
  std::optional<std::int32_t> eos_id() const override { return optional_id(eos_id_); }

 private:
  static std::optional<std::int32_t> optional_id(std::int32_t id) {
    return id >= 0 ? std::optional<std::int32_t>(id) : std::nullopt;
  }

  const SentencePieceLibrary& lib_;
  // Owned; released through the plugin's oap_spm_free.
  std::unique_ptr<OapSpmModel, decltype(&::oap_spm_free)> model_;
  std::int32_t piece_count_ = 0;
  std::int32_t bos_id_ = -1;  // -1: the model has none
  std::int32_t eos_id_ = -1;
  std::int32_t unk_id_ = -1;
};

}  // namespace oap::detail
