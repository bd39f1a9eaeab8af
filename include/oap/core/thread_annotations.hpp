#pragma once
// Clang thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html):
// which mutex guards a member, which a function needs, which it takes or gives back. Clang
// checks them at compile time with -Wthread-safety (on for our targets when the compiler is
// Clang: CMake option OAP_THREAD_SAFETY_ANALYSIS); other compilers see nothing.
//
// Only capabilities the analysis knows about can be named: oap::Mutex and oap::SharedMutex
// (oap/core/mutex.hpp), not std::mutex, whose libstdc++ declaration carries no annotations.

#if defined(__clang__)
#define OAP_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define OAP_THREAD_ANNOTATION(x)
#endif

// On a class: its objects are capabilities ("mutex"), to be named in the annotations below.
#define OAP_CAPABILITY(name) OAP_THREAD_ANNOTATION(capability(name))
// On a class: an RAII object that holds a capability for its lifetime (a lock guard).
#define OAP_SCOPED_CAPABILITY OAP_THREAD_ANNOTATION(scoped_lockable)

// On a data member: reading it needs mu held (shared or exclusive), writing it needs mu
// held exclusively.
#define OAP_GUARDED_BY(mu) OAP_THREAD_ANNOTATION(guarded_by(mu))
// On a pointer member: as OAP_GUARDED_BY, for what it points to.
#define OAP_PT_GUARDED_BY(mu) OAP_THREAD_ANNOTATION(pt_guarded_by(mu))
// On a mutex member: the lock order (checked with -Wthread-safety-beta only).
#define OAP_ACQUIRED_BEFORE(...) OAP_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define OAP_ACQUIRED_AFTER(...) OAP_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))

// On a function: the caller must hold the capabilities (exclusively / at least shared).
#define OAP_REQUIRES(...) OAP_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define OAP_REQUIRES_SHARED(...) OAP_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
// On a function: the caller must not hold them (the function takes them itself).
#define OAP_EXCLUDES(...) OAP_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// On a function: it takes / gives back the capabilities (no argument: `this`).
#define OAP_ACQUIRE(...) OAP_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define OAP_ACQUIRE_SHARED(...) OAP_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define OAP_RELEASE(...) OAP_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define OAP_RELEASE_SHARED(...) OAP_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define OAP_RELEASE_GENERIC(...) OAP_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
// On a function: it takes the capabilities if it returns `result`.
#define OAP_TRY_ACQUIRE(...) OAP_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define OAP_TRY_ACQUIRE_SHARED(...) \
  OAP_THREAD_ANNOTATION(try_acquire_shared_capability(__VA_ARGS__))
// On a function: it returns a reference to the capability named.
#define OAP_RETURN_CAPABILITY(x) OAP_THREAD_ANNOTATION(lock_returned(x))
// On a function: the analysis skips its body. Each use says why the analysis cannot follow it.
#define OAP_NO_THREAD_SAFETY_ANALYSIS OAP_THREAD_ANNOTATION(no_thread_safety_analysis)
