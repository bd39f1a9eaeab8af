#pragma once
// DetectorBank: one set of detectors and a shift monitor per user, built from a JSON config.

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "oap/core/mutex.hpp"
#include "oap/core/thread_annotations.hpp"
#include "oap/core/user_id.hpp"
#include "oap/detect/detector.hpp"
#include "oap/detect/shift_monitor.hpp"
#include "oap/detect/stream_context.hpp"

namespace oap {

struct DetectorBankOptions {
  // The detectors, each a name and a spec (see make_detector), in one of two forms:
  //   array:  [{"name": "z", "type": "zscore", "options": {...}}, ...]  (order as written)
  //   object: {"z": {"type": "zscore", "options": {...}}, ...}          (order by name)
  // A JSON object's keys are read sorted by name (nlohmann::json), so only the array form keeps
  // the order of a file; the order decides the default shift_input. Requires at least one,
  // non-empty unique names, and specs make_detector accepts (checked by validate()).
  // Default: {"zscore": {"type": "zscore"}}.
  nlohmann::json detectors = {{"zscore", {{"type", "zscore"}}}};
  // The detector whose p-value feeds the shift monitor, as the normal quantile
  // normal_isf(p) (N(0, 1) while nothing changes; large when p is small).
  // Default: "" = the first detector: the first array element, or in the object form the
  // alphabetically first name.
  std::string shift_input;
  ShiftMonitorOptions shift{};
  // While a user has fewer events than this, scores come from population detectors (all users
  // of the same dimension pooled) and Observation.cold_start is true. The population learns
  // every event of every user (it is the prior for the next new user), as given: without the
  // stream context, which is the user's own. 0 disables. Default: 20.
  std::size_t min_history = 20;
  // Users held in memory; beyond it the least recently used is saved (if state_dir is set)
  // and dropped. Requires >= 1. Default: 100000.
  std::size_t max_users = 100000;
  // Keep deviations out of what a user's detectors learn: a point that any detector flags is
  // scored but not learned (Observation::learned false; the point is held back) unless the
  // user's shift monitor calls the change sustained. Then the held-back points from the shift's
  // start are learned, in order, with the current one, so the user's new behaviour becomes the
  // detectors' normal; a one-off blip never enters their state. Points held back longer than
  // hold_back_window events are dropped (a blip). During cold start every point is learned.
  // false: every point is learned, flagged or not. Default: false (on labelled streams learning
  // every point scored higher: fewer repeated alarms after an anomaly, docs/detectors.md); the
  // Personalizer turns it on (personalizer_detect_defaults()), so a blip never reaches the
  // detectors it adapts by.
  bool hold_back_flagged = false;
  // The most events a point is held back for, and so the most points held per user. Default: 32.
  // Requires >= 1.
  std::size_t hold_back_window = 32;
  // A user's first hold_back_after events are learned whether flagged or not (cold-start events
  // always are): the user's own detectors warm up on them. With only a few points learned,
  // detectors flag most points (at d = 16, z-score and Mahalanobis flagged 80-100% after two),
  // and holding those back they would never learn the user. Matters when min_history is below
  // it (0: no population). 0 = hold back from the first warm event. Default: 20.
  std::size_t hold_back_after = 20;
  // Feature transforms applied per user before the detectors (differences, rates, lags,
  // seasonal residuals, time of day/week: StreamContextOptions). The detectors then see
  // context.output_dim(d) features. Default: the identity.
  StreamContextOptions context{};
  // Directory for per-user state files "<user_file_stem(user)>.json"; empty = no persistence.
  // A user seen for the first time is restored from its file if there is one. Default: "".
  std::string state_dir;

  // Throws ConfigError naming the field and value; for a detector spec, the detector's name
  // and index, then the spec's field and value (each spec is built once to check it).
  void validate() const;
};
void to_json(nlohmann::json& j, const DetectorBankOptions& o);
void from_json(const nlohmann::json& j, DetectorBankOptions& o);

// What the bank says about one event.
struct Observation {
  bool cold_start = false;              // scores came from the population detectors
  std::map<std::string, Score> scores;  // by detector name
  ShiftReport shift;                    // the user's shift monitor after this event
  std::uint64_t user_events = 0;        // the user's events including this one
  // Whether the user's detectors learned this point (false: held back, see
  // DetectorBankOptions::hold_back_flagged).
  bool learned = true;
  std::size_t released = 0;   // held-back points learned now (a sustained shift), before this one
  std::size_t held_back = 0;  // points held back for the user after this event
};
void to_json(nlohmann::json& j, const Observation& o);

// Holds per-user detector sets. Safe for concurrent use without external synchronization:
// a map mutex guards the user table (held for a lookup, never for detector work or file I/O),
// each user has its own mutex (events of one user are processed in call order, different users
// in parallel), the population sets have theirs (taken during a user's cold start, and by the
// bank's population learner: a thread of its own, started when min_history > 0, that learns the
// points of warm users in batches of kPopulationBatch; a warm user's observe only appends its
// point, unless the learner is kPopulationBacklog batches behind, when the caller learns them).
//
// Eviction: users beyond max_users are dropped least recently used first (an O(1) list).
// With state_dir, the evicting call writes the user's state file; until it has, a returning
// user takes that state over in memory, and a call that was already working on the evicted
// user finishes first (its event is in the file) or starts over on the user's new entry.
// So no event is lost or counted twice, whatever the interleaving. An IoError while writing
// leaves the state in memory for the user's next event. forget() removes a user from memory and
// from state_dir (see there).
class DetectorBank {
 public:
  explicit DetectorBank(DetectorBankOptions options = {});
  ~DetectorBank();

