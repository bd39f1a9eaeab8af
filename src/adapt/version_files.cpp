#include "adapt/version_files.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <system_error>

#include "oap/core/atomic_file.hpp"
#include "oap/core/content_hash.hpp"
#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

void hash_u64(ContentHasher& h, std::uint64_t v) {
  std::array<unsigned char, 8> bytes;
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(v >> (8 * i));
  h.update(bytes.data(), bytes.size());
}

std::string describe_type(std::filesystem::file_type type) {
  switch (type) {
    case std::filesystem::file_type::directory:
      return "a folder";
    case std::filesystem::file_type::symlink:
      return "a symbolic link";
    default:
      return "not a regular file";
  }
}

}  // namespace

bool is_content_hash(std::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::vector<AdapterFileRecord> seal_version_files(const std::filesystem::path& dir) {
  std::vector<AdapterFileRecord> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    auto type = entry.symlink_status().type();
    std::string name = entry.path().filename().string();
    OAP_CHECK(type == std::filesystem::file_type::regular, InvalidArgument,
              "adapter version writer left \"" + name + "\" in " + dir.string() + ", which is " +
                  describe_type(type) + " (a version holds regular files only, no subfolders)");
    AdapterFileRecord record;
    record.name = name;
    record.size = entry.file_size();
    record.hash = file_content_hash(entry.path());
    sync_path(entry.path());
    files.push_back(std::move(record));
  }
  OAP_CHECK(!ec, IoError, "cannot list " + dir.string() + ": " + ec.message());
  OAP_CHECK(
      !files.empty(), InvalidArgument,
      "adapter version writer left " + dir.string() + " empty (a version needs at least one file)");
  std::sort(files.begin(), files.end(),
            [](const auto& x, const auto& y) { return x.name < y.name; });
  sync_path(dir);
  return files;
}

std::string adapter_version_id(const std::vector<AdapterFileRecord>& files) {
  ContentHasher h;
  for (const auto& f : files) {
    hash_u64(h, f.name.size());
    h.update(f.name);
    hash_u64(h, f.size);
    h.update(f.hash);
  }
  return h.hex();
}

void verify_version_files(const std::filesystem::path& dir,
                          const std::vector<AdapterFileRecord>& files, const std::string& where) {
  auto corrupt = [&](const std::string& what) {
    OAP_THROW(StoreError, where + ": " + what +
                              " (the version is damaged: remove() it and fall back to another)");
  };
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    corrupt("version folder " + dir.string() + " is missing");
  std::set<std::string> expected;
  for (const auto& f : files) {
    expected.insert(f.name);
    auto path = dir / f.name;
    auto status = std::filesystem::symlink_status(path, ec);
    if (!std::filesystem::exists(status))
      corrupt("file " + f.name + " is missing from " + dir.string());
    if (!std::filesystem::is_regular_file(status)) {
      corrupt("file " + f.name + " in " + dir.string() + " is " + describe_type(status.type()) +
              ", expected a regular file");
    }
    std::uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) corrupt("cannot read file " + f.name + ": " + ec.message());
    if (size != f.size) {
      corrupt("file " + f.name + " has " + std::to_string(size) + " bytes, expected " +
              std::to_string(f.size) + (size < f.size ? " (truncated)" : " (grown)"));
    }
    std::string hash;
    try {
      hash = file_content_hash(path);
    } catch (const IoError& e) {
      corrupt("cannot read file " + f.name + ": " + e.what());
    }
    if (hash != f.hash) {
      corrupt("file " + f.name + " was altered (content hash " + hash + ", expected " + f.hash +
              ")");
    }
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!expected.count(name)) corrupt("unexpected file " + name + " in " + dir.string());
  }
  if (ec) corrupt("cannot list " + dir.string() + ": " + ec.message());
}

}  // namespace oap::detail
