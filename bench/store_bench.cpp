// store_bench: throughput and latency of the history stores (MemoryStore, SqliteStore).
//
// Measures
//   - append throughput, one event per call and batches of 1000, events with 16 float
//     features spread over 10k users (items_per_second = events/s);
//   - recent(user, 100) latency on random users: MemoryStore holding 10k users, and
//     SqliteStore on a prebuilt database (p50/p99 in microseconds as counters);
//   - forget(user) of a random user in a copy of that database (its VACUUM rewrites all of it).
//
// The read database is built once into --db (default under /tmp) and reused by later runs if
// it holds exactly the expected users and events; building it is timed and printed, which is
// itself an end-to-end batched-append throughput number (it includes the final flush).
//
// Sizes: the default ("quick") mode builds a small database so that the program runs in
// seconds; --full (or OAP_STORE_BENCH_FULL=1) uses 10k users and 10M events (~1.3 GB, a
// minute or so to build). Every other flag is passed to Google Benchmark
// (e.g. --benchmark_filter=Recent).
//
//   store_bench [--full] [--users=N] [--db_events=N] [--memory_events_per_user=N]
//               [--batch_size=N] [--inbox_events=N] [--cache_mib=N] [--db=PATH] [--delete_db]
//               [benchmark flags...]
//   --inbox_events, --cache_mib  the StoreOptions fields of that name, for the same stores
//   --batch_size   StoreOptions::batch_size for the SqliteStore kBatched appends and the build
//                  of the read database (default: the library's default)
//   --db           the read database (default /tmp/oap_store_bench_<users>u_<events>e.db)
//   --delete_db    remove the read database at exit (otherwise later runs reuse it)

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "oap/core/event.hpp"
#include "oap/store/memory_store.hpp"
#include "oap/store/sqlite_store.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kDim = 16;
constexpr std::size_t kAppendUsers = 10000;  // users the append benchmarks spread over
constexpr std::size_t kRecentN = 100;

struct Config {
  std::size_t users = 1000;        // users in the read database / memory store
  std::size_t db_events = 100000;  // events in the read database
  std::size_t memory_events_per_user = 100;
  std::size_t batch_size = oap::StoreOptions{}.batch_size;  // SqliteStore batch (build, appends)
  std::size_t inbox_events =
      oap::StoreOptions{}.inbox_events;                   // SqliteStore inbox (build, appends)
  std::size_t cache_mib = oap::StoreOptions{}.cache_mib;  // SqliteStore page cache
  std::string db_path;                                    // empty: derived from the sizes
  bool delete_db = false;
};

Config g_config;

std::string user_name(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "user%06zu", i);
  return buf;
}

// A deterministic event of user u; the caller sets the timestamp.
oap::Event make_event(const std::string& user, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  oap::Event e;
  e.user = user;
  e.features.resize(kDim);
  for (float& f : e.features) f = normal(rng);
  e.text = "clicked item " + std::to_string(rng() % 100000);
  return e;
}

// A pool of events cycling over `users` users (event i belongs to user i % users). The
// benchmarks stamp each event with a fresh, increasing timestamp before appending it, so
// appends arrive in time order per user as they would in production.
std::vector<oap::Event> make_pool(std::size_t size, std::size_t users, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> names;
  names.reserve(users);
  for (std::size_t u = 0; u < users; ++u) names.push_back(user_name(u));
  std::vector<oap::Event> pool;
  pool.reserve(size);
  for (std::size_t i = 0; i < size; ++i) pool.push_back(make_event(names[i % users], rng));
  return pool;
}

const oap::Timestamp kEpoch = oap::timestamp_from_micros(1'700'000'000'000'000);

void remove_db_files(const std::filesystem::path& path) {
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) {
    std::error_code ec;
    std::filesystem::remove(path.string() + suffix, ec);
  }
}

// A scratch database for the append benchmarks, removed when it goes out of scope.
struct ScratchDb {
  std::filesystem::path path;
  ScratchDb() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("oap_store_bench_append_" + std::to_string(::getpid()) + "_" +
            std::to_string(counter++) + ".db");
    remove_db_files(path);
  }
  ~ScratchDb() { remove_db_files(path); }
};

std::size_t percentile_index(std::size_t n, double p) {
  auto i = static_cast<std::size_t>(p * static_cast<double>(n));
  return std::min(i, n - 1);
}

