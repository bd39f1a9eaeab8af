// DirectoryAdapterStore: the operations on versions and users.

#include <unistd.h>

#include <algorithm>
#include <set>

#include "adapt/directory_adapter_store.hpp"
#include "oap/core/atomic_file.hpp"
#include "core/log.hpp"
#include "oap/core/error.hpp"

namespace oap::detail {

namespace fs = std::filesystem;

void remove_leftover(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) logger()->warn("adapter store: cannot remove {}: {}", p.string(), ec.message());
}

void remove_tree(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  OAP_CHECK(!ec, IoError, "adapter store: cannot remove " + p.string() + ": " + ec.message());
}

fs::path DirectoryAdapterStore::temp_path(std::string_view prefix) {
  return root_ /
         (std::string(prefix) + std::to_string(::getpid()) + "-" + std::to_string(temp_counter_++));
}

std::string DirectoryAdapterStore::where(const UserId& user) const {
  return "adapter store " + root_.string() + ": user \"" + user + "\"";
}

std::string DirectoryAdapterStore::where(const UserId& user, const std::string& id) const {
  return where(user) + " version " + id;
}

DirectoryAdapterStore::StatePtr DirectoryAdapterStore::find_state(const std::string& stem) const {
  std::lock_guard lock(mu_);
  auto it = users_.find(stem);
  return it == users_.end() ? nullptr : it->second;
}

DirectoryAdapterStore::StatePtr DirectoryAdapterStore::find_or_create_state(const std::string& stem,
                                                                            const UserId& user) {
  std::lock_guard lock(mu_);
  auto& slot = users_[stem];
  if (!slot) {
    slot = std::make_shared<UserState>();
    slot->manifest.user = user;
  }
  return slot;
}

void DirectoryAdapterStore::check_usable(const UserState& state, const UserId& user) const {
  OAP_CHECK(state.error.empty(), StoreError, state.error);
  OAP_CHECK(state.manifest.user == user, StoreError,
            where(user) + ": its folder " + user_file_stem(user) + " belongs to user \"" +
                state.manifest.user + "\" (a hash collision of two user ids)");
}

template <typename F>
auto DirectoryAdapterStore::read_user(const UserId& user, F&& f) const {
  validate_user_id(user);
  const std::string stem = user_file_stem(user);
  for (;;) {
    StatePtr state = find_state(stem);
    if (!state) {
      static const UserState kUnknown;  // no versions; never locked or changed
      return f(kUnknown);
    }
    std::shared_lock lock(state->mu);
    if (state->gone) continue;
    check_usable(*state, user);
    return f(static_cast<const UserState&>(*state));
  }
}

template <typename F>
auto DirectoryAdapterStore::write_user(const UserId& user, bool create, F&& f) {
  validate_user_id(user);
  const std::string stem = user_file_stem(user);
  for (;;) {
    StatePtr state = create ? find_or_create_state(stem, user) : find_state(stem);
    if (!state) {
      UserState unknown;  // no versions; f only looks
      unknown.manifest.user = user;
      return f(unknown, state, stem);
    }
    std::unique_lock lock(state->mu);
    if (state->gone) continue;
    check_usable(*state, user);
    return f(*state, state, stem);
  }
}

const AdapterVersionRecord& DirectoryAdapterStore::require_version(const UserState& state,
                                                                   const UserId& user,
                                                                   const std::string& id) const {
  const AdapterVersionRecord* record = state.manifest.find(id);
  if (!record) {
    std::string known;
    for (const auto& r : state.manifest.versions) {
      known += (known.empty() ? "" : ", ") + r.version.id;
    }
    OAP_THROW(InvalidArgument, where(user) + " has no version \"" + id +
                                   "\" (versions: " + (known.empty() ? "none" : known) + ")");
  }
  return *record;
}

void DirectoryAdapterStore::prune(AdapterManifest& m) const {
  std::set<std::string> keep;
  std::size_t n = m.versions.size();
  for (std::size_t i = n > options_.keep_versions ? n - options_.keep_versions : 0; i < n; ++i) {
    keep.insert(m.versions[i].version.id);
  }
  if (const auto* current = m.find(m.current)) {
    keep.insert(current->version.id);
    keep.insert(current->version.parent);
  }
  std::erase_if(m.versions,
                [&](const AdapterVersionRecord& r) { return !keep.count(r.version.id); });
}

