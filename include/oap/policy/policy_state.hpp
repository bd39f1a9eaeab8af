#pragma once
// PolicyState: what the deviation policy remembers about one user between events.

#include <cstdint>
#include <deque>
#include <nlohmann/json_fwd.hpp>

namespace oap {

// The per-user memory of DeviationPolicy: recent flags, when the last updates happened, and the
// probation after a new context. A plain value type, produced by DeviationPolicy::decide and
// persisted by the caller (to_json/from_json) so that cooldowns and rate limits survive a
// restart.
struct PolicyState {
  std::uint64_t events = 0;           // events decided so far
  std::int64_t last_update = -1;      // event index of the last kAdapt/kNewContext/kRollback
  std::int64_t last_escalation = -1;  // event index of the last kEscalate
  std::int64_t run_start = -1;        // first index of the current run of flagged events
  std::deque<std::uint8_t> recent_flags;   // 1 = flagged, for the last adapt_window events
  std::deque<std::int64_t> update_times;   // microseconds since the epoch, inside rate_window
  // Probation after a kNewContext: [start, end) event indices during which the policy compares
  // the user's text under the current and the previous adapter.
  std::int64_t probation_start = -1;
  std::int64_t probation_end = -1;
  double probation_excess = 0.0;  // sum over probation events of surprise - surprise_previous
  std::uint32_t probation_count = 0;
  // Follow-ups of the last new context: its shift's first event index, and how many are left.
  std::int64_t context_start = -1;
  std::uint32_t follow_ups_left = 0;

  friend bool operator==(const PolicyState&, const PolicyState&) = default;
};

void to_json(nlohmann::json& j, const PolicyState& s);
void from_json(const nlohmann::json& j, PolicyState& s);

}  // namespace oap
