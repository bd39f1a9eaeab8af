#pragma once
// Event-reading options shared by the commands that read events (ingest, detect).

#include "cli_args.hpp"
#include "oap/core/event_reader.hpp"

namespace oap::cli {

// The --timezone option, as every command that reads events lists it.
OptionSpec timezone_option();
// The --on-bad-line option, likewise.
OptionSpec on_bad_line_option();

// options (the config file's "events" section, or the defaults) with --timezone and
// --on-bad-line applied over it (each optional). UsageError naming the option and the value for
// a zone that is not UTC or a fixed offset, or a mode that is not fail or skip.
EventReaderOptions event_reader_options_from(const Args& args, EventReaderOptions options = {});

}  // namespace oap::cli
