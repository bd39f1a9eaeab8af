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

// A fixed offset from UTC, positive east of Greenwich ("+05:30" is 330 minutes): the zone in
// which date-times written without one are read.
using UtcOffset = std::chrono::minutes;

// The date-time forms parse_date_time accepts, as error messages and help texts name them.
inline constexpr const char* kDateTimeForms =
    "YYYY-MM-DD HH:MM[:SS[.fraction]] or YYYY-MM-DDTHH:MM[:SS[.fraction]], with an optional "
    "zone Z, +hh:mm, -hh:mm, +hhmm or +hh";

// Parses a date-time as spreadsheets, pandas, databases and RFC 3339 write it:
//   YYYY-MM-DD, then 'T', 't' or one space, then HH:MM, optionally :SS and a fraction (".25";
//   digits past microseconds are truncated), then optionally a zone: 'Z' or 'z', +hh:mm / -hh:mm,
//   +hhmm / -hhmm, or +hh / -hh.
// A date-time without a zone ("2015-02-26 21:42:53") is read at naive_offset (UTC by default).
// Every field has its exact number of digits. Second 60 (a leap second) is folded onto the next
// second, as most systems do. Returns nullopt for anything else: impossible dates
// ("2015-02-30"), missing zero padding ("2015-2-3"), hours past 23 ("25:00"), a date without a
// time, spaces or characters after the end, years outside 0001..9999. Thread-safe.
std::optional<Timestamp> parse_date_time(std::string_view text,
                                         UtcOffset naive_offset = UtcOffset{0});

// An RFC 3339 date-time: parse_date_time with the zone required ("2024-05-01T12:30:00Z").
std::optional<Timestamp> parse_rfc3339(std::string_view text);

// A timestamp as event files write it in text (a JSON Lines string, a CSV cell): a date-time
// (parse_date_time; one without a zone is read at naive_offset) or seconds since the epoch as a
// decimal number ("1714564800", "1714564800.25"; parse_number). nullopt for anything else.
std::optional<Timestamp> parse_timestamp(std::string_view text,
                                         UtcOffset naive_offset = UtcOffset{0});

// The error text for a value that parse_timestamp refused: it quotes the value and names the
// accepted forms.
std::string describe_bad_timestamp(std::string_view text);

// A fixed time zone: "UTC" or "Z" (zero), or an offset +hh:mm, -hh:mm, +hhmm or +hh (at most
// 23:59). nullopt for anything else, named zones ("Europe/Paris") included: their offset changes
// with daylight saving time, so give the offset that applies to the data.
std::optional<UtcOffset> parse_utc_offset(std::string_view text);
// "UTC" for zero, "+05:30" / "-08:00" otherwise; parse_utc_offset reads it back.
std::string format_utc_offset(UtcOffset offset);

// Seconds since the epoch (fractions allowed) -> Timestamp, rounded to the microsecond.
// Returns nullopt if seconds is not finite or outside years 0001..9999.
std::optional<Timestamp> timestamp_from_seconds(double seconds);

// Formats as "2024-05-01T12:30:00.250000Z" (always six fraction digits, always UTC).
std::string format_rfc3339(Timestamp t);

}  // namespace oap
