#include "oap/detect/detector.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "oap/core/error.hpp"

namespace oap {

nlohmann::json verdict_json(const Score& s) {
  return {{"score", s.score}, {"p_value", s.p_value}, {"flagged", s.flagged}};
}

void to_json(nlohmann::json& j, const Score& s) {
  j = verdict_json(s);
  j["contributions"] = s.contributions;
}

void check_point(std::span<const double> x, std::size_t dim, const char* who) {
  OAP_CHECK(x.size() == dim, InvalidArgument,
            std::string(who) + ": expected " + std::to_string(dim) + " features, got " +
                std::to_string(x.size()));
  // A branch-free scan first (an exponent of all ones is inf or NaN), so the common case
  // vectorizes; the slow loop only runs to name the bad feature.
  std::uint64_t bad = 0;
  for (double v : x) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    bad |= (~bits & 0x7ff0000000000000ull) == 0 ? 1u : 0u;
  }
  if (bad == 0) return;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", x[i]);
      OAP_THROW(InvalidArgument, std::string(who) + ": feature " + std::to_string(i) +
                                     " is not finite (" + buf + ")");
    }
  }
}

void Detector::score_into(std::span<const double> x, Score& out) const { out = score(x); }

void Detector::score_and_update(std::span<const double> x, Score& out) {
  score_into(x, out);
  update(x);
}

void Detector::update_scored(std::span<const double> x, const Score& /*scored*/) { update(x); }

std::vector<Score> Detector::score_batch(std::span<const double> rows) const {
  const std::size_t d = dim();
  OAP_CHECK(d > 0 && rows.size() % d == 0, InvalidArgument,
            kind() + ": score_batch needs a multiple of " + std::to_string(d) +
                " values (rows of dim()), got " + std::to_string(rows.size()));
  std::vector<Score> out;
  out.reserve(rows.size() / d);
  for (std::size_t i = 0; i < rows.size(); i += d) out.push_back(score(rows.subspan(i, d)));
  return out;
}

}  // namespace oap
