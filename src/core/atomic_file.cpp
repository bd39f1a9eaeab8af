#include "oap/core/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include "oap/core/error.hpp"

namespace oap {
namespace {

// fsync through a fresh descriptor: it applies to the file, whichever descriptor wrote it.
bool fsync_path(const std::filesystem::path& p, int flags) {
  int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(std::ostream&)>& write) {
  static std::atomic<unsigned> counter{0};
  auto tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  auto discard = [&] {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
  };
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    OAP_CHECK(out.good(), IoError,
              "cannot create " + tmp.string() + " (does the folder exist and is it writable?)");
    try {
      write(out);
    } catch (...) {
      out.close();
      discard();
      throw;
    }
    out.flush();
    if (!out.good()) {
      out.close();
      discard();
      OAP_THROW(IoError, "failed writing " + tmp.string() + " (disk full?)");
    }
  }
  if (!fsync_path(tmp, O_RDONLY)) {
    int err = errno;
    discard();
    OAP_THROW(IoError, "cannot sync " + tmp.string() + ": " + std::strerror(err));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    discard();
    OAP_THROW(IoError,
              "cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message());
  }
  // Makes the rename itself durable; a failure here leaves a complete file, so it is not fatal.
  auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

void sync_path(const std::filesystem::path& path) {
  OAP_CHECK(fsync_path(path, O_RDONLY), IoError,
            "cannot sync " + path.string() + ": " + std::strerror(errno));
}

void write_text_file_atomic(const std::filesystem::path& path, std::string_view text) {
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  });
}

}  // namespace oap
