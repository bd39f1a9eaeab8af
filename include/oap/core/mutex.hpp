#pragma once
// Mutex, SharedMutex and their scoped locks: std::mutex and std::shared_mutex that Clang's
// thread-safety analysis knows (oap/core/thread_annotations.hpp), so that a member declared
// `T x_ OAP_GUARDED_BY(mu_);` is checked at compile time to be used only under mu_.
// libstdc++'s std::mutex carries no annotations, so these wrap it; they cost nothing more.
//
// Lock with the scoped types below (MutexLock, WriterLock, ReaderLock): the analysis follows
// them. std::lock_guard / std::unique_lock on these types compile (they are Lockable) but the
// analysis does not see what they hold.

#include <mutex>
#include <shared_mutex>

#include "oap/core/thread_annotations.hpp"

namespace oap {

// A std::mutex as a capability. Thread safety: what it is for. Not copyable or movable.
class OAP_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() OAP_ACQUIRE() { mu_.lock(); }
  void unlock() OAP_RELEASE() { mu_.unlock(); }
  bool try_lock() OAP_TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  std::mutex mu_;
};

// A std::shared_mutex as a capability: held exclusively (lock) or shared (lock_shared).
// Thread safety: what it is for. Not copyable or movable.
class OAP_CAPABILITY("mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() OAP_ACQUIRE() { mu_.lock(); }
  void unlock() OAP_RELEASE() { mu_.unlock(); }
  bool try_lock() OAP_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  void lock_shared() OAP_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() OAP_RELEASE_SHARED() { mu_.unlock_shared(); }
  bool try_lock_shared() OAP_TRY_ACQUIRE_SHARED(true) { return mu_.try_lock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a Mutex from construction to destruction (as std::lock_guard); unlock() and lock()
// in between release and take it again (as std::unique_lock). Not copyable or movable.
class OAP_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) OAP_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() OAP_RELEASE() {
    if (locked_) mu_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() OAP_RELEASE() {
    mu_.unlock();
    locked_ = false;
  }
  void lock() OAP_ACQUIRE() {
    mu_.lock();
    locked_ = true;
  }

 private:
  Mutex& mu_;
  bool locked_ = true;
};

// Holds a SharedMutex exclusively from construction to destruction; unlock()/lock() as
// MutexLock. Not copyable or movable.
class OAP_SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) OAP_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~WriterLock() OAP_RELEASE() {
    if (locked_) mu_.unlock();
  }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

  void unlock() OAP_RELEASE() {
    mu_.unlock();
    locked_ = false;
  }
  void lock() OAP_ACQUIRE() {
    mu_.lock();
    locked_ = true;
  }

 private:
  SharedMutex& mu_;
  bool locked_ = true;
};

// Holds a SharedMutex shared from construction to destruction (as std::shared_lock);
// unlock()/lock() release and take it shared again. Not copyable or movable.
class OAP_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) OAP_ACQUIRE_SHARED(mu) : mu_(mu) { mu_.lock_shared(); }
  // On a scoped lock, RELEASE() releases whatever it holds, in the mode it holds it.
  ~ReaderLock() OAP_RELEASE() {
    if (locked_) mu_.unlock_shared();
  }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

  void unlock() OAP_RELEASE() {
    mu_.unlock_shared();
    locked_ = false;
  }
  void lock() OAP_ACQUIRE_SHARED() {
    mu_.lock_shared();
    locked_ = true;
  }

 private:
  SharedMutex& mu_;
  bool locked_ = true;
};

}  // namespace oap
