#pragma once
// Helpers shared by the test binaries.

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "oap/core/event.hpp"

namespace oap::testing {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("oap_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// An event with dim features derived deterministically from (user, i).
inline Event make_event(const std::string& user, std::int64_t i, std::size_t dim = 4,
                        std::int64_t t0_us = 1'700'000'000'000'000) {
  Event e;
  e.user = user;
  e.timestamp = timestamp_from_micros(t0_us + i * 1000);
  for (std::size_t k = 0; k < dim; ++k) e.features.push_back(static_cast<float>(i) + 0.25f * k);
  e.text = "event " + std::to_string(i) + " of " + user;
  if (i % 3 == 0) e.meta = {{"i", i}, {"tag", "x"}};
  return e;
}

}  // namespace oap::testing
