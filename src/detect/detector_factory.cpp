#include "oap/detect/detector_factory.hpp"

#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"
#include "oap/detect/ensemble_detector.hpp"
#include "oap/detect/isolation_forest_detector.hpp"
#include "oap/detect/mahalanobis_detector.hpp"
#include "oap/detect/zscore_detector.hpp"

namespace oap {
namespace {

template <typename Options>
Options options_of(const nlohmann::json& o) {
  return o.is_null() ? Options{} : o.get<Options>();
}

}  // namespace

std::unique_ptr<Detector> make_detector(const nlohmann::json& spec, std::size_t dim) {
  JsonObjectReader r(spec, "detector");
  auto type = r.get<std::string>("type", "");
  const nlohmann::json& options = r.raw("options");
  std::unique_ptr<Detector> d;
  if (type == "zscore") {
    d = std::make_unique<ZScoreDetector>(dim, options_of<ZScoreOptions>(options));
  } else if (type == "mahalanobis") {
    d = std::make_unique<MahalanobisDetector>(dim, options_of<MahalanobisOptions>(options));
  } else if (type == "isolation_forest") {
    d = std::make_unique<IsolationForestDetector>(dim, options_of<IsolationForestOptions>(options));
  } else if (type == "ensemble") {
    const nlohmann::json& members = r.raw("members");
    OAP_CHECK(members.is_array() && !members.empty(), ConfigError,
              "detector.members: an ensemble needs a non-empty array of detector specs");
    std::vector<std::unique_ptr<Detector>> built;
    for (const auto& m : members) built.push_back(make_detector(m, dim));
    d = std::make_unique<EnsembleDetector>(std::move(built), options_of<EnsembleOptions>(options));
  } else {
    OAP_THROW(ConfigError,
              "detector.type must be \"zscore\", \"mahalanobis\", "
              "\"isolation_forest\" or \"ensemble\", got \"" +
                  type + "\"");
  }
  r.finish();
  return d;
}

std::unique_ptr<Detector> restore_detector(const nlohmann::json& state) {
  JsonObjectReader r(state, "detector");
  auto kind = r.require<std::string>("kind");
  auto dim = r.require<std::size_t>("dim");
  OAP_CHECK(dim >= 1, ConfigError, "detector.dim: must be >= 1");
  std::unique_ptr<Detector> d;
  if (kind == "zscore")
    d = std::make_unique<ZScoreDetector>(dim);
  else if (kind == "mahalanobis")
    d = std::make_unique<MahalanobisDetector>(dim);
  else if (kind == "isolation_forest")
    d = std::make_unique<IsolationForestDetector>(dim);
  else if (kind == "ensemble") {
    std::vector<std::unique_ptr<Detector>> one;
    one.push_back(std::make_unique<ZScoreDetector>(dim));
    d = std::make_unique<EnsembleDetector>(std::move(one));
  } else {
    OAP_THROW(ConfigError, "detector.kind: unknown detector kind \"" + kind + "\"");
  }
  d->load(state);
  return d;
}

}  // namespace oap
