#include "oap/policy/policy_state.hpp"

#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"

namespace oap {

void to_json(nlohmann::json& j, const PolicyState& s) {
  j = {{"events", s.events},
       {"last_update", s.last_update},
       {"last_escalation", s.last_escalation},
       {"run_start", s.run_start},
       {"recent_flags", s.recent_flags},
       {"update_times", s.update_times},
       {"probation_start", s.probation_start},
       {"probation_end", s.probation_end},
       {"probation_excess", s.probation_excess},
       {"probation_count", s.probation_count},
       {"context_start", s.context_start},
       {"follow_ups_left", s.follow_ups_left}};
}

void from_json(const nlohmann::json& j, PolicyState& s) {
  JsonObjectReader r(j, "policy_state");
  s.events = r.get<std::uint64_t>("events", s.events);
  s.last_update = r.get<std::int64_t>("last_update", s.last_update);
  s.last_escalation = r.get<std::int64_t>("last_escalation", s.last_escalation);
  s.run_start = r.get<std::int64_t>("run_start", s.run_start);
  s.recent_flags = r.get<std::deque<std::uint8_t>>("recent_flags", s.recent_flags);
  s.update_times = r.get<std::deque<std::int64_t>>("update_times", s.update_times);
  s.probation_start = r.get<std::int64_t>("probation_start", s.probation_start);
  s.probation_end = r.get<std::int64_t>("probation_end", s.probation_end);
  s.probation_excess = r.get<double>("probation_excess", s.probation_excess);
  s.probation_count = r.get<std::uint32_t>("probation_count", s.probation_count);
  s.context_start = r.get<std::int64_t>("context_start", s.context_start);
  s.follow_ups_left = r.get<std::uint32_t>("follow_ups_left", s.follow_ups_left);
  r.finish();
}

}  // namespace oap
