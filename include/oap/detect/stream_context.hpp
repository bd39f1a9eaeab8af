#pragma once
// StreamContext: what a detector should see of a point besides its raw values: changes, rates,
// recent values, and its seasonal context (the same hour of the day or of the week).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <vector>

#include "oap/core/timestamp.hpp"

namespace oap {

// The feature transforms a DetectorBank applies per user before its detectors (JSON: the
// "context" object of the bank's options). The default is the daily season: detectors see each
// feature's residual from its mean at the same hour of the day, each earlier visit of that hour
// weighted by its age (half-life 2 days), and from the mean of all the user's points until that
// hour has been seen 12 times or on 2 days. Chosen on the tuning streams of three labelled
// corpora (univariate metrics, multivariate behaviour, real hourly series; docs/detectors.md).
// The identity (`season` none, the rest as default) shows detectors the features as they are.
// Plain value type.
struct StreamContextOptions {
  enum class Season {
    kNone,  // the level is the value itself
    kDay,   // the level is the value minus the running mean of the same slot of the day
    kWeek,  // ... of the same slot of the week (Monday's first slot is slot 0)
  };
  // The point's level (the value, or with a season its seasonal residual), one per feature.
  // Default: true.
  bool level = true;
  // Appends x_t - x_{t-1} per feature (0 for the user's first point). Default: false.
  bool diff = false;
  // Appends (x_t - x_{t-1}) / (seconds since the previous point) per feature (0 for the first
  // point, or when the time did not move forward). Needs event times. Default: false.
  bool rate = false;
  // Shingle: appends the previous `lags` levels of each feature, newest first (0 until there
  // are so many). Requires <= 64. Default: 0.
  std::size_t lags = 0;
  // "none" | "day" | "week". Uses each point's time; a point given without one is judged
  // against the running mean of all points and moves no slot. Default: day.
  Season season = Season::kDay;
  // With season_half_life_days 0: a slot's running mean is exponentially weighted, a visit's
  // weight halving after this many later visits of the slot. Requires > 0. Default: 24.
  double season_half_life = 24.0;
  // The length of a season's slot in minutes: it must divide a day (1440). Default: 60 (the
  // hour of the day or of the week). Shorter slots follow a fast daily shape more closely and
  // need more days to learn.
  std::size_t season_slot_minutes = 60;
  // Until a slot has been visited this often, the residual is taken from the running mean of
  // all points instead. Requires >= 1. Default: 12.
  std::size_t season_min_visits = 12;
  // The season's memory in days of the stream's time instead of visits: a visit's weight halves
  // after this many days (the slot's mean is the average of its visits weighted so), however
  // often the slot is visited, so a stream sampled every 5 minutes and one sampled hourly
  // remember their seasons for the same time (with visits counted instead, an hourly series
  // needed 12 days to know an hour). 0 = count visits (season_half_life). Requires >= 0.
  // Default: 2.
  double season_half_life_days = 2.0;
  // A slot is also known once it has been visited on this many different days, even if fewer
  // than season_min_visits times (a slot of an hourly series is visited once a day). 0 = only
  // season_min_visits counts. Default: 2.
  std::size_t season_min_days = 2;
  // Appends sin and cos of the hour of the day (period 24 h) and of the day of the week
  // (period 7 days): 4 features. Needs event times. Default: false.
  bool time_features = false;
  // The local time of the stream for seasons and time features, minutes east of UTC. Requires
  // -1080..1080. Default: 0 (UTC).
  int utc_offset_minutes = 0;

  // True unless the options are the identity.
  bool enabled() const;
  // True when rate or time features need each point's time (a season uses it when given).
  bool needs_time() const;
  // Features the detectors see for input dimension d.
  std::size_t output_dim(std::size_t d) const;
  // Throws ConfigError naming the field (at least one output is required).
  void validate() const;
};
void to_json(nlohmann::json& j, const StreamContextOptions& o);
void from_json(const nlohmann::json& j, StreamContextOptions& o);

// One user's stream context: the previous point, its time, the recent levels and the seasonal
// profile. Output layout: [level (d)] [diff (d)] [rate (d)] [lag 1 (d)] ... [lag k (d)]
// [sin hour, cos hour, sin weekday, cos weekday], each part present as configured.
// The context moves on with every point given to apply(), flagged or not (the previous value is
// the stream's, whatever the detectors decide to learn).
// Thread safety: not thread-safe (DetectorBank holds one per user under the user's lock).
class StreamContext {
 public:
  StreamContext(std::size_t dim, StreamContextOptions options);

  std::size_t dim() const { return dim_; }
  std::size_t output_dim() const { return options_.output_dim(dim_); }
  const StreamContextOptions& options() const { return options_; }

  // Writes x's transformed point into out (resized to output_dim()), then learns x.
  // InvalidArgument, and nothing learned, for x of the wrong size or with non-finite values, or
  // without t when the options need times.
  void apply(std::span<const double> x, std::optional<Timestamp> t, std::vector<double>& out);

  // Everything learned (and the options); load() restores it exactly. ConfigError naming the
  // field for a malformed state or one of other options or dimension.
  nlohmann::json save() const;
  void load(const nlohmann::json& state);

 private:
  std::size_t slot_of(Timestamp t) const;

  std::size_t dim_;
  StreamContextOptions options_;
  std::uint64_t n_ = 0;
  std::vector<double> previous_;  // the previous point's values (empty before the first)
  std::optional<Timestamp> previous_time_;
  std::deque<std::vector<double>> levels_;  // the newest `lags` levels, newest first
  std::vector<double> overall_mean_;        // running mean of every point
  std::vector<double> slot_mean_;           // [slot * dim + i]
  std::vector<std::uint64_t> slot_visits_;  // per slot
  // With season_half_life_days / season_min_days (per slot): the visits' decayed weight, the
  // last visit's time (micros), the days it was visited on and the last of those days.
  std::vector<double> slot_weight_;
  std::vector<std::int64_t> slot_last_;
  std::vector<std::uint64_t> slot_days_;
  std::vector<std::int64_t> slot_last_day_;
  bool in_days() const {
    return options_.season_half_life_days > 0 || options_.season_min_days > 0;
  }
  std::vector<double> level_;  // scratch of apply(): this point's level
};

}  // namespace oap
