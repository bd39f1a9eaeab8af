#include "random_cut_forest.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace oap_bench {

RandomCutTree::RandomCutTree(std::size_t dim, std::uint64_t seed) : dim_(dim), rng_(seed) {}

int RandomCutTree::new_node() {
  if (!free_.empty()) {
    const int n = free_.back();
    free_.pop_back();
    auto& node = nodes_[n];
    node.parent = node.left = node.right = -1;
    node.count = 0;
    return n;
  }
  nodes_.emplace_back();
  nodes_.back().lo.resize(dim_);
  nodes_.back().hi.resize(dim_);
  return static_cast<int>(nodes_.size()) - 1;
}

RandomCutTree::LeafIndex::const_iterator RandomCutTree::entry(std::int64_t key) const {
  auto it = std::lower_bound(leaf_of_.begin(), leaf_of_.end(), std::make_pair(key, -1));
  if (it == leaf_of_.end() || it->first != key) {
    throw std::logic_error("RandomCutTree: no point under key " + std::to_string(key));
  }
  return it;
}

void RandomCutTree::refresh_box(int n) {
  auto& node = nodes_[n];
  const auto& l = nodes_[node.left];
  const auto& r = nodes_[node.right];
  for (std::size_t d = 0; d < dim_; ++d) {
    node.lo[d] = std::min(l.lo[d], r.lo[d]);
    node.hi[d] = std::max(l.hi[d], r.hi[d]);
  }
}

void RandomCutTree::insert(std::int64_t key, const std::vector<double>& point) {
  if (!leaf_of_.empty() && key <= leaf_of_.back().first) {
    throw std::logic_error("RandomCutTree: keys must increase");
  }
  auto make_leaf = [&] {
    const int n = new_node();
    nodes_[n].count = 1;
    std::copy(point.begin(), point.end(), nodes_[n].lo.begin());
    std::copy(point.begin(), point.end(), nodes_[n].hi.begin());
    return n;
  };
  if (root_ < 0) {
    root_ = make_leaf();
    leaf_of_.emplace_back(key, root_);
    return;
  }
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  int n = root_;
  while (true) {
    double total = 0;
    for (std::size_t d = 0; d < dim_; ++d) {
      total += std::max(nodes_[n].hi[d], point[d]) - std::min(nodes_[n].lo[d], point[d]);
    }
    if (total == 0) {  // a leaf holding this very point: a duplicate
      ++nodes_[n].count;
      leaf_of_.emplace_back(key, n);
      return;
    }
    // A cut of the box grown by the point: dimension by span, value uniform in the span.
    double r = uniform(rng_) * total;
    std::size_t d = 0;
    double lo = 0, span = 0;
    for (; d < dim_; ++d) {
      lo = std::min(nodes_[n].lo[d], point[d]);
      span = std::max(nodes_[n].hi[d], point[d]) - lo;
      if (r < span || d + 1 == dim_) break;
      r -= span;
    }
    const double cut = lo + std::min(r, span);
    const bool point_left = cut < nodes_[n].lo[d];
    const bool point_right = cut >= nodes_[n].hi[d];
    // A cut drawn at the very end of the span (rounding) would put the point on the wrong
    // side of it: draw again.
    if ((point_left && point[d] > cut) || (point_right && point[d] <= cut)) continue;
    if (point_left || point_right) {  // the cut separates the point from this subtree
      const int p = nodes_[n].parent;
      const int fresh = make_leaf();
      const int split = new_node();
      auto& s = nodes_[split];
      s.cut_dim = static_cast<int>(d);
      s.cut = cut;
      s.left = point_left ? fresh : n;
      s.right = point_left ? n : fresh;
      s.parent = p;
      s.count = nodes_[n].count + 1;
      nodes_[n].parent = split;
      nodes_[fresh].parent = split;
      if (p < 0) {
        root_ = split;
      } else if (nodes_[p].left == n) {
        nodes_[p].left = split;
      } else {
        nodes_[p].right = split;
      }
      refresh_box(split);
      leaf_of_.emplace_back(key, fresh);
      return;
    }
    // The cut falls inside this subtree's box: the point joins it, on its side of the cut.
    auto& node = nodes_[n];
    ++node.count;
    for (std::size_t k = 0; k < dim_; ++k) {
      node.lo[k] = std::min(node.lo[k], point[k]);
      node.hi[k] = std::max(node.hi[k], point[k]);
    }
    n = point[node.cut_dim] <= node.cut ? node.left : node.right;
  }
}