void DirectoryAdapterStore::commit(UserState& state, const std::string& stem,
                                   AdapterManifest next) {
  auto dir = user_dir(stem);
  write_adapter_manifest(dir / kAdapterManifestFile, next);
  // Only now, with the manifest no longer listing them, may folders go: a crash in between
  // leaves unlisted folders, which the next open removes.
  std::set<std::string> kept;
  for (const auto& r : next.versions) kept.insert(r.version.id);
  for (const auto& r : state.manifest.versions) {
    if (!kept.count(r.version.id)) remove_leftover(dir / r.version.id);
  }
  state.manifest = std::move(next);
}

void DirectoryAdapterStore::delete_user(UserState& state, const StatePtr& owner,
                                        const std::string& stem) {
  auto dir = user_dir(stem);
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    // A rename is atomic: after a crash the user is either complete or gone, never half.
    auto trash = temp_path(kAdapterTrashPrefix);
    fs::rename(dir, trash, ec);
    OAP_CHECK(!ec, IoError,
              "adapter store: cannot move " + dir.string() + " to " + trash.string() + ": " +
                  ec.message());
    sync_path(root_);
    remove_tree(trash);
  }
  state.gone = true;
  std::lock_guard lock(mu_);
  auto it = users_.find(stem);
  if (it != users_.end() && it->second == owner) users_.erase(it);
}

AdapterVersion DirectoryAdapterStore::add(const UserId& user, const AdapterFilesWriter& write,
                                          const std::string& parent, const nlohmann::json& info,
                                          bool make_current) {
  validate_user_id(user);
  OAP_CHECK(static_cast<bool>(write), InvalidArgument,
            where(user) + ": add() needs a writer function, got an empty one");
  OAP_CHECK(parent.empty() || is_content_hash(parent), InvalidArgument,
            where(user) + ": parent \"" + parent +
                "\" is not a version id (32 lowercase hex digits, or \"\" for none)");
  try {
    (void)info.dump();
  } catch (const nlohmann::json::exception& e) {
    OAP_THROW(InvalidArgument, where(user) + ": info cannot be stored as JSON: " + e.what());
  }

  // The slow part, outside every lock: the caller's files, hashed and synced.
  auto tmp = temp_path(kAdapterTempPrefix);
  std::error_code ec;
  fs::create_directory(tmp, ec);
  OAP_CHECK(!ec, IoError, "adapter store: cannot create " + tmp.string() + ": " + ec.message());
  struct TempGuard {
    fs::path path;
    ~TempGuard() {
      if (!path.empty()) remove_leftover(path);
    }
  } guard{tmp};
  write(tmp);
  auto files = seal_version_files(tmp);
  const std::string id = adapter_version_id(files);

  return write_user(
      user, /*create=*/true, [&](UserState& state, const StatePtr& owner, const std::string& stem) {
        if (state.manifest.find(id)) {
          if (make_current && state.manifest.current != id) {
            AdapterManifest next = state.manifest;
            next.current = id;
            commit(state, stem, std::move(next));
          }
          return state.manifest.find(id)->version;
        }
        auto dir = user_dir(stem);
        const bool first = !state.on_disk;
        try {
          if (first) {
            fs::create_directory(dir, ec);
            OAP_CHECK(!ec, IoError,
                      "adapter store: cannot create " + dir.string() + ": " + ec.message());
            sync_path(root_);
            // An empty manifest first: from now on a folder without a manifest is an anomaly.
            AdapterManifest empty;
            empty.user = user;
            write_adapter_manifest(dir / kAdapterManifestFile, empty);
            state.on_disk = true;
          }
          auto dest = dir / id;
          if (fs::exists(dest, ec)) remove_tree(dest);  // unlisted: a leftover
          fs::rename(tmp, dest, ec);
          OAP_CHECK(!ec, IoError,
                    "adapter store: cannot move " + tmp.string() + " to " + dest.string() + ": " +
                        ec.message());
          guard.path = dest;  // until the manifest lists it
          // The version's entry is durable before any manifest names it.
          sync_path(dir);

          AdapterVersionRecord record;
          record.version.id = id;
          record.version.created = std::chrono::time_point_cast<std::chrono::microseconds>(
              std::chrono::system_clock::now());
          record.version.parent = parent;
          record.version.info = info;
          record.files = std::move(files);
          AdapterManifest next = state.manifest;
          next.versions.push_back(std::move(record));
          if (make_current) next.current = id;
          prune(next);
          commit(state, stem, std::move(next));
          guard.path.clear();
        } catch (...) {
          // Undone under the lock: once it is released, another add() may own a folder of
          // this id.
          if (guard.path != tmp) {
            remove_leftover(guard.path);
            guard.path.clear();
          }
          if (state.manifest.versions.empty()) delete_user(state, owner, stem);
          throw;
        }
        return state.manifest.versions.back().version;
      });
}

