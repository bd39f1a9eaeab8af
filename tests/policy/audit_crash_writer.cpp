// Child process of the audit trail's crash and lock tests.
//
//   policy_audit_crash_writer DB loop
//     Opens the trail and records forever (until killed), starting at i = the number of
//     decisions already recorded: record i is user "u<i % 5>"'s next event, with the reason
//     "record <i>", the user state {"i": i} and the progress "records" = i + 1; every 4th record
//     is followed by an update of that event with the reason "update <i>". After each record
//     (and its update) returns, writes "acked <i>" to stdout, unbuffered.
//   policy_audit_crash_writer DB try_open
//     Opens the trail and exits 0 ("opened"), or prints the error and exits 3.

#include <cstdio>
#include <cstring>
#include <string>

#include "oap/core/error.hpp"
#include "oap/policy/audit_trail.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DB loop|try_open\n", argv[0]);
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  if (std::strcmp(argv[2], "try_open") == 0) {
    try {
      auto trail = oap::open_audit_trail(argv[1]);
      std::printf("opened\n");
      return 0;
    } catch (const oap::Error& e) {
      std::printf("%s\n", e.what());
      return 3;
    }
  }
  auto trail = oap::open_audit_trail(argv[1]);
  long long i = 0;
  for (const auto& user : trail->users()) i += static_cast<long long>(trail->events(user));
  std::printf("ready\n");
  for (;; ++i) {
    std::string user = "u";
    user += std::to_string(i % 5);
    oap::AuditRecord r;
    r.user = user;
    r.event = trail->events(user);
    r.time = oap::timestamp_from_micros(1'700'000'000'000'000 + i);
    r.decision.action = i % 3 ? oap::Action::kIgnore : oap::Action::kAdapt;
    r.decision.reason = "record " + std::to_string(i);
    r.p_value = 0.5;
    r.detector = "zscore";
    r.shift_state = oap::ShiftState::kNone;
    r.scores = {{"zscore", {{"score", 0.1}, {"p_value", 0.5}}}};
    trail->record(r, {{"i", i}}, {{"records", i + 1}});
    if (i % 4 == 0) {
      oap::UpdateReport report;
      report.accepted = true;
      report.reason = "update " + std::to_string(i);
      trail->record_update({user, r.event, report});
    }
    std::printf("acked %lld\n", i);
  }
}
