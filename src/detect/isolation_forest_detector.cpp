#include "oap/detect/isolation_forest_detector.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "detect/state_header.hpp"
#include "oap/core/json_config.hpp"

namespace oap {
namespace {
constexpr double kEulerGamma = 0.5772156649015329;
const std::string kCtx = "isolation_forest";
}  // namespace

double isolation_path_length(double n) {
  if (n <= 1) return 0.0;
  if (n <= 2) return 1.0;
  return 2.0 * (std::log(n - 1.0) + kEulerGamma) - 2.0 * (n - 1.0) / n;
}

void IsolationForestOptions::validate() const {
  auto in = [](std::size_t v, std::size_t lo, std::size_t hi) { return v >= lo && v <= hi; };
  OAP_CHECK(in(n_trees, 1, 10000), ConfigError,
            "isolation_forest.n_trees must be in 1..10000, got " + std::to_string(n_trees));
  OAP_CHECK(in(window, 2, 1000000), ConfigError,
            "isolation_forest.window must be in 2..1000000, got " + std::to_string(window));
  OAP_CHECK(in(sample_size, 2, window), ConfigError,
            "isolation_forest.sample_size must be in 2..window (" + std::to_string(window) +
                "), got " + std::to_string(sample_size));
  OAP_CHECK(in(min_history, 2, window), ConfigError,
            "isolation_forest.min_history must be in 2..window (" + std::to_string(window) +
                "), got " + std::to_string(min_history));
  OAP_CHECK(alpha > 0 && alpha < 1, ConfigError,
            "isolation_forest.alpha must be in (0, 1), got " + std::to_string(alpha));
  calibration.validate();
}

void to_json(nlohmann::json& j, const IsolationForestOptions& o) {
  j = {{"n_trees", o.n_trees},
       {"window", o.window},
       {"sample_size", o.sample_size},
       {"replace_every", o.replace_every},
       {"min_history", o.min_history},
       {"seed", o.seed},
       {"alpha", o.alpha},
       {"calibration", o.calibration}};
}

void from_json(const nlohmann::json& j, IsolationForestOptions& o) {
  JsonObjectReader r(j, "isolation_forest");
  o.n_trees = r.get<std::size_t>("n_trees", o.n_trees);
  o.window = r.get<std::size_t>("window", o.window);
  // sample_size follows a smaller window unless given.
  o.sample_size = r.get<std::size_t>("sample_size", std::min(o.sample_size, o.window));
  o.replace_every = r.get<std::size_t>("replace_every", o.replace_every);
  o.min_history = r.get<std::size_t>("min_history", std::min(o.min_history, o.window));
  o.seed = r.get<std::uint64_t>("seed", o.seed);
  o.alpha = r.get<double>("alpha", o.alpha);
  if (!r.raw("calibration").is_null())
    o.calibration = r.raw("calibration").get<ScoreCalibratorOptions>();
  r.finish();
  o.validate();
}

IsolationForestDetector::IsolationForestDetector(std::size_t dim, IsolationForestOptions options)
    : dim_(dim), options_(options), calibrator_(options.calibration) {
  OAP_CHECK(dim > 0, InvalidArgument, "isolation_forest: dimension must be >= 1");
  options_.validate();
  reset();
}

void IsolationForestDetector::reset() {
  n_ = rebuilds_ = 0;
  window_.assign(options_.window * dim_, 0.0);
  window_rows_ = window_next_ = 0;
  trees_.clear();
  next_tree_ = since_replace_ = 0;
  rng_.seed(options_.seed);
  calibrator_ = ScoreCalibrator(options_.calibration);
}

std::size_t IsolationForestDetector::replace_every() const {
  if (options_.replace_every > 0) return options_.replace_every;
  return std::max<std::size_t>(1, options_.window / options_.n_trees);
}

std::pair<double, double> IsolationForestDetector::column_range(const std::uint32_t* rows,
                                                                std::size_t count,
                                                                std::size_t column) const {
  // Four running minima and maxima: one pair is a chain of dependent min/max operations, and
  // the minimum and maximum of a set do not depend on the order they are taken in.
  constexpr std::size_t kLanes = 4;
  double lo[kLanes], hi[kLanes];
  std::fill_n(lo, kLanes, INFINITY);
  std::fill_n(hi, kLanes, -INFINITY);
  const double* w = window_.data() + column;
  std::size_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (std::size_t l = 0; l < kLanes; ++l) {
      const double v = w[rows[i + l] * dim_];
      lo[l] = std::min(lo[l], v);
      hi[l] = std::max(hi[l], v);
    }
  }
  for (; i < count; ++i) {
    const double v = w[rows[i] * dim_];
    lo[0] = std::min(lo[0], v);
    hi[0] = std::max(hi[0], v);
  }
  return {std::min(std::min(lo[0], lo[1]), std::min(lo[2], lo[3])),
          std::max(std::max(hi[0], hi[1]), std::max(hi[2], hi[3]))};
}