void RandomCutTree::remove(std::int64_t key) {
  const auto it = entry(key);
  const int leaf_node = it->second;
  leaf_of_.erase(it);
  for (int a = leaf_node; a >= 0; a = nodes_[a].parent) --nodes_[a].count;
  if (nodes_[leaf_node].count > 0) return;  // a duplicate remains
  const int p = nodes_[leaf_node].parent;
  free_.push_back(leaf_node);
  if (p < 0) {
    root_ = -1;
    return;
  }
  const int sibling = nodes_[p].left == leaf_node ? nodes_[p].right : nodes_[p].left;
  const int grand = nodes_[p].parent;
  nodes_[sibling].parent = grand;
  free_.push_back(p);
  if (grand < 0) {
    root_ = sibling;
    return;
  }
  (nodes_[grand].left == p ? nodes_[grand].left : nodes_[grand].right) = sibling;
  for (int a = grand; a >= 0; a = nodes_[a].parent) refresh_box(a);
}

double RandomCutTree::codisp(std::int64_t key) const {
  int n = entry(key)->second;
  double most = 0;
  for (int p = nodes_[n].parent; p >= 0; n = p, p = nodes_[p].parent) {
    const int sibling = nodes_[p].left == n ? nodes_[p].right : nodes_[p].left;
    most = std::max(most, static_cast<double>(nodes_[sibling].count) /
                              static_cast<double>(nodes_[n].count));
  }
  return most;
}

void RandomCutTree::check() const {
  auto fail = [](const std::string& what) { throw std::logic_error("RandomCutTree: " + what); };
  if (root_ < 0) {
    if (!leaf_of_.empty()) fail("empty tree with keys");
    return;
  }
  if (nodes_[root_].parent != -1) fail("root has a parent");
  std::size_t leaves_count = 0;
  std::vector<int> stack = {root_};
  while (!stack.empty()) {
    const int n = stack.back();
    stack.pop_back();
    const auto& node = nodes_[n];
    if (leaf(n)) {
      leaves_count += node.count;
      if (node.lo != node.hi) fail("leaf box is not a point");
      continue;
    }
    const auto& l = nodes_[node.left];
    const auto& r = nodes_[node.right];
    if (l.parent != n || r.parent != n) fail("child's parent link");
    if (node.count != l.count + r.count) fail("count is not the sum of the children's");
    if (l.hi[node.cut_dim] > node.cut || r.lo[node.cut_dim] <= node.cut) fail("cut side");
    for (std::size_t d = 0; d < dim_; ++d) {
      if (node.lo[d] != std::min(l.lo[d], r.lo[d]) || node.hi[d] != std::max(l.hi[d], r.hi[d])) {
        fail("box is not the union of the children's");
      }
    }
    stack.push_back(node.left);
    stack.push_back(node.right);
  }
  if (leaves_count != leaf_of_.size() || nodes_[root_].count != leaf_of_.size()) {
    fail("point count differs from the keys held");
  }
}

RandomCutForest::RandomCutForest(std::size_t dim, std::size_t trees, std::size_t tree_size,
                                 std::uint64_t seed)
    : tree_size_(tree_size) {
  for (std::size_t t = 0; t < trees; ++t) trees_.emplace_back(dim, seed * 1'000'003 + t);
}

double RandomCutForest::score_and_update(const std::vector<double>& point) {
  const std::int64_t key = next_key_++;
  double sum = 0;
  for (auto& tree : trees_) {
    if (tree.size() >= tree_size_) tree.remove(key - static_cast<std::int64_t>(tree_size_));
    tree.insert(key, point);
    sum += tree.codisp(key);
  }
  return sum / static_cast<double>(trees_.size());
}

}  // namespace oap_bench
