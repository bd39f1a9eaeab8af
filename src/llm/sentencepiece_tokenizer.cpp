#include "llm/sentencepiece_tokenizer.hpp"

#include <sentencepiece_processor.h>

#include "oap/core/error.hpp"

namespace oap::detail {

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& model)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  OAP_CHECK(std::filesystem::is_regular_file(model), IoError,
            "SentencePiece model " + model.string() + " does not exist or is not a file");
  auto status = sp_->Load(model.string());
  OAP_CHECK(status.ok(), IoError,
            "cannot load SentencePiece model " + model.string() + ": " + status.ToString());
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<std::int32_t> SentencePieceTokenizer::encode(std::string_view text,
                                                         bool add_special) const {
  std::vector<int> ids;
  auto status = sp_->Encode(text, &ids);
  OAP_CHECK(status.ok(), InvalidArgument,
            "SentencePiece could not encode a text of " + std::to_string(text.size()) +
                " bytes: " + status.ToString());
  std::vector<std::int32_t> out;
  out.reserve(ids.size() + 1);
  if (add_special && sp_->bos_id() >= 0) out.push_back(sp_->bos_id());
  out.insert(out.end(), ids.begin(), ids.end());
  return out;
}

std::string SentencePieceTokenizer::decode(std::span<const std::int32_t> ids,
                                           bool skip_special) const {
  const int n = sp_->GetPieceSize();
  std::string out;
  std::vector<int> run;
  // SentencePiece renders control tokens as nothing, so runs between them are decoded by the
  // library (which handles the "▁" word boundaries and byte pieces) and control tokens are
  // written, or skipped, here.
  const auto flush = [&] {
    if (run.empty()) return;
    std::string text;
    auto status = sp_->Decode(run, &text);
    OAP_CHECK(status.ok(), InvalidArgument, "SentencePiece could not decode: " + status.ToString());
    out += text;
    run.clear();
  };
  for (std::int32_t id : ids) {
    OAP_CHECK(id >= 0 && id < n, InvalidArgument,
              "decode: token id " + std::to_string(id) + " is not in this tokenizer (vocab_size " +
                  std::to_string(n) + ")");
    if (sp_->IsControl(id)) {
      flush();
      if (!skip_special) out += sp_->IdToPiece(id);
    } else {
      run.push_back(id);
    }
  }
  flush();
  return out;
}

std::size_t SentencePieceTokenizer::vocab_size() const {
  return static_cast<std::size_t>(sp_->GetPieceSize());
}

std::optional<std::int32_t> SentencePieceTokenizer::token_to_id(std::string_view token) const {
  int id = sp_->PieceToId(token);
  // PieceToId answers unk_id for unknown pieces; only the unk piece itself maps there.
  if (id < 0 || (id == sp_->unk_id() && sp_->IdToPiece(id) != token)) return std::nullopt;
  return id;
}

std::optional<std::int32_t> SentencePieceTokenizer::bos_id() const {
  int id = sp_->bos_id();
  return id >= 0 ? std::optional<std::int32_t>(id) : std::nullopt;
}

std::optional<std::int32_t> SentencePieceTokenizer::eos_id() const {
  int id = sp_->eos_id();
  return id >= 0 ? std::optional<std::int32_t>(id) : std::nullopt;
}

}  // namespace oap::detail