IsolationForestDetector::Tree IsolationForestDetector::build_tree() {
  ++rebuilds_;
  const std::size_t psi = std::min(options_.sample_size, window_rows_);
  // Partial Fisher-Yates: psi distinct rows of the window.
  std::vector<std::uint32_t> rows(window_rows_);
  std::iota(rows.begin(), rows.end(), 0u);
  for (std::size_t i = 0; i < psi; ++i) {
    std::uniform_int_distribution<std::size_t> pick(i, rows.size() - 1);
    std::swap(rows[i], rows[pick(rng_)]);
  }
  rows.resize(psi);

  Tree tree;
  tree.norm = isolation_path_length(static_cast<double>(psi));
  tree.nodes.reserve(2 * psi - 1);  // a binary tree over psi points has at most this many
  const int max_depth = static_cast<int>(std::ceil(std::log2(static_cast<double>(psi))));
  struct Task {
    std::size_t node, begin, end;
    int depth;
  };
  tree.nodes.emplace_back();
  std::vector<Task> stack = {{0, 0, psi, 0}};
  std::vector<std::size_t> order(dim_);
  std::vector<std::uint32_t> split_rows(psi);  // partition's scratch
  while (!stack.empty()) {
    Task t = stack.back();
    stack.pop_back();
    const std::size_t count = t.end - t.begin;
    tree.nodes[t.node].link = static_cast<std::int32_t>(count);  // a leaf, unless split below
    if (count <= 1 || t.depth >= max_depth) continue;
    // The split feature is uniform among the features that vary in this node: features in a
    // random order (a partial Fisher-Yates), the first that varies. One feature's range costs
    // O(count); all d ranges first made the build d times slower. None varies: a leaf of
    // duplicates (its c(size) still counts in the path length).
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::size_t f = dim_;
    double lo = 0, hi = 0;
    for (std::size_t k = 0; k < dim_ && f == dim_; ++k) {
      std::swap(order[k], order[std::uniform_int_distribution<std::size_t>(k, dim_ - 1)(rng_)]);
      const std::size_t c = order[k];
      const auto [min, max] = column_range(rows.data() + t.begin, count, c);
      lo = min;
      hi = max;
      if (hi > lo) f = c;
    }
    if (f == dim_) continue;
    double split = std::uniform_real_distribution<double>(lo, hi)(rng_);
    if (!(split > lo)) split = hi;  // keep both sides non-empty
    // The rows below the split first. Without branches: which side a row goes to is a coin
    // toss, and std::partition's mispredicted branches were a third of the build. (Only the two
    // sets matter to the tree, not the order within them.)
    std::size_t below = 0, above = count;
    for (std::size_t i = t.begin; i < t.end; ++i) {
      const std::uint32_t r = rows[i];
      // 1 below the split, else 0; the index picked arithmetically (a ternary became a branch).
      const std::size_t left = window_[r * dim_ + f] < split ? 1 : 0;
      split_rows[above - 1 + left * (below - (above - 1))] = r;  // unsigned: wraps back exactly
      below += left;
      above -= 1 - left;
    }
    std::copy_n(split_rows.begin(), count, rows.begin() + t.begin);
    const std::size_t m = t.begin + below;
    auto left = static_cast<std::int32_t>(tree.nodes.size());
    tree.nodes[t.node].feature = static_cast<std::int32_t>(f);
    tree.nodes[t.node].split = split;
    tree.nodes[t.node].link = left;
    tree.nodes.emplace_back();
    tree.nodes.emplace_back();
    stack.push_back({static_cast<std::size_t>(left) + 1, m, t.end, t.depth + 1});
    stack.push_back({static_cast<std::size_t>(left), t.begin, m, t.depth + 1});
  }
  return tree;
}

namespace {

// c(size) of a leaf, from a table for the sizes a tree of psi <= 4096 has (std::log was a
// fifth of the scoring time).
double leaf_path_length(std::uint32_t size) {
  constexpr std::uint32_t kTable = 4096;
  static const std::vector<double> table = [] {
    std::vector<double> t(kTable);
    for (std::uint32_t i = 0; i < kTable; ++i) t[i] = isolation_path_length(i);
    return t;
  }();
  return size < kTable ? table[size] : isolation_path_length(size);
}

}  // namespace

