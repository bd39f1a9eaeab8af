#include "oap/core/user_id.hpp"

#include <cstdint>
#include <cstdio>

#include "oap/core/error.hpp"
#include "oap/core/utf8.hpp"

namespace oap {
namespace {

// 64-bit FNV-1a: stable across platforms and releases, which a file name must be.
std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

std::string user_id_problem(std::string_view id) {
  if (id.empty()) return "empty";
  if (id.size() > kMaxUserIdBytes) {
    return "longer than " + std::to_string(kMaxUserIdBytes) + " bytes (" +
           std::to_string(id.size()) + ")";
  }
  for (std::size_t i = 0; i < id.size();) {
    auto c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02x", c);
      return std::string("contains control character ") + buf + " at byte " + std::to_string(i);
    }
    std::size_t n = utf8_sequence_length(id, i);
    if (n == 0) return "invalid UTF-8 at byte " + std::to_string(i);
    i += n;
  }
  return {};
}

void validate_user_id(std::string_view id) {
  std::string problem = user_id_problem(id);
  std::string shown(id.substr(0, 64));
  OAP_CHECK(problem.empty(), InvalidArgument,
            "invalid user id \"" + shown + (id.size() > 64 ? "...\"" : "\"") + ": " + problem);
}

std::string user_file_stem(std::string_view id) {
  std::string stem;
  for (char c : id) {
    if (stem.size() == 48) break;
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_';
    stem.push_back(keep ? c : '_');
  }
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a64(id)));
  return stem + "_" + hash;
}

}  // namespace oap
