// The SentencePiece plugin (liboap_sentencepiece.so): libsentencepiece behind the C ABI of
// sentencepiece_plugin_abi.h. Built as a separate module that liboap dlopens in isolation; it
// links libsentencepiece only, never liboap or LibTorch. No exception leaves these functions.

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llm/sentencepiece_plugin_abi.h"

struct OapSpmModel {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

// Copies message into error (capacity bytes), truncated and NUL-terminated.
void set_error(char* error, size_t capacity, std::string_view message) noexcept {
  if (error == nullptr || capacity == 0) return;
  const size_t n = std::min(message.size(), capacity - 1);
  std::memcpy(error, message.data(), n);
  error[n] = '\0';
}

bool in_range(const OapSpmModel* model, int32_t id) noexcept {
  return id >= 0 && id < model->sp.GetPieceSize();
}

// Decodes ids as oap_spm_decode documents into out.
sentencepiece::util::Status decode_to(const OapSpmModel* model, const int32_t* ids, size_t count,
                                      bool skip_control, std::string* out) {
  std::vector<int> run;
  // SentencePiece renders control pieces as nothing, so runs between them are decoded by the
  // library and control pieces are written, or skipped, here.
  const auto flush = [&]() -> sentencepiece::util::Status {
    if (run.empty()) return {};
    std::string text;
    auto status = model->sp.Decode(run, &text);
    if (!status.ok()) return status;
    *out += text;
    run.clear();
    return {};
  };
  for (size_t i = 0; i < count; ++i) {
    const int32_t id = ids[i];
    if (!in_range(model, id)) {
      return sentencepiece::util::Status(sentencepiece::util::StatusCode::kOutOfRange,
                                         "token id " + std::to_string(id) +
                                             " is not in this model (" +
                                             std::to_string(model->sp.GetPieceSize()) + " pieces)");
    }
    if (model->sp.IsControl(id)) {
      if (auto status = flush(); !status.ok()) return status;
      if (!skip_control) *out += model->sp.IdToPiece(id);
    } else {
      run.push_back(id);
    }
  }
  return flush();
}

}  // namespace

extern "C" {

uint32_t oap_spm_abi_version(void) { return OAP_SPM_ABI_VERSION; }

OapSpmModel* oap_spm_load(const char* path, char* error, size_t error_capacity) {
  try {
    auto model = std::make_unique<OapSpmModel>();
    auto status = model->sp.Load(path);
    if (!status.ok()) {
      set_error(error, error_capacity, status.ToString());
      return nullptr;
    }
    return model.release();
  } catch (const std::exception& e) {
    set_error(error, error_capacity, e.what());
  } catch (...) {
    set_error(error, error_capacity, "unknown exception in SentencePiece");
  }
  return nullptr;
}

void oap_spm_free(OapSpmModel* model) { delete model; }

int oap_spm_encode(const OapSpmModel* model, const char* text, size_t text_size, int32_t* ids,
                   size_t capacity, size_t* count, char* error, size_t error_capacity) {
  try {
    std::vector<int> out;
    auto status = model->sp.Encode(std::string_view(text, text_size), &out);
    if (!status.ok()) {
      set_error(error, error_capacity, status.ToString());
      return OAP_SPM_ERROR;
    }
    *count = out.size();
    if (out.size() > capacity) return OAP_SPM_BUFFER_TOO_SMALL;
    std::copy(out.begin(), out.end(), ids);
    return OAP_SPM_OK;
  } catch (const std::exception& e) {
    set_error(error, error_capacity, e.what());
  } catch (...) {
    set_error(error, error_capacity, "unknown exception in SentencePiece");
  }
  return OAP_SPM_ERROR;
}

int oap_spm_decode(const OapSpmModel* model, const int32_t* ids, size_t count, int skip_control,
                   char* text, size_t capacity, size_t* size, char* error, size_t error_capacity) {
  try {
    std::string out;
    auto status = decode_to(model, ids, count, skip_control != 0, &out);
    if (!status.ok()) {
      set_error(error, error_capacity, status.ToString());
      return OAP_SPM_ERROR;
    }
    *size = out.size();
    if (out.size() > capacity) return OAP_SPM_BUFFER_TOO_SMALL;
    if (!out.empty()) std::memcpy(text, out.data(), out.size());
    return OAP_SPM_OK;
  } catch (const std::exception& e) {
    set_error(error, error_capacity, e.what());
  } catch (...) {
    set_error(error, error_capacity, "unknown exception in SentencePiece");
  }
  return OAP_SPM_ERROR;
}

int32_t oap_spm_piece_count(const OapSpmModel* model) { return model->sp.GetPieceSize(); }

int32_t oap_spm_piece_to_id(const OapSpmModel* model, const char* piece, size_t piece_size) {
  return model->sp.PieceToId(std::string_view(piece, piece_size));
}

const char* oap_spm_id_to_piece(const OapSpmModel* model, int32_t id, size_t* size) {
  if (!in_range(model, id)) return nullptr;
  const std::string& piece = model->sp.IdToPiece(id);
  *size = piece.size();
  return piece.data();
}

int oap_spm_is_control(const OapSpmModel* model, int32_t id) {
  return in_range(model, id) && model->sp.IsControl(id) ? 1 : 0;
}

int32_t oap_spm_bos_id(const OapSpmModel* model) { return model->sp.bos_id(); }
int32_t oap_spm_eos_id(const OapSpmModel* model) { return model->sp.eos_id(); }
int32_t oap_spm_unk_id(const OapSpmModel* model) { return model->sp.unk_id(); }

}  // extern "C"
