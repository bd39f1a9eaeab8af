// Child process of the adapter store's crash and lock tests.
//
//   adapt_crash_writer ROOT add_loop
//     Opens the store (keep_versions 3) and adds versions forever (until killed): version i
//     belongs to user "u<i % 3>", has i's files and info {"i": i}, its parent is the user's
//     current version, and it becomes current. i starts after the largest i already stored.
//     After each add returns, writes "acked <user> <id> <i>" to stdout, unbuffered.
//   adapt_crash_writer ROOT try_open
//     Opens the store and exits 0 ("opened"), or prints the error and exits 3.

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "oap/adapt/adapter_store.hpp"
#include "oap/core/error.hpp"

namespace {

// Version i's files: a PEFT-like config and 64 KiB to 320 KiB of weights, all derived from i.
void write_version(const std::filesystem::path& dir, long long i) {
  std::ofstream(dir / "adapter_config.json") << "{\"r\": 8, \"version\": " << i << "}\n";
  std::string weights(65536 * (1 + i % 5), '\0');
  unsigned long long x = 0x9e3779b97f4a7c15ULL * static_cast<unsigned long long>(i + 1);
  for (char& c : weights) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    c = static_cast<char>(x >> 56);
  }
  std::ofstream(dir / "adapter_model.safetensors", std::ios::binary) << weights;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s ROOT add_loop|try_open\n", argv[0]);
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  if (std::strcmp(argv[2], "try_open") == 0) {
    try {
      auto store = oap::open_adapter_store(argv[1]);
      std::printf("opened\n");
      return 0;
    } catch (const oap::Error& e) {
      std::printf("%s\n", e.what());
      return 3;
    }
  }
  oap::AdapterStoreOptions options;
  options.keep_versions = 3;
  auto store = oap::open_adapter_store(argv[1], options);
  long long i = 0;
  for (const auto& user : store->users()) {
    for (const auto& v : store->versions(user))
      i = std::max(i, v.info.at("i").get<long long>() + 1);
  }
  std::printf("ready\n");
  for (;; ++i) {
    std::string user = "u";  // not "u" + to_string(): GCC 12 -O3 warns falsely (-Wrestrict)
    user += std::to_string(i % 3);
    auto current = store->current(user);
    auto v = store->add(user, [&](const std::filesystem::path& dir) { write_version(dir, i); },
                        current ? current->id : "", {{"i", i}});
    std::printf("acked %s %s %lld\n", user.c_str(), v.id.c_str(), i);
  }
}
