#pragma once
// UpdateWorker: a bounded work queue that runs per-user adapter updates on worker threads, one
// user's updates in submission order and never two at once, different users in parallel.

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "oap/core/error.hpp"
#include "oap/core/user_id.hpp"

namespace oap {

// What submit() does when a request cannot simply be appended to the queue.
enum class BackPressure {
  // A request for a user who already has a request waiting (submitted, not started) is merged
  // into that waiting request (UpdateWorker's Merge) and shares its result; this never grows
  // the queue, so a user has at most one request waiting. A request for a user with nothing
  // waiting is queued if fewer than max_pending requests wait, else rejected. Without a Merge
  // function this behaves as kReject.
  kCoalesce,
  // Every request is queued if fewer than max_pending requests wait (over all users), else
  // rejected.
  kReject,
};

// "coalesce", "reject".
const char* to_string(BackPressure b);

struct UpdateWorkerOptions {
  // Worker threads, i.e. users updated at once. Requires 1..1024. Default: 1.
  std::size_t concurrency = 1;
  // Requests waiting (submitted, not yet started) over all users; a request that would make
  // more wait is rejected. Running requests do not count. Requires >= 1. Default: 64.
  std::size_t max_pending = 64;
  // See BackPressure. JSON: "coalesce" or "reject". Default: kCoalesce.
  BackPressure back_pressure = BackPressure::kCoalesce;

  // Throws ConfigError naming the field if a value is out of range.
  void validate() const;
};

void to_json(nlohmann::json& j, const UpdateWorkerOptions& o);
// Reads the fields present in j (others keep their defaults); unknown keys are an error.
void from_json(const nlohmann::json& j, UpdateWorkerOptions& o);

// What became of one submitted request.
enum class SubmitStatus {
  kQueued,     // waits in the queue as a request of its own
  kCoalesced,  // merged into the user's waiting request; shares its result
  kRejected,   // not accepted (queue full, or the worker is shutting down); see the reason
};

// "queued", "coalesced", "rejected".
const char* to_string(SubmitStatus s);

// The result future of a rejected request fails with this; what() includes the ticket's reason.
class UpdateRejected : public Error {
 public:
  using Error::Error;
};

// The result future of a request still waiting when shutdown(kCancel) ran fails with this.
class UpdateCancelled : public Error {
 public:
  using Error::Error;
};

// The answer of UpdateWorker::submit.
template <typename Result>
struct UpdateTicket {
  SubmitStatus status = SubmitStatus::kRejected;
  // Always valid. Becomes ready when the request (or, for kCoalesced, the waiting request it was
  // merged into) has run: with run's result, or the exception run threw. Fails with
  // UpdateRejected for a rejected request and UpdateCancelled for one cancelled at shutdown.
  std::shared_future<Result> result;
  // Why the request was rejected ("update queue full: 64 requests waiting ..." or "worker is
  // shutting down"); empty otherwise.
  std::string reason;
};

namespace detail {
// The UpdateWorker whose run the current thread is executing, if any (deadlock checks).
inline thread_local const void* current_update_worker = nullptr;

std::string update_queue_full_reason(std::size_t waiting);
std::exception_ptr update_rejected_error(const std::string& reason);
std::exception_ptr update_cancelled_error(const UserId& user);
void check_not_inside_run(const void* worker, const void* current, const char* method);
void check_run_function(bool present);
}  // namespace detail

// Runs per-user updates (Request -> Result) on `concurrency` worker threads started in the
// constructor. One user's requests run in submission order and never two at once; different
// users run in parallel. Users with a request ready are served first come, first served: after
// each run the user goes to the back of the line, so a user with many queued requests gets one
// run per turn and delays a later user's request by at most one of its runs. At most max_pending
// requests wait (not running) over all users; beyond it, options.back_pressure decides (see
// BackPressure) and a rejected request is dropped with the reason in its ticket.
//
// Thread safety: every method is safe to call from any thread without external
// synchronization. run and merge are called without/with the worker's lock respectively (see
// below); run may call submit() and stats(), but wait_idle() and shutdown() throw
// InvalidArgument there (they would wait for the run itself).
//
// Ownership: the worker owns its threads, the run and merge functions and every request from
// submit until it is run (on a worker thread, then destroyed), cancelled (handed back by
// shutdown) or rejected (destroyed at once). Results are shared through the tickets' futures.
//
// Request must be movable; Result must be movable or void.
template <typename Request, typename Result>
class UpdateWorker {
 public:
  // Runs one request of user on a worker thread, without the worker's lock held. An exception
  // it throws becomes the request's result (its future rethrows it); the worker carries on.
  using Run = std::function<Result(const UserId& user, Request& request)>;
  // Folds incoming into pending, a request of the same user still waiting, so that running
  // pending afterwards does the work of both (kCoalesce). Called under the worker's lock: keep
  // it short and do not call the worker from it. If it throws, submit rethrows and pending stays
  // queued as merge left it.
  using Merge = std::function<void(Request& pending, Request&& incoming)>;

