// Counts heap allocations made while `counting` is set, by replacing the
// global allocation functions of the test program that includes this header
// (include it in one file per program). The token loop, and streaming decode,
// must not allocate: tests set `counting` around them.
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

// Replacing the global operators with malloc/free is valid; GCC cannot tell.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
inline std::atomic<bool> counting{false};
inline std::atomic<long> allocations{0};
void* operator new(size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
// Every other replaceable form too, so that no block is allocated by one
// allocator and freed by another: under AddressSanitizer the forms not
// replaced here are ASan's own (e.g. std::stable_sort's nothrow new would be
// freed by our sized delete: an alloc-dealloc-mismatch).
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return operator new(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return operator new(n, std::nothrow); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

