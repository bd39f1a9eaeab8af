// A robust random cut forest (Guha, Mishra, Roy & Schrijvers, ICML 2016), written from the
// paper for stream_benchmark as a classical baseline. Not part of the library.
//
// Each tree holds the last `tree_size` points of a sliding window. A cut picks a dimension
// with probability proportional to the span of the bounding box in it, then a value
// uniformly inside that span; a point is inserted where a cut of the box grown by it would
// first separate it (the paper's insertion, which keeps the tree distributed as if built
// from scratch on its current points), and deleted by replacing its parent with its sibling.
// The anomaly score of a point is its collusive displacement (CoDisp): the largest, over the
// point's ancestors, of the sibling subtree's size over the size of the subtree holding the
// point; the forest averages it over the trees.
//
// Not thread safe: one forest per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace oap_bench {

class RandomCutTree {
 public:
  RandomCutTree(std::size_t dim, std::uint64_t seed);

  // Inserts `point` (size dim) under the caller's key, larger than every earlier key.
  void insert(std::int64_t key, const std::vector<double>& point);
  // Removes the point inserted under `key`.
  void remove(std::int64_t key);
  // CoDisp of the held point `key`.
  double codisp(std::int64_t key) const;
  std::size_t size() const { return root_ < 0 ? 0 : nodes_[root_].count; }
  // Verifies counts, parents and bounding boxes; throws std::logic_error when one is wrong.
  void check() const;

 private:
  struct Node {
    int parent = -1, left = -1, right = -1;  // left/right < 0 for a leaf
    std::size_t count = 0;                   // points under this node (duplicates included)
    int cut_dim = 0;
    double cut = 0;
    std::vector<double> lo, hi;  // bounding box; a leaf's is its point
  };
  using LeafIndex = std::vector<std::pair<std::int64_t, int>>;
  int new_node();
  bool leaf(int n) const { return nodes_[n].left < 0; }
  void refresh_box(int n);
  // The entry of key in leaf_of_; std::logic_error when no point is held under it.
  LeafIndex::const_iterator entry(std::int64_t key) const;

  std::size_t dim_;
  std::mt19937_64 rng_;
  std::vector<Node> nodes_;
  std::vector<int> free_;
  int root_ = -1;
  LeafIndex leaf_of_;  // key -> leaf, sorted by key
};

class RandomCutForest {
 public:
  RandomCutForest(std::size_t dim, std::size_t trees, std::size_t tree_size, std::uint64_t seed);
  // Adds `point` (the oldest point leaves once the window is full) and returns its mean CoDisp.
  double score_and_update(const std::vector<double>& point);

 private:
  std::vector<RandomCutTree> trees_;
  std::size_t tree_size_;
  std::int64_t next_key_ = 0;
};

}  // namespace oap_bench