  // Scores x against the user's history (or the population's during cold start), then learns
  // it, or holds it back (DetectorBankOptions::hold_back_flagged; Observation says which). The
  // user's dimension is fixed by its first event; InvalidArgument for a mismatch or
  // non-finite values (nothing is learned then). IoError if writing the state of a user this
  // call evicts fails (x is not learned then; the evicted state stays in memory).
  // time: the event's time; required when options.context needs times (rate, season,
  // time_features), else ignored.
  Observation observe(const UserId& user, std::span<const double> x,
                      std::optional<Timestamp> time = std::nullopt);

  // Writes the user's state file (atomically: temp file + rename). IoError on failure;
  // false if the user is unknown. Requires state_dir.
  bool save_user(const UserId& user);
  // Saves every user in memory.
  void save_all();
  // Events the user's detectors have taken (Observation::user_events of the last one): from
  // memory, or from the user's state file; 0 for a user the bank has never seen. Throws as
  // restoring the state file does for a corrupt one.
  std::uint64_t user_events(const UserId& user);

  // Forgets the user: drops its detectors and shift monitor from memory (resident, or evicted
  // and not yet written) and deletes its state file, and any temporary file a process that
  // died while writing it left, in state_dir. That state holds the detectors' statistics and
  // raw points of the user (an isolation forest's window). Returns whether there was anything
  // (state in memory or a file). Afterwards the user is unknown: its next event starts it from
  // nothing, dimension included. The population detectors are not touched: they pool the events
  // of every user (a population isolation forest keeps raw points of any of them in its
  // window), as do the points of warm users waiting to be learned by them; they hold nothing
  // per user that could be removed. IoError if a file cannot be deleted (the state in memory
  // is gone then; forget again to retry). InvalidArgument for an invalid user id.
  //
  // Concurrent calls for the user: an observe() that had the user's state before forget()
  // reached it finishes first and is forgotten with the rest; one that comes later starts the
  // user from nothing (it waits, if it must, until the old file is gone, so it can neither read
  // it nor have its own state deleted). save_user() likewise saves before or returns false.
  // Other users are not affected.
  bool forget(const UserId& user);
  std::size_t users_in_memory() const;
  const DetectorBankOptions& options() const { return options_; }

  // Points of warm users the population learns at once (see the class comment). The
  // population's scores are the same as if it learned every point at its event: it learns the
  // pending points, in order, before it scores a cold-start user.
  static constexpr std::size_t kPopulationBatch = 64;
  // Batches waiting for the population learner beyond which a warm user's observe learns them
  // itself (bounds the memory and the work a cold-start user may have to wait for).
  static constexpr std::size_t kPopulationBacklog = 8;

 private:
  struct Set;
  struct Slot;
  // Points waiting to be learned by the population: values row after row, dims[i] per row.
  struct PendingPoints {
    std::vector<double> values;
    std::vector<std::size_t> dims;
  };
  using LruList = std::list<std::shared_ptr<Slot>>;

  // Functions taking a Slot& require its mu; that is annotated on their definitions (Slot is
  // defined in the .cpp), which come before their first use there.
  std::shared_ptr<Slot> slot_for(const UserId& user, std::size_t dim) OAP_EXCLUDES(mu_);
  void retire(const std::shared_ptr<Slot>& slot) OAP_EXCLUDES(mu_);
  static bool drop(std::shared_ptr<Slot> slot);
  void adopt_predecessor(Slot& slot);
  // A user's set for input dimension dim (with the stream context, when enabled), or a
  // population set whose detectors take the dim features of the events (without).
  std::unique_ptr<Set> make_set(std::size_t dim, bool with_context) const;
  void learn_or_hold(Set& set, std::uint64_t index, std::span<const double> x, bool flagged,
                     Observation& obs) const;
  void ensure_set(Slot& slot);
  std::filesystem::path state_path(const UserId& user) const;
  void write_state(Slot& slot);
  Set& population_set(std::size_t dim) OAP_REQUIRES(population_mu_);
  void learn_pending() OAP_REQUIRES(population_mu_) OAP_EXCLUDES(pending_mu_);
  void learn_pending_batch() OAP_EXCLUDES(population_mu_, pending_mu_);
  void run_population_learner() OAP_EXCLUDES(population_mu_, pending_mu_);

  DetectorBankOptions options_;
  std::vector<std::string> names_;     // detector names, in options order
  std::vector<nlohmann::json> specs_;  // their specs
  mutable Mutex mu_;
  LruList lru_ OAP_GUARDED_BY(mu_);  // resident users, most recently used first
  std::unordered_map<UserId, LruList::iterator> users_ OAP_GUARDED_BY(mu_);  // into lru_
  // Evicted users whose state file the evicting call has not finished writing.
  std::unordered_map<UserId, std::shared_ptr<Slot>> evicting_ OAP_GUARDED_BY(mu_);
  // Lock order: a user's Slot::mu, then population_mu_, then pending_mu_.
  Mutex population_mu_;
  std::map<std::size_t, std::unique_ptr<Set>> population_ OAP_GUARDED_BY(population_mu_);
  PendingPoints draining_ OAP_GUARDED_BY(population_mu_);
  Mutex pending_mu_ OAP_ACQUIRED_AFTER(population_mu_);
  PendingPoints pending_ OAP_GUARDED_BY(pending_mu_);
  bool stopping_ OAP_GUARDED_BY(pending_mu_) = false;
  std::condition_variable_any pending_cv_;  // a batch is full, or stopping_
  std::thread population_learner_;          // last: started when everything else exists
};

}  // namespace oap