double IsolationForestDetector::path_length(const Tree& t, const double* x,
                                            double* contributions) const {
  // Every split on the path counts 1/depth for its feature: the tree's share of "which
  // features isolated x" sums to 1. Features are recorded during the walk (trees built here
  // are at most ceil(log2 psi) <= 20 deep; deeper loaded trees record their first 64 splits).
  constexpr int kRecorded = 64;
  std::int32_t visited[kRecorded];
  std::size_t i = 0;
  int depth = 0;
  while (t.nodes[i].feature >= 0) {
    const Node& n = t.nodes[i];
    if (depth < kRecorded) visited[depth] = n.feature;
    i = static_cast<std::size_t>(n.link) + (x[n.feature] < n.split ? 0 : 1);
    ++depth;
  }
  if (contributions != nullptr && depth > 0) {
    const int recorded = std::min(depth, kRecorded);
    const double share = 1.0 / recorded;
    for (int k = 0; k < recorded; ++k) contributions[visited[k]] += share;
  }
  return depth + leaf_path_length(static_cast<std::uint32_t>(t.nodes[i].link));
}

double IsolationForestDetector::mean_path_length(std::span<const double> x) const {
  check_point(x, dim_, "isolation_forest");
  if (trees_.empty()) return 0.0;
  double sum = 0;
  for (const Tree& t : trees_) sum += path_length(t, x.data(), nullptr);
  return sum / static_cast<double>(trees_.size());
}

double IsolationForestDetector::raw_score(std::span<const double> x,
                                          std::vector<double>* contributions) const {
  // Walks kLanes trees in lockstep: one walk is a chain of dependent loads, and interleaving
  // independent ones lets the CPU overlap them. Then adds each tree's part in tree order, with
  // path_length()'s arithmetic, so the result is the same as walking them one by one.
  constexpr std::size_t kLanes = 8;
  constexpr int kRecorded = 64;
  double normalized = 0;
  double* c = contributions ? contributions->data() : nullptr;
  for (std::size_t base = 0; base < trees_.size(); base += kLanes) {
    const std::size_t m = std::min(kLanes, trees_.size() - base);
    const Node* nodes[kLanes];
    std::size_t at[kLanes] = {};
    int depth[kLanes] = {};
    std::int32_t visited[kLanes][kRecorded];
    for (std::size_t l = 0; l < m; ++l) nodes[l] = trees_[base + l].nodes.data();
    bool moving = true;
    while (moving) {
      moving = false;
      for (std::size_t l = 0; l < m; ++l) {
        const Node& node = nodes[l][at[l]];
        if (node.feature < 0) continue;
        moving = true;
        if (depth[l] < kRecorded) visited[l][depth[l]] = node.feature;
        at[l] = static_cast<std::size_t>(node.link) + (x[node.feature] < node.split ? 0 : 1);
        ++depth[l];
      }
    }
    for (std::size_t l = 0; l < m; ++l) {
      if (c != nullptr && depth[l] > 0) {
        const int recorded = std::min(depth[l], kRecorded);
        const double share = 1.0 / recorded;
        for (int k = 0; k < recorded; ++k) c[visited[l][k]] += share;
      }
      const double h =
          depth[l] + leaf_path_length(static_cast<std::uint32_t>(nodes[l][at[l]].link));
      // Trees built while the window was filling have a smaller psi: normalize each by its own.
      const double norm = trees_[base + l].norm;
      normalized += norm > 0 ? h / norm : 0.0;
    }
  }
  const double trees = static_cast<double>(trees_.size());
  if (contributions) {
    double total = std::accumulate(contributions->begin(), contributions->end(), 0.0);
    if (total > 0)
      for (double& v : *contributions) v /= total;
  }
  return std::exp2(-normalized / trees);
}

Score IsolationForestDetector::score(std::span<const double> x) const {
  Score s;
  score_into(x, s);
  return s;
}

void IsolationForestDetector::score_into(std::span<const double> x, Score& s) const {
  check_point(x, dim_, "isolation_forest");
  s.contributions.assign(dim_, 0.0);
  s.score = 0.0;
  s.p_value = 1.0;
  s.flagged = false;
  if (trees_.empty()) return;
  s.score = raw_score(x, &s.contributions);
  if (calibrator_.ready()) s.p_value = calibrator_.p_value(s.score);
  s.flagged = s.p_value < options_.alpha;
}

