#include "oap/core/event.hpp"

#include <cmath>
#include <limits>

#include "oap/core/error.hpp"

namespace oap {
namespace {

using nlohmann::json;

constexpr const char* kKnownKeys[] = {"user", "timestamp", "features", "text", "meta"};

std::string describe(const json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return std::string(v.type_name()) + " " + s;
}

Timestamp parse_timestamp_field(const json& v, const std::string& source, std::size_t line,
                                UtcOffset naive_offset) {
  if (v.is_number()) {
    auto t = timestamp_from_seconds(v.get<double>());
    if (!t) {
      throw ParseError(source, line, "timestamp",
                       "seconds since the epoch out of range (years 1..9999): " + v.dump());
    }
    return *t;
  }
  if (v.is_string()) {
    const auto& text = v.get_ref<const std::string&>();
    auto t = parse_timestamp(text, naive_offset);
    if (!t) throw ParseError(source, line, "timestamp", describe_bad_timestamp(text));
    return *t;
  }
  throw ParseError(source, line, "timestamp",
                   "expected a date-time string or seconds since the epoch, got " + describe(v));
}

}  // namespace

json event_to_json(const Event& e) {
  return json{{"user", e.user},
              {"timestamp", format_rfc3339(e.timestamp)},
              {"features", e.features},
              {"text", e.text},
              {"meta", e.meta}};
}

Event event_from_json(const json& j, const std::string& source, std::size_t line,
                      UtcOffset naive_offset) {
  if (!j.is_object()) {
    throw ParseError(source, line, "", "expected a JSON object, got " + describe(j));
  }
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* k : kKnownKeys) known = known || key == k;
    if (!known) {
      throw ParseError(source, line, key,
                       "unknown field (expected user, timestamp, features, text, meta)");
    }
  }
  Event e;
  auto user = j.find("user");
  if (user == j.end()) throw ParseError(source, line, "user", "missing");
  if (!user->is_string()) {
    throw ParseError(source, line, "user", "expected a string, got " + describe(*user));
  }
  e.user = user->get<std::string>();
  if (auto problem = user_id_problem(e.user); !problem.empty()) {
    throw ParseError(source, line, "user", "invalid user id: " + problem);
  }

  auto ts = j.find("timestamp");
  if (ts == j.end()) throw ParseError(source, line, "timestamp", "missing");
  e.timestamp = parse_timestamp_field(*ts, source, line, naive_offset);

  if (auto f = j.find("features"); f != j.end()) {
    if (!f->is_array()) {
      throw ParseError(source, line, "features",
                       "expected an array of numbers, got " + describe(*f));
    }
    if (f->size() > kMaxFeatures) {
      throw ParseError(source, line, "features",
                       "too many features: " + std::to_string(f->size()) + " (limit " +
                           std::to_string(kMaxFeatures) + ")");
    }
    e.features.reserve(f->size());
    for (std::size_t i = 0; i < f->size(); ++i) {
      const json& v = (*f)[i];
      std::string field = "features[" + std::to_string(i) + "]";
      if (!v.is_number()) {
        throw ParseError(source, line, field, "not a number: " + describe(v));
      }
      double d = v.get<double>();
      if (!std::isfinite(d)) throw ParseError(source, line, field, "not finite: " + v.dump());
      if (std::fabs(d) > std::numeric_limits<float>::max()) {
        throw ParseError(source, line, field, "outside the float range: " + v.dump());
      }
      e.features.push_back(static_cast<float>(d));
    }
  }
  if (auto t = j.find("text"); t != j.end()) {
    if (!t->is_string()) {
      throw ParseError(source, line, "text", "expected a string, got " + describe(*t));
    }
    e.text = t->get<std::string>();
  }
  if (auto m = j.find("meta"); m != j.end()) {
    if (!m->is_object()) {
      throw ParseError(source, line, "meta", "expected a JSON object, got " + describe(*m));
    }
    e.meta = *m;
  }
  return e;
}

void validate_event(const Event& e) {
  validate_user_id(e.user);
  OAP_CHECK(e.features.size() <= kMaxFeatures, InvalidArgument,
            "event of user \"" + e.user + "\" has " + std::to_string(e.features.size()) +
                " features (limit " + std::to_string(kMaxFeatures) + ")");
  for (std::size_t i = 0; i < e.features.size(); ++i) {
    OAP_CHECK(std::isfinite(e.features[i]), InvalidArgument,
              "event of user \"" + e.user + "\": features[" + std::to_string(i) +
                  "] is not finite (" + std::to_string(e.features[i]) + ")");
  }
  OAP_CHECK(e.meta.is_object(), InvalidArgument,
            "event of user \"" + e.user + "\": meta must be a JSON object, got " +
                std::string(e.meta.type_name()));
}

}  // namespace oap
