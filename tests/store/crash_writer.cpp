// Child process of the crash test. Usage: store_crash_writer DB every_append|batched
// Appends make_event("u<i % 10>", i) forever (until killed), starting at i = the number of
// events already in DB, and after each event becomes durable writes "acked <n>" (n events
// durable in the database in total) to stdout, unbuffered.

#include <cstdio>
#include <cstring>

#include "oap/store/sqlite_store.hpp"
#include "test_util.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DB every_append|batched\n", argv[0]);
    return 2;
  }
  oap::StoreOptions options;
  bool every_append = std::strcmp(argv[2], "every_append") == 0;
  options.durability = every_append ? oap::Durability::kEveryAppend : oap::Durability::kBatched;
  options.batch_size = 1u << 30;  // commit only on flush, so acknowledgements are explicit
  options.inbox_events = 700;     // move the inbox often, so kills also land during moves
  oap::SqliteStore store(argv[1], options);
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  std::printf("ready\n");
  long long start = 0;
  for (const auto& user : store.users()) start += static_cast<long long>(store.count(user));
  for (long long i = start;; ++i) {
    store.append(oap::testing::make_event("u" + std::to_string(i % 10), i, 8));
    if (every_append) {
      std::printf("acked %lld\n", i + 1);
    } else if ((i + 1) % 50 == 0) {
      store.flush();
      std::printf("acked %lld\n", i + 1);
    }
  }
}
