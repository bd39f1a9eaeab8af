#pragma once
// Opening the Personalizer of a data directory, shared by run, generate/score --user, inspect
// and forget.

#include <memory>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "oap/personalizer.hpp"

namespace oap::cli {

// The options every command on a data directory lists: --data-dir, --model, --config,
// --threads.
std::vector<OptionSpec> personalizer_option_specs();

// The Personalizer of --data-dir (default "oap-data"). Its options come from --config, else from
// the configuration `oap run` recorded in the data directory (DIR/oap-run.json), else the
// defaults; the model from --model, else the one `oap run` recorded (none if neither: then
// detection and decisions only, and require_model makes that a UsageError).
// When record is true (oap run), the model folder and the configuration used are written to
// DIR/oap-run.json for the other commands.
// wait_for_updates: set UpdatePlanOptions::wait_for_updates (oap run --wait-updates).
std::unique_ptr<Personalizer> open_personalizer(const Args& args, bool require_model,
                                                bool record = false, bool wait_for_updates = false);

}  // namespace oap::cli
