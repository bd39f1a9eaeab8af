#pragma once
// The adapter store: every user's LoRA adapter versions (PEFT folders, or any folder of files),
// each immutable and named by a hash of its content, with one current version per user.

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "oap/adapt/adapter_store_options.hpp"
#include "oap/core/timestamp.hpp"
#include "oap/core/user_id.hpp"

namespace oap {

// One stored version of a user's adapter. A plain value type.
struct AdapterVersion {
  // Content-derived: the same files (names and bytes) always give the same id, and any other
  // files a different one. 32 lowercase hex digits (docs/file-formats.md has the definition).
  std::string id;
  // When the version was added (UTC, microseconds).
  Timestamp created;
  // The version it was trained from; "" for none. It may have been pruned or removed since.
  std::string parent;
  // The caller's metadata (e.g. the training report), stored and returned as given.
  nlohmann::json info;

  friend bool operator==(const AdapterVersion&, const AdapterVersion&) = default;
};

// Writes a version's files into dir, an empty folder that exists. Only regular files directly
// in dir are allowed (no subfolders or links), and at least one.
using AdapterFilesWriter = std::function<void(const std::filesystem::path& dir)>;

// Versioned storage of per-user adapters: each user has a history of immutable versions
// (oldest first) and at most one current version. An interface, so that a networked backend
// can replace the local folders of open_adapter_store later.
//
// Thread safety: every method is safe to call concurrently, for the same or different users,
// without external synchronization. Errors: an invalid user id (validate_user_id) is
// InvalidArgument; failing to write is IoError; stored data that is missing or corrupt is
// StoreError naming the user, the version and the file.
class AdapterStore {
 public:
  virtual ~AdapterStore() = default;

  // Adds a version: calls write(dir) to write its files into an empty folder, derives the id
  // from what was written, makes the version durable and visible to every reader at once
  // (complete or not at all, even across kill -9 or power loss), makes it the user's current
  // version if make_current, then deletes versions beyond AdapterStoreOptions::keep_versions
  // (never the current version or its parent). If the user already has a version with exactly
  // these files, returns that one instead of storing a duplicate (and makes it current if
  // make_current; its stored folder is not re-checked, so remove() a damaged version before
  // adding its files again). parent is "" or a version id; info is any JSON. Exceptions from write
  // propagate, and nothing is stored then. write runs on the calling thread without any of the
  // store's locks held, so slow writers do not block other users or readers.
  virtual AdapterVersion add(const UserId& user, const AdapterFilesWriter& write,
                             const std::string& parent, const nlohmann::json& info,
                             bool make_current = true) = 0;

  // The user's versions, oldest first; empty for an unknown user.
  virtual std::vector<AdapterVersion> versions(const UserId& user) const = 0;

  // The user's current version; nullopt for an unknown user or one without a current version.
  virtual std::optional<AdapterVersion> current(const UserId& user) const = 0;

  // Makes version id the user's current version. InvalidArgument naming the user and id if
  // the user has no such version.
  virtual void set_current(const UserId& user, const std::string& id) = 0;

  // A local folder holding the files of version id, after checking every file against the
  // stored sizes and content hashes: a missing folder or file, a truncated, grown or altered
  // file, or an unexpected extra file is a StoreError naming the user, the version and the
  // file (the caller can remove() it and fall back to another version). InvalidArgument if the
  // user has no version id. The caller only reads the folder; it stays valid until the version
  // is pruned, removed or forgotten. Reads every byte of the version.
  virtual std::filesystem::path open(const UserId& user, const std::string& id) const = 0;

  // Deletes version id (e.g. a corrupt one). If it was current, the newest remaining version
  // becomes current (none if none remains). InvalidArgument if the user has no version id.
  virtual void remove(const UserId& user, const std::string& id) = 0;

  // Deletes every version and every byte stored for the user (files, metadata, folder).
  // Returns the number of versions deleted; 0 for an unknown user. Also works when the user's
  // manifest is corrupt (then it returns 0). An add() for the user that runs at the same time
  // either is forgotten too or completes after forget() returns (the user then has that one
  // version), as if it had been called later.
  virtual std::size_t forget(const UserId& user) = 0;

  // Every user with at least one version, sorted. StoreError naming the file if a user's
  // manifest cannot be read (fix or delete that user's folder, or forget() the user).
  virtual std::vector<UserId> users() const = 0;
};

// Opens (creating it if needed) the adapter store in folder root: one folder per user (named
// user_file_stem(user), so no user id can reach outside root) holding a manifest and one folder
// per version (layout: docs/file-formats.md). Cleans what an interrupted add, remove or forget
// left behind. Takes an exclusive lock on root for the store's lifetime: opening a root that
// is already open, in this process or another, is a StoreError naming root. A user whose
// manifest cannot be read does not stop the store from opening: that user's calls (and
// users()) throw a StoreError naming the manifest. ConfigError for invalid options; IoError
// if root cannot be created or read.
std::unique_ptr<AdapterStore> open_adapter_store(const std::filesystem::path& root,
                                                 const AdapterStoreOptions& options = {});

}  // namespace oap
