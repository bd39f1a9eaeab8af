#include "oap/adapt/update_worker.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace oap {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Long enough never to expire on a loaded machine; it turns a bug into a failure, not a hang.
constexpr auto kTimeout = std::chrono::seconds(60);

// A request: the ids of the submissions it stands for (several once merged).
struct Ids {
  std::vector<int> ids;
};
using Worker = UpdateWorker<Ids, std::vector<int>>;

void append_ids(Ids& pending, Ids&& incoming) {
  pending.ids.insert(pending.ids.end(), incoming.ids.begin(), incoming.ids.end());
}

// A one-shot event: runs wait on it, the test opens it.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // False if the gate stayed closed for kTimeout.
  bool wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kTimeout, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Opens a gate when it goes out of scope: declared after the worker, it lets a test that fails
// early end at once instead of leaving the worker's destructor to wait for gated runs.
class OpenAtExit {
 public:
  explicit OpenAtExit(Gate& gate) : gate_(gate) {}
  ~OpenAtExit() { gate_.open(); }
  OpenAtExit(const OpenAtExit&) = delete;
  OpenAtExit& operator=(const OpenAtExit&) = delete;

 private:
  Gate& gate_;
};

// Counts arrivals; wait_for(n) returns once n have arrived (false after kTimeout).
class Arrivals {
 public:
  void arrive() {
    {
      std::lock_guard lock(mu_);
      ++count_;
    }
    cv_.notify_all();
  }
  bool wait_for(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kTimeout, [&] { return count_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

// Records the order in which requests ran, as "user:id" per id of each run.
class RunLog {
 public:
  void add(const UserId& user, const Ids& r) {
    std::lock_guard lock(mu_);
    for (int id : r.ids) entries_.push_back(user + ":" + std::to_string(id));
  }
  std::vector<std::string> entries() const {
    std::lock_guard lock(mu_);
    return entries_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> entries_;
};

bool is_ready(const std::shared_future<std::vector<int>>& f) {
  return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

// Waits until shutdown() has begun on another thread: probes with submits that the full queue
// rejects ("update queue full") until they are rejected for the shutdown instead. Requires the
// queue to be full (max_pending requests waiting) and to stay so.
bool wait_until_shutting_down(Worker& worker) {
  auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    UpdateTicket<std::vector<int>> probe = worker.submit("probe", Ids{{-1}});
    if (probe.status != SubmitStatus::kRejected) return false;  // the queue was not full
    if (probe.reason == "worker is shutting down") return true;
    std::this_thread::yield();
  }
  return false;
}

// --- options ---

TEST(UpdateWorkerOptions, DefaultsAreValidAndRoundTripThroughJson) {
  UpdateWorkerOptions o;
  EXPECT_NO_THROW(o.validate());
  o.concurrency = 3;
  o.max_pending = 7;
  o.back_pressure = BackPressure::kReject;
  nlohmann::json j = o;
  EXPECT_EQ(j, nlohmann::json::parse(
                   R"({"concurrency": 3, "max_pending": 7, "back_pressure": "reject"})"));
  auto back = j.get<UpdateWorkerOptions>();
  EXPECT_EQ(back.concurrency, 3u);
  EXPECT_EQ(back.max_pending, 7u);
  EXPECT_EQ(back.back_pressure, BackPressure::kReject);
  auto partial = nlohmann::json::parse(R"({"max_pending": 2})").get<UpdateWorkerOptions>();
  EXPECT_EQ(partial.concurrency, 1u);
  EXPECT_EQ(partial.back_pressure, BackPressure::kCoalesce);
}

TEST(UpdateWorkerOptions, RejectsOutOfRangeValuesAndUnknownKeys) {
  auto error_of = [](const char* text) -> std::string {
    try {
      (void)nlohmann::json::parse(text).get<UpdateWorkerOptions>();
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_THAT(error_of(R"({"concurrency": 0})"),
              HasSubstr("update_worker.concurrency must be in 1..1024 (worker threads), got 0"));
  EXPECT_THAT(error_of(R"({"concurrency": 5000})"), HasSubstr("got 5000"));
  EXPECT_THAT(error_of(R"({"max_pending": 0})"),
              HasSubstr("update_worker.max_pending must be >= 1, got 0"));
  EXPECT_THAT(error_of(R"({"back_pressure": "drop"})"),
              HasSubstr("update_worker.back_pressure must be \"coalesce\" or \"reject\", got "
                        "\"drop\""));
  EXPECT_THAT(error_of(R"({"max_pendin": 3})"), HasSubstr("max_pendin"));
  EXPECT_THAT(error_of(R"({"max_pending": -1})"), HasSubstr("update_worker.max_pending"));
}

TEST(UpdateWorker, NeedsARunFunction) {
  try {
    Worker w(Worker::Run{}, append_ids);
    FAIL() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("UpdateWorker needs a run function"));
  }
  UpdateWorkerOptions bad;
  bad.max_pending = 0;
  EXPECT_THROW(Worker([](const UserId&, Ids& r) { return r.ids; }, append_ids, bad), ConfigError);
}

TEST(UpdateWorker, NamesItsEnums) {
  EXPECT_STREQ(to_string(BackPressure::kCoalesce), "coalesce");
  EXPECT_STREQ(to_string(BackPressure::kReject), "reject");
  EXPECT_STREQ(to_string(SubmitStatus::kQueued), "queued");
  EXPECT_STREQ(to_string(SubmitStatus::kCoalesced), "coalesced");
  EXPECT_STREQ(to_string(SubmitStatus::kRejected), "rejected");
}

// --- ordering and parallelism ---

// Many threads submit for a few users; each user's submissions get their sequence number under
// a per-user lock, so the submission order is known. Runs of one user must see 0, 1, 2, ...
// and never overlap.
TEST(UpdateWorker, RunsEachUsersRequestsInSubmissionOrderAndNeverTwoAtOnce) {
  constexpr int kUsers = 4, kThreads = 8, kPerThread = 200;
  std::map<UserId, std::atomic<int>> active;
  std::map<UserId, std::vector<int>> ran;  // written only by the user's (exclusive) runs
  for (int u = 0; u < kUsers; ++u) {
    active[std::to_string(u)] = 0;
    ran[std::to_string(u)];
  }
  std::atomic<bool> overlap{false};
  UpdateWorkerOptions options;
  options.concurrency = 8;
  options.max_pending = kThreads * kPerThread;
  options.back_pressure = BackPressure::kReject;
  Worker worker(
      [&](const UserId& user, Ids& r) {
        if (active.at(user).fetch_add(1) != 0) overlap = true;
        for (int i = 0; i < 50; ++i) std::this_thread::yield();
        ran.at(user).insert(ran.at(user).end(), r.ids.begin(), r.ids.end());
        active.at(user).fetch_sub(1);
        return r.ids;
      },
      append_ids, options);

  std::vector<std::mutex> user_mu(kUsers);
  std::vector<int> next_id(kUsers, 0);
  std::vector<std::thread> submitters;
  std::atomic<int> rejected{0};
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      std::mt19937 rng(1234 + t);
      for (int k = 0; k < kPerThread; ++k) {
        int u = static_cast<int>(rng() % kUsers);
        std::lock_guard lock(user_mu[u]);
        auto ticket = worker.submit(std::to_string(u), Ids{{next_id[u]++}});
        if (ticket.status != SubmitStatus::kQueued) ++rejected;
      }
    });
  }
  for (auto& t : submitters) t.join();
  worker.wait_idle();

  EXPECT_EQ(rejected.load(), 0);
  EXPECT_FALSE(overlap.load()) << "two runs of one user overlapped";
  int total = 0;
  for (int u = 0; u < kUsers; ++u) {
    const std::vector<int>& ids = ran.at(std::to_string(u));
    ASSERT_EQ(static_cast<int>(ids.size()), next_id[u]) << "user " << u;
    for (int i = 0; i < next_id[u]; ++i) ASSERT_EQ(ids[i], i) << "user " << u;
    total += next_id[u];
  }
  EXPECT_EQ(total, kThreads * kPerThread);
  auto stats = worker.stats();
  EXPECT_EQ(stats.completed, static_cast<std::size_t>(total));
  EXPECT_EQ(stats.pending, 0u);
  EXPECT_EQ(stats.running, 0u);
}

// Two users' runs each wait for the other to have started: this completes only if both run at
// the same time.
TEST(UpdateWorker, RunsDifferentUsersInParallel) {
  Arrivals started;
  UpdateWorkerOptions options;
  options.concurrency = 2;
  Worker worker(
      [&](const UserId&, Ids& r) {
        started.arrive();
        if (!started.wait_for(2)) throw std::runtime_error("the other user never ran meanwhile");
        return r.ids;
      },
      append_ids, options);
  auto a = worker.submit("alice", Ids{{1}});
  auto b = worker.submit("bob", Ids{{2}});
  EXPECT_THAT(a.result.get(), ElementsAre(1));
  EXPECT_THAT(b.result.get(), ElementsAre(2));
}

// With concurrency 3 and many users, at most 3 runs are ever in progress.
TEST(UpdateWorker, RunsNoMoreUsersAtOnceThanItsConcurrency) {
  constexpr int kConcurrency = 3;
  std::atomic<int> active{0}, most{0};
  Arrivals started;
  Gate go;
  UpdateWorkerOptions options;
  options.concurrency = kConcurrency;
  options.max_pending = 100;
  Worker worker(
      [&](const UserId&, Ids& r) {
        int now = active.fetch_add(1) + 1;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        started.arrive();
        if (!go.wait()) throw std::runtime_error("gate timed out");
        active.fetch_sub(1);
        return r.ids;
      },
      append_ids, options);
  OpenAtExit open_gate_at_exit(go);
  std::vector<UpdateTicket<std::vector<int>>> tickets;
  for (int u = 0; u < 10; ++u) tickets.push_back(worker.submit("u" + std::to_string(u), Ids{{u}}));
  ASSERT_TRUE(started.wait_for(kConcurrency));
  // All three threads are held at the gate now; the other seven users wait.
  EXPECT_EQ(worker.stats().running, static_cast<std::size_t>(kConcurrency));
  EXPECT_EQ(worker.stats().pending, 7u);
  go.open();
  worker.wait_idle();
  EXPECT_EQ(most.load(), kConcurrency);
  for (auto& t : tickets) EXPECT_TRUE(is_ready(t.result));
}

// --- back-pressure ---

TEST(UpdateWorker, CoalescesIntoTheWaitingRequestNotTheRunningOne) {
  Arrivals started;
  Gate go;
  RunLog log;
  Worker worker(
      [&](const UserId& user, Ids& r) {
        log.add(user, r);
        started.arrive();
        if (!go.wait()) throw std::runtime_error("gate timed out");
        return r.ids;
      },
      append_ids, UpdateWorkerOptions{});
  OpenAtExit open_gate_at_exit(go);
  auto first = worker.submit("alice", Ids{{1}});
  ASSERT_TRUE(started.wait_for(1));  // 1 runs now
  auto second = worker.submit("alice", Ids{{2}});
  auto third = worker.submit("alice", Ids{{3}});
  auto fourth = worker.submit("alice", Ids{{4}});
  EXPECT_EQ(first.status, SubmitStatus::kQueued);
  EXPECT_EQ(second.status, SubmitStatus::kQueued);  // nothing was waiting: 1 is running
  EXPECT_EQ(third.status, SubmitStatus::kCoalesced);
  EXPECT_EQ(fourth.status, SubmitStatus::kCoalesced);
  EXPECT_EQ(third.reason, "");
  EXPECT_EQ(worker.stats().pending, 1u);
  go.open();
  EXPECT_THAT(first.result.get(), ElementsAre(1));
  EXPECT_THAT(second.result.get(), ElementsAre(2, 3, 4));
  EXPECT_THAT(third.result.get(), ElementsAre(2, 3, 4));  // shares the merged request's result
  EXPECT_THAT(fourth.result.get(), ElementsAre(2, 3, 4));
  worker.wait_idle();
  EXPECT_THAT(log.entries(), ElementsAre("alice:1", "alice:2", "alice:3", "alice:4"));
  auto stats = worker.stats();
  EXPECT_EQ(stats.completed, 2u);
  EXPECT_EQ(stats.coalesced, 2u);
  EXPECT_EQ(stats.rejected, 0u);
}

TEST(UpdateWorker, CoalesceRejectsANewUserWhenTheQueueIsFull) {
  Arrivals started;
  Gate go;
  UpdateWorkerOptions options;
  options.max_pending = 1;
  Worker worker(
      [&](const UserId&, Ids& r) {
        started.arrive();
        if (!go.wait()) throw std::runtime_error("gate timed out");
        return r.ids;
      },
      append_ids, options);
  OpenAtExit open_gate_at_exit(go);
  auto a1 = worker.submit("alice", Ids{{1}});
  ASSERT_TRUE(started.wait_for(1));
  auto a2 = worker.submit("alice", Ids{{2}});
  auto a3 = worker.submit("alice", Ids{{3}});  // merged: the queue does not grow
  auto b1 = worker.submit("bob", Ids{{1}});
  EXPECT_EQ(a2.status, SubmitStatus::kQueued);
  EXPECT_EQ(a3.status, SubmitStatus::kCoalesced);
  ASSERT_EQ(b1.status, SubmitStatus::kRejected);
  EXPECT_THAT(b1.reason, StartsWith("update queue full: 1 request waiting"));
  EXPECT_THAT(b1.reason, HasSubstr("max_pending"));
  try {
    b1.result.get();
    ADD_FAILURE() << "a rejected request's future holds no error";
  } catch (const UpdateRejected& e) {
    EXPECT_THAT(e.what(), HasSubstr(b1.reason));
  }
  go.open();
  EXPECT_THAT(a3.result.get(), ElementsAre(2, 3));
  auto stats = worker.stats();
  EXPECT_EQ(stats.rejected, 1u);
  EXPECT_EQ(stats.coalesced, 1u);
}

TEST(UpdateWorker, RejectPolicyQueuesUntilFullThenRejectsWithTheReason) {
  Arrivals started;
  Gate go;
  RunLog log;
  UpdateWorkerOptions options;
  options.max_pending = 2;
  options.back_pressure = BackPressure::kReject;
  Worker worker(
      [&](const UserId& user, Ids& r) {
        log.add(user, r);
        started.arrive();
        if (!go.wait()) throw std::runtime_error("gate timed out");
        return r.ids;
      },
      append_ids, options);
  OpenAtExit open_gate_at_exit(go);
  auto a1 = worker.submit("alice", Ids{{1}});
  ASSERT_TRUE(started.wait_for(1));
  auto a2 = worker.submit("alice", Ids{{2}});
  auto a3 = worker.submit("alice", Ids{{3}});  // not merged under kReject
  auto a4 = worker.submit("alice", Ids{{4}});
  auto b1 = worker.submit("bob", Ids{{1}});
  EXPECT_EQ(a2.status, SubmitStatus::kQueued);
  EXPECT_EQ(a3.status, SubmitStatus::kQueued);
  ASSERT_EQ(a4.status, SubmitStatus::kRejected);
  EXPECT_EQ(b1.status, SubmitStatus::kRejected);
  EXPECT_THAT(a4.reason, StartsWith("update queue full: 2 requests waiting"));
  EXPECT_THROW(a4.result.get(), UpdateRejected);
  go.open();
  worker.wait_idle();
  EXPECT_THAT(log.entries(), ElementsAre("alice:1", "alice:2", "alice:3"));
  EXPECT_THAT(a3.result.get(), ElementsAre(3));
  auto stats = worker.stats();
  EXPECT_EQ(stats.completed, 3u);
  EXPECT_EQ(stats.rejected, 2u);
  EXPECT_EQ(stats.coalesced, 0u);
}

TEST(UpdateWorker, CoalesceWithoutMergeBehavesAsReject) {
  Arrivals started;
  Gate go;
  UpdateWorkerOptions options;
  options.max_pending = 2;
  Worker worker(
      [&](const UserId&, Ids& r) {
        started.arrive();
        if (!go.wait()) throw std::runtime_error("gate timed out");
        return r.ids;
      },
      Worker::Merge{}, options);
  OpenAtExit open_gate_at_exit(go);
  auto a1 = worker.submit("alice", Ids{{1}});
  ASSERT_TRUE(started.wait_for(1));
  auto a2 = worker.submit("alice", Ids{{2}});
  auto a3 = worker.submit("alice", Ids{{3}});
  auto a4 = worker.submit("alice", Ids{{4}});
  EXPECT_EQ(a2.status, SubmitStatus::kQueued);
  EXPECT_EQ(a3.status, SubmitStatus::kQueued);
  EXPECT_EQ(a4.status, SubmitStatus::kRejected);
  go.open();
  EXPECT_THAT(a2.result.get(), ElementsAre(2));
  EXPECT_THAT(a3.result.get(), ElementsAre(3));
}

TEST(UpdateWorker, AMergeThatThrowsFailsTheSubmitAndKeepsTheWaitingRequest) {
  Arrivals started;
  Gate go;
  Worker worker(
      [&](const UserId&, Ids& r) {
        started.arrive();
        if (!go.wait()) throw std::runtime_error("gate timed out");
        return r.ids;
      },
      [](Ids& pending, Ids&& incoming) {
        if (incoming.ids.at(0) < 0) throw std::invalid_argument("cannot merge a negative id");
        append_ids(pending, std::move(incoming));
      },
      UpdateWorkerOptions{});
  OpenAtExit open_gate_at_exit(go);
  auto a1 = worker.submit("alice", Ids{{1}});
  ASSERT_TRUE(started.wait_for(1));
  auto a2 = worker.submit("alice", Ids{{2}});
  EXPECT_THROW(worker.submit("alice", Ids{{-3}}), std::invalid_argument);
  auto a4 = worker.submit("alice", Ids{{4}});
  EXPECT_EQ(a4.status, SubmitStatus::kCoalesced);
  go.open();
  EXPECT_THAT(a2.result.get(), ElementsAre(2, 4));
}

// A user with 100 requests queued first does not keep a later user's single request waiting
// for more than one of its runs: ready users are served first come, first served.
TEST(UpdateWorker, ServesReadyUsersInTurnSoOneUserCannotStarveAnother) {
  Arrivals started;
  Gate go;
  RunLog log;
  UpdateWorkerOptions options;
  options.max_pending = 200;
  options.back_pressure = BackPressure::kReject;
  Worker worker(
      [&](const UserId& user, Ids& r) {
        log.add(user, r);
        started.arrive();
        if (user == "blocker" && !go.wait()) throw std::runtime_error("gate timed out");
        return r.ids;
      },
      append_ids, options);
  OpenAtExit open_gate_at_exit(go);
  worker.submit("blocker", Ids{{0}});
  ASSERT_TRUE(started.wait_for(1));  // the one thread is busy; what follows all waits
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(worker.submit("heavy", Ids{{i}}).status, SubmitStatus::kQueued);
  }
  auto light = worker.submit("light", Ids{{0}});
  ASSERT_EQ(light.status, SubmitStatus::kQueued);
  go.open();
  worker.wait_idle();
  std::vector<std::string> order = log.entries();
  ASSERT_EQ(order.size(), 102u);
  EXPECT_THAT(std::vector<std::string>(order.begin(), order.begin() + 4),
              ElementsAre("blocker:0", "heavy:0", "light:0", "heavy:1"));
  EXPECT_EQ(order.back(), "heavy:99");
}

// --- failures ---

TEST(UpdateWorker, CarriesARunsExceptionToItsFutureAndKeepsServing) {
  UpdateWorkerOptions options;
  options.concurrency = 2;
  options.back_pressure = BackPressure::kReject;
  Worker worker(
      [](const UserId& user, Ids& r) -> std::vector<int> {
        if (r.ids.at(0) == 2) throw std::runtime_error("update of " + user + " diverged");
        if (r.ids.at(0) == 3) throw 42;  // not even a std::exception
        return r.ids;
      },
      append_ids, options);
  auto a1 = worker.submit("alice", Ids{{1}});
  auto a2 = worker.submit("alice", Ids{{2}});
  auto a3 = worker.submit("alice", Ids{{3}});
  auto a4 = worker.submit("alice", Ids{{4}});
  auto b1 = worker.submit("bob", Ids{{1}});
  EXPECT_THAT(a1.result.get(), ElementsAre(1));
  try {
    a2.result.get();
    ADD_FAILURE() << "the exception was swallowed";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "update of alice diverged");
  }
  try {
    a3.result.get();
    ADD_FAILURE() << "the exception was swallowed";
  } catch (int value) {
    EXPECT_EQ(value, 42);
  }
  EXPECT_THAT(a4.result.get(), ElementsAre(4));
  EXPECT_THAT(b1.result.get(), ElementsAre(1));
  worker.wait_idle();
  auto stats = worker.stats();
  EXPECT_EQ(stats.completed, 3u);
  EXPECT_EQ(stats.failed, 2u);
}

