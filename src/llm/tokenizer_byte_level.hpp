#pragma once
// GPT-2's byte <-> unicode table, which byte-level BPE vocabularies are spelled in, and the
// small UTF-8 helpers the tokenizers need. Private to the library.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace oap::detail {

// The UTF-8 spelling of the character that byte b stands for in a byte-level vocabulary
// (printable Latin-1 bytes stand for themselves; the rest map to U+0100.. in byte order, so
// ' ' is "Ġ" and '\n' is "Ċ"). Thread-safe (a constant table).
const std::array<std::string, 256>& byte_to_unicode();

// The bytes a byte-level token spells, or nullopt if it contains a character outside the table
// (then it is not a byte-level token, e.g. "<|endoftext|>" written as an added token).
std::optional<std::string> byte_level_to_bytes(std::string_view token);

// The raw bytes spelled in the byte-level alphabet ("a b" -> "aĠb").
std::string bytes_to_byte_level(std::string_view bytes);

// Appends the UTF-8 encoding of code point cp (must be <= 0x10FFFF).
void append_utf8(std::uint32_t cp, std::string& out);

// Decodes the code point at text[pos] and advances pos past it. Returns nullopt (pos advanced by
// one byte) for a byte that does not start a valid, shortest-form UTF-8 sequence.
std::optional<std::uint32_t> next_code_point(std::string_view text, std::size_t& pos);

// Whether text is valid UTF-8.
bool is_valid_utf8(std::string_view text);

}  // namespace oap::detail
