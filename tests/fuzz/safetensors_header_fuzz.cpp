// libFuzzer target over the safetensors header parser: any byte string is a candidate file image.
// The parser must either accept it (and then every entry must lie inside the data) or throw
// oap::Error; anything else (a crash, another exception, an out-of-bounds read under ASan) is a
// bug.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "oap/core/error.hpp"
#include "oap/llm/safetensors_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto h =
        oap::SafeTensorsHeader::parse_file_bytes(std::span<const std::uint8_t>(data, size), "fuzz");
    std::uint64_t cursor = 0;
    for (const auto& e : h.tensors) {
      // Accepted headers must tile the data section exactly.
      if (e.begin != cursor || e.end < e.begin || h.data_offset + e.end > size) std::abort();
      if (e.byte_size() != e.numel() * oap::dtype_size(e.dtype)) std::abort();
      cursor = e.end;
    }
    if (h.data_offset + cursor != size) std::abort();
  } catch (const oap::Error&) {
    // Refused with a clear error: fine.
  }
  return 0;
}
