#pragma once
// Private: a user's adapter manifest (manifest.json in the user's folder), the record of which
// versions exist and which one is current. The manifest is the truth: a version folder it does
// not list is a leftover; a version it lists must have its folder.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "adapt/version_files.hpp"
#include "oap/adapt/adapter_store.hpp"

namespace oap::detail {

inline constexpr const char* kAdapterManifestFile = "manifest.json";
inline constexpr int kAdapterManifestVersion = 1;

// One version and its files.
struct AdapterVersionRecord {
  AdapterVersion version;
  std::vector<AdapterFileRecord> files;  // in name order
};

// A plain value type.
struct AdapterManifest {
  UserId user;
  std::vector<AdapterVersionRecord> versions;  // oldest first
  std::string current;                         // a version id, or "" for none

  // The version with this id, or nullptr.
  const AdapterVersionRecord* find(std::string_view id) const;
};

// Reads and checks a manifest (format, user id, ids against their file lists, current among
// the versions). StoreError naming the file and what is wrong, if it cannot be read or parsed
// or is inconsistent.
AdapterManifest read_adapter_manifest(const std::filesystem::path& file);

// Writes the manifest atomically and durably (write_file_atomic). IoError if it cannot.
void write_adapter_manifest(const std::filesystem::path& file, const AdapterManifest& manifest);

}  // namespace oap::detail