TEST(UpdateWorker, WaitIdleAndShutdownInsideRunThrowInsteadOfDeadlocking) {
  Worker* self = nullptr;
  Worker worker(
      [&](const UserId&, Ids& r) -> std::vector<int> {
        if (r.ids.at(0) == 1) self->wait_idle();
        if (r.ids.at(0) == 2) self->shutdown();
        // submit() is allowed inside run.
        if (r.ids.at(0) == 3) self->submit("bob", Ids{{30}});
        return r.ids;
      },
      append_ids, UpdateWorkerOptions{});
  self = &worker;
  auto a1 = worker.submit("alice", Ids{{1}});
  try {
    a1.result.get();
    ADD_FAILURE() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("UpdateWorker::wait_idle called from inside the worker's own "
                                    "run function"));
  }
  EXPECT_THROW(worker.submit("alice", Ids{{2}}).result.get(), InvalidArgument);
  EXPECT_THAT(worker.submit("alice", Ids{{3}}).result.get(), ElementsAre(3));
  worker.wait_idle();
  EXPECT_EQ(worker.stats().completed, 2u);  // 3 and bob's 30
}

// --- shutdown ---

TEST(UpdateWorker, ShutdownFinishRunsEverythingAcceptedThenRejects) {
  Arrivals started;
  Gate go;
  RunLog log;
  UpdateWorkerOptions options;
  options.concurrency = 2;
  options.max_pending = 6;
  options.back_pressure = BackPressure::kReject;
  Worker worker(
      [&](const UserId& user, Ids& r) {
        log.add(user, r);
        started.arrive();
        if (!go.wait()) throw std::runtime_error("gate timed out");
        return r.ids;
      },
      append_ids, options);
  OpenAtExit open_gate_at_exit(go);
  std::vector<UpdateTicket<std::vector<int>>> tickets;
  tickets.push_back(worker.submit("alice", Ids{{1}}));
  tickets.push_back(worker.submit("bob", Ids{{1}}));
  ASSERT_TRUE(started.wait_for(2));  // both threads held; the next six wait (queue full)
  for (int i = 2; i <= 4; ++i) {
    tickets.push_back(worker.submit("alice", Ids{{i}}));
    tickets.push_back(worker.submit("bob", Ids{{i}}));
  }
  for (auto& t : tickets) ASSERT_EQ(t.status, SubmitStatus::kQueued);

  std::vector<std::pair<UserId, Ids>> handed_back{{"x", Ids{}}};
  std::thread closer([&] { handed_back = worker.shutdown(Worker::Shutdown::kFinish); });
  bool closing = wait_until_shutting_down(worker);
  go.open();
  closer.join();
  ASSERT_TRUE(closing);
  EXPECT_TRUE(handed_back.empty());
  for (auto& t : tickets) ASSERT_TRUE(is_ready(t.result));  // shutdown returned after all ran
  EXPECT_THAT(tickets.back().result.get(), ElementsAre(4));
  EXPECT_EQ(log.entries().size(), 8u);
  auto stats = worker.stats();
  EXPECT_EQ(stats.completed, 8u);
  EXPECT_EQ(stats.pending, 0u);
  EXPECT_EQ(stats.cancelled, 0u);

  auto late = worker.submit("alice", Ids{{5}});
  ASSERT_EQ(late.status, SubmitStatus::kRejected);
  EXPECT_EQ(late.reason, "worker is shutting down");
  EXPECT_THROW(late.result.get(), UpdateRejected);
  EXPECT_TRUE(worker.shutdown(Worker::Shutdown::kCancel).empty());  // a second call is harmless
}