// Sets p50/p99/max counters (microseconds) from per-call latencies in nanoseconds.
void set_latency_counters(benchmark::State& state, std::vector<std::int64_t>& ns) {
  if (ns.empty()) return;
  std::sort(ns.begin(), ns.end());
  auto us = [&](double p) { return static_cast<double>(ns[percentile_index(ns.size(), p)]) / 1e3; };
  // Averaged over threads (the default would sum them).
  auto avg = [](double v) { return benchmark::Counter(v, benchmark::Counter::kAvgThreads); };
  state.counters["p50_us"] = avg(us(0.50));
  state.counters["p90_us"] = avg(us(0.90));
  state.counters["p99_us"] = avg(us(0.99));
  state.counters["max_us"] = avg(static_cast<double>(ns.back()) / 1e3);
}

// ---------------------------------------------------------------- append benchmarks

enum class StoreKind { kMemory, kSqliteBatched, kSqliteEveryAppend };

std::unique_ptr<oap::HistoryStore> open_append_store(StoreKind kind, const ScratchDb& db) {
  oap::StoreOptions options;
  switch (kind) {
    case StoreKind::kMemory:
      return std::make_unique<oap::MemoryStore>(options);
    case StoreKind::kSqliteBatched:
      options.durability = oap::Durability::kBatched;
      options.batch_size = g_config.batch_size;
      options.inbox_events = g_config.inbox_events;
      options.cache_mib = g_config.cache_mib;
      return std::make_unique<oap::SqliteStore>(db.path, options);
    case StoreKind::kSqliteEveryAppend:
      options.durability = oap::Durability::kEveryAppend;
      return std::make_unique<oap::SqliteStore>(db.path, options);
  }
  return nullptr;
}

// Appends one event per call, or state.range(0) events per append_batch call. The events of
// a run are distinct (increasing timestamps) and cycle over kAppendUsers users.
void BM_Append(benchmark::State& state, StoreKind kind, bool batched_calls) {
  const std::size_t batch = batched_calls ? static_cast<std::size_t>(state.range(0)) : 1;
  static std::vector<oap::Event> pool = make_pool(100 * kAppendUsers, kAppendUsers, 42);
  ScratchDb db;
  auto store = open_append_store(kind, db);
  std::int64_t tick = 0;
  std::size_t next = 0;
  for (auto _ : state) {
    if (next + batch > pool.size()) next = 0;
    for (std::size_t i = 0; i < batch; ++i)
      pool[next + i].timestamp = kEpoch + std::chrono::microseconds(tick++);
    if (batched_calls) {
      store->append_batch(std::span<const oap::Event>(pool.data() + next, batch));
    } else {
      store->append(pool[next]);
    }
    next += batch;
  }
  // Under kBatched up to batch_size - 1 events may still be buffered here; the end-to-end
  // number including the final flush is the read database's build rate printed by main().
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}

// ---------------------------------------------------------------- recent() benchmarks

