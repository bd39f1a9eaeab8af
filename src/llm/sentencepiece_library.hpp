#pragma once
// SentencePieceLibrary: the SentencePiece plugin (liboap_sentencepiece.so), loaded in isolation.
// Private to the library.

#include <filesystem>

#include "llm/sentencepiece_plugin_abi.h"

namespace oap::detail {

// The plugin's C functions, resolved once per process. The plugin is opened with
// dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND): libsentencepiece and the copy of protobuf-lite
// inside it resolve their symbols against themselves first and stay out of the global scope, so
// they neither interpose nor are interposed by LibTorch's libprotobuf.
//
// Where it is looked for: the file named by the environment variable OAP_SENTENCEPIECE_PLUGIN
// if that is set and not empty (and nowhere else), otherwise liboap_sentencepiece.so in the
// directory liboap.so was loaded from (the build tree's src/ or the installed lib/).
//
// Thread safety: instance() is safe to call from many threads; the returned object is immutable.
// The plugin is never unloaded. A failed load is not remembered: the next instance() tries again
// (so fixing OAP_SENTENCEPIECE_PLUGIN works without a restart); after a successful load the
// variable is no longer read.
class SentencePieceLibrary {
 public:
  // The loaded plugin. Throws IoError if the plugin file is missing or dlopen refuses it (the
  // message names every place looked and dlerror()), ConfigError if it lacks a function or was
  // built for another ABI version.
  static const SentencePieceLibrary& instance();

  // The plugin's file, as opened.
  const std::filesystem::path& path() const { return path_; }

  // The plugin's functions (see sentencepiece_plugin_abi.h), never null.

  decltype(&::oap_spm_load) load_model = nullptr;
  decltype(&::oap_spm_free) free_model = nullptr;
  decltype(&::oap_spm_encode) encode = nullptr;
  decltype(&::oap_spm_decode) decode = nullptr;
  decltype(&::oap_spm_piece_count) piece_count = nullptr;
  decltype(&::oap_spm_piece_to_id) piece_to_id = nullptr;
  decltype(&::oap_spm_id_to_piece) id_to_piece = nullptr;
  decltype(&::oap_spm_is_control) is_control = nullptr;
  decltype(&::oap_spm_bos_id) bos_id = nullptr;
  decltype(&::oap_spm_eos_id) eos_id = nullptr;
  decltype(&::oap_spm_unk_id) unk_id = nullptr;

 private:
  // Opens the plugin at path and resolves every function; throws as instance() documents.
  explicit SentencePieceLibrary(std::filesystem::path path);

  std::filesystem::path path_;
};

}  // namespace oap::detail
