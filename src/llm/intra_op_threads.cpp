#include "llm/intra_op_threads.hpp"

// The only file of oap compiled with OpenMP (model_sources.cmake): omp_set_num_threads is what
// changes one thread's count; at::set_num_threads would change the whole process's.
#include <ATen/Parallel.h>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace oap::detail {

ScopedIntraOpThreads::ScopedIntraOpThreads(int threads) {
#ifdef _OPENMP
  if (threads <= 0) return;
  // ATen sets a thread's count on its first parallel op: let it do so now, not inside the scope.
  const int current = at::get_num_threads();
  if (threads != current) {
    saved_ = current;
    omp_set_num_threads(threads);
  }
#else
  (void)threads;
#endif
}

ScopedIntraOpThreads::~ScopedIntraOpThreads() {
#ifdef _OPENMP
  if (saved_ > 0) omp_set_num_threads(saved_);
#endif
}

}  // namespace oap::detail
