// Writes a few valid safetensors images into a directory, the seed corpus of the libFuzzer
// target (scripts/fuzz.sh). Usage: safetensors_header_seeds DIR
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace {

void write_image(const std::string& path, const std::string& header, std::size_t data_bytes) {
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  out << header << std::string(data_bytes, '\x3f');
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  write_image(dir + "/f32.st", R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 16);
  write_image(
      dir + "/mixed.st",
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"I64","shape":[1],"data_offsets":[6,14]}})",
      14);
  write_image(
      dir + "/scalar.st",
      R"({"x":{"dtype":"BOOL","shape":[],"data_offsets":[0,1]},"y":{"dtype":"U8","shape":[0],"data_offsets":[1,1]}})",
      1);
  write_image(
      dir + "/f16.st",
      R"({"h":{"dtype":"F16","shape":[1,3],"data_offsets":[0,6]},"d":{"dtype":"F64","shape":[1],"data_offsets":[6,14]},"i":{"dtype":"I32","shape":[1],"data_offsets":[14,18]}})",
      18);
  write_image(dir + "/empty.st", "{}", 0);
  return 0;
}
