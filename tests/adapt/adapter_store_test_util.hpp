#pragma once
// Helpers shared by the adapter store tests.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "oap/adapt/adapter_store.hpp"
#include "test_util.hpp"

namespace oap::testing {

namespace fs = std::filesystem;

// Deterministic pseudo-random bytes.
inline std::string bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

// A writer of a PEFT-style folder with the given file contents.
inline AdapterFilesWriter peft(std::string config, std::string weights) {
  return [config = std::move(config), weights = std::move(weights)](const fs::path& dir) {
    write_file(dir / "adapter_config.json", config);
    write_file(dir / "adapter_model.safetensors", weights);
  };
}

// A writer whose files are derived from seed.
inline AdapterFilesWriter peft(unsigned seed) {
  return peft("{\"r\": 8, \"seed\": " + std::to_string(seed) + "}", bytes(4096, seed));
}

inline std::vector<std::string> ids_of(const std::vector<AdapterVersion>& versions) {
  std::vector<std::string> out;
  for (const auto& v : versions) out.push_back(v.id);
  return out;
}

// Names of the entries directly in dir, sorted.
inline std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// The single user folder under root (the store's only folder besides its lock file).
inline fs::path only_user_dir(const fs::path& root) {
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory()) dirs.push_back(e.path());
  }
  EXPECT_EQ(dirs.size(), 1u);
  return dirs.empty() ? fs::path() : dirs[0];
}

// Expects fn to throw E with a message containing every one of parts.
template <typename E, typename Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no exception";
  } catch (const E& e) {
    for (const auto& p : parts) EXPECT_THAT(e.what(), ::testing::HasSubstr(p));
  }
}

}  // namespace oap::testing
