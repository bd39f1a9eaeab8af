// Replays random and mutated safetensors images through LLVMFuzzerTestOneInput with the normal
// compiler, so the test suite exercises the header parser's error paths without libFuzzer.
// Usage: safetensors_header_replay [COUNT]. Deterministic (fixed seed). Exit 0 = no crash.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::uint8_t> image(const std::string& header, std::size_t data_bytes) {
  std::vector<std::uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(header.size() >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_bytes, 0x3f);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 600;
  std::mt19937_64 rng(12345);
  const std::vector<std::vector<std::uint8_t>> seeds = {
      image(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 16),
      image(
          R"({"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"I64","shape":[1],"data_offsets":[6,14]}})",
          14),
      image(
          R"({"x":{"dtype":"BOOL","shape":[],"data_offsets":[0,1]},"y":{"dtype":"U8","shape":[0],"data_offsets":[1,1]}})",
          1),
      image("{}", 0),
  };
  const std::string tokens[] = {"{",         "}",         "[",
                                "]",         ",",         ":",
                                "\"",        "0",         "18446744073709551615",
                                "-1",        "1e309",     "\"F32\"",
                                "\"dtype\"", "\"shape\"", "\"data_offsets\"",
                                "null",      "\\u0000",   "\xff"};
  int accepted = 0;
  for (int i = 0; i < count; ++i) {
    std::vector<std::uint8_t> buf = seeds[rng() % seeds.size()];
    const int kind = static_cast<int>(rng() % 5);
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !buf.empty(); ++e) {
      const std::size_t pos = rng() % buf.size();
      switch (kind) {
        case 0:
          buf[pos] = static_cast<std::uint8_t>(rng());
          break;  // flip a byte
        case 1:
          buf.resize(rng() % (buf.size() + 1));
          break;  // truncate
        case 2:
          buf.insert(buf.begin() + static_cast<long>(pos), static_cast<std::uint8_t>(rng()));
          break;
        case 3: {  // splice a token
          const auto& t = tokens[rng() % std::size(tokens)];
          buf.insert(buf.begin() + static_cast<long>(pos), t.begin(), t.end());
          break;
        }
        default:
          buf[rng() % 8] = static_cast<std::uint8_t>(rng());
          break;  // lie about length
      }
    }
    if (i % 10 == 0) {  // pure noise too
      buf.resize(rng() % 64);
      for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
    }
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
    ++accepted;
  }
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());
  std::printf("replayed %d mutated safetensors images without a crash\n", accepted);
  return 0;
}
