#pragma once
// Private: the adapter store on local folders, what open_adapter_store returns.

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "adapt/adapter_manifest.hpp"
#include "oap/adapt/adapter_store.hpp"

namespace oap::detail {

inline constexpr const char* kAdapterStoreLockFile = "adapter_store.lock";
// Root-level folders that never hold committed data: versions being written, and users being
// forgotten. Neither can be a user folder (user_file_stem never contains '.').
inline constexpr std::string_view kAdapterTempPrefix = ".tmp-";
inline constexpr std::string_view kAdapterTrashPrefix = ".trash-";
// What write_file_atomic leaves beside a manifest if it is interrupted.
inline constexpr std::string_view kManifestTempPrefix = "manifest.json.tmp.";

// Best-effort removal of something no manifest refers to; a failure only leaves garbage
// behind (cleaned at the next open), so it is logged, not thrown.
void remove_leftover(const std::filesystem::path& p);
// Removes p and everything in it, or throws IoError naming it.
void remove_tree(const std::filesystem::path& p);

// The adapter store on local folders (open_adapter_store). Holds the exclusive lock on root
// (an flock on root/adapter_store.lock) from construction to destruction. Thread safety: every
// method is safe to call concurrently (AdapterStore).
//
// Locking: mu_ guards the map of users; each user's state has its own shared mutex, taken
// shared by readers and exclusively by writers, so users never wait for one another and a
// reader never sees a half-done change. Lock order: a user's mutex, then mu_ (never the other
// way round: every path releases mu_ before it takes a user's mutex).
class DirectoryAdapterStore final : public AdapterStore {
 public:
  DirectoryAdapterStore(std::filesystem::path root, const AdapterStoreOptions& options);
  ~DirectoryAdapterStore() override;

  AdapterVersion add(const UserId& user, const AdapterFilesWriter& write, const std::string& parent,
                     const nlohmann::json& info, bool make_current) override;
  std::vector<AdapterVersion> versions(const UserId& user) const override;
  std::optional<AdapterVersion> current(const UserId& user) const override;
  void set_current(const UserId& user, const std::string& id) override;
  std::filesystem::path open(const UserId& user, const std::string& id) const override;
  void remove(const UserId& user, const std::string& id) override;
  std::size_t forget(const UserId& user) override;
  std::vector<UserId> users() const override;

 private:
  // One user's state; every field below mu is GUARDED_BY(mu).
  struct UserState {
    std::shared_mutex mu;
    // Set (under mu, exclusively) when the user's folder is deleted; the state has then left
    // users_, and a caller that still holds it looks the user up again.
    bool gone = false;
    // The user's folder and manifest exist. False only while the first add() holds mu.
    bool on_disk = false;
    // Why the manifest cannot be read; then manifest is empty and the user unusable.
    std::string error;
    AdapterManifest manifest;
  };
  using StatePtr = std::shared_ptr<UserState>;

  std::filesystem::path user_dir(const std::string& stem) const { return root_ / stem; }
  std::filesystem::path temp_path(std::string_view prefix);
  std::string where(const UserId& user) const;
  std::string where(const UserId& user, const std::string& id) const;

  void take_lock();
  void recover();
  // Loads one user's folder at open; nullptr if it held nothing committed (then it is removed).
  StatePtr load_user(const std::filesystem::path& dir);

  StatePtr find_state(const std::string& stem) const;
  StatePtr find_or_create_state(const std::string& stem, const UserId& user);
  // Throws unless state (locked by the caller) can serve user.
  void check_usable(const UserState& state, const UserId& user) const;
  // Calls f(state) with the user's state locked shared (an empty state for an unknown user).
  template <typename F>
  auto read_user(const UserId& user, F&& f) const;
  // Calls f(state, owner, stem) with the user's state locked exclusively; owner is the shared
  // pointer holding state. An unknown user's state is created if create, else f gets an empty
  // state of its own and a null owner.
  template <typename F>
  auto write_user(const UserId& user, bool create, F&& f);

  // The record of the user's version id (InvalidArgument naming both if there is none).
  const AdapterVersionRecord& require_version(const UserState& state, const UserId& user,
                                              const std::string& id) const;
  // Writes next as the user's manifest and makes it the state's; then deletes the folders of
  // versions that state had and next does not.
  void commit(UserState& state, const std::string& stem, AdapterManifest next);
  // Deletes the user's folder (atomically: renamed away first) and retires state.
  void delete_user(UserState& state, const StatePtr& owner, const std::string& stem);
  // Drops from m every version but the newest keep_versions, the current version and the
  // current version's parent.
  void prune(AdapterManifest& m) const;

  const std::filesystem::path root_;
  const AdapterStoreOptions options_;
  int lock_fd_ = -1;
  std::atomic<std::uint64_t> temp_counter_{0};
  mutable std::mutex mu_;
  std::unordered_map<std::string, StatePtr> users_;  // GUARDED_BY(mu_), by user_file_stem
};

}  // namespace oap::detail
