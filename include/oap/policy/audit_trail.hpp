#pragma once
// AuditTrail: every decision the deviation policy takes about a user's event, queryable per
// user, with the per-user state and run progress that commit atomically with it.

#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "oap/adapt/update_report.hpp"
#include "oap/core/timestamp.hpp"
#include "oap/core/user_id.hpp"
#include "oap/detect/shift_monitor.hpp"
#include "oap/policy/decision.hpp"

namespace oap {

// One decided event: what the policy saw and what it decided. A plain value type.
// Numbers must be finite (record() refuses NaN and infinities: SQLite would store NaN as NULL,
// and JSON has neither).
struct AuditRecord {
  UserId user;
  std::uint64_t event = 0;  // the user's 0-based event index
  Timestamp time{};         // the event's time (UTC, microseconds)
  Decision decision;        // sample_weight must be finite
  // The deviation's p-value the policy saw (PolicyInput::p_value). Requires [0, 1].
  double p_value = 1.0;
  std::string detector;  // the detector it came from ("" = the Bonferroni minimum over all)
  ShiftState shift_state = ShiftState::kWarmup;  // the user's shift monitor after the event
  // The event text's mean NLL (nats per token) under the user's adapter before the event was
  // learned; absent without text or model. Finite when present.
  std::optional<double> nll;
  bool learned = true;    // whether the detectors learned the point (Observation::learned)
  nlohmann::json scores;  // per-detector scores as Observation serializes them (any JSON)

  friend bool operator==(const AuditRecord&, const AuditRecord&) = default;
};

// The outcome of the update a decision scheduled. A plain value type.
struct UpdateRecord {
  UserId user;
  std::uint64_t event = 0;  // the index of the deciding event
  UpdateReport report;      // accepted, losses (NaN ones stored as null, read back as NaN), ...
};

// JSON forms (the time as RFC 3339, the action by name, an absent nll as null). from_json
// throws ConfigError naming the field.
void to_json(nlohmann::json& j, const AuditRecord& r);
void from_json(const nlohmann::json& j, AuditRecord& r);
void to_json(nlohmann::json& j, const UpdateRecord& u);
void from_json(const nlohmann::json& j, UpdateRecord& u);

// The audit trail of the deviation policy: per user, every decision in event order and the
// outcomes of the updates they scheduled; the user's latest state (an opaque JSON the caller
// restores on restart: policy state and the like); and run progress (key -> integer, e.g. lines
// of an input file applied), all committed together so that after a crash they agree. An
// interface, so that a networked backend can replace the local file of open_audit_trail later.
//
// Thread safety: every method is safe to call concurrently, for the same or different users,
// without external synchronization. Writes (record, record_update, forget) are serialized;
// reads run beside them and each sees the trail as committed at some moment during the call.
// Ownership: plain values in and out; nothing returned refers into the trail.
// Errors: an invalid user id or record is InvalidArgument naming the user and the event; a
// failing or corrupt database is StoreError naming the file.
class AuditTrail {
 public:
  virtual ~AuditTrail() = default;

  // Records a decision and, in the same transaction (all or nothing; durable when it returns:
  // it survives kill -9 of the process), the user's state after it (replacing the previous
  // one) and the progress counters given (each key set to its value; other keys keep theirs).
  // A user's events are recorded in order, without gaps: r.event == events(r.user), else
  // InvalidArgument naming the user, r.event and the expected index. Also InvalidArgument for
  // an invalid user id, a non-finite number, a p_value outside [0, 1], an empty progress key,
  // or a JSON value that cannot be written (invalid UTF-8); nothing is stored then.
  virtual void record(const AuditRecord& r, const nlohmann::json& user_state,
                      const std::vector<std::pair<std::string, std::int64_t>>& progress = {}) = 0;

  // The same, keeping the user's stored state as it is: for a decision that left the state
  // unchanged, so that the state is not written again (most events of a stable user). The user
  // must have a recorded state (a first event of the user is InvalidArgument).
  virtual void record_keeping_state(
      const AuditRecord& r,
      const std::vector<std::pair<std::string, std::int64_t>>& progress = {}) = 0;

  // Records the outcome of the update that decision u.event scheduled; durable when it
  // returns. Returns false, storing nothing, when the user has no decision u.event: an unknown
  // user, one forgotten meanwhile (an update finishing after forget() must not bring the user
  // back), or an event not yet recorded. InvalidArgument for an invalid user id.
  virtual bool record_update(const UpdateRecord& u) = 0;

  // Decisions recorded for the user (the next event index record() expects); 0 if unknown.
  virtual std::uint64_t events(const UserId& user) const = 0;

  // The user's decisions with event >= from_event, in event order, at most limit of them;
  // empty for an unknown user.
  virtual std::vector<AuditRecord> decisions(
      const UserId& user, std::uint64_t from_event = 0,
      std::size_t limit = std::numeric_limits<std::size_t>::max()) const = 0;

  // The user's update outcomes in the order recorded; empty for an unknown user.
  virtual std::vector<UpdateRecord> updates(const UserId& user) const = 0;

  // The state recorded with the user's latest record() (record_keeping_state() leaves it);
  // nullopt for an unknown user.
  virtual std::optional<nlohmann::json> user_state(const UserId& user) const = 0;

  // The value last recorded for a progress key; nullopt if none was.
  virtual std::optional<std::int64_t> progress(const std::string& key) const = 0;

  // Every user with at least one decision, sorted.
  virtual std::vector<UserId> users() const = 0;

  // Removes every decision, update and the state of the user, durably, so that no byte of
  // them remains in any file of the trail (deleted content is overwritten, and the write-ahead
  // log is checkpointed and truncated before this returns). Progress counters are not
  // per-user and stay. Returns the number of decisions removed (0 for an unknown user). The
  // user's next record() starts again at event 0.
  virtual std::size_t forget(const UserId& user) = 0;
};

// Opens (creating it if needed) the audit trail in the SQLite database file at path:
// WAL mode with synchronous NORMAL (a committed record survives kill -9 of the process, not
// necessarily a power loss) and secure_delete on. Schema: docs/file-formats.md ("Audit trail").
// One process at a time per file: an exclusive advisory lock (flock) on "<path>.lock" is held
// while the trail is open; opening a file that is open, in this or another process, is a
// StoreError naming it. IoError naming the folder if path's folder does not exist or the lock
// file cannot be created there. StoreError naming the file if it is not an SQLite database, is
// one but not an audit trail (e.g. a history store), or has a newer schema version than this
// build reads.
std::unique_ptr<AuditTrail> open_audit_trail(const std::filesystem::path& path);

}  // namespace oap
