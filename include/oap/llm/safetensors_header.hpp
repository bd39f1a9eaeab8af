#pragma once
// The safetensors file header: dtypes, tensor entries and the validating parser. No LibTorch here,
// so the parser can be fuzzed and used by tools that never touch tensors.
// Thread safety: pure functions and value types; safe to call from any thread.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace oap {

// Element types of a safetensors file (the subset oap reads and writes).
enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// Bytes per element of dtype.
std::size_t dtype_size(DType dtype);
// The safetensors spelling ("F32", "BF16", "BOOL", ...).
std::string_view dtype_name(DType dtype);
// The dtype spelled name, or nullopt for one oap does not know.
std::optional<DType> parse_dtype(std::string_view name);

// One tensor in a safetensors file. Offsets are relative to the start of the data section.
struct SafeTensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // first byte, relative to the data start
  std::uint64_t end = 0;    // one past the last byte

  std::uint64_t byte_size() const { return end - begin; }
  std::uint64_t numel() const;
};

// A parsed and validated safetensors header. Immutable value type.
//
// The checks (each failure is an IoError naming the source and what lied):
// the 8-byte length fits in the file and is at most kMaxHeaderBytes; the header is a JSON object;
// every entry has a known dtype, a shape of non-negative integers and data_offsets [begin, end)
// with end - begin == numel * dtype size; names are unique; the tensors tile the data section
// exactly (no overlaps, no holes) and 8 + N + data_end == file size.
struct SafeTensorsHeader {
  static constexpr std::uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

  std::vector<SafeTensorsEntry> tensors;        // sorted by begin
  std::map<std::string, std::string> metadata;  // "__metadata__", string to string
  std::uint64_t header_bytes = 0;               // N, the JSON length
  std::uint64_t data_offset = 0;                // 8 + N: where the data section starts in the file

  // Parses the JSON header text given the total file size. source names the file in errors.
  static SafeTensorsHeader parse(std::string_view json_text, std::uint64_t file_size,
                                 const std::string& source);
  // Parses a whole file image (length prefix, header and data). Used by the fuzz target and by
  // readers holding the full file in memory.
  static SafeTensorsHeader parse_file_bytes(std::span<const std::uint8_t> bytes,
                                            const std::string& source);
  // Reads the little-endian header length from the first 8 bytes and checks it against the
  // file size and kMaxHeaderBytes.
  static std::uint64_t read_header_length(std::span<const std::uint8_t> first8,
                                          std::uint64_t file_size, const std::string& source);

  // The entry named name, or nullptr.
  const SafeTensorsEntry* find(std::string_view name) const;
};

}  // namespace oap