// Times recent(user, kRecentN) on random users of store (seeded), recording each call.
void measure_recent(benchmark::State& state, const oap::HistoryStore& store, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, g_config.users - 1);
  std::vector<std::string> names;
  for (std::size_t u = 0; u < g_config.users; ++u) names.push_back(user_name(u));
  std::vector<std::int64_t> ns;
  ns.reserve(1 << 20);
  std::size_t returned = 0;
  for (auto _ : state) {
    const std::string& user = names[pick(rng)];
    auto t0 = Clock::now();
    auto events = store.recent(user, kRecentN);
    ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    returned += events.size();
    benchmark::DoNotOptimize(events.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["events_per_call"] =
      benchmark::Counter(static_cast<double>(returned) /
                             static_cast<double>(std::max<std::int64_t>(1, state.iterations())),
                         benchmark::Counter::kAvgThreads);
  set_latency_counters(state, ns);
}

void BM_RecentMemory(benchmark::State& state) {
  static std::unique_ptr<oap::MemoryStore> store = [] {
    auto s = std::make_unique<oap::MemoryStore>();
    const std::size_t total = g_config.users * g_config.memory_events_per_user;
    auto t0 = Clock::now();
    std::vector<oap::Event> pool =
        make_pool(std::min<std::size_t>(total, 100000), g_config.users, 7);
    std::int64_t tick = 0;
    for (std::size_t done = 0; done < total; done += pool.size()) {
      std::size_t k = std::min(pool.size(), total - done);
      for (std::size_t i = 0; i < k; ++i)
        pool[i].timestamp = kEpoch + std::chrono::microseconds(tick++);
      s->append_batch(std::span<const oap::Event>(pool.data(), k));
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::fprintf(stderr, "memory store: %zu users x %zu events filled in %.2f s\n", g_config.users,
                 g_config.memory_events_per_user, secs);
    return s;
  }();
  measure_recent(state, *store, 123);
}

std::unique_ptr<oap::SqliteStore> g_read_db;

void BM_RecentSqlite(benchmark::State& state) {
  measure_recent(state, *g_read_db, 321 + static_cast<unsigned>(state.thread_index()));
}

// ---------------------------------------------------------------- forget()

// forget() of one user in a copy of the read database (copying and opening are not timed):
// the time of deleting the user's rows and scrubbing the files (VACUUM + WAL truncation),
// which grows with the size of the whole database.
void BM_ForgetSqlite(benchmark::State& state) {
  ScratchDb db;
  std::mt19937 rng(17);
  double mib = 0;
  for (auto _ : state) {
    remove_db_files(db.path);
    std::filesystem::copy_file(g_config.db_path, db.path);
    mib = static_cast<double>(std::filesystem::file_size(db.path)) / (1024.0 * 1024.0);
    oap::SqliteStore store(db.path);
    const std::string user = user_name(rng() % g_config.users);
    auto t0 = Clock::now();
    std::size_t removed = store.forget(user);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
    if (removed == 0) state.SkipWithError(("forget removed nothing of " + user).c_str());
  }
  state.counters["db_MiB"] = mib;
}

// ---------------------------------------------------------------- the read database

// True if the database at path holds exactly the users and events this run expects.
bool database_matches(oap::SqliteStore& store) {
  auto users = store.users();
  if (users.size() != g_config.users) return false;
  const std::size_t per_user = g_config.db_events / g_config.users;
  for (std::size_t u = 0; u < g_config.users; ++u) {
    if (users[u] != user_name(u)) return false;
    std::size_t expected = per_user + (u < g_config.db_events % g_config.users ? 1 : 0);
    if (store.count(users[u]) != expected) return false;
  }
  return true;
}

// Builds the read database with append_batch calls of 1000 events that interleave all users
// (the order events arrive in production), under kBatched with --batch_size, and prints the
// rate.
void build_database(const std::filesystem::path& path) {
  std::fprintf(stderr, "building %s: %zu users, %zu events ...\n", path.c_str(), g_config.users,
               g_config.db_events);
  auto t0 = Clock::now();
  {
    oap::StoreOptions options;
    options.batch_size = g_config.batch_size;
    options.inbox_events = g_config.inbox_events;
    options.cache_mib = g_config.cache_mib;
    oap::SqliteStore store(path, options);
    std::vector<oap::Event> pool =
        make_pool(std::max<std::size_t>(g_config.users, 10000) / g_config.users * g_config.users,
                  g_config.users, 99);
    const std::size_t chunk = 1000;
    std::int64_t tick = 0;
    std::size_t next = 0;
    auto last_report = Clock::now();
    for (std::size_t done = 0; done < g_config.db_events;) {
      std::size_t k = std::min({chunk, g_config.db_events - done, pool.size() - next});
      for (std::size_t i = 0; i < k; ++i)
        pool[next + i].timestamp = kEpoch + std::chrono::microseconds(tick++);
      store.append_batch(std::span<const oap::Event>(pool.data() + next, k));
      done += k;
      next = (next + k) % pool.size();
      if (Clock::now() - last_report > std::chrono::seconds(10)) {
        last_report = Clock::now();
        double secs = std::chrono::duration<double>(last_report - t0).count();
        std::fprintf(stderr, "  %zu events in %.1f s (%.0f events/s)\n", done, secs,
                     static_cast<double>(done) / secs);
      }
    }
    store.flush();
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::error_code ec;
  auto bytes = std::filesystem::file_size(path, ec);
  std::fprintf(stderr,
               "built %zu events for %zu users in %.2f s: %.0f events/s (batched append incl. "
               "flush, batch_size %zu), database %.1f MiB\n",
               g_config.db_events, g_config.users, secs,
               static_cast<double>(g_config.db_events) / secs, g_config.batch_size,
               ec ? 0.0 : static_cast<double>(bytes) / (1024.0 * 1024.0));
}

void open_read_database() {
  std::filesystem::path path = g_config.db_path;
  if (std::filesystem::exists(path)) {
    auto t0 = Clock::now();
    bool ok;
    {
      // Opening refuses a file that is not an oap store (so nothing else gets deleted).
      oap::SqliteStore store(path);
      ok = database_matches(store);
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::fprintf(stderr, "%s %s (checked in %.2f s)\n", path.c_str(),
                 ok ? "has the expected size, reusing it" : "has another size, rebuilding it",
                 secs);
    if (!ok) remove_db_files(path);
  }
  if (!std::filesystem::exists(path)) build_database(path);
  g_read_db = std::make_unique<oap::SqliteStore>(path);
}

std::size_t parse_size(std::string_view flag, std::string_view value) {
  try {
    std::size_t pos = 0;
    unsigned long long v = std::stoull(std::string(value), &pos);
    if (pos == value.size() && v > 0) return static_cast<std::size_t>(v);
  } catch (const std::exception&) {
  }
  throw std::invalid_argument(std::string(flag) + " needs a positive integer, got \"" +
                              std::string(value) + "\"");
}

// Consumes our own flags from argv (leaving Google Benchmark's).
void parse_flags(int& argc, char** argv) {
  bool full = false;
  if (const char* env = std::getenv("OAP_STORE_BENCH_FULL"); env && std::string_view(env) == "1") {
    full = true;
  }
  std::vector<char*> rest{argv[0]};
  std::optional<std::size_t> users, db_events, mem_per_user;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view name) -> std::optional<std::string_view> {
      if (a.starts_with(name) && a.size() > name.size() && a[name.size()] == '=') {
        return a.substr(name.size() + 1);
      }
      return std::nullopt;
    };
    if (a == "--full") {
      full = true;
    } else if (a == "--delete_db") {
      g_config.delete_db = true;
    } else if (auto v = value("--users")) {
      users = parse_size("--users", *v);
    } else if (auto v = value("--db_events")) {
      db_events = parse_size("--db_events", *v);
    } else if (auto v = value("--memory_events_per_user")) {
      mem_per_user = parse_size("--memory_events_per_user", *v);
    } else if (auto v = value("--batch_size")) {
      g_config.batch_size = parse_size("--batch_size", *v);
    } else if (auto v = value("--inbox_events")) {
      g_config.inbox_events = parse_size("--inbox_events", *v);
    } else if (auto v = value("--cache_mib")) {
      g_config.cache_mib = parse_size("--cache_mib", *v);
    } else if (auto v = value("--db")) {
      g_config.db_path = std::string(*v);
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (full) {
    g_config.users = 10000;
    g_config.db_events = 10'000'000;
    g_config.memory_events_per_user = 100;
  }
  if (users) g_config.users = *users;
  if (db_events) g_config.db_events = *db_events;
  if (mem_per_user) g_config.memory_events_per_user = *mem_per_user;
  if (g_config.db_events < g_config.users) {
    throw std::invalid_argument("--db_events (" + std::to_string(g_config.db_events) +
                                ") must be at least --users (" + std::to_string(g_config.users) +
                                ")");
  }
  if (g_config.db_path.empty()) {
    g_config.db_path = (std::filesystem::temp_directory_path() /
                        ("oap_store_bench_" + std::to_string(g_config.users) + "u_" +
                         std::to_string(g_config.db_events) + "e.db"))
                           .string();
  }
  argc = static_cast<int>(rest.size());
  for (int i = 0; i < argc; ++i) argv[i] = rest[static_cast<std::size_t>(i)];
}

}  // namespace

int main(int argc, char** argv) {
  try {
    parse_flags(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store_bench: %s\n", e.what());
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  // Wall-clock time everywhere: SQLite waits on I/O, which CPU time would hide.
  using benchmark::RegisterBenchmark;
  RegisterBenchmark("Append/memory/single", BM_Append, StoreKind::kMemory, false)->UseRealTime();
  RegisterBenchmark("Append/memory/batch", BM_Append, StoreKind::kMemory, true)
      ->Arg(1000)
      ->UseRealTime();
  RegisterBenchmark("Append/sqlite_batched/single", BM_Append, StoreKind::kSqliteBatched, false)
      ->UseRealTime();
  RegisterBenchmark("Append/sqlite_batched/batch", BM_Append, StoreKind::kSqliteBatched, true)
      ->Arg(1000)
      ->UseRealTime();
  RegisterBenchmark("Append/sqlite_every_append/single", BM_Append, StoreKind::kSqliteEveryAppend,
                    false)
      ->UseRealTime();
  RegisterBenchmark("Append/sqlite_every_append/batch", BM_Append, StoreKind::kSqliteEveryAppend,
                    true)
      ->Arg(1000)
      ->UseRealTime();
  RegisterBenchmark("Recent100/memory", BM_RecentMemory)->UseRealTime();
  RegisterBenchmark("Recent100/sqlite", BM_RecentSqlite)->Threads(1)->Threads(2)->UseRealTime();
  RegisterBenchmark("Forget/sqlite", BM_ForgetSqlite)
      ->Iterations(3)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);

  try {
    open_read_database();
    benchmark::RunSpecifiedBenchmarks();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store_bench: %s\n", e.what());
    return 1;
  }
  benchmark::Shutdown();
  g_read_db.reset();
  if (g_config.delete_db) remove_db_files(g_config.db_path);
  return 0;
}
