#pragma once
// User ids: what a valid one is, and the file-system-safe name derived from one.

#include <string>
#include <string_view>

namespace oap {

// An application's identifier for one user. Any non-empty UTF-8 string of at most
// kMaxUserIdBytes bytes without control characters; it is never used as a path as is.
using UserId = std::string;

inline constexpr std::size_t kMaxUserIdBytes = 256;

// Returns an empty string if id is a valid UserId, otherwise the reason it is not
// ("empty", "longer than 256 bytes", "contains control character 0x0a at byte 3",
// "invalid UTF-8 at byte 5").
std::string user_id_problem(std::string_view id);

// Throws InvalidArgument naming the id and the problem unless it is valid.
void validate_user_id(std::string_view id);

// A name for per-user files that is safe on every file system and cannot escape its
// directory: ASCII letters, digits, '-' and '_' are kept (up to 48 of them), anything else
// becomes '_', and a hash of the full id is appended ("alice_3f2a9c0d51e4b7a8"), so two
// different ids never share a name in practice and "../etc" maps to "___etc_<hash>".
std::string user_file_stem(std::string_view id);

}  // namespace oap
