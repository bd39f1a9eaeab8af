#include "oap/llm/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "llm/torch_dtype.hpp"
#include "oap/core/atomic_file.hpp"
#include "oap/core/error.hpp"

namespace oap {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; big-endian hosts are not supported");

namespace detail {
// A private (copy-on-write) mapping of a whole file; unmapped when the last owner lets go.
struct MappedFile {
  std::uint8_t* data = nullptr;
  std::size_t size = 0;
  ~MappedFile() {
    if (data != nullptr) ::munmap(data, size);
  }
};
}  // namespace detail

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

SafeTensors::~SafeTensors() = default;

std::unique_ptr<SafeTensors> SafeTensors::open(const std::filesystem::path& path) {
  const std::string source = path.string();
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  OAP_CHECK(f.fd >= 0, IoError, "cannot open " + source + ": " + std::strerror(errno));
  struct stat st {};
  OAP_CHECK(::fstat(f.fd, &st) == 0, IoError,
            "cannot stat " + source + ": " + std::strerror(errno));
  OAP_CHECK(S_ISREG(st.st_mode), IoError, source + " is not a regular file");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  OAP_CHECK(file_size >= 8, IoError,
            source + ": truncated safetensors file (" + std::to_string(file_size) +
                " bytes; the 8-byte header length is missing)");

  auto map = std::make_shared<detail::MappedFile>();
  void* p = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd, 0);
  OAP_CHECK(p != MAP_FAILED, IoError, "cannot mmap " + source + ": " + std::strerror(errno));
  map->data = static_cast<std::uint8_t*>(p);
  map->size = file_size;

  std::unique_ptr<SafeTensors> st_file(new SafeTensors());
  st_file->path_ = path;
  st_file->header_ = SafeTensorsHeader::parse_file_bytes(
      std::span<const std::uint8_t>(map->data, map->size), source);
  st_file->map_ = std::move(map);
  return st_file;
}

std::vector<std::string> SafeTensors::names() const {
  std::vector<std::string> out;
  out.reserve(header_.tensors.size());
  for (const auto& e : header_.tensors) out.push_back(e.name);
  return out;
}

const SafeTensorsEntry& SafeTensors::entry(std::string_view name) const {
  const auto* e = header_.find(name);
  OAP_CHECK(e != nullptr, InvalidArgument,
            path_.string() + " has no tensor named '" + std::string(name) + "'");
  return *e;
}

std::span<const std::uint8_t> SafeTensors::bytes(std::string_view name) const {
  const auto& e = entry(name);
  return {map_->data + header_.data_offset + e.begin, e.byte_size()};
}

bool SafeTensors::is_zero_copy(std::string_view name) const {
  const auto& e = entry(name);
  const auto addr = reinterpret_cast<std::uintptr_t>(map_->data + header_.data_offset + e.begin);
  return e.dtype != DType::kBool && addr % dtype_size(e.dtype) == 0;
}

at::Tensor SafeTensors::tensor(std::string_view name) const {
  const auto& e = entry(name);
  auto* ptr = map_->data + header_.data_offset + e.begin;
  const auto options = at::TensorOptions().dtype(detail::to_scalar_type(e.dtype)).device(at::kCPU);
  if (e.dtype == DType::kBool) {
    // Any byte other than 0/1 in a torch bool tensor is undefined behaviour; normalise.
    auto raw = at::from_blob(ptr, e.shape, at::TensorOptions().dtype(at::kByte));
    return raw.ne(0);
  }
  if (is_zero_copy(name)) {
    auto keep = map_;
    return at::from_blob(
        ptr, e.shape, [keep](void*) {}, options);
  }
  return at::from_blob(ptr, e.shape, options).clone();
}

void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    OAP_CHECK(name != "__metadata__" && !name.empty(), InvalidArgument,
              "save_safetensors(" + path.string() + "): invalid tensor name '" + name + "'");
    OAP_CHECK(seen.insert(name).second, InvalidArgument,
              "save_safetensors(" + path.string() + "): duplicate tensor name '" + name + "'");
    OAP_CHECK(t.defined(), InvalidArgument,
              "save_safetensors(" + path.string() + "): tensor '" + name + "' is undefined");
  }
  // Data in order of decreasing element size (stable), as the safetensors library does: with
  // an 8-aligned data start, every tensor is then aligned for its dtype (zero-copy reads).
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return tensors[a].second.element_size() > tensors[b].second.element_size();
  });
  std::vector<at::Tensor> cpu;
  cpu.reserve(tensors.size());
  std::uint64_t offset = 0;
  for (std::size_t i : order) {
    const auto& [name, t] = tensors[i];
    const DType dtype = detail::to_dtype(t.scalar_type());
    auto c = t.detach().to(at::kCPU).contiguous();
    const std::uint64_t bytes = static_cast<std::uint64_t>(c.numel()) * dtype_size(dtype);
    header[name] = {{"dtype", std::string(dtype_name(dtype))},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(std::move(c));
  }
  std::string text = header.dump();
  // Pad with spaces (valid JSON whitespace) so the data section starts 8-byte aligned.
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  write_file_atomic(path, [&](std::ostream& out) {
    std::uint8_t len[8];
    std::uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& c : cpu) {
      out.write(static_cast<const char*>(c.data_ptr()),
                static_cast<std::streamsize>(c.numel() * c.element_size()));
    }
  });
}

}  // namespace oap
