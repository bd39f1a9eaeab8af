// core_bench: throughput of core/ helpers.
//
// Measures
//   - ContentHasher over buffers of 64 B to 64 MiB (bytes_per_second): what hashing an adapter
//     version's files costs when the adapter store adds or verifies one;
//   - file_content_hash over a 64 MiB file (page cache warm after the first iteration).
//
//   core_bench [benchmark flags...]   e.g. --benchmark_filter=ContentHash

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "oap/core/content_hash.hpp"

namespace {

std::string random_bytes(std::size_t n) {
  std::mt19937_64 rng(42);
  std::string s(n, '\0');
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    std::uint64_t w = rng();
    s.replace(i, 8, reinterpret_cast<const char*>(&w), 8);
  }
  return s;
}

void BM_ContentHash(benchmark::State& state) {
  std::string data = random_bytes(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    oap::ContentHasher h;
    h.update(data);
    benchmark::DoNotOptimize(h.digest());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ContentHash)->Arg(64)->Arg(4 << 10)->Arg(1 << 20)->Arg(64 << 20);

void BM_FileContentHash(benchmark::State& state) {
  const std::size_t size = 64 << 20;
  auto path = std::filesystem::temp_directory_path() /
              ("oap_core_bench_" + std::to_string(::getpid()) + ".bin");
  {
    std::ofstream out(path, std::ios::binary);
    out << random_bytes(size);
  }
  for (auto _ : state) benchmark::DoNotOptimize(oap::file_content_hash(path));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  std::filesystem::remove(path);
}
BENCHMARK(BM_FileContentHash)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
