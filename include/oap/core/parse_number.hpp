#pragma once
// parse_number: strict text-to-number conversion, the one number parser of oap's text inputs
// (CSV cells, timestamps in text, command-line values).

#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace oap {

// The whole of text as one number of type T, or nullopt. Nothing else is accepted: no
// surrounding spaces, no trailing characters ("0.7x"), no empty text.
//  - Integral T: an optional sign ('+', or '-' for signed types) and decimal digits; nullopt when
//    the value does not fit in T.
//  - Floating-point T: an optional sign, then decimal or scientific notation ("2", "-0.5",
//    ".5", "1e-3"); nullopt for "nan", "inf", hexadecimal and values outside T's range.
// Thread-safe (a pure function).
template <typename T>
std::optional<T> parse_number(std::string_view text) {
  static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (first != last && *first == '+') ++first;
  // A sign must be followed by the number itself ("+-1", "+" alone and "-+1" are refused).
  if (first == last || *first == '+' || (first != text.data() && *first == '-')) {
    return std::nullopt;
  }
  T value{};
  std::from_chars_result result;
  if constexpr (std::is_floating_point_v<T>) {
    result = std::from_chars(first, last, value, std::chars_format::general);
  } else {
    result = std::from_chars(first, last, value, 10);
  }
  if (result.ec != std::errc() || result.ptr != last) return std::nullopt;
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(value)) return std::nullopt;
  }
  return value;
}

}  // namespace oap
