#pragma once
// Event: one observation of a user's behaviour, the unit every oap module consumes.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "oap/core/timestamp.hpp"
#include "oap/core/user_id.hpp"

namespace oap {

// One behaviour event of one user. A plain value type: copy and move freely.
// Within a user, every event has the same number of features (fixed by the user's first
// event); the stores and the reader enforce that.
struct Event {
  UserId user;
  Timestamp timestamp{};
  std::vector<float> features;  // size d (the user's feature dimension), all finite
  std::string text;             // free text (a prompt, a message); may be empty
  nlohmann::json meta = nlohmann::json::object();  // application data, a JSON object

  friend bool operator==(const Event&, const Event&) = default;
};

// Limits applied when an Event is built from JSON.
inline constexpr std::size_t kMaxFeatures = 65536;

// The JSON form of an event, as in JSON Lines input:
//   {"user": "alice", "timestamp": "2024-05-01T12:00:00Z" | "2024-05-01 12:00:00" | 1714564800.5,
//    "features": [0.1, 2.0], "text": "...", "meta": {...}}
// "user" and "timestamp" are required; "features" defaults to [], "text" to "", "meta" to {}.
// The timestamp is seconds since the epoch (a number) or text that parse_timestamp reads (a
// date-time with or without a zone, or seconds); a date-time without a zone is read at
// naive_offset (UTC by default).
// to_json writes the timestamp as an RFC 3339 string.
nlohmann::json event_to_json(const Event& event);

// Builds an Event from its JSON form. Throws ParseError naming the field (e.g. "features[2]")
// for: a missing or empty user, a bad timestamp, a non-numeric, NaN, infinite or
// out-of-float-range feature, a non-string text, a non-object meta, or an unknown key.
// source and line are only used in the error.
Event event_from_json(const nlohmann::json& j, const std::string& source = {}, std::size_t line = 0,
                      UtcOffset naive_offset = UtcOffset{0});

// Throws InvalidArgument unless event is well formed (valid user id, finite features,
// meta an object). Used by the stores on every append.
void validate_event(const Event& event);

}  // namespace oap
