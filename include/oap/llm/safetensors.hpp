#pragma once
// SafeTensors: a memory-mapped, validated reader of one .safetensors file, and the writer.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "oap/llm/safetensors_header.hpp"

namespace oap {

namespace detail {
struct MappedFile;
}

// One .safetensors file, memory-mapped read-only (copy-on-write) and validated at open (see
// SafeTensorsHeader for the checks). tensor() returns CPU tensors that alias the mapping without
// a copy when the data is aligned for its dtype (the mapping stays alive as long as any such
// tensor does, even after this object is destroyed); otherwise, and for BOOL, a copy.
// Writing into a returned tensor changes only this process's private pages, never the file.
// Thread safety: const methods are safe to call from many threads at once.
class SafeTensors {
 public:
  // Throws IoError naming path and the problem (missing, truncated, lying header, ...).
  static std::unique_ptr<SafeTensors> open(const std::filesystem::path& path);

  ~SafeTensors();
  SafeTensors(const SafeTensors&) = delete;
  SafeTensors& operator=(const SafeTensors&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const SafeTensorsHeader& header() const { return header_; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  // Tensor names in file order.
  std::vector<std::string> names() const;
  bool contains(std::string_view name) const { return header_.find(name) != nullptr; }
  // The raw little-endian bytes of a tensor (valid while this object lives).
  std::span<const std::uint8_t> bytes(std::string_view name) const;
  // The tensor named name on the CPU in its stored dtype and shape. Throws InvalidArgument if
  // there is none.
  at::Tensor tensor(std::string_view name) const;
  // True when tensor(name) aliases the mapping (no copy).
  bool is_zero_copy(std::string_view name) const;

 private:
  SafeTensors() = default;
  const SafeTensorsEntry& entry(std::string_view name) const;

  std::filesystem::path path_;
  SafeTensorsHeader header_;
  std::shared_ptr<detail::MappedFile> map_;
};

// Writes tensors (any device, dtype among SafeTensors' DType; made contiguous and copied to the
// CPU) to path in the safetensors format; data ordered by decreasing element size and the header
// padded to 8 bytes, so every tensor of a file written here is aligned for zero-copy reading.
// Written to a temporary file in the same folder and renamed over path. Throws InvalidArgument for
// duplicate names or an unsupported dtype, IoError if the file cannot be written.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace oap
