#include "llm/sentencepiece_tokenizer.hpp"

#include <array>
#include <string>

#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

// Room for the plugin's error texts (SentencePiece's messages are one line).
using ErrorText = std::array<char, 1024>;

// The plugin, once model is known to be a file (a missing file is reported without loading it).
const SentencePieceLibrary& library_for(const std::filesystem::path& model) {
  OAP_CHECK(std::filesystem::is_regular_file(model), IoError,
            "SentencePiece model " + model.string() + " does not exist or is not a file");
  return SentencePieceLibrary::instance();
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& model)
    : lib_(library_for(model)), model_(nullptr, lib_.free_model) {
  ErrorText error{};
  model_.reset(lib_.load_model(model.c_str(), error.data(), error.size()));
  OAP_CHECK(model_ != nullptr, IoError,
            "cannot load SentencePiece model " + model.string() + ": " + error.data() +
                " (is it a SentencePiece .model file?)");
  piece_count_ = lib_.piece_count(model_.get());
  bos_id_ = lib_.bos_id(model_.get());
  eos_id_ = lib_.eos_id(model_.get());
  unk_id_ = lib_.unk_id(model_.get());
}

std::vector<std::int32_t> SentencePieceTokenizer::encode(std::string_view text,
                                                         bool add_special) const {
  const std::size_t first = add_special && bos_id_ >= 0 ? 1 : 0;
  // One id per byte (plus the word-boundary piece) is enough unless byte_fallback spells
  // replaced invalid bytes out; then the plugin says how much room it needs.
  std::vector<std::int32_t> out(first + text.size() + 8);
  std::size_t count = 0;
  ErrorText error{};
  const auto call = [&] {
    return lib_.encode(model_.get(), text.data(), text.size(), out.data() + first,
                       out.size() - first, &count, error.data(), error.size());
  };
  int status = call();
  if (status == OAP_SPM_BUFFER_TOO_SMALL) {
    out.resize(first + count);
    status = call();
  }
  OAP_CHECK(status == OAP_SPM_OK, InvalidArgument,
            "SentencePiece could not encode a text of " + std::to_string(text.size()) +
                " bytes: " + error.data());
  out.resize(first + count);
  if (first == 1) out[0] = bos_id_;
  return out;
}

std::string SentencePieceTokenizer::decode(std::span<const std::int32_t> ids,
                                           bool skip_special) const {
  for (std::int32_t id : ids) {
    OAP_CHECK(id >= 0 && id < piece_count_, InvalidArgument,
              "decode: token id " + std::to_string(id) + " is not in this tokenizer (vocab_size " +
                  std::to_string(piece_count_) + ")");
  }
  std::string out(ids.size() * 8 + 16, '\0');
  std::size_t size = 0;
  ErrorText error{};
  const auto call = [&] {
    return lib_.decode(model_.get(), ids.data(), ids.size(), skip_special ? 1 : 0, out.data(),
                       out.size(), &size, error.data(), error.size());
  };
  int status = call();
  if (status == OAP_SPM_BUFFER_TOO_SMALL) {
    out.resize(size);
    status = call();
  }
  OAP_CHECK(status == OAP_SPM_OK, InvalidArgument,
            std::string("SentencePiece could not decode: ") + error.data());
  out.resize(size);
  return out;
}

std::optional<std::int32_t> SentencePieceTokenizer::token_to_id(std::string_view token) const {
  const std::int32_t id = lib_.piece_to_id(model_.get(), token.data(), token.size());
  if (id < 0) return std::nullopt;
  // PieceToId answers unk_id for unknown pieces; only the unk piece itself maps there.
  if (id == unk_id_) {
    std::size_t size = 0;
    const char* piece = lib_.id_to_piece(model_.get(), id, &size);
    if (piece == nullptr || std::string_view(piece, size) != token) return std::nullopt;
  }
  return id;
}

}  // namespace oap::detail
