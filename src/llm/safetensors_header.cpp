#include "oap/llm/safetensors_header.hpp"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <set>

#include "oap/core/error.hpp"

namespace oap {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DTypeInfo, 10> kDTypes = {{
    {DType::kF64, "F64", 8},
    {DType::kF32, "F32", 4},
    {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},
    {DType::kI64, "I64", 8},
    {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},
    {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
}};

const DTypeInfo& info(DType dtype) {
  for (const auto& i : kDTypes) {
    if (i.dtype == dtype) return i;
  }
  OAP_THROW(InvalidArgument, "unknown DType value " + std::to_string(static_cast<int>(dtype)));
}

// Short, printable excerpt of untrusted text for error messages.
std::string excerpt(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (c >= 32 && c < 127) ? c : '?';
  if (s.size() > 40) out += "...";
  return out;
}

std::uint64_t read_u64(const nlohmann::json& v, const std::string& where) {
  OAP_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0),
            IoError, where + ": expected a non-negative integer, got " + excerpt(v.dump()));
  return v.get<std::uint64_t>();
}

}  // namespace

std::size_t dtype_size(DType dtype) { return info(dtype).size; }
std::string_view dtype_name(DType dtype) { return info(dtype).name; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& i : kDTypes) {
    if (i.name == name) return i.dtype;
  }
  return std::nullopt;
}

std::uint64_t SafeTensorsEntry::numel() const {
  std::uint64_t n = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

const SafeTensorsEntry* SafeTensorsHeader::find(std::string_view name) const {
  for (const auto& e : tensors) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::uint64_t SafeTensorsHeader::read_header_length(std::span<const std::uint8_t> first8,
                                                    std::uint64_t file_size,
                                                    const std::string& source) {
  OAP_CHECK(first8.size() >= 8 && file_size >= 8, IoError,
            source + ": truncated safetensors file (" + std::to_string(file_size) +
                " bytes; the 8-byte header length is missing)");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | first8[static_cast<std::size_t>(i)];
  OAP_CHECK(n <= kMaxHeaderBytes, IoError,
            source + ": safetensors header length " + std::to_string(n) + " bytes exceeds the " +
                std::to_string(kMaxHeaderBytes) +
                "-byte limit (corrupt or not a safetensors file)");
  OAP_CHECK(n <= file_size - 8, IoError,
            source + ": truncated safetensors file: header length " + std::to_string(n) +
                " but only " + std::to_string(file_size - 8) + " bytes follow the length prefix");
  return n;
}

SafeTensorsHeader SafeTensorsHeader::parse_file_bytes(std::span<const std::uint8_t> bytes,
                                                      const std::string& source) {
  const std::uint64_t n =
      read_header_length(bytes.first(std::min<std::size_t>(8, bytes.size())), bytes.size(), source);
  std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), n);
  return parse(text, bytes.size(), source);
}

