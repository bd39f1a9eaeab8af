#include "oap/detect/stream_context.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>
#include <string>

#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"
#include "oap/detect/detector.hpp"

namespace oap {
namespace {

const char* season_name(StreamContextOptions::Season s) {
  switch (s) {
    case StreamContextOptions::Season::kDay:
      return "day";
    case StreamContextOptions::Season::kWeek:
      return "week";
    case StreamContextOptions::Season::kNone:
      break;
  }
  return "none";
}

// Slots of the options' season: per day, 1440 / season_slot_minutes; per week, 7 times that.
std::size_t slots_of(const StreamContextOptions& o) {
  const std::size_t per_day = 1440 / o.season_slot_minutes;
  switch (o.season) {
    case StreamContextOptions::Season::kDay:
      return per_day;
    case StreamContextOptions::Season::kWeek:
      return 7 * per_day;
    case StreamContextOptions::Season::kNone:
      break;
  }
  return 0;
}

// Floor division for possibly negative times (before 1970).
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

constexpr std::int64_t kMicrosPerMinute = 60'000'000;
constexpr std::int64_t kMicrosPerHour = 60 * kMicrosPerMinute;
constexpr std::int64_t kMicrosPerDay = 24 * kMicrosPerHour;

}  // namespace

bool StreamContextOptions::enabled() const {
  return !level || diff || rate || lags > 0 || season != Season::kNone || time_features;
}

bool StreamContextOptions::needs_time() const { return rate || time_features; }

std::size_t StreamContextOptions::output_dim(std::size_t d) const {
  return d * ((level ? 1 : 0) + (diff ? 1 : 0) + (rate ? 1 : 0) + lags) + (time_features ? 4 : 0);
}

void StreamContextOptions::validate() const {
  OAP_CHECK(lags <= 64, ConfigError, "context.lags must be <= 64, got " + std::to_string(lags));
  OAP_CHECK(std::isfinite(season_half_life) && season_half_life > 0, ConfigError,
            "context.season_half_life must be > 0 visits, got " + std::to_string(season_half_life));
  OAP_CHECK(season_min_visits >= 1, ConfigError, "context.season_min_visits must be >= 1, got 0");
  OAP_CHECK(std::isfinite(season_half_life_days) && season_half_life_days >= 0, ConfigError,
            "context.season_half_life_days must be >= 0 days (0 = count visits), got " +
                std::to_string(season_half_life_days));
  OAP_CHECK(
      season_slot_minutes >= 1 && season_slot_minutes <= 1440 && 1440 % season_slot_minutes == 0,
      ConfigError,
      "context.season_slot_minutes must divide a day (1440 minutes: 5, 15, 60, ...), got " +
          std::to_string(season_slot_minutes));
  OAP_CHECK(utc_offset_minutes >= -1080 && utc_offset_minutes <= 1080, ConfigError,
            "context.utc_offset_minutes must be in -1080..1080, got " +
                std::to_string(utc_offset_minutes));
  OAP_CHECK(output_dim(1) > 0, ConfigError,
            "context: nothing to give the detectors (level false and no diff, rate, lags or "
            "time_features)");
}

void to_json(nlohmann::json& j, const StreamContextOptions& o) {
  j = {{"level", o.level},
       {"diff", o.diff},
       {"rate", o.rate},
       {"lags", o.lags},
       {"season", season_name(o.season)},
       {"season_half_life", o.season_half_life},
       {"season_min_visits", o.season_min_visits},
       {"season_slot_minutes", o.season_slot_minutes},
       {"season_half_life_days", o.season_half_life_days},
       {"season_min_days", o.season_min_days},
       {"time_features", o.time_features},
       {"utc_offset_minutes", o.utc_offset_minutes}};
}

void from_json(const nlohmann::json& j, StreamContextOptions& o) {
  JsonObjectReader r(j, "context");
  o.level = r.get<bool>("level", o.level);
  o.diff = r.get<bool>("diff", o.diff);
  o.rate = r.get<bool>("rate", o.rate);
  o.lags = r.get<std::size_t>("lags", o.lags);
  const auto season = r.get<std::string>("season", season_name(o.season));
  if (season == "none") {
    o.season = StreamContextOptions::Season::kNone;
  } else if (season == "day") {
    o.season = StreamContextOptions::Season::kDay;
  } else if (season == "week") {
    o.season = StreamContextOptions::Season::kWeek;
  } else {
    OAP_THROW(ConfigError,
              "context.season must be \"none\", \"day\" or \"week\", got \"" + season + "\"");
  }
  o.season_half_life = r.get<double>("season_half_life", o.season_half_life);
  o.season_min_visits = r.get<std::size_t>("season_min_visits", o.season_min_visits);
  o.season_slot_minutes = r.get<std::size_t>("season_slot_minutes", o.season_slot_minutes);
  o.season_half_life_days = r.get<double>("season_half_life_days", o.season_half_life_days);
  o.season_min_days = r.get<std::size_t>("season_min_days", o.season_min_days);
  o.time_features = r.get<bool>("time_features", o.time_features);
  o.utc_offset_minutes = r.get<int>("utc_offset_minutes", o.utc_offset_minutes);
  r.finish();
  o.validate();
}

StreamContext::StreamContext(std::size_t dim, StreamContextOptions options)
    : dim_(dim), options_(options) {
  OAP_CHECK(dim >= 1, InvalidArgument, "stream context: dimension must be >= 1");
  options_.validate();
  overall_mean_.assign(dim_, 0.0);
  slot_mean_.assign(slots_of(options_) * dim_, 0.0);
  slot_visits_.assign(slots_of(options_), 0);
  if (in_days()) {
    slot_weight_.assign(slots_of(options_), 0.0);
    slot_last_.assign(slots_of(options_), 0);
    slot_days_.assign(slots_of(options_), 0);
    slot_last_day_.assign(slots_of(options_), 0);
  }
}

std::size_t StreamContext::slot_of(Timestamp t) const {
  const std::int64_t local =
      to_micros(t) + static_cast<std::int64_t>(options_.utc_offset_minutes) * kMicrosPerMinute;
  const std::int64_t day = floor_div(local, kMicrosPerDay);
  const std::int64_t minute = (local - day * kMicrosPerDay) / kMicrosPerMinute;
  const auto slot = static_cast<std::size_t>(minute) / options_.season_slot_minutes;
  if (options_.season == StreamContextOptions::Season::kDay) return slot;
  // 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
  const auto weekday = static_cast<std::size_t>(((day + 3) % 7 + 7) % 7);
  return weekday * (1440 / options_.season_slot_minutes) + slot;
}

void StreamContext::apply(std::span<const double> x, std::optional<Timestamp> t,
                          std::vector<double>& out) {
  check_point(x, dim_, "stream context");
  OAP_CHECK(t || !options_.needs_time(), InvalidArgument,
            "stream context: rate and time_features need each event's time; this point has "
            "none");
  const std::size_t d = dim_;
  out.resize(output_dim());
  // The level: the value, or its residual from the slot's (or overall) running mean. level_ is
  // reused from point to point (no allocation per point once the lags are full).
  std::vector<double>& level = level_;
  level.assign(x.begin(), x.end());
  // A point without a time has no slot: it is judged against the mean of all points.
  const bool seasonal = options_.season != StreamContextOptions::Season::kNone && t.has_value();
  std::size_t slot = 0;
  if (options_.season != StreamContextOptions::Season::kNone) {
    if (seasonal) slot = slot_of(*t);
    const bool known =
        seasonal &&
        (slot_visits_[slot] >= options_.season_min_visits ||
         (options_.season_min_days > 0 && slot_days_[slot] >= options_.season_min_days));
    for (std::size_t i = 0; i < d; ++i) {
      level[i] -= known ? slot_mean_[slot * d + i] : (n_ > 0 ? overall_mean_[i] : x[i]);
    }
  }
  std::size_t o = 0;
  if (options_.level) {
    for (std::size_t i = 0; i < d; ++i) out[o++] = level[i];
  }
  if (options_.diff) {
    for (std::size_t i = 0; i < d; ++i) out[o++] = previous_.empty() ? 0.0 : x[i] - previous_[i];
  }
  if (options_.rate) {
    double seconds = 0.0;
    if (previous_time_)
      seconds = static_cast<double>(to_micros(*t) - to_micros(*previous_time_)) / 1e6;
    for (std::size_t i = 0; i < d; ++i) {
      out[o++] = previous_.empty() || seconds <= 0 ? 0.0 : (x[i] - previous_[i]) / seconds;
    }
  }
  for (std::size_t k = 0; k < options_.lags; ++k) {
    for (std::size_t i = 0; i < d; ++i) out[o++] = k < levels_.size() ? levels_[k][i] : 0.0;
  }
  if (options_.time_features) {
    const std::int64_t local =
        to_micros(*t) + static_cast<std::int64_t>(options_.utc_offset_minutes) * 60'000'000;
    const std::int64_t day = floor_div(local, kMicrosPerDay);
    const double day_fraction = static_cast<double>(local - day * kMicrosPerDay) / kMicrosPerDay;
    const std::int64_t weekday = ((day + 3) % 7 + 7) % 7;  // 1970-01-01 was a Thursday
    const double week_fraction = (static_cast<double>(weekday) + day_fraction) / 7;
    const double two_pi = 2 * std::numbers::pi;
    out[o++] = std::sin(two_pi * day_fraction);
    out[o++] = std::cos(two_pi * day_fraction);
    out[o++] = std::sin(two_pi * week_fraction);
    out[o++] = std::cos(two_pi * week_fraction);
  }

  // Learn x: the stream's context moves on.
  ++n_;
  for (std::size_t i = 0; i < d; ++i) {
    overall_mean_[i] += (x[i] - overall_mean_[i]) / static_cast<double>(n_);
  }
  if (seasonal && options_.season_half_life_days > 0) {
    // The average of the slot's visits, each weighted 2^(-its age in days / half-life): the
    // weights decay with the time since the slot's last visit, then this visit adds 1.
    const std::int64_t now = to_micros(*t);
    const double days = slot_visits_[slot] == 0
                            ? 0.0
                            : std::max<double>(0.0, static_cast<double>(now - slot_last_[slot]) /
                                                        static_cast<double>(kMicrosPerDay));
    const double weight =
        std::exp2(-days / options_.season_half_life_days) * slot_weight_[slot] + 1;
    for (std::size_t i = 0; i < d; ++i) {
      double& m = slot_mean_[slot * d + i];
      m += (x[i] - m) / weight;
    }
    slot_weight_[slot] = weight;
    slot_last_[slot] = std::max(now, slot_last_[slot]);
  } else if (seasonal) {
    const double keep = std::exp2(-1.0 / options_.season_half_life);
    for (std::size_t i = 0; i < d; ++i) {
      double& m = slot_mean_[slot * d + i];
      m = slot_visits_[slot] == 0 ? x[i] : keep * m + (1 - keep) * x[i];
    }
  }
  if (seasonal && options_.season_min_days > 0) {
    const std::int64_t day = floor_div(
        to_micros(*t) + static_cast<std::int64_t>(options_.utc_offset_minutes) * kMicrosPerMinute,
        kMicrosPerDay);
    if (slot_days_[slot] == 0 || day != slot_last_day_[slot]) {
      ++slot_days_[slot];
      slot_last_day_[slot] = day;
    }
  }
  if (seasonal) ++slot_visits_[slot];
  if (options_.lags > 0) {
    std::vector<double> newest;
    if (levels_.size() >= options_.lags) {  // recycle the oldest lag's storage
      newest = std::move(levels_.back());
      levels_.pop_back();
    }
    newest.assign(level.begin(), level.end());
    levels_.push_front(std::move(newest));
  }
  previous_.assign(x.begin(), x.end());
  if (t) previous_time_ = *t;
}

nlohmann::json StreamContext::save() const {
  nlohmann::json levels = nlohmann::json::array();
  for (const auto& l : levels_) levels.push_back(l);
  nlohmann::json j = {{"dim", dim_},
                      {"options", options_},
                      {"n", n_},
                      {"previous", previous_},
                      {"previous_time", previous_time_ ? nlohmann::json(to_micros(*previous_time_))
                                                       : nlohmann::json(nullptr)},
                      {"levels", levels},
                      {"overall_mean", overall_mean_},
                      {"slot_mean", slot_mean_},
                      {"slot_visits", slot_visits_}};
  if (in_days()) {
    j["slot_weight"] = slot_weight_;
    j["slot_last"] = slot_last_;
    j["slot_days"] = slot_days_;
    j["slot_last_day"] = slot_last_day_;
  }
  return j;
}

void StreamContext::load(const nlohmann::json& state) {
  JsonObjectReader r(state, "context");
  const auto dim = r.require<std::size_t>("dim");
  OAP_CHECK(dim == dim_, ConfigError,
            "context.dim: the state has " + std::to_string(dim) + " features, this context " +
                std::to_string(dim_));
  // States saved before season_half_life_days and season_min_days existed counted visits: read
  // their options with those keys at 0, not at today's defaults.
  StreamContextOptions options;
  options.season_half_life_days = 0;
  options.season_min_days = 0;
  from_json(r.require_raw("options"), options);
  OAP_CHECK(nlohmann::json(options) == nlohmann::json(options_), ConfigError,
            "context.options: the state was made with other options (" +
                nlohmann::json(options).dump() + ") than this context's (" +
                nlohmann::json(options_).dump() + ")");
  StreamContext loaded(dim_, options_);
  loaded.n_ = r.require<std::uint64_t>("n");
  loaded.previous_ = r.require<std::vector<double>>("previous");
  const auto& time = r.require_raw("previous_time");
  if (!time.is_null()) loaded.previous_time_ = timestamp_from_micros(time.get<std::int64_t>());
  for (const auto& l : r.require_raw("levels"))
    loaded.levels_.push_back(l.get<std::vector<double>>());
  loaded.overall_mean_ = r.require<std::vector<double>>("overall_mean");
  loaded.slot_mean_ = r.require<std::vector<double>>("slot_mean");
  loaded.slot_visits_ = r.require<std::vector<std::uint64_t>>("slot_visits");
  if (in_days()) {  // kept only by contexts that count days
    loaded.slot_weight_ = r.require<std::vector<double>>("slot_weight");
    loaded.slot_last_ = r.require<std::vector<std::int64_t>>("slot_last");
    loaded.slot_days_ = r.require<std::vector<std::uint64_t>>("slot_days");
    loaded.slot_last_day_ = r.require<std::vector<std::int64_t>>("slot_last_day");
  }
  r.finish();
  OAP_CHECK((loaded.previous_.empty() || loaded.previous_.size() == dim_) &&
                loaded.overall_mean_.size() == dim_ &&
                loaded.slot_mean_.size() == slot_mean_.size() &&
                loaded.slot_visits_.size() == slot_visits_.size() &&
                loaded.slot_weight_.size() == slot_weight_.size() &&
                loaded.slot_last_.size() == slot_last_.size() &&
                loaded.slot_days_.size() == slot_days_.size() &&
                loaded.slot_last_day_.size() == slot_last_day_.size() &&
                loaded.levels_.size() <= options_.lags,
            ConfigError, "context: the state's arrays do not fit its dimension and options");
  for (const auto& l : loaded.levels_) {
    OAP_CHECK(l.size() == dim_, ConfigError, "context.levels: a level of the wrong size");
  }
  *this = std::move(loaded);
}

}  // namespace oap