  enum class Shutdown {
    // Stop accepting, run every request already accepted, then stop the threads.
    kFinish,
    // Stop accepting, let the running requests finish, and hand back the waiting ones.
    kCancel,
  };

  struct Stats {
    std::size_t pending = 0;    // requests waiting (not started)
    std::size_t running = 0;    // requests running now
    std::size_t completed = 0;  // runs that returned
    std::size_t failed = 0;     // runs that threw
    std::size_t coalesced = 0;  // submits merged into a waiting request
    std::size_t rejected = 0;   // submits rejected (queue full or shutting down)
    std::size_t cancelled = 0;  // waiting requests handed back by shutdown(kCancel)
  };

  // Throws InvalidArgument if run is empty and ConfigError for invalid options. merge may be
  // empty (then kCoalesce behaves as kReject).
  UpdateWorker(Run run, Merge merge, UpdateWorkerOptions options = {})
      : run_(std::move(run)), merge_(std::move(merge)), options_(options) {
    detail::check_run_function(static_cast<bool>(run_));
    options_.validate();
    threads_.reserve(options_.concurrency);
    try {
      for (std::size_t i = 0; i < options_.concurrency; ++i) {
        threads_.emplace_back([this] { work(); });
      }
    } catch (...) {
      begin_shutdown(Shutdown::kFinish);
      join();
      throw;
    }
  }

  // shutdown(kFinish): runs what was accepted before returning. Must not be reached from inside
  // run (shutdown would throw there, and a destructor that throws terminates).
  ~UpdateWorker() { shutdown(Shutdown::kFinish); }

  UpdateWorker(const UpdateWorker&) = delete;
  UpdateWorker& operator=(const UpdateWorker&) = delete;

  // Offers one request for user; never blocks on running updates. See the class comment and
  // BackPressure for what happens to it; the ticket says which.
  UpdateTicket<Result> submit(const UserId& user, Request request) {
    std::unique_lock lock(mu_);
    if (closing_) return reject(lock, "worker is shutting down");
    auto it = users_.find(user);
    if (options_.back_pressure == BackPressure::kCoalesce && merge_ && it != users_.end() &&
        !it->second.waiting.empty()) {
      Item& waiting = it->second.waiting.back();
      merge_(waiting.request, std::move(request));
      ++coalesced_;
      return {SubmitStatus::kCoalesced, waiting.result, {}};
    }
    if (pending_ >= options_.max_pending) {
      return reject(lock, detail::update_queue_full_reason(pending_));
    }
    if (it == users_.end()) it = users_.try_emplace(user).first;
    UserQueue& queue = it->second;
    Item& item = queue.waiting.emplace_back(next_sequence_++, std::move(request));
    ++pending_;
    UpdateTicket<Result> ticket{SubmitStatus::kQueued, item.result, {}};
    if (!queue.running && queue.waiting.size() == 1) make_ready(*it);
    return ticket;
  }

  // Stops accepting (submit answers kRejected, "worker is shutting down"), then, by mode,
  // runs (kFinish) or cancels (kCancel) the waiting requests, and joins the threads. kCancel
  // lets running requests finish, fails the waiting ones' futures with UpdateCancelled and
  // returns them in submission order (so each user's are in order), for the caller to persist
  // or resubmit later; kFinish returns an empty vector. Safe to call more than once and from
  // several threads (a kCancel during another thread's kFinish cancels what still waits).
  // Throws InvalidArgument when called inside run.
  std::vector<std::pair<UserId, Request>> shutdown(Shutdown mode = Shutdown::kFinish) {
    detail::check_not_inside_run(this, detail::current_update_worker, "shutdown");
    std::vector<std::pair<UserId, Request>> handed_back = begin_shutdown(mode);
    join();
    return handed_back;
  }

  // Blocks until no request is waiting or running. With other threads still submitting it may
  // never return. Throws InvalidArgument when called inside run.
  void wait_idle() {
    detail::check_not_inside_run(this, detail::current_update_worker, "wait_idle");
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [this] { return pending_ == 0 && running_ == 0; });
  }

  Stats stats() const {
    std::lock_guard lock(mu_);
    return {pending_, running_, completed_, failed_, coalesced_, rejected_, cancelled_};
  }

  const UpdateWorkerOptions& options() const { return options_; }