std::vector<Score> IsolationForestDetector::score_batch(std::span<const double> rows) const {
  OAP_CHECK(rows.size() % dim_ == 0, InvalidArgument,
            "isolation_forest: score_batch needs a multiple of " + std::to_string(dim_) +
                " values, got " + std::to_string(rows.size()));
  const std::size_t n = rows.size() / dim_;
  for (std::size_t i = 0; i < n; ++i)
    check_point(rows.subspan(i * dim_, dim_), dim_, "isolation_forest");
  std::vector<Score> out(n);
  if (trees_.empty()) {
    for (auto& s : out) s.contributions.assign(dim_, 0.0);
    return out;
  }
  std::vector<double> normalized(n, 0.0);
  std::vector<std::vector<double>> contrib(n, std::vector<double>(dim_, 0.0));
  // Tree-major: each tree's nodes stay in cache while all points walk it. Points walk in
  // groups of kLanes in lockstep: one walk is a chain of dependent loads, and interleaving
  // independent walks lets the CPU overlap them.
  constexpr std::size_t kLanes = 8;
  constexpr int kRecorded = 64;
  for (const Tree& t : trees_) {
    const Node* nodes = t.nodes.data();
    for (std::size_t base = 0; base < n; base += kLanes) {
      const std::size_t m = std::min(kLanes, n - base);
      std::size_t at[kLanes] = {};
      int depth[kLanes] = {};
      std::int32_t visited[kLanes][kRecorded];
      bool moving = true;
      while (moving) {
        moving = false;
        for (std::size_t l = 0; l < m; ++l) {
          const Node& node = nodes[at[l]];
          if (node.feature < 0) continue;
          moving = true;
          if (depth[l] < kRecorded) visited[l][depth[l]] = node.feature;
          const double* x = rows.data() + (base + l) * dim_;
          at[l] = static_cast<std::size_t>(node.link) + (x[node.feature] < node.split ? 0 : 1);
          ++depth[l];
        }
      }
      for (std::size_t l = 0; l < m; ++l) {
        const std::size_t i = base + l;
        // Same arithmetic as path_length(), so batch and single scores agree exactly.
        if (depth[l] > 0) {
          const int recorded = std::min(depth[l], kRecorded);
          const double share = 1.0 / recorded;
          for (int k = 0; k < recorded; ++k) contrib[i][visited[l][k]] += share;
        }
        double h = depth[l] + leaf_path_length(static_cast<std::uint32_t>(nodes[at[l]].link));
        normalized[i] += t.norm > 0 ? h / t.norm : 0.0;
      }
    }
  }
  const double trees = static_cast<double>(trees_.size());
  for (std::size_t i = 0; i < n; ++i) {
    Score& s = out[i];
    s.score = std::exp2(-normalized[i] / trees);
    double total = std::accumulate(contrib[i].begin(), contrib[i].end(), 0.0);
    if (total > 0)
      for (double& c : contrib[i]) c /= total;
    s.contributions = std::move(contrib[i]);
    if (calibrator_.ready()) s.p_value = calibrator_.p_value(s.score);
    s.flagged = s.p_value < options_.alpha;
  }
  return out;
}

void IsolationForestDetector::update(std::span<const double> x) {
  check_point(x, dim_, "isolation_forest");
  // Score before learning, so the calibrator sees scores of unseen points as score() makes.
  learn(x, trees_.empty() ? 0.0 : raw_score(x, nullptr));
}

void IsolationForestDetector::score_and_update(std::span<const double> x, Score& out) {
  score_into(x, out);  // checks x
  learn(x, out.score);
}

void IsolationForestDetector::update_scored(std::span<const double> x, const Score& scored) {
  check_point(x, dim_, "isolation_forest");
  learn(x, scored.score);
}

void IsolationForestDetector::learn(std::span<const double> x, double raw) {
  if (!trees_.empty()) calibrator_.add(raw);
  std::copy(x.begin(), x.end(), window_.begin() + window_next_ * dim_);
  window_next_ = (window_next_ + 1) % options_.window;
  window_rows_ = std::min(window_rows_ + 1, options_.window);
  ++n_;
  if (trees_.empty()) {
    if (window_rows_ >= options_.min_history) {
      trees_.reserve(options_.n_trees);
      for (std::size_t i = 0; i < options_.n_trees; ++i) trees_.push_back(build_tree());
    }
  } else if (++since_replace_ >= replace_every()) {
    since_replace_ = 0;
    trees_[next_tree_] = build_tree();
    next_tree_ = (next_tree_ + 1) % trees_.size();
  }
}

