// Internal, for the kernel sources in this folder only: the one vector type of the product
// kernels, one register of the instruction set the file is compiled for, and the multiply-add that
// defines their rounding.
//
// Every file here is compiled once per instruction set (see core/CMakeLists.txt) with
// KSERDE_KERNEL_NS naming that set's namespace, so each copy's symbols are its own. Code here must
// not instantiate templates or inline functions from outside that namespace (std::min, std::vector,
// ...): their out-of-line copies would be shared between the sets by the linker, and one compiled
// for AVX-512 could end up running on a CPU without it. The test
// kernel_objects_define_only_their_own_symbols checks the object files for that.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#ifndef KSERDE_KERNEL_NS
#error "ops/isa/*.cpp are compiled once per instruction set with -DKSERDE_KERNEL_NS=<namespace>"
#endif

namespace kserde::ops::KSERDE_KERNEL_NS::simd {

#if defined(__AVX512F__)
inline constexpr std::int64_t kLanes = 16;
#elif defined(__AVX__)
inline constexpr std::int64_t kLanes = 8;
#else
inline constexpr std::int64_t kLanes = 4;
#endif

#if defined(__FMA__)
inline constexpr bool kFused = true;
#else
inline constexpr bool kFused = false;
#endif

typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

// Every kernel sums each output element over k in blocks of kSumBlock steps counted from the
// first: within a block, one multiply-add chain from zero in step order; the block sums are then
// added in order. Whatever the kernel, the number of rows or the thread split, an element is
// computed by these operations, so a sample's result does not depend on its batch. The blocks also
// keep long sums accurate: a k-term float32 sum done as one chain has an error bound growing with
// k, done in blocks with kSumBlock + k / kSumBlock.
inline constexpr std::int64_t kSumBlock = 384;

// Unaligned load and store. Out-parameters rather than return values keep GCC's -Wpsabi quiet
// about vector returns.
inline void load(Vec& v, const float* p) {
  std::memcpy(&v, p, sizeof v);
}
inline void store(float* p, const Vec& v) {
  std::memcpy(p, &v, sizeof v);
}

// acc += s * b, one rounding per lane where the target has FMA, else a multiply then an add. Every
// kernel's sums are chains of these in order, so each output element is rounded the same whichever
// kernel computes it. Written out rather than left to -ffp-contract, which the compiler applies
// only at some optimization levels and may skip where it vectorizes scalar code.
inline void multiply_add(Vec& acc, float s, const Vec& b) {
#if defined(__AVX512F__)
  acc = _mm512_fmadd_ps(_mm512_set1_ps(s), b, acc);
#elif defined(__FMA__)
  acc = _mm256_fmadd_ps(_mm256_set1_ps(s), b, acc);
#else
  const Vec product = s * b;
  acc += product;
#endif
}

// The same for one float.
inline float multiply_add(float acc, float a, float b) {
#if defined(__FMA__)
  return __builtin_fmaf(a, b, acc);
#else
  const float product = a * b;
  return acc + product;
#endif
}

// Stand-ins for std::min, std::max, std::fill and std::copy, which would be instantiated outside
// this namespace (see the top of this file).
constexpr std::int64_t min(std::int64_t a, std::int64_t b) {
  return b < a ? b : a;
}
constexpr std::int64_t max(std::int64_t a, std::int64_t b) {
  return a < b ? b : a;
}
inline void fill_zero(float* begin, float* end) {
  if (end > begin) std::memset(begin, 0, static_cast<std::size_t>(end - begin) * sizeof(float));
}
inline void copy(const float* begin, const float* end, float* out) {
  if (end > begin) std::memcpy(out, begin, static_cast<std::size_t>(end - begin) * sizeof(float));
}

}  // namespace kserde::ops::KSERDE_KERNEL_NS::simd
