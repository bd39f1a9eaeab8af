#pragma once
// ScopedIntraOpThreads: the calling thread's intra-op thread count, changed for a scope.

namespace oap::detail {

// Sets the calling thread's intra-op thread count until the object goes away, then restores it.
// The count is an OpenMP setting of the calling thread that ATen, oneDNN and OpenBLAS read on
// every op, so other threads (concurrent forward() calls) keep theirs. threads <= 0, or a
// build without OpenMP: no change. Thread safety: use on one thread; not copyable.
class ScopedIntraOpThreads {
 public:
  explicit ScopedIntraOpThreads(int threads);
  ~ScopedIntraOpThreads();
  ScopedIntraOpThreads(const ScopedIntraOpThreads&) = delete;
  ScopedIntraOpThreads& operator=(const ScopedIntraOpThreads&) = delete;

 private:
  int saved_ = 0;  // the count to restore; 0: nothing changed
};

}  // namespace oap::detail
