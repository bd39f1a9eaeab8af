#include "llm/sentencepiece_library.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

#include "oap/core/error.hpp"

#ifndef OAP_SENTENCEPIECE_PLUGIN_NAME
#define OAP_SENTENCEPIECE_PLUGIN_NAME "liboap_sentencepiece.so"
#endif

namespace oap::detail {
namespace {

constexpr const char* kPluginName = OAP_SENTENCEPIECE_PLUGIN_NAME;
constexpr const char* kPluginEnv = "OAP_SENTENCEPIECE_PLUGIN";

// A function of liboap itself, for dladdr to find the file liboap was loaded from.
void liboap_anchor() {}

// The file liboap's code was loaded from (liboap.so.N), or empty if dladdr cannot tell.
std::filesystem::path liboap_file() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&liboap_anchor), &info) == 0 || info.dli_fname == nullptr) {
    return {};
  }
  std::error_code ec;
  auto file = std::filesystem::canonical(info.dli_fname, ec);
  return ec ? std::filesystem::path(info.dli_fname) : file;
}

// The plugin file to open, as the class comment describes. Throws IoError naming where it
// looked if there is none.
std::filesystem::path locate_plugin() {
  if (const char* env = std::getenv(kPluginEnv); env != nullptr && *env != '\0') {
    const std::filesystem::path path(env);
    OAP_CHECK(std::filesystem::is_regular_file(path), IoError,
              std::string("SentencePiece plugin not found: ") + kPluginEnv + "=" + path.string() +
                  " is not a file (unset it to use the " + kPluginName + " next to liboap)");
    return path;
  }
  const auto lib = liboap_file();
  OAP_CHECK(!lib.empty(), IoError,
            std::string("SentencePiece plugin not found: cannot tell where liboap was loaded "
                        "from (dladdr failed); set ") +
                kPluginEnv + " to the path of " + kPluginName);
  const auto path = lib.parent_path() / kPluginName;
  OAP_CHECK(std::filesystem::is_regular_file(path), IoError,
            std::string("SentencePiece plugin not found: looked for ") + path.string() +
                " (next to " + lib.string() + ") and " + kPluginEnv +
                " is not set; install oap built with SentencePiece (libsentencepiece-dev, "
                "-DOAP_WITH_SENTENCEPIECE=ON) or set " +
                kPluginEnv + " to the plugin's path");
  return path;
}

// Closes a dlopen handle unless released; the plugin is closed only when it failed checks.
struct HandleCloser {
  void* handle;
  ~HandleCloser() {
    if (handle != nullptr) dlclose(handle);
  }
};

}  // namespace

SentencePieceLibrary::SentencePieceLibrary(std::filesystem::path path) : path_(std::move(path)) {
  dlerror();
  // RTLD_LOCAL keeps libsentencepiece (and its protobuf-lite) out of the global scope;
  // RTLD_DEEPBIND makes the plugin and the libraries loaded with it look up symbols in their own
  // scope before the global one, so they do not bind to LibTorch's libprotobuf.
  HandleCloser guard{dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND)};
  if (guard.handle == nullptr) {
    const char* reason = dlerror();
    OAP_THROW(IoError, "cannot load SentencePiece plugin " + path_.string() + ": " +
                           (reason != nullptr ? reason : "dlopen failed"));
  }
  const auto resolve = [&](auto& fn, const char* name) {
    void* symbol = dlsym(guard.handle, name);
    OAP_CHECK(symbol != nullptr, ConfigError,
              "SentencePiece plugin " + path_.string() + " has no function " + name +
                  ": it is not oap's plugin, or comes from another oap version");
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(symbol);
  };
  decltype(&::oap_spm_abi_version) abi_version = nullptr;
  resolve(abi_version, "oap_spm_abi_version");
  const auto version = abi_version();
  OAP_CHECK(version == OAP_SPM_ABI_VERSION, ConfigError,
            "SentencePiece plugin " + path_.string() + " has ABI version " +
                std::to_string(version) + ", this liboap needs " +
                std::to_string(OAP_SPM_ABI_VERSION) +
                ": install the plugin built with this liboap");
  resolve(load_model, "oap_spm_load");
  resolve(free_model, "oap_spm_free");
  resolve(encode, "oap_spm_encode");
  resolve(decode, "oap_spm_decode");
  resolve(piece_count, "oap_spm_piece_count");
  resolve(piece_to_id, "oap_spm_piece_to_id");
  resolve(id_to_piece, "oap_spm_id_to_piece");
  resolve(is_control, "oap_spm_is_control");
  resolve(bos_id, "oap_spm_bos_id");
  resolve(eos_id, "oap_spm_eos_id");
  resolve(unk_id, "oap_spm_unk_id");
  guard.handle = nullptr;  // loaded for good
}

const SentencePieceLibrary& SentencePieceLibrary::instance() {
  static std::mutex mu;
  // Never destroyed (nor dlclosed): tokenizers released during static destruction still call
  // the plugin's free function.
  static const SentencePieceLibrary* loaded = nullptr;  // guarded by mu
  std::lock_guard lock(mu);
  if (loaded == nullptr) loaded = new SentencePieceLibrary(locate_plugin());
  return *loaded;
}

}  // namespace oap::detail
