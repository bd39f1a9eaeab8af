#pragma once
// UTF-8 validity.

#include <cstddef>
#include <optional>
#include <string_view>

namespace oap {

// The byte offset of the first byte of s that does not start a valid UTF-8 sequence (overlong
// forms, surrogates and code points above U+10FFFF are invalid), or nullopt if all of s is valid.
std::optional<std::size_t> invalid_utf8_at(std::string_view s);

// Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 if none starts there.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

}  // namespace oap
