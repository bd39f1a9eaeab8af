#pragma once
// OAP_VECTOR_CLONES: compiles a hot loop also for AVX2 and picks that version when the library is
// loaded on a CPU that has it (GCC function multi-versioning on x86-64), so the portable build
// runs 4 doubles per instruction where it can. Empty elsewhere and under sanitizers.

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
#define OAP_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define OAP_VECTOR_CLONES
#endif
