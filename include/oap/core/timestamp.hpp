#pragma once
// Timestamps: microseconds since the Unix epoch (UTC), and their text forms.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace oap {

// A point in time, UTC, with microsecond resolution.
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

// Microseconds since the epoch <-> Timestamp.
inline Timestamp timestamp_from_micros(std::int64_t us) {
  return Timestamp(std::chrono::microseconds(us));
}
inline std::int64_t to_micros(Timestamp t) { return t.time_since_epoch().count(); }

// Parses an RFC 3339 / ISO 8601 date-time: "2024-05-01T12:30:00Z", with optional fraction
// (up to microseconds; more digits are truncated) and a "Z" or "+hh:mm"/"-hh:mm" offset.
// A space may replace the "T". Returns nullopt for anything else (including impossible dates).
std::optional<Timestamp> parse_rfc3339(std::string_view text);

// Seconds since the epoch (fractions allowed) -> Timestamp, rounded to the microsecond.
// Returns nullopt if seconds is not finite or outside years 0001..9999.
std::optional<Timestamp> timestamp_from_seconds(double seconds);

// Formats as "2024-05-01T12:30:00.250000Z" (always six fraction digits, always UTC).
std::string format_rfc3339(Timestamp t);

}  // namespace oap
