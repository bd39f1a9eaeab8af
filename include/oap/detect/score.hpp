#pragma once
// Score: what a detector says about one feature vector.

#include <nlohmann/json_fwd.hpp>
#include <vector>

namespace oap {

// The verdict of one detector on one point x, judged against that detector's history.
// A plain value type.
struct Score {
  // The detector's raw deviation score; larger means more unusual. Its scale depends on the
  // detector (a z-score, a squared Mahalanobis distance, an isolation-forest score in (0, 1]).
  // Always finite.
  double score = 0.0;
  // Probability of a score at least this large under the detector's model of "normal" (or,
  // when calibrated, under the empirical distribution of the user's own recent scores).
  // In [0, 1]; 1 while the detector has too little history to judge.
  double p_value = 1.0;
  // p_value < the detector's alpha.
  bool flagged = false;
  // Size dim(): how much each feature contributed to the score. The meaning is detector
  // specific and documented on each detector (shares summing to the score, or to 1).
  std::vector<double> contributions;
};

// {"score", "p_value", "flagged", "contributions"}.
void to_json(nlohmann::json& j, const Score& s);
// The same without "contributions" (the verdict only, e.g. for an audit row of an ignored event).
nlohmann::json verdict_json(const Score& s);

}  // namespace oap
