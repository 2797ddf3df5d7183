// Counts allocations made by any thread while a CountAllocations scope is alive: malloc-family
// calls (operator new goes through malloc, so every C++ allocation is seen too) and fresh memory
// mappings (mmap, which kserde uses for large tensors), by interposing those functions in the test
// executable. An independent witness: it does not ask kserde what it did.
//
// Define KSERDE_TEST_INTERPOSE_MALLOC before including this header in exactly ONE source file of
// a test executable. Under AddressSanitizer or ThreadSanitizer, which interpose malloc
// themselves, nothing is interposed and kAllocationCounting is false.
#pragma once

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>

namespace kserde::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kAllocationCounting = false;
#else
inline constexpr bool kAllocationCounting = true;
#endif

inline std::atomic<bool> g_count_allocations{false};
inline std::atomic<long> g_allocations{0};

inline void note_allocation() noexcept {
  if (g_count_allocations.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
}

// Allocations between construction and count().
class CountAllocations {
 public:
  CountAllocations() {
    g_allocations = 0;
    g_count_allocations = true;
  }
  ~CountAllocations() { g_count_allocations = false; }
  CountAllocations(const CountAllocations&) = delete;
  CountAllocations& operator=(const CountAllocations&) = delete;
  long count() const { return g_allocations.load(); }
};

// Allocations made (by any thread) while f() runs.
template <class F>
long allocations_during(F&& f) {
  CountAllocations counter;
  f();
  return counter.count();
}

// Calls f until `quiet` calls in a row allocate nothing (at most `limit` calls): the warm-up that
// reaches steady state, whatever the number of calls a model needs for it (buffers a layer
// releases late, cache classes settling). A call that allocates every time never goes quiet, and
// the counted calls after this still see it.
template <class F>
void warm_up_until_steady(F&& f, int quiet = 5, int limit = 200) {
  int in_a_row = 0;
  for (int call = 0; call < limit && in_a_row < quiet; ++call) {
    in_a_row = allocations_during(f) == 0 ? in_a_row + 1 : 0;
  }
}

}  // namespace kserde::test

#if defined(KSERDE_TEST_INTERPOSE_MALLOC) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);

void* malloc(std::size_t n) {
  kserde::test::note_allocation();
  return __libc_malloc(n);
}
void* calloc(std::size_t count, std::size_t n) {
  kserde::test::note_allocation();
  return __libc_calloc(count, n);
}
void* realloc(void* p, std::size_t n) {
  kserde::test::note_allocation();
  return __libc_realloc(p, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) {
  kserde::test::note_allocation();
  return __libc_memalign(alignment, n);
}
void* memalign(std::size_t alignment, std::size_t n) {
  kserde::test::note_allocation();
  return __libc_memalign(alignment, n);
}
// glibc's own mmap calls (malloc's large chunks, thread stacks) do not come through here; kserde's
// and the C++ library's do. The system call is made directly, as glibc does.
void* mmap(void* addr, std::size_t length, int prot, int flags, int fd, off_t offset) {
  kserde::test::note_allocation();
  return reinterpret_cast<void*>(syscall(SYS_mmap, addr, length, prot, flags, fd, offset));
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
  kserde::test::note_allocation();
  void* p = __libc_memalign(alignment, n);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}
}
#endif
