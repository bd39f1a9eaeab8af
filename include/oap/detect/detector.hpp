#pragma once
// Detector: the interface of every streaming deviation detector.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "oap/detect/score.hpp"

namespace oap {

// A model of one user's "normal" feature vectors, learned online from a stream, that says how
// unusual a new vector is. score() judges a point without learning from it; update() learns
// from it. The usual loop is `s = d.score(x); d.update(x);`.
//
// State (everything learned, plus the options) round-trips through save()/load() exactly: a
// detector restored from save() scores and updates identically to the original, bit for bit.
//
// Every point given to score()/update() must have size dim() and finite values; otherwise they
// throw InvalidArgument naming the detector, the index and the value, and the state is
// unchanged.
//
// Thread safety: const methods are safe to call concurrently; non-const ones need external
// synchronization (DetectorBank provides it per user).
class Detector {
 public:
  virtual ~Detector() = default;

  // The type name used in configurations and state: "zscore", "mahalanobis", ...
  virtual std::string kind() const = 0;
  // The feature dimension d.
  virtual std::size_t dim() const = 0;
  // Points learned so far (update() calls since construction or reset()).
  virtual std::uint64_t n_seen() const = 0;

  // Judges x (size dim()) against the history. Does not change state.
  virtual Score score(std::span<const double> x) const = 0;
  // As score(x), written into out, whose contributions buffer is reused: a loop that keeps one
  // Score allocates nothing. Detectors with a hot path override it; the default calls score().
  virtual void score_into(std::span<const double> x, Score& out) const;
  // Learns x (size dim()).
  virtual void update(std::span<const double> x) = 0;
  // The streaming step: score_into(x, out), then update(x), with the same results; detectors
  // with a hot path override it to check x once and share the work. Throws as score() does,
  // and then nothing is learned.
  virtual void score_and_update(std::span<const double> x, Score& out);
  // Learns x, which score_into(x, scored) has just judged on this same state (nothing learned
  // in between): for a caller that decides from the score whether to learn (DetectorBank's
  // hold-back). Detectors that learn from their own score of x reuse it; the default calls
  // update(x). Given the score of another point or an older state, what is learned is wrong:
  // use update() then.
  virtual void update_scored(std::span<const double> x, const Score& scored);

  // Scores n points stored row-major in rows (size n * dim()), as score() would one by one.
  // Detectors override it where a batch is cheaper than n single calls.
  virtual std::vector<Score> score_batch(std::span<const double> rows) const;

  // Forgets everything learned; keeps the options and dimension.
  virtual void reset() = 0;

  // The full state as JSON: {"kind": ..., "dim": ..., "options": {...}, ...}.
  virtual nlohmann::json save() const = 0;
  // Replaces the state with one produced by save() of a detector of the same kind.
  // Throws ConfigError naming the field if the state is malformed or of another kind/dim.
  virtual void load(const nlohmann::json& state) = 0;

  // An independent deep copy (same state, same options).
  virtual std::unique_ptr<Detector> clone() const = 0;
};

// Throws InvalidArgument unless x has size dim and only finite values; `who` names the
// detector in the message ("zscore: expected 3 features, got 2").
void check_point(std::span<const double> x, std::size_t dim, const char* who);

}  // namespace oap
