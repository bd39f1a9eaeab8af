// DirectoryAdapterStore: opening a root (its lock, and cleaning what interrupted operations of
// an earlier process left behind).

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "adapt/directory_adapter_store.hpp"
#include "oap/core/atomic_file.hpp"
#include "core/log.hpp"
#include "oap/core/error.hpp"

namespace oap::detail {

namespace fs = std::filesystem;

DirectoryAdapterStore::DirectoryAdapterStore(fs::path root, const AdapterStoreOptions& options)
    : root_(std::move(root)), options_(options) {
  options_.validate();
  OAP_CHECK(!root_.empty(), InvalidArgument, "adapter store: empty root folder");
  std::error_code ec;
  fs::create_directories(root_, ec);
  OAP_CHECK(!ec && fs::is_directory(root_), IoError,
            "adapter store: cannot create folder " + root_.string() +
                (ec ? ": " + ec.message() : " (a file of that name exists)"));
  take_lock();
  try {
    recover();
  } catch (...) {
    ::close(lock_fd_);
    throw;
  }
  logger()->debug("opened adapter store {} ({} users)", root_.string(), users_.size());
}

DirectoryAdapterStore::~DirectoryAdapterStore() { ::close(lock_fd_); }

void DirectoryAdapterStore::take_lock() {
  auto lock_path = root_ / kAdapterStoreLockFile;
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  OAP_CHECK(
      lock_fd_ >= 0, IoError,
      "adapter store: cannot create lock file " + lock_path.string() + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(lock_fd_);
    lock_fd_ = -1;
    OAP_THROW(StoreError, "adapter store " + root_.string() +
                              " is already open, in this or another process (lock " +
                              lock_path.string() + " is held: " + std::strerror(err) + ")");
  }
}

// Nothing else uses root while the lock is held, so whatever is not committed is a leftover of
// an interrupted add/remove/forget of an earlier process.
void DirectoryAdapterStore::recover() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    std::string name = entry.path().filename().string();
    if (name == kAdapterStoreLockFile) continue;
    if (name.starts_with(kAdapterTempPrefix) || name.starts_with(kAdapterTrashPrefix)) {
      remove_tree(entry.path());
      continue;
    }
    if (!entry.is_directory() || entry.is_symlink()) {
      logger()->warn("adapter store: ignoring {}, which is not a user folder",
                     entry.path().string());
      continue;
    }
    if (auto state = load_user(entry.path())) users_.emplace(name, std::move(state));
  }
  OAP_CHECK(!ec, IoError, "adapter store: cannot list " + root_.string() + ": " + ec.message());
  sync_path(root_);
}

DirectoryAdapterStore::StatePtr DirectoryAdapterStore::load_user(const fs::path& dir) {
  auto state = std::make_shared<UserState>();
  state->on_disk = true;
  std::error_code ec;
  auto manifest_path = dir / kAdapterManifestFile;
  if (!fs::exists(manifest_path, ec)) {
    // The first add() writes an empty manifest right after creating the folder, so a folder
    // without one holds at most what that add() had written when it was interrupted.
    bool only_leftovers = true;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      only_leftovers =
          only_leftovers && entry.path().filename().string().starts_with(kManifestTempPrefix);
    }
    if (only_leftovers && !ec) {
      remove_tree(dir);
      return nullptr;
    }
    state->error = "adapter store " + root_.string() + ": user folder " + dir.string() +
                   " has no " + kAdapterManifestFile +
                   " but holds files (restore the manifest, or delete the folder)";
    logger()->error("{}", state->error);
    return state;
  }
  try {
    state->manifest = read_adapter_manifest(manifest_path);
    OAP_CHECK(user_file_stem(state->manifest.user) == dir.filename().string(), StoreError,
              "adapter manifest " + manifest_path.string() + " names user \"" +
                  state->manifest.user + "\", whose folder would be " +
                  user_file_stem(state->manifest.user) + " (was the folder renamed or copied?)");
  } catch (const StoreError& e) {
    state->error = e.what();
    state->manifest = {};
    logger()->error("{}", state->error);
    return state;
  }
  if (state->manifest.versions.empty()) {
    remove_tree(dir);
    return nullptr;
  }
  std::set<std::string> listed;
  for (const auto& r : state->manifest.versions) listed.insert(r.version.id);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name == kAdapterManifestFile || listed.count(name)) continue;
    if (name.starts_with(kManifestTempPrefix) ||
        (is_content_hash(name) && entry.is_directory() && !entry.is_symlink())) {
      // An interrupted manifest write, or a version renamed into place (or being pruned) when
      // the process died: the manifest never listed it, or no longer does.
      remove_tree(entry.path());
    } else {
      logger()->warn("adapter store: ignoring {}, which the manifest does not know",
                     entry.path().string());
    }
  }
  OAP_CHECK(!ec, IoError, "adapter store: cannot list " + dir.string() + ": " + ec.message());
  return state;
}

}  // namespace oap::detail