nlohmann::json IsolationForestDetector::save() const {
  nlohmann::json trees = nlohmann::json::array();
  for (const Tree& t : trees_) {
    nlohmann::json feature = nlohmann::json::array(), left = nlohmann::json::array(),
                   size = nlohmann::json::array(), split = nlohmann::json::array();
    for (const Node& n : t.nodes) {
      feature.push_back(n.feature);
      // The state keeps the older layout: left (-1 for a leaf) and size (0 for an internal node).
      left.push_back(n.feature >= 0 ? n.link : -1);
      size.push_back(n.feature >= 0 ? 0 : n.link);
      split.push_back(n.split);
    }
    trees.push_back(
        {{"norm", t.norm}, {"feature", feature}, {"left", left}, {"size", size}, {"split", split}});
  }
  std::ostringstream rng;
  rng << rng_;
  std::vector<double> window(window_.begin(), window_.begin() + window_rows_ * dim_);
  return {{"kind", kind()},
          {"dim", dim_},
          {"options", options_},
          {"n", n_},
          {"rebuilds", rebuilds_},
          {"window", window},
          {"window_next", window_next_},
          {"trees", trees},
          {"next_tree", next_tree_},
          {"since_replace", since_replace_},
          {"rng", rng.str()},
          {"calibrator", calibrator_.save()}};
}

void IsolationForestDetector::load(const nlohmann::json& state) {
  JsonObjectReader r(state, kCtx);
  detail::check_state_header(r, kind(), dim_);
  auto options = r.require<IsolationForestOptions>("options");
  IsolationForestDetector f(dim_, options);
  f.n_ = r.require<std::uint64_t>("n");
  f.rebuilds_ = r.require<std::uint64_t>("rebuilds");
  auto window = r.numbers("window");
  OAP_CHECK(window.size() % dim_ == 0 && window.size() / dim_ <= options.window, ConfigError,
            "isolation_forest.window: size is not a whole number of rows within the window");
  std::copy(window.begin(), window.end(), f.window_.begin());
  f.window_rows_ = window.size() / dim_;
  f.window_next_ = r.require<std::size_t>("window_next");
  OAP_CHECK(f.window_next_ < options.window, ConfigError,
            "isolation_forest.window_next: out of range");
  const nlohmann::json& trees = r.require_raw("trees");
  OAP_CHECK(trees.is_array() && trees.size() <= options.n_trees, ConfigError,
            "isolation_forest.trees: expected an array of at most n_trees trees");
  for (std::size_t ti = 0; ti < trees.size(); ++ti) {
    std::string ctx = kCtx + ".trees[" + std::to_string(ti) + "]";
    JsonObjectReader tree(trees[ti], ctx);
    Tree t;
    t.norm = tree.require<double>("norm");
    auto feature = tree.numbers("feature");
    auto left = tree.numbers("left", feature.size());
    auto size = tree.numbers("size", feature.size());
    auto split = tree.numbers("split", feature.size());
    OAP_CHECK(!feature.empty(), ConfigError, ctx + ": a tree needs at least one node");
    t.nodes.resize(feature.size());
    for (std::size_t i = 0; i < feature.size(); ++i) {
      Node& n = t.nodes[i];
      const auto whole = [](double v) { return v == std::floor(v); };
      // feature: -1 (a leaf) or a feature index. Children come after their parent, so a walk
      // always terminates inside the array. A leaf's size is a point count.
      bool ok = whole(feature[i]) && feature[i] >= -1 && feature[i] < static_cast<double>(dim_);
      if (ok && feature[i] >= 0) {
        ok = whole(left[i]) && left[i] > static_cast<double>(i) &&
             left[i] + 1 < static_cast<double>(feature.size());
      } else if (ok) {
        ok = whole(size[i]) && size[i] >= 0 && size[i] <= 1e9;
      }
      OAP_CHECK(ok, ConfigError, ctx + ": node " + std::to_string(i) + " is malformed");
      n.feature = static_cast<std::int32_t>(feature[i]);
      n.link = static_cast<std::int32_t>(n.feature >= 0 ? left[i] : size[i]);
      n.split = split[i];
    }
    f.trees_.push_back(std::move(t));
  }
  f.next_tree_ = r.require<std::size_t>("next_tree");
  f.since_replace_ = r.require<std::size_t>("since_replace");
  OAP_CHECK(f.trees_.empty() || f.next_tree_ < f.trees_.size(), ConfigError,
            "isolation_forest.next_tree: out of range");
  std::istringstream rng(r.require<std::string>("rng"));
  rng >> f.rng_;
  OAP_CHECK(!rng.fail(), ConfigError, "isolation_forest.rng: not a saved generator state");
  f.calibrator_.load(r.require_raw("calibrator"));
  *this = std::move(f);
}

std::unique_ptr<Detector> IsolationForestDetector::clone() const {
  return std::make_unique<IsolationForestDetector>(*this);
}

}  // namespace oap