SafeTensorsHeader SafeTensorsHeader::parse(std::string_view json_text, std::uint64_t file_size,
                                           const std::string& source) {
  SafeTensorsHeader h;
  h.header_bytes = json_text.size();
  OAP_CHECK(h.header_bytes <= kMaxHeaderBytes, IoError,
            source + ": safetensors header of " + std::to_string(h.header_bytes) +
                " bytes exceeds the limit");
  OAP_CHECK(file_size >= 8 + h.header_bytes, IoError,
            source + ": truncated safetensors file: " + std::to_string(file_size) +
                " bytes cannot hold a header of " + std::to_string(h.header_bytes) + " bytes");
  h.data_offset = 8 + h.header_bytes;
  const std::uint64_t data_size = file_size - h.data_offset;

  // nlohmann::json keeps the last of duplicate keys silently; the callback sees every key of the
  // top-level object, so duplicates are caught before they are merged.
  std::set<std::string> keys;
  std::string duplicate;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(
        json_text.begin(), json_text.end(),
        [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
          if (depth == 1 && event == nlohmann::json::parse_event_t::key) {
            const auto& key = parsed.get_ref<const std::string&>();
            if (!keys.insert(key).second && duplicate.empty()) duplicate = key;
          }
          return true;
        });
  } catch (const nlohmann::json::exception& e) {
    OAP_THROW(IoError, source + ": safetensors header is not valid JSON: " + e.what());
  }
  OAP_CHECK(duplicate.empty(), IoError,
            source + ": safetensors header names tensor '" + excerpt(duplicate) + "' twice");
  OAP_CHECK(j.is_object(), IoError,
            source + ": safetensors header must be a JSON object, got " + j.type_name());

  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const std::string where = source + ": tensor '" + excerpt(name) + "'";
    const auto& v = it.value();
    if (name == "__metadata__") {
      OAP_CHECK(v.is_object(), IoError, source + ": __metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        OAP_CHECK(m.value().is_string(), IoError,
                  source + ": __metadata__['" + excerpt(m.key()) + "'] must be a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    OAP_CHECK(v.is_object(), IoError, where + ": entry must be an object");
    for (auto f = v.begin(); f != v.end(); ++f) {
      OAP_CHECK(f.key() == "dtype" || f.key() == "shape" || f.key() == "data_offsets", IoError,
                where + ": unknown field '" + excerpt(f.key()) + "'");
    }
    OAP_CHECK(v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"), IoError,
              where + ": entry needs dtype, shape and data_offsets");
    SafeTensorsEntry e;
    e.name = name;
    OAP_CHECK(v["dtype"].is_string(), IoError, where + ": dtype must be a string");
    const auto dtype = parse_dtype(v["dtype"].get_ref<const std::string&>());
    OAP_CHECK(dtype.has_value(), IoError,
              where + ": unknown dtype '" + excerpt(v["dtype"].get<std::string>()) +
                  "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
    e.dtype = *dtype;
    OAP_CHECK(v["shape"].is_array(), IoError, where + ": shape must be an array");
    std::uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : v["shape"]) {
      const std::uint64_t dim = read_u64(d, where + ": shape");
      OAP_CHECK(dim <= static_cast<std::uint64_t>(INT64_MAX), IoError, where + ": shape too large");
      e.shape.push_back(static_cast<std::int64_t>(dim));
      overflow |= __builtin_mul_overflow(numel, dim, &numel);
    }
    std::uint64_t bytes = 0;
    overflow |= __builtin_mul_overflow(numel, dtype_size(e.dtype), &bytes);
    OAP_CHECK(!overflow, IoError, where + ": shape is too large (element count overflows)");
    const auto& off = v["data_offsets"];
    OAP_CHECK(off.is_array() && off.size() == 2, IoError,
              where + ": data_offsets must be [begin, end]");
    e.begin = read_u64(off[0], where + ": data_offsets[0]");
    e.end = read_u64(off[1], where + ": data_offsets[1]");
    OAP_CHECK(e.begin <= e.end, IoError,
              where + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                  ") end before begin");
    OAP_CHECK(e.end - e.begin == bytes, IoError,
              where + ": data_offsets cover " + std::to_string(e.end - e.begin) +
                  " bytes but shape x dtype needs " + std::to_string(bytes));
    OAP_CHECK(e.end <= data_size, IoError,
              where + ": data_offsets end " + std::to_string(e.end) +
                  " lies past the end of the data section (" + std::to_string(data_size) +
                  " bytes; truncated file?)");
    h.tensors.push_back(std::move(e));
  }

  std::sort(h.tensors.begin(), h.tensors.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // The tensors must tile [0, data_size) exactly: the format forbids holes and overlaps, and a
  // file that has them is either corrupt or crafted.
  std::uint64_t cursor = 0;
  for (const auto& e : h.tensors) {
    OAP_CHECK(e.begin >= cursor, IoError,
              source + ": tensor '" + excerpt(e.name) + "' at [" + std::to_string(e.begin) + ", " +
                  std::to_string(e.end) + ") overlaps the previous tensor (ends at " +
                  std::to_string(cursor) + ")");
    OAP_CHECK(e.begin == cursor, IoError,
              source + ": hole in the data section: bytes [" + std::to_string(cursor) + ", " +
                  std::to_string(e.begin) + ") belong to no tensor (before '" + excerpt(e.name) +
                  "')");
    cursor = e.end;
  }
  OAP_CHECK(cursor == data_size, IoError,
            source + ": file size mismatch: 8 + header " + std::to_string(h.header_bytes) +
                " + data " + std::to_string(cursor) + " != file size " + std::to_string(file_size) +
                " (truncated or trailing bytes)");
  return h;
}

}  // namespace oap
