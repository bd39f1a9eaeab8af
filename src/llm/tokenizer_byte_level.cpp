#include "llm/tokenizer_byte_level.hpp"

#include <unordered_map>

namespace oap::detail {
namespace {

// GPT-2's bytes_to_unicode(): bytes that are printable and not whitespace keep their Latin-1
// code point; the 68 others get U+0100 + n in increasing byte order. Every vocabulary of a
// byte-level BPE (GPT-2, Llama-3, Qwen2) is spelled in this alphabet.
std::array<std::uint32_t, 256> make_code_points() {
  std::array<std::uint32_t, 256> cps{};
  std::uint32_t n = 0;
  for (std::uint32_t b = 0; b < 256; ++b) {
    bool keeps = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    cps[b] = keeps ? b : 256 + n++;
  }
  return cps;
}

const std::unordered_map<std::uint32_t, unsigned char>& code_point_to_byte() {
  static const auto* table = [] {
    auto* m = new std::unordered_map<std::uint32_t, unsigned char>();
    auto cps = make_code_points();
    for (int b = 0; b < 256; ++b) (*m)[cps[b]] = static_cast<unsigned char>(b);
    return m;
  }();
  return *table;
}

}  // namespace

const std::array<std::string, 256>& byte_to_unicode() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    auto cps = make_code_points();
    for (int b = 0; b < 256; ++b) append_utf8(cps[b], t[b]);
    return t;
  }();
  return table;
}

std::optional<std::string> byte_level_to_bytes(std::string_view token) {
  const auto& table = code_point_to_byte();
  std::string out;
  out.reserve(token.size());
  std::size_t pos = 0;
  while (pos < token.size()) {
    auto cp = next_code_point(token, pos);
    if (!cp) return std::nullopt;
    auto it = table.find(*cp);
    if (it == table.end()) return std::nullopt;
    out.push_back(static_cast<char>(it->second));
  }
  return out;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  const auto& table = byte_to_unicode();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += table[b];
  return out;
}

void append_utf8(std::uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::optional<std::uint32_t> next_code_point(std::string_view text, std::size_t& pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char b0 = byte(pos);
  std::size_t len;
  std::uint32_t cp;
  std::uint32_t min;
  if (b0 < 0x80) {
    ++pos;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++pos;
    return std::nullopt;
  }
  if (pos + len > text.size()) {
    ++pos;
    return std::nullopt;
  }
  for (std::size_t i = 1; i < len; ++i) {
    unsigned char b = byte(pos + i);
    if ((b & 0xC0) != 0x80) {
      ++pos;
      return std::nullopt;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid UTF-8.
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++pos;
    return std::nullopt;
  }
  pos += len;
  return cp;
}

bool is_valid_utf8(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (!next_code_point(text, pos)) return false;
  }
  return true;
}

}  // namespace oap::detail
