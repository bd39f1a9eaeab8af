#include "oap/core/mutex.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace oap {
namespace {

// Whether another thread can take mu now (exclusively / shared); it gives it back at once.
template <typename M>
bool lockable_elsewhere(M& mu) {
  bool ok = false;
  std::thread([&] {
    if (mu.try_lock()) {
      mu.unlock();
      ok = true;
    }
  }).join();
  return ok;
}
bool shareable_elsewhere(SharedMutex& mu) {
  bool ok = false;
  std::thread([&] {
    if (mu.try_lock_shared()) {
      mu.unlock_shared();
      ok = true;
    }
  }).join();
  return ok;
}

TEST(Mutex, MutexLockExcludesOtherThreads) {
  Mutex mu;
  long counter = 0;  // only under mu (a local: OAP_GUARDED_BY applies to members and globals)
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        MutexLock lock(mu);
        ++counter;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter, 40000);
}

TEST(Mutex, MutexLockUnlocksAndRelocks) {
  Mutex mu;
  {
    MutexLock lock(mu);
    EXPECT_FALSE(lockable_elsewhere(mu));
    lock.unlock();
    EXPECT_TRUE(lockable_elsewhere(mu));
    lock.lock();
    EXPECT_FALSE(lockable_elsewhere(mu));
  }  // released by the destructor
  EXPECT_TRUE(lockable_elsewhere(mu));
}

TEST(SharedMutex, ReadersShareWritersExclude) {
  SharedMutex mu;
  {
    ReaderLock reader(mu);
    EXPECT_FALSE(lockable_elsewhere(mu));  // a writer waits for the reader
    EXPECT_TRUE(shareable_elsewhere(mu));  // another reader does not
    reader.unlock();
    EXPECT_TRUE(lockable_elsewhere(mu));
    reader.lock();
    EXPECT_FALSE(lockable_elsewhere(mu));
  }
  {
    WriterLock writer(mu);
    EXPECT_FALSE(shareable_elsewhere(mu));
    EXPECT_FALSE(lockable_elsewhere(mu));
    writer.unlock();
    EXPECT_TRUE(shareable_elsewhere(mu));
    writer.lock();
    EXPECT_FALSE(shareable_elsewhere(mu));
  }
  EXPECT_TRUE(lockable_elsewhere(mu));
}

}  // namespace
}  // namespace oap