 private:
  struct Item {
    Item(std::uint64_t seq, Request r)
        : sequence(seq), request(std::move(r)), result(promise.get_future().share()) {}
    std::uint64_t sequence;  // submission order over all users
    Request request;
    std::promise<Result> promise;
    std::shared_future<Result> result;
  };
  struct UserQueue {
    std::deque<Item> waiting;  // in submission order
    bool running = false;      // one of the user's requests is running
  };
  using UserEntry = std::pair<const UserId, UserQueue>;

  UpdateTicket<Result> reject(std::unique_lock<std::mutex>& lock, std::string reason) {
    ++rejected_;
    lock.unlock();
    std::promise<Result> failed;
    failed.set_exception(detail::update_rejected_error(reason));
    return {SubmitStatus::kRejected, failed.get_future().share(), std::move(reason)};
  }

  // Requires mu_: entry has waiting requests and none running.
  void make_ready(UserEntry& entry) {
    ready_.push_back(&entry);
    work_cv_.notify_one();
  }

  // Closes the worker; under kCancel also takes the waiting requests out, fails their futures and
  // returns them in submission order.
  std::vector<std::pair<UserId, Request>> begin_shutdown(Shutdown mode) {
    struct Cancelled {
      UserId user;
      Item item;
    };
    std::vector<Cancelled> cancelled;
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      if (mode == Shutdown::kCancel && pending_ > 0) {
        cancelled.reserve(pending_);
        for (auto it = users_.begin(); it != users_.end();) {
          for (Item& item : it->second.waiting) cancelled.push_back({it->first, std::move(item)});
          it->second.waiting.clear();
          // A running user's entry stays until its run ends (the worker reads it then).
          it = it->second.running ? std::next(it) : users_.erase(it);
        }
        ready_.clear();
        cancelled_ += pending_;
        pending_ = 0;
      }
      // Idle workers exit once nothing waits; wait_idle returns once nothing runs either.
      work_cv_.notify_all();
      if (running_ == 0 && pending_ == 0) idle_cv_.notify_all();
    }
    std::sort(cancelled.begin(), cancelled.end(), [](const Cancelled& a, const Cancelled& b) {
      return a.item.sequence < b.item.sequence;
    });
    std::vector<std::pair<UserId, Request>> handed_back;
    handed_back.reserve(cancelled.size());
    for (Cancelled& c : cancelled) {
      c.item.promise.set_exception(detail::update_cancelled_error(c.user));
      handed_back.emplace_back(std::move(c.user), std::move(c.item.request));
    }
    return handed_back;
  }

  void join() {
    std::lock_guard lock(join_mu_);
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  void work() {
    detail::current_update_worker = this;
    std::unique_lock lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [this] { return !ready_.empty() || (closing_ && pending_ == 0); });
      if (ready_.empty()) return;  // closing and nothing waits
      // The entry stays in users_ while its user runs: only this thread may erase it then.
      UserEntry& entry = *ready_.front();
      ready_.pop_front();
      UserQueue& queue = entry.second;
      bool ok;
      {
        Item item = std::move(queue.waiting.front());
        queue.waiting.pop_front();
        queue.running = true;
        --pending_;
        ++running_;
        if (closing_ && pending_ == 0) work_cv_.notify_all();
        lock.unlock();
        ok = run_one(entry.first, item);
      }  // the request is destroyed outside the lock
      lock.lock();
      --running_;
      ++(ok ? completed_ : failed_);
      queue.running = false;
      if (!queue.waiting.empty()) {
        make_ready(entry);
      } else {
        users_.erase(users_.find(entry.first));
      }
      if (pending_ == 0 && running_ == 0) idle_cv_.notify_all();
    }
  }

  // Runs item and fulfils its promise; false if run threw.
  bool run_one(const UserId& user, Item& item) {
    try {
      if constexpr (std::is_void_v<Result>) {
        run_(user, item.request);
        item.promise.set_value();
      } else {
        item.promise.set_value(run_(user, item.request));
      }
      return true;
    } catch (...) {
      item.promise.set_exception(std::current_exception());
      return false;
    }
  }

  const Run run_;
  const Merge merge_;
  UpdateWorkerOptions options_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // ready_ gained a user, or closing_ and nothing waits
  std::condition_variable idle_cv_;  // nothing waits and nothing runs
  // Guarded by mu_:
  std::unordered_map<UserId, UserQueue> users_;  // users with requests waiting or running
  std::deque<UserEntry*> ready_;  // users with requests waiting and none running, FIFO
  bool closing_ = false;
  std::uint64_t next_sequence_ = 0;
  std::size_t pending_ = 0, running_ = 0, completed_ = 0, failed_ = 0, coalesced_ = 0,
              rejected_ = 0, cancelled_ = 0;

  std::mutex join_mu_;  // serializes joining threads_ (written only in the constructor)
  std::vector<std::thread> threads_;
};

}  // namespace oap
