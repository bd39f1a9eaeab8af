// AuditRecord / UpdateRecord JSON forms and open_audit_trail.

#include "oap/policy/audit_trail.hpp"

#include <nlohmann/json.hpp>

#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"
#include "policy/audit_trail_sqlite.hpp"

namespace oap {

std::optional<ShiftState> detail::parse_shift_state(std::string_view name) {
  for (ShiftState s :
       {ShiftState::kWarmup, ShiftState::kNone, ShiftState::kTransient, ShiftState::kSustained}) {
    if (name == shift_state_name(s)) return s;
  }
  return std::nullopt;
}

void to_json(nlohmann::json& j, const AuditRecord& r) {
  j = {{"user", r.user},
       {"event", r.event},
       {"time", format_rfc3339(r.time)},
       {"decision", r.decision},
       {"p_value", r.p_value},
       {"detector", r.detector},
       {"shift_state", shift_state_name(r.shift_state)},
       {"nll", r.nll ? nlohmann::json(*r.nll) : nlohmann::json(nullptr)},
       {"learned", r.learned},
       {"scores", r.scores}};
}

void from_json(const nlohmann::json& j, AuditRecord& r) {
  JsonObjectReader in(j, "audit_record");
  r.user = in.require<std::string>("user");
  r.event = in.require<std::uint64_t>("event");
  const auto time = in.require<std::string>("time");
  const auto t = parse_rfc3339(time);
  OAP_CHECK(t.has_value(), ConfigError,
            "audit_record.time: " + describe_bad_timestamp(time) + " (expected RFC 3339)");
  r.time = *t;
  r.decision = in.require_raw("decision").get<Decision>();
  r.p_value = in.require<double>("p_value");
  r.detector = in.get<std::string>("detector", "");
  const auto shift = in.require<std::string>("shift_state");
  const auto state = detail::parse_shift_state(shift);
  OAP_CHECK(state.has_value(), ConfigError,
            "audit_record.shift_state: \"" + shift +
                "\" is not one of warmup, none, transient, sustained");
  r.shift_state = *state;
  const auto& nll = in.raw("nll");
  OAP_CHECK(nll.is_null() || nll.is_number(), ConfigError,
            "audit_record.nll: expected a number or null, got " + nll.dump());
  r.nll = nll.is_null() ? std::nullopt : std::optional<double>(nll.get<double>());
  r.learned = in.get<bool>("learned", true);
  r.scores = in.raw("scores");
  in.finish();
}

void to_json(nlohmann::json& j, const UpdateRecord& u) {
  j = {{"user", u.user}, {"event", u.event}, {"report", u.report}};
}

void from_json(const nlohmann::json& j, UpdateRecord& u) {
  JsonObjectReader in(j, "update_record");
  u.user = in.require<std::string>("user");
  u.event = in.require<std::uint64_t>("event");
  u.report = in.require_raw("report").get<UpdateReport>();
  in.finish();
}

std::unique_ptr<AuditTrail> open_audit_trail(const std::filesystem::path& path) {
  return std::make_unique<detail::SqliteAuditTrail>(path);
}

}  // namespace oap