TEST(UpdateWorker, ShutdownCancelHandsBackTheWaitingRequestsInOrderAndFailsTheirFutures) {
  Arrivals started;
  Gate go;
  RunLog log;
  UpdateWorkerOptions options;
  options.max_pending = 5;
  options.back_pressure = BackPressure::kReject;
  Worker worker(
      [&](const UserId& user, Ids& r) {
        log.add(user, r);
        started.arrive();
        if (!go.wait()) throw std::runtime_error("gate timed out");
        return r.ids;
      },
      append_ids, options);
  OpenAtExit open_gate_at_exit(go);
  auto running = worker.submit("alice", Ids{{1}});
  ASSERT_TRUE(started.wait_for(1));
  std::vector<UpdateTicket<std::vector<int>>> waiting;
  waiting.push_back(worker.submit("alice", Ids{{2}}));
  waiting.push_back(worker.submit("bob", Ids{{1}}));
  waiting.push_back(worker.submit("alice", Ids{{3}}));
  waiting.push_back(worker.submit("carol", Ids{{1}}));
  waiting.push_back(worker.submit("bob", Ids{{2}}));

  std::vector<std::pair<UserId, Ids>> handed_back;
  std::thread closer([&] { handed_back = worker.shutdown(Worker::Shutdown::kCancel); });
  bool closing = wait_until_shutting_down(worker);
  go.open();
  closer.join();
  ASSERT_TRUE(closing);

  std::vector<std::string> returned;
  for (auto& [user, r] : handed_back) {
    for (int id : r.ids) returned.push_back(user + ":" + std::to_string(id));
  }
  EXPECT_THAT(returned, ElementsAre("alice:2", "bob:1", "alice:3", "carol:1", "bob:2"));
  EXPECT_THAT(running.result.get(), ElementsAre(1));  // the running one finished
  for (auto& t : waiting) {
    try {
      t.result.get();
      ADD_FAILURE() << "a cancelled request's future holds a value";
    } catch (const UpdateCancelled& e) {
      EXPECT_THAT(e.what(), HasSubstr("cancelled at shutdown"));
    }
  }
  EXPECT_THAT(log.entries(), ElementsAre("alice:1"));
  auto stats = worker.stats();
  EXPECT_EQ(stats.cancelled, 5u);
  EXPECT_EQ(stats.completed, 1u);
  EXPECT_EQ(stats.pending, 0u);
  EXPECT_EQ(worker.submit("bob", Ids{{3}}).reason, "worker is shutting down");
}

