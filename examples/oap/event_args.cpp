#include "event_args.hpp"

#include <string>

#include "oap/core/timestamp.hpp"

namespace oap::cli {

OptionSpec timezone_option() {
  return {"timezone", true,
          "Zone of date-times written without one (\"2015-02-26 21:42:53\"): UTC (default) or a "
          "fixed offset such as +05:30 or -08:00 (overrides events.timezone).",
          "ZONE"};
}

OptionSpec on_bad_line_option() {
  return {"on-bad-line", true,
          "fail (default): stop at the first bad line or row, keeping the events before it; "
          "skip: report each bad one on stderr and go on (overrides events.on_bad_line).",
          "MODE"};
}

EventReaderOptions event_reader_options_from(const Args& args, EventReaderOptions options) {
  if (auto zone = args.value("timezone")) {
    auto offset = parse_utc_offset(*zone);
    if (!offset) {
      throw UsageError("--timezone expects UTC or a fixed offset such as +05:30 or -08:00, got \"" +
                       *zone + "\" (named zones are not supported: give the offset of the data)");
    }
    options.timezone = *offset;
  }
  if (auto mode = args.value("on-bad-line")) {
    if (*mode != "fail" && *mode != "skip") {
      throw UsageError("--on-bad-line must be fail or skip, got \"" + *mode + "\"");
    }
    options.on_bad_line = *mode == "fail" ? OnBadLine::kFail : OnBadLine::kSkip;
  }
  return options;
}

}  // namespace oap::cli
