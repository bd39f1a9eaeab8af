#pragma once
// Building detectors from JSON: a configuration ("spec") or a saved state.
// Thread safety: pure functions; the caller owns the returned detector.

#include <memory>
#include <nlohmann/json_fwd.hpp>

#include "oap/detect/detector.hpp"

namespace oap {

// Builds a fresh detector of dimension dim from a spec:
//   {"type": "zscore" | "mahalanobis" | "isolation_forest", "options": {...}}
//   {"type": "ensemble", "options": {...EnsembleOptions}, "members": [spec, ...]}
//   {"type": "likelihood", "options": {...LikelihoodOptions}, "inner": spec}
// Throws ConfigError naming the field for an unknown type or bad options.
std::unique_ptr<Detector> make_detector(const nlohmann::json& spec, std::size_t dim);

// Rebuilds a detector from Detector::save() output, whatever its kind.
std::unique_ptr<Detector> restore_detector(const nlohmann::json& state);

}  // namespace oap
