#pragma once
// Small helpers shared by the benchmark programs: a scratch folder and per-call latency
// percentiles (Google Benchmark reports means only).
//
// Thread safety: ScratchDir and the functions are not synchronized; use them from the
// benchmark's main thread. Ownership: plain values.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace oap::bench {

// A fresh folder under `parent` (default: the system temp folder) named
// oap_<tag>_<pid>_<n>, removed with its contents when destroyed unless keep() was called.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag, const std::filesystem::path& parent =
                                                  std::filesystem::temp_directory_path()) {
    static int counter = 0;
    path_ = parent /
            ("oap_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    if (!keep_) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

// The q-quantile (q in [0, 1]) of v by the nearest rank; 0 for an empty v.
inline double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Counters p50_us, p90_us, p99_us and max_us from per-call wall times in microseconds.
inline void set_latency_counters(benchmark::State& state, const std::vector<double>& us) {
  state.counters["p50_us"] = percentile(us, 0.50);
  state.counters["p90_us"] = percentile(us, 0.90);
  state.counters["p99_us"] = percentile(us, 0.99);
  state.counters["max_us"] = us.empty() ? 0.0 : *std::max_element(us.begin(), us.end());
}

}  // namespace oap::bench
