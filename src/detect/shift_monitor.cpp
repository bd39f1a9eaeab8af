#include "oap/detect/shift_monitor.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"

namespace oap {
namespace {
const char* method_name(ShiftMonitorOptions::Method m) {
  switch (m) {
    case ShiftMonitorOptions::Method::kCusum:
      return "cusum";
    case ShiftMonitorOptions::Method::kPageHinkley:
      return "page_hinkley";
    default:
      return "both";
  }
}
}  // namespace

const char* shift_state_name(ShiftState s) {
  switch (s) {
    case ShiftState::kWarmup:
      return "warmup";
    case ShiftState::kNone:
      return "none";
    case ShiftState::kTransient:
      return "transient";
    default:
      return "sustained";
  }
}

void ShiftMonitorOptions::validate() const {
  auto num = [](double v) { return std::to_string(v); };
  OAP_CHECK(warmup >= 2, ConfigError, "shift.warmup must be >= 2, got " + std::to_string(warmup));
  OAP_CHECK(k >= 0 && std::isfinite(k), ConfigError, "shift.k must be >= 0, got " + num(k));
  OAP_CHECK(h > 0 && std::isfinite(h), ConfigError, "shift.h must be > 0, got " + num(h));
  OAP_CHECK(ph_delta >= 0 && ph_lambda > 0, ConfigError,
            "shift.ph_delta must be >= 0 and shift.ph_lambda > 0");
  OAP_CHECK(clip > k, ConfigError, "shift.clip must be > shift.k, got " + num(clip));
  OAP_CHECK(outlier_z > 0, ConfigError, "shift.outlier_z must be > 0, got " + num(outlier_z));
  OAP_CHECK(min_sd > 0, ConfigError, "shift.min_sd must be > 0, got " + num(min_sd));
  OAP_CHECK(max_buffer >= warmup, ConfigError,
            "shift.max_buffer must be >= shift.warmup, got " + std::to_string(max_buffer));
}

void to_json(nlohmann::json& j, const ShiftMonitorOptions& o) {
  j = {{"method", method_name(o.method)},
       {"warmup", o.warmup},
       {"k", o.k},
       {"h", o.h},
       {"ph_delta", o.ph_delta},
       {"ph_lambda", o.ph_lambda},
       {"clip", o.clip},
       {"outlier_z", o.outlier_z},
       {"two_sided", o.two_sided},
       {"min_sd", o.min_sd},
       {"max_buffer", o.max_buffer}};
}

void from_json(const nlohmann::json& j, ShiftMonitorOptions& o) {
  JsonObjectReader r(j, "shift");
  std::string m = r.get<std::string>("method", method_name(o.method));
  if (m == "cusum")
    o.method = ShiftMonitorOptions::Method::kCusum;
  else if (m == "page_hinkley")
    o.method = ShiftMonitorOptions::Method::kPageHinkley;
  else if (m == "both")
    o.method = ShiftMonitorOptions::Method::kBoth;
  else
    OAP_THROW(ConfigError,
              "shift.method must be \"cusum\", \"page_hinkley\" or \"both\", got \"" + m + "\"");
  o.warmup = r.get<std::size_t>("warmup", o.warmup);
  o.k = r.get<double>("k", o.k);
  o.h = r.get<double>("h", o.h);
  o.ph_delta = r.get<double>("ph_delta", o.ph_delta);
  o.ph_lambda = r.get<double>("ph_lambda", o.ph_lambda);
  o.clip = r.get<double>("clip", o.clip);
  o.outlier_z = r.get<double>("outlier_z", o.outlier_z);
  o.two_sided = r.get<bool>("two_sided", o.two_sided);
  o.min_sd = r.get<double>("min_sd", o.min_sd);
  o.max_buffer = r.get<std::size_t>("max_buffer", o.max_buffer);
  r.finish();
  o.validate();
}

void to_json(nlohmann::json& j, const ShiftReport& r) {
  j = {{"state", shift_state_name(r.state)},
       {"start", r.start},
       {"z", r.z},
       {"cusum_up", r.cusum_up},
       {"cusum_down", r.cusum_down},
       {"ph_up", r.ph_up},
       {"ph_down", r.ph_down}};
}

ShiftMonitor::ShiftMonitor(ShiftMonitorOptions options) : options_(options) { options_.validate(); }

void ShiftMonitor::reset() { *this = ShiftMonitor(options_); }

double ShiftMonitor::baseline_sd() const { return n_ >= 2 ? std::sqrt(m2_ / (n_ - 1)) : 0.0; }

void ShiftMonitor::add_to_baseline(double v) {
  n_ += 1;
  double d = v - mean_;
  mean_ += d / n_;
  m2_ += d * (v - mean_);
}

void ShiftMonitor::restart_baseline(std::int64_t from) {
  n_ = mean_ = m2_ = 0;
  const auto t = static_cast<std::int64_t>(t_);
  const auto first = t - static_cast<std::int64_t>(recent_.size());  // index of recent_[0]
  for (std::int64_t i = std::max(from, first); i < t; ++i) add_to_baseline(recent_[i - first]);
  cu_ = cd_ = pu_ = pd_ = pu_min_ = pd_min_ = 0;
  cu_start_ = cd_start_ = pu_start_ = pd_start_ = t;
}

ShiftReport ShiftMonitor::observe(double value) {
  OAP_CHECK(std::isfinite(value), InvalidArgument, "shift monitor: value is not finite");
  const auto t = static_cast<std::int64_t>(t_);
  ++t_;
  recent_.push_back(value);
  if (recent_.size() > options_.max_buffer) recent_.pop_front();
  ShiftReport r;
  if (n_ < static_cast<double>(options_.warmup)) {
    add_to_baseline(value);
    cu_start_ = cd_start_ = pu_start_ = pd_start_ = t + 1;
    return r;
  }
  const double sd = std::max(baseline_sd(), options_.min_sd);
  r.z = std::clamp((value - mean_) / sd, -1e300, 1e300);
  const double zc = std::clamp(r.z, -options_.clip, options_.clip);

  // CUSUM; a statistic's start is the index after it was last zero.
  if (cu_ == 0) cu_start_ = t;
  if (cd_ == 0) cd_start_ = t;
  cu_ = std::max(0.0, cu_ + zc - options_.k);
  cd_ = options_.two_sided ? std::max(0.0, cd_ - zc - options_.k) : 0.0;
  // Page-Hinkley: cumulative deviation minus its running minimum.
  pu_ += zc - options_.ph_delta;
  pd_ += -zc - options_.ph_delta;
  if (pu_ <= pu_min_) {
    pu_min_ = pu_;
    pu_start_ = t + 1;
  }
  if (pd_ <= pd_min_) {
    pd_min_ = pd_;
    pd_start_ = t + 1;
  }
  r.cusum_up = cu_;
  r.cusum_down = cd_;
  r.ph_up = pu_ - pu_min_;
  r.ph_down = options_.two_sided ? pd_ - pd_min_ : 0.0;

  const bool use_cusum = options_.method != ShiftMonitorOptions::Method::kPageHinkley;
  const bool use_ph = options_.method != ShiftMonitorOptions::Method::kCusum;
  std::int64_t start = -1;
  if (use_cusum && cu_ > options_.h)
    start = cu_start_;
  else if (use_cusum && cd_ > options_.h)
    start = cd_start_;
  else if (use_ph && r.ph_up > options_.ph_lambda)
    start = std::min(pu_start_, t);
  else if (use_ph && r.ph_down > options_.ph_lambda)
    start = std::min(pd_start_, t);

  if (start >= 0) {
    r.state = ShiftState::kSustained;
    r.start = start;
    restart_baseline(start);
  } else if (std::fabs(r.z) > options_.outlier_z) {
    r.state = ShiftState::kTransient;
    r.start = t;
  } else {
    r.state = ShiftState::kNone;
    // Learn from ordinary points, but not while a statistic is half way to an alarm, so a
    // shift in progress does not pull the baseline along with it.
    if (std::max(cu_, cd_) <= 0.5 * options_.h) add_to_baseline(value);
  }
  return r;
}

nlohmann::json ShiftMonitor::save() const {
  return {{"options", options_},
          {"t", t_},
          {"n", n_},
          {"mean", mean_},
          {"m2", m2_},
          {"stats", {cu_, cd_, pu_, pd_, pu_min_, pd_min_}},
          {"starts", {cu_start_, cd_start_, pu_start_, pd_start_}},
          {"recent", std::vector<double>(recent_.begin(), recent_.end())}};
}

void ShiftMonitor::load(const nlohmann::json& state) {
  JsonObjectReader r(state, "shift");
  ShiftMonitor m(r.require<ShiftMonitorOptions>("options"));
  m.t_ = r.require<std::uint64_t>("t");
  m.n_ = r.require<double>("n");
  m.mean_ = r.require<double>("mean");
  m.m2_ = r.require<double>("m2");
  auto stats = r.numbers("stats", 6);
  m.cu_ = stats[0], m.cd_ = stats[1], m.pu_ = stats[2], m.pd_ = stats[3];
  m.pu_min_ = stats[4], m.pd_min_ = stats[5];
  auto starts = r.numbers("starts", 4);
  m.cu_start_ = static_cast<std::int64_t>(starts[0]);
  m.cd_start_ = static_cast<std::int64_t>(starts[1]);
  m.pu_start_ = static_cast<std::int64_t>(starts[2]);
  m.pd_start_ = static_cast<std::int64_t>(starts[3]);
  auto recent = r.numbers("recent");
  OAP_CHECK(recent.size() <= m.options_.max_buffer && recent.size() <= m.t_, ConfigError,
            "shift.recent: more values than max_buffer or than observed");
  m.recent_.assign(recent.begin(), recent.end());
  *this = std::move(m);
}

}  // namespace oap