// Requests that count their live copies: every one is destroyed by the time the worker is.
struct Tracked {
  std::shared_ptr<std::atomic<int>> ran;
  std::shared_ptr<int> life;  // use_count() - 1 = live requests
};

TEST(UpdateWorker, DestructorFinishesPendingWorkAndReleasesEveryRequest) {
  auto ran = std::make_shared<std::atomic<int>>(0);
  auto life = std::make_shared<int>(0);
  std::vector<std::shared_future<int>> results;
  {
    UpdateWorkerOptions options;
    options.concurrency = 3;
    options.max_pending = 1000;
    options.back_pressure = BackPressure::kReject;
    UpdateWorker<Tracked, int> worker([](const UserId&, Tracked& r) { return ++*r.ran; }, {},
                                      options);
    for (int i = 0; i < 1000; ++i) {
      auto ticket = worker.submit("u" + std::to_string(i % 7), Tracked{ran, life});
      ASSERT_EQ(ticket.status, SubmitStatus::kQueued);
      results.push_back(ticket.result);
    }
  }  // ~UpdateWorker: shutdown(kFinish)
  EXPECT_EQ(ran->load(), 1000);
  EXPECT_EQ(life.use_count(), 1) << "requests outlived the worker";
  for (auto& r : results) EXPECT_GE(r.get(), 1);
}

