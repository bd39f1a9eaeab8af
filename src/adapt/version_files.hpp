#pragma once
// Private: the files of one adapter version (what add() seals, what open() verifies) and the
// content-derived version id computed from them.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace oap::detail {

// One file of a version, as the manifest records it.
struct AdapterFileRecord {
  std::string name;  // a plain file name inside the version folder
  std::uint64_t size = 0;
  std::string hash;  // content_hash of the bytes

  friend bool operator==(const AdapterFileRecord&, const AdapterFileRecord&) = default;
};

// True for 32 lowercase hex digits (the form of version ids and file hashes).
bool is_content_hash(std::string_view s);

// Lists and hashes the files a writer left in dir, in name order, and fsyncs each of them and
// dir, so that dir can be renamed into place durably. InvalidArgument naming the entry for
// anything that is not a regular file (subfolder, link), and for an empty dir.
std::vector<AdapterFileRecord> seal_version_files(const std::filesystem::path& dir);

// The version id of files (in name order): the ContentHasher hex of, for each file, its
// name's length (u64 little-endian), its name, its size (u64 little-endian) and its hash.
std::string adapter_version_id(const std::vector<AdapterFileRecord>& files);

// Checks that dir holds exactly files, with their sizes and hashes. Throws StoreError
// "<where>: <what is wrong with which file>" otherwise.
void verify_version_files(const std::filesystem::path& dir,
                          const std::vector<AdapterFileRecord>& files, const std::string& where);

}  // namespace oap::detail