std::vector<AdapterVersion> DirectoryAdapterStore::versions(const UserId& user) const {
  return read_user(user, [](const UserState& state) {
    std::vector<AdapterVersion> out;
    for (const auto& r : state.manifest.versions) out.push_back(r.version);
    return out;
  });
}

std::optional<AdapterVersion> DirectoryAdapterStore::current(const UserId& user) const {
  return read_user(user, [](const UserState& state) -> std::optional<AdapterVersion> {
    const AdapterVersionRecord* r = state.manifest.find(state.manifest.current);
    if (!r) return std::nullopt;
    return r->version;
  });
}

void DirectoryAdapterStore::set_current(const UserId& user, const std::string& id) {
  write_user(user, /*create=*/false,
             [&](UserState& state, const StatePtr&, const std::string& stem) {
               require_version(state, user, id);
               if (state.manifest.current == id) return;
               AdapterManifest next = state.manifest;
               next.current = id;
               commit(state, stem, std::move(next));
             });
}

fs::path DirectoryAdapterStore::open(const UserId& user, const std::string& id) const {
  // Verified under the shared lock, so no writer deletes the folder while it is read.
  return read_user(user, [&](const UserState& state) {
    const auto& record = require_version(state, user, id);
    auto dir = user_dir(user_file_stem(user)) / id;
    verify_version_files(dir, record.files, where(user, id));
    return dir;
  });
}

void DirectoryAdapterStore::remove(const UserId& user, const std::string& id) {
  write_user(user, /*create=*/false,
             [&](UserState& state, const StatePtr& owner, const std::string& stem) {
               require_version(state, user, id);
               AdapterManifest next = state.manifest;
               std::erase_if(next.versions,
                             [&](const AdapterVersionRecord& r) { return r.version.id == id; });
               if (next.versions.empty()) return delete_user(state, owner, stem);
               if (next.current == id) next.current = next.versions.back().version.id;
               commit(state, stem, std::move(next));
             });
}

std::size_t DirectoryAdapterStore::forget(const UserId& user) {
  validate_user_id(user);
  const std::string stem = user_file_stem(user);
  for (;;) {
    // Created if absent, so that forget() is ordered with a concurrent first add().
    StatePtr state = find_or_create_state(stem, user);
    std::unique_lock lock(state->mu);
    if (state->gone) continue;
    // A corrupt manifest, or a folder of another user with the same stem, is not this
    // user's to count; the folder still goes if the error is the corrupt manifest.
    OAP_CHECK(!state->error.empty() || state->manifest.user == user, StoreError,
              where(user) + ": its folder " + stem + " belongs to user \"" + state->manifest.user +
                  "\" (a hash collision of two user ids)");
    std::size_t n = state->manifest.versions.size();
    delete_user(*state, state, stem);
    return n;
  }
}

std::vector<UserId> DirectoryAdapterStore::users() const {
  std::vector<StatePtr> states;
  {
    std::lock_guard lock(mu_);
    for (const auto& [stem, state] : users_) states.push_back(state);
  }
  std::vector<UserId> out;
  for (const auto& state : states) {
    std::shared_lock lock(state->mu);
    if (state->gone) continue;
    OAP_CHECK(state->error.empty(), StoreError, state->error);
    if (!state->manifest.versions.empty()) out.push_back(state->manifest.user);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace oap::detail