TEST(UpdateWorker, SupportsAVoidResult) {
  std::atomic<int> sum{0};
  UpdateWorker<int, void> worker([&](const UserId&, int& x) { sum += x; },
                                 [](int& pending, int&& incoming) { pending += incoming; });
  auto a = worker.submit("alice", 2);
  auto b = worker.submit("bob", 3);
  a.result.get();
  b.result.get();
  worker.wait_idle();
  EXPECT_EQ(sum.load(), 5);
}

// --- stress (run under ThreadSanitizer too) ---

// Submitting threads x users x requests with coalescing, a small queue (so requests are merged
// and rejected) and several worker threads. Every submission is accounted for exactly once:
// run (alone or merged) or rejected; each user's runs see its ids in submission order; no user
// runs twice at once; no more than `concurrency` runs at once.
TEST(UpdateWorker, StressKeepsEveryRequestAccountedForAndInOrder) {
  constexpr int kThreads = 6, kUsers = 12, kPerThread = 400, kConcurrency = 4;
  std::map<UserId, std::atomic<int>> active;
  std::map<UserId, std::vector<int>> ran;  // written only by the user's (exclusive) runs
  for (int u = 0; u < kUsers; ++u) {
    active[std::to_string(u)] = 0;
    ran[std::to_string(u)];
  }
  std::atomic<bool> overlap{false};
  std::atomic<int> in_progress{0}, most_in_progress{0};
  std::atomic<long> work_sink{0};
  UpdateWorkerOptions options;
  options.concurrency = kConcurrency;
  options.max_pending = 5;
  options.back_pressure = BackPressure::kCoalesce;
  Worker worker(
      [&](const UserId& user, Ids& r) {
        int now = in_progress.fetch_add(1) + 1;
        int seen = most_in_progress.load();
        while (now > seen && !most_in_progress.compare_exchange_weak(seen, now)) {
        }
        if (active.at(user).fetch_add(1) != 0) overlap = true;
        long acc = 0;  // some work, no sleeping
        for (int i = 0; i < 2000; ++i) acc += (i * 31) ^ static_cast<int>(r.ids.size());
        work_sink += acc;
        ran.at(user).insert(ran.at(user).end(), r.ids.begin(), r.ids.end());
        active.at(user).fetch_sub(1);
        in_progress.fetch_sub(1);
        return r.ids;
      },
      append_ids, options);

  struct Submitted {
    int user, id;
    UpdateTicket<std::vector<int>> ticket;
  };
  std::vector<std::mutex> user_mu(kUsers);
  std::vector<int> next_id(kUsers, 0);
  std::vector<std::vector<Submitted>> submitted(kThreads);
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      std::mt19937 rng(99 + t);
      for (int k = 0; k < kPerThread; ++k) {
        int u = static_cast<int>(rng() % kUsers);
        std::lock_guard lock(user_mu[u]);
        int id = next_id[u]++;
        submitted[t].push_back({u, id, worker.submit(std::to_string(u), Ids{{id}})});
      }
    });
  }
  for (auto& t : submitters) t.join();
  worker.wait_idle();

  EXPECT_FALSE(overlap.load()) << "two runs of one user overlapped";
  EXPECT_LE(most_in_progress.load(), kConcurrency);
  std::size_t queued = 0, coalesced = 0, rejected = 0;
  std::vector<std::set<int>> rejected_ids(kUsers);
  for (auto& per_thread : submitted) {
    for (auto& s : per_thread) {
      switch (s.ticket.status) {
        case SubmitStatus::kQueued:
        case SubmitStatus::kCoalesced: {
          (s.ticket.status == SubmitStatus::kQueued ? queued : coalesced)++;
          const std::vector<int>& result = s.ticket.result.get();
          EXPECT_NE(std::find(result.begin(), result.end(), s.id), result.end())
              << "the run that answered user " << s.user << " id " << s.id << " did not include it";
          break;
        }
        case SubmitStatus::kRejected:
          ++rejected;
          rejected_ids[s.user].insert(s.id);
          EXPECT_THROW(s.ticket.result.get(), UpdateRejected);
          break;
      }
    }
  }
  EXPECT_EQ(queued + coalesced + rejected, static_cast<std::size_t>(kThreads * kPerThread));
  for (int u = 0; u < kUsers; ++u) {
    std::vector<int> expected;
    for (int id = 0; id < next_id[u]; ++id) {
      if (!rejected_ids[u].count(id)) expected.push_back(id);
    }
    EXPECT_EQ(ran.at(std::to_string(u)), expected) << "user " << u;
  }
  auto stats = worker.stats();
  EXPECT_EQ(stats.completed, queued);
  EXPECT_EQ(stats.coalesced, coalesced);
  EXPECT_EQ(stats.rejected, rejected);
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(stats.pending + stats.running, 0u);
  ::testing::Test::RecordProperty("coalesced", static_cast<int>(coalesced));
  ::testing::Test::RecordProperty("rejected", static_cast<int>(rejected));
}

}  // namespace
}  // namespace oap
