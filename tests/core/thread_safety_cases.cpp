// Compiled (not run) by the ThreadSafetyAnalysis.* tests (tests/core/CMakeLists.txt, Clang
// builds with OAP_THREAD_SAFETY_ANALYSIS): with no OAP_CASE_* defined it must compile cleanly;
// with one defined, the analysis must reject it with the error the test expects. This shows
// that the annotations on oap::Mutex, SharedMutex and their locks are what the analysis reads.

#include "oap/core/mutex.hpp"
#include "oap/core/thread_annotations.hpp"

namespace {

class Account {
 public:
  void deposit(int amount) {
    oap::MutexLock lock(mu_);
    add_locked(amount);
  }
  int balance() {
    oap::MutexLock lock(mu_);
    return balance_;
  }
  void rename(int id) {
    oap::WriterLock lock(owner_mu_);
    owner_ = id;
  }
  int owner() {
    oap::ReaderLock lock(owner_mu_);
    return owner_;
  }
  void deposit_twice(int amount) {
    oap::MutexLock lock(mu_);
    add_locked(amount);
    lock.unlock();
    lock.lock();
    add_locked(amount);
  }

#if defined(OAP_CASE_UnguardedRead)
  int peek() { return balance_; }
#elif defined(OAP_CASE_WriteUnderReaderLock)
  void rename_shared(int id) {
    oap::ReaderLock lock(owner_mu_);
    owner_ = id;
  }
#elif defined(OAP_CASE_CallWithoutLock)
  void deposit_unlocked(int amount) { add_locked(amount); }
#elif defined(OAP_CASE_UseAfterUnlock)
  void deposit_late(int amount) {
    oap::MutexLock lock(mu_);
    lock.unlock();
    balance_ += amount;
  }
#elif defined(OAP_CASE_LockTwice)
  void deposit_nested(int amount) {
    oap::MutexLock outer(mu_);
    oap::MutexLock inner(mu_);
    balance_ += amount;
  }
#endif

 private:
  void add_locked(int amount) OAP_REQUIRES(mu_) { balance_ += amount; }

  oap::Mutex mu_;
  int balance_ OAP_GUARDED_BY(mu_) = 0;
  oap::SharedMutex owner_mu_;
  int owner_ OAP_GUARDED_BY(owner_mu_) = 0;
};

}  // namespace

int main() {
  Account a;
  a.deposit(1);
  a.deposit_twice(1);
  a.rename(2);
  return a.balance() + a.owner() == 5 ? 0 : 1;
}
