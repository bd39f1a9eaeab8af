#include "oap/core/timestamp.hpp"

#include <cmath>
#include <cstdio>

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

}  // namespace

std::optional<Timestamp> parse_rfc3339(std::string_view s) {
  int year, month, day, hour, minute, second;
  if (!read_digits(s, 0, 4, year) || s.size() < 19 || s[4] != '-' || !read_digits(s, 5, 2, month) ||
      s[7] != '-' || !read_digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !read_digits(s, 11, 2, hour) || s[13] != ':' || !read_digits(s, 14, 2, minute) ||
      s[16] != ':' || !read_digits(s, 17, 2, second)) {
    return std::nullopt;
  }
  if (year < 1 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                                  std::chrono::day(day)};
  if (!ymd.ok()) return std::nullopt;
  std::size_t pos = 19;
  std::int64_t fraction_us = 0;
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
  std::int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!read_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !read_digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;  // RFC 3339 requires an offset; a local time is ambiguous.
  }
  if (pos != s.size()) return std::nullopt;
  // A leap second (:60) is folded onto the next second, as most systems do.
  std::int64_t secs = std::chrono::sys_days(ymd).time_since_epoch().count() * 86400LL +
                      hour * 3600LL + minute * 60LL + second - offset_s;
  return timestamp_from_micros(secs * 1000000LL + fraction_us);
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
