// The serial product kernels of one instruction set (see ops/kernel_set.hpp and isa/simd.hpp):
// one row, few rows (skinny), few columns (narrow); the packed kernel is in packed_gemm.cpp.
#include <cstring>

#include "ops/isa/packed_gemm.hpp"
#include "ops/isa/simd.hpp"
#include "ops/isa/window_kernels.hpp"
#include "ops/kernel_set.hpp"

namespace kserde::ops::KSERDE_KERNEL_NS {

namespace {

using simd::kLanes;
using simd::kSumBlock;
using simd::load;
using simd::multiply_add;
using simd::Vec;

// Few rows (a Dense layer at small batch): a packing GEMM would copy every weight once per call,
// which costs more than the arithmetic. Instead b is streamed once, in panels of kPanel columns:
// the panel's accumulators for every row stay in L1 while the rows of b go by four at a time, so
// each accumulator is loaded and stored once per four multiply-adds. A single row goes to
// row_times_matrix.
constexpr std::int64_t kPanelVecs = 16;
constexpr std::int64_t kPanel = kLanes * kPanelVecs;
// Rows of b ahead to prefetch: consecutive rows of a panel are a whole row of b apart, a stride
// the hardware prefetchers do not follow.
constexpr std::int64_t kPrefetchRows = 16;

// Columns [j0, j0 + nv * kLanes) of all m rows over steps [p0, p1) (one sum block); a_t is a
// transposed (a_t[p * m + r]). The block's sums are stored to c, or added to it when p0 > 0.
void skinny_panel(std::int64_t m, std::int64_t j0, std::int64_t nv, std::int64_t p0,
                  std::int64_t p1, const float* a_t, const float* b, std::int64_t ldb, float* c,
                  std::int64_t ldc) {
  Vec acc[kSkinnyRows][kPanelVecs];
  for (std::int64_t r = 0; r < m; ++r) {
    for (std::int64_t v = 0; v < nv; ++v) acc[r][v] = Vec{};
  }
  const std::int64_t width = nv * kLanes;
  std::int64_t p = p0;
  for (; p + 4 <= p1; p += 4) {
    const float* b0 = b + p * ldb + j0;
    const float* b1 = b0 + ldb;
    const float* b2 = b1 + ldb;
    const float* b3 = b2 + ldb;
    if (p + kPrefetchRows + 4 <= p1) {
      for (std::int64_t i = 0; i < 4; ++i) {
        const float* ahead = b0 + (kPrefetchRows + i) * ldb;
        for (std::int64_t x = 0; x < width; x += 64 / static_cast<std::int64_t>(sizeof(float))) {
          __builtin_prefetch(ahead + x);
        }
      }
    }
    for (std::int64_t r = 0; r < m; ++r) {
      const float a0 = a_t[p * m + r], a1 = a_t[(p + 1) * m + r];
      const float a2 = a_t[(p + 2) * m + r], a3 = a_t[(p + 3) * m + r];
      for (std::int64_t v = 0; v < nv; ++v) {
        Vec x = acc[r][v], bv;
        load(bv, b0 + v * kLanes);
        multiply_add(x, a0, bv);
        load(bv, b1 + v * kLanes);
        multiply_add(x, a1, bv);
        load(bv, b2 + v * kLanes);
        multiply_add(x, a2, bv);
        load(bv, b3 + v * kLanes);
        multiply_add(x, a3, bv);
        acc[r][v] = x;
      }
    }
  }
  for (; p < p1; ++p) {
    const float* brow = b + p * ldb + j0;
    for (std::int64_t r = 0; r < m; ++r) {
      const float ap = a_t[p * m + r];
      for (std::int64_t v = 0; v < nv; ++v) {
        Vec bv;
        load(bv, brow + v * kLanes);
        multiply_add(acc[r][v], ap, bv);
      }
    }
  }
  for (std::int64_t r = 0; r < m; ++r) {
    float* row = c + r * ldc + j0;
    if (p0 > 0) {
      for (std::int64_t v = 0; v < nv; ++v) {
        Vec sum;
        load(sum, row + v * kLanes);
        acc[r][v] = sum + acc[r][v];
      }
    }
    std::memcpy(row, acc[r], static_cast<std::size_t>(width) * sizeof(float));
  }
}

// Columns [j0, j1) (j0 a multiple of kLanes) of all m <= kSkinnyRows rows.
void skinny(std::int64_t m, std::int64_t j0, std::int64_t j1, std::int64_t k, const float* a,
            std::int64_t lda, const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  float* a_t = thread_scratch(ScratchSlot::A, k * m);
  for (std::int64_t r = 0; r < m; ++r) {
    for (std::int64_t p = 0; p < k; ++p) a_t[p * m + r] = a[r * lda + p];
  }
  std::int64_t j = j0;
  for (; j + kLanes <= j1; j += kPanel) {
    const std::int64_t nv = simd::min(kPanelVecs, (j1 - j) / kLanes);
    for (std::int64_t p0 = 0; p0 < k; p0 += kSumBlock) {
      skinny_panel(m, j, nv, p0, simd::min(k, p0 + kSumBlock), a_t, b, ldb, c, ldc);
    }
    if (nv < kPanelVecs) {
      j += nv * kLanes;
      break;
    }
  }
  // Column tail: the same sums per element, scalar.
  for (std::int64_t r = 0; r < m; ++r) {
    for (std::int64_t jj = j; jj < j1; ++jj) {
      float total = 0.0f;
      for (std::int64_t p0 = 0; p0 < k; p0 += kSumBlock) {
        float acc = 0.0f;
        for (std::int64_t p = p0; p < simd::min(k, p0 + kSumBlock); ++p)
          acc = multiply_add(acc, a_t[p * m + r], b[p * ldb + jj]);
        total = p0 == 0 ? acc : total + acc;
      }
      c[r * ldc + jj] = total;
    }
  }
}

// Narrow products (a convolution with few filters over few channels, e.g. 3x3 taps of one
// channel into 8 filters): a packing GEMM would copy all of a for a few multiply-adds per element.
// Each output row is instead one pass over its row of a with the row's accumulators in registers, b
// (at most kNarrowSteps x kNarrowColumns floats) staying in L1.
static_assert(kNarrowSteps <= kSumBlock, "a narrow product is one sum block");

// b (k x n, row stride ldb, n <= kNarrowColumns) with its rows zero-padded to whole vectors, so
// that every step of the narrow kernels is full-width.
std::int64_t padded_width(std::int64_t n) {
  return (n + kLanes - 1) / kLanes * kLanes;
}

void pad_columns(const float* b, std::int64_t ldb, std::int64_t n, std::int64_t k, float* padded) {
  const std::int64_t width = padded_width(n);
  for (std::int64_t p = 0; p < k; ++p) {
    simd::copy(b + p * ldb, b + p * ldb + n, padded + p * width);
    simd::fill_zero(padded + p * width + n, padded + (p + 1) * width);
  }
}

// The narrow kernel: for o < count, out[o * ldo, + n) = x_o @ b, where x_o is the k floats at
// base + o * step (contiguous, or at `offsets` when Gathered, as a convolution reads its window).
// Each element is one multiply-add chain over k in order.
template <int NV, bool Gathered>
void narrow_kernel(const float* base, std::int64_t step, std::int64_t count,
                   const std::int64_t* offsets, std::int64_t k, const float* b_padded,
                   std::int64_t n, float* out, std::int64_t ldo) {
  for (std::int64_t o = 0; o < count; ++o) {
    const float* x = base + o * step;
    Vec acc[NV] = {};
    for (std::int64_t p = 0; p < k; ++p) {
      const float s = Gathered ? x[offsets[p]] : x[p];
      for (int v = 0; v < NV; ++v) {
        Vec bv;
        load(bv, b_padded + (p * NV + v) * kLanes);
        multiply_add(acc[v], s, bv);
      }
    }
    // Common widths as fixed-size moves (a run-time-size memcpy is a libc call per row).
    float* dst = out + o * ldo;
    if (n == 8) {
      std::memcpy(dst, acc, 8 * sizeof(float));
    } else if (n == kLanes * NV) {
      std::memcpy(dst, acc, kLanes * NV * sizeof(float));
    } else {
      std::memcpy(dst, acc, static_cast<std::size_t>(n) * sizeof(float));
    }
  }
}

// narrow_kernel with NV = nv (1 <= nv <= Max), chosen at run time.
template <int Max, bool Gathered>
void narrow_kernel_upto(std::int64_t nv, const float* base, std::int64_t step, std::int64_t count,
                        const std::int64_t* offsets, std::int64_t k, const float* b_padded,
                        std::int64_t n, float* out, std::int64_t ldo) {
  if constexpr (Max > 1) {
    if (nv < Max) {
      narrow_kernel_upto<Max - 1, Gathered>(nv, base, step, count, offsets, k, b_padded, n, out,
                                            ldo);
      return;
    }
  }
  narrow_kernel<Max, Gathered>(base, step, count, offsets, k, b_padded, n, out, ldo);
}

template <bool Gathered>
void narrow(const float* base, std::int64_t step, std::int64_t count, const std::int64_t* offsets,
            std::int64_t k, const float* padded, std::int64_t n, float* out, std::int64_t ldo) {
  narrow_kernel_upto<kNarrowColumns / kLanes, Gathered>((n + kLanes - 1) / kLanes, base, step,
                                                        count, offsets, k, padded, n, out, ldo);
}

void narrow_rows(std::int64_t r0, std::int64_t r1, std::int64_t n, std::int64_t k, const float* a,
                 std::int64_t lda, const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  float* padded = thread_scratch(ScratchSlot::B, k * padded_width(n));
  pad_columns(b, ldb, n, k, padded);
  narrow<false>(a + r0 * lda, lda, r1 - r0, nullptr, k, padded, n, c + r0 * ldc, ldc);
}

// One row of a (a Dense layer at batch 1): b is read once, front to back, kRowBlock rows at a time
// (that many sequential streams, which the hardware prefetchers follow), each sweep adding their
// terms to the running sums of a panel of kRowPanel columns held in L1, one sum block at a time
// (simd::kSumBlock, as in the kernels for more rows, so a sample's result does not depend on its
// batch).
constexpr std::int64_t kRowBlock = 8;
constexpr std::int64_t kRowPanel = 2048;

// sums[0, width) += the terms of `rows` rows of b (row stride ldb) weighted by s, row by row.
template <std::int64_t Rows>
void row_sweep(const float* s, const float* b, std::int64_t ldb, float* sums, std::int64_t width) {
  std::int64_t j = 0;
  for (; j + kLanes <= width; j += kLanes) {
    Vec x;
    load(x, sums + j);
#pragma GCC unroll 8
    for (std::int64_t i = 0; i < Rows; ++i) {
      Vec bv;
      load(bv, b + i * ldb + j);
      multiply_add(x, s[i], bv);
    }
    std::memcpy(sums + j, &x, sizeof x);
  }
  if (j == width) return;
#if defined(__AVX512F__)
  static_assert(kLanes == 16);
  const auto mask = static_cast<__mmask16>((1u << (width - j)) - 1);
  __m512 x = _mm512_maskz_loadu_ps(mask, sums + j);
  for (std::int64_t i = 0; i < Rows; ++i) {
    x = _mm512_fmadd_ps(_mm512_set1_ps(s[i]), _mm512_maskz_loadu_ps(mask, b + i * ldb + j), x);
  }
  _mm512_mask_storeu_ps(sums + j, mask, x);
#else
  for (; j < width; ++j) {
    float x = sums[j];
    for (std::int64_t i = 0; i < Rows; ++i) x = multiply_add(x, s[i], b[i * ldb + j]);
    sums[j] = x;
  }
#endif
}

// Fewer columns than one vector (a classifier after a Flatten): one vector of sums in a register
// per sum block, each row of b one masked load.
void narrow_row_times_matrix(std::int64_t n, std::int64_t k, const float* a, const float* b,
                             std::int64_t ldb, float* c) {
#if defined(__AVX512F__)
  const auto mask = static_cast<__mmask16>((1u << n) - 1);
  __m512 total = _mm512_setzero_ps();
  for (std::int64_t p0 = 0; p0 < k; p0 += kSumBlock) {
    __m512 x = _mm512_setzero_ps();
    for (std::int64_t p = p0; p < simd::min(k, p0 + kSumBlock); ++p) {
      x = _mm512_fmadd_ps(_mm512_set1_ps(a[p]), _mm512_maskz_loadu_ps(mask, b + p * ldb), x);
    }
    total = p0 == 0 ? x : _mm512_add_ps(total, x);
  }
  _mm512_mask_storeu_ps(c, mask, total);
#else
  float total[kLanes] = {};
  for (std::int64_t p0 = 0; p0 < k; p0 += kSumBlock) {
    float x[kLanes] = {};
    for (std::int64_t p = p0; p < simd::min(k, p0 + kSumBlock); ++p) {
      for (std::int64_t j = 0; j < n; ++j) x[j] = multiply_add(x[j], a[p], b[p * ldb + j]);
    }
    for (std::int64_t j = 0; j < n; ++j) total[j] = p0 == 0 ? x[j] : total[j] + x[j];
  }
  simd::copy(total, total + n, c);
#endif
}

void row_times_matrix(std::int64_t n, std::int64_t k, const float* a, const float* b,
                      std::int64_t ldb, float* c) {
  if (n < kLanes) {
    narrow_row_times_matrix(n, k, a, b, ldb, c);
    return;
  }
  if (k <= 0) {
    simd::fill_zero(c, c + n);
    return;
  }
  static_assert(kSumBlock % kRowBlock == 0);
  alignas(64) float block[kRowPanel];
  for (std::int64_t j0 = 0; j0 < n; j0 += kRowPanel) {
    const std::int64_t width = simd::min(kRowPanel, n - j0);
    float* total = c + j0;
    for (std::int64_t p0 = 0; p0 < k; p0 += kSumBlock) {
      const std::int64_t p1 = simd::min(k, p0 + kSumBlock);
      float* sums = p0 == 0 ? total : block;  // the first block's sums are the total so far
      simd::fill_zero(sums, sums + width);
      std::int64_t p = p0;
      for (; p + kRowBlock <= p1; p += kRowBlock) {
        row_sweep<kRowBlock>(a + p, b + p * ldb + j0, ldb, sums, width);
      }
      for (; p < p1; ++p) row_sweep<1>(a + p, b + p * ldb + j0, ldb, sums, width);
      if (sums == block) {
        for (std::int64_t j = 0; j < width; ++j) total[j] = total[j] + block[j];
      }
    }
  }
}

void general(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
             const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  if (m == 1) {
    row_times_matrix(n, k, a, b, ldb, c);
  } else {
    packed_gemm(m, n, k, a, lda, b, ldb, c, ldc);
  }
}

void narrow_gather(const float* base, std::int64_t step, std::int64_t count,
                   const std::int64_t* offsets, std::int64_t k, const float* padded, std::int64_t n,
                   float* out) {
  narrow<true>(base, step, count, offsets, k, padded, n, out, n);
}

}  // namespace

const KernelSet& table() {
  static constexpr KernelSet kTable {
#if defined(__AVX512F__)
    "avx512",
#elif defined(__AVX2__)
    "avx2",
#else
    "baseline",
#endif
        kLanes, simd::kFused, &skinny, &narrow_rows, &general, &padded_width, &pad_columns,
        &narrow_gather, &pool_2d, &add_bias, &relu
  };
  return kTable;
}

}  // namespace kserde::ops::KSERDE_KERNEL_NS
