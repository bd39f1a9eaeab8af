#include "oap/core/timestamp.hpp"

#include <cmath>
#include <cstdio>

#include "oap/core/parse_number.hpp"

namespace oap {
namespace {

using std::chrono::days;
using std::chrono::microseconds;

// Years 0001..9999 in microseconds since the epoch.
constexpr std::int64_t kMinMicros = -62135596800LL * 1000000LL;
constexpr std::int64_t kMaxMicros = 253402300799LL * 1000000LL + 999999LL;

bool read_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

// Reads a zone offset "+hh:mm", "+hhmm" or "+hh" (or with '-') at s[pos], advancing pos past
// it. False if there is none or it is malformed (hours past 23, minutes past 59).
bool read_offset(std::string_view s, std::size_t& pos, int& minutes) {
  if (pos >= s.size() || (s[pos] != '+' && s[pos] != '-')) return false;
  const int sign = s[pos] == '+' ? 1 : -1;
  int hours = 0, mins = 0;
  if (!read_digits(s, pos + 1, 2, hours)) return false;
  std::size_t end = pos + 3;
  if (end < s.size() && s[end] == ':') {
    if (!read_digits(s, end + 1, 2, mins)) return false;
    end += 3;
  } else if (read_digits(s, end, 2, mins)) {
    end += 2;
  }
  if (hours > 23 || mins > 59) return false;
  minutes = sign * (hours * 60 + mins);
  pos = end;
  return true;
}

// The one date-time grammar (see parse_date_time). naive_offset nullopt: a zone is required.
std::optional<Timestamp> parse_date_time_impl(std::string_view s,
                                              std::optional<UtcOffset> naive_offset) {
  int year, month, day, hour, minute, second = 0;
  if (s.size() < 16 || !read_digits(s, 0, 4, year) || s[4] != '-' || !read_digits(s, 5, 2, month) ||
      s[7] != '-' || !read_digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !read_digits(s, 11, 2, hour) || s[13] != ':' || !read_digits(s, 14, 2, minute)) {
    return std::nullopt;
  }
  std::size_t pos = 16;
  std::int64_t fraction_us = 0;
  if (pos < s.size() && s[pos] == ':') {
    if (!read_digits(s, pos + 1, 2, second)) return std::nullopt;
    pos += 3;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      std::size_t digits = 0;
      std::int64_t scale = 100000;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (digits < 6) {
          fraction_us += (s[pos] - '0') * scale;
          scale /= 10;
        }
        ++digits;
        ++pos;
      }
      if (digits == 0) return std::nullopt;
    }
  }
  if (year < 1 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                                  std::chrono::day(day)};
  if (!ymd.ok()) return std::nullopt;
  std::int64_t offset_minutes = 0;
  if (pos == s.size()) {
    if (!naive_offset) return std::nullopt;  // RFC 3339 requires a zone
    offset_minutes = naive_offset->count();
  } else if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else {
    int minutes = 0;
    if (!read_offset(s, pos, minutes)) return std::nullopt;
    offset_minutes = minutes;
  }
  if (pos != s.size()) return std::nullopt;
  std::int64_t secs = std::chrono::sys_days(ymd).time_since_epoch().count() * 86400LL +
                      hour * 3600LL + minute * 60LL + second - offset_minutes * 60;
  std::int64_t us = secs * 1000000LL + fraction_us;
  if (us < kMinMicros || us > kMaxMicros) return std::nullopt;
  return timestamp_from_micros(us);
}

}  // namespace

std::optional<Timestamp> parse_date_time(std::string_view text, UtcOffset naive_offset) {
  return parse_date_time_impl(text, naive_offset);
}

std::optional<Timestamp> parse_rfc3339(std::string_view text) {
  return parse_date_time_impl(text, std::nullopt);
}

std::optional<Timestamp> parse_timestamp(std::string_view text, UtcOffset naive_offset) {
  if (auto t = parse_date_time_impl(text, naive_offset)) return t;
  if (auto seconds = parse_number<double>(text)) return timestamp_from_seconds(*seconds);
  return std::nullopt;
}

std::string describe_bad_timestamp(std::string_view text) {
  std::string value(text.substr(0, 64));
  if (text.size() > 64) value += "...";
  return "not a timestamp: \"" + value + "\" (expected a date-time " + kDateTimeForms +
         ", e.g. \"2015-02-26 21:42:53\" or \"2024-05-01T12:00:00Z\" (RFC 3339), or seconds "
         "since the epoch)";
}

std::optional<UtcOffset> parse_utc_offset(std::string_view text) {
  if (text == "UTC" || text == "utc" || text == "Z" || text == "z") return UtcOffset{0};
  std::size_t pos = 0;
  int minutes = 0;
  if (!read_offset(text, pos, minutes) || pos != text.size()) return std::nullopt;
  return UtcOffset{minutes};
}

std::string format_utc_offset(UtcOffset offset) {
  const auto m = offset.count();
  if (m == 0) return "UTC";
  const long long a = m < 0 ? -m : m;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%c%02lld:%02lld", m < 0 ? '-' : '+', a / 60, a % 60);
  return buf;
}

std::optional<Timestamp> timestamp_from_seconds(double seconds) {
  if (!std::isfinite(seconds)) return std::nullopt;
  double us = std::round(seconds * 1e6);
  if (us < static_cast<double>(kMinMicros) || us > static_cast<double>(kMaxMicros)) {
    return std::nullopt;
  }
  return timestamp_from_micros(static_cast<std::int64_t>(us));
}

std::string format_rfc3339(Timestamp t) {
  auto day = std::chrono::floor<days>(t);
  std::chrono::year_month_day ymd{day};
  auto in_day = std::chrono::duration_cast<microseconds>(t - day).count();
  std::int64_t secs = in_day / 1000000;
  std::int64_t frac = in_day % 1000000;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(secs / 3600),
                static_cast<long long>((secs / 60) % 60), static_cast<long long>(secs % 60),
                static_cast<long long>(frac));
  return buf;
}

}  // namespace oap
