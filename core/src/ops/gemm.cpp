#include "ops/gemm.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/packed_gemm.hpp"
#include "ops/simd.hpp"
#include "ops/thread_pool.hpp"

namespace kserde::ops {

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
constexpr std::int64_t kSkinnyRows = 16;
constexpr double kSkinnyWork = 1 << 16;
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
  thread_local std::vector<float> a_t;
  a_t.resize(static_cast<std::size_t>(k * m));
  for (std::int64_t r = 0; r < m; ++r) {
    for (std::int64_t p = 0; p < k; ++p) a_t[static_cast<std::size_t>(p * m + r)] = a[r * lda + p];
  }
  std::int64_t j = j0;
  for (; j + kLanes <= j1; j += kPanel) {
    const std::int64_t nv = std::min(kPanelVecs, (j1 - j) / kLanes);
    for (std::int64_t p0 = 0; p0 < k; p0 += kSumBlock) {
      skinny_panel(m, j, nv, p0, std::min(k, p0 + kSumBlock), a_t.data(), b, ldb, c, ldc);
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
        for (std::int64_t p = p0; p < std::min(k, p0 + kSumBlock); ++p)
          acc = multiply_add(acc, a_t[static_cast<std::size_t>(p * m + r)], b[p * ldb + jj]);
        total = p0 == 0 ? acc : total + acc;
      }
      c[r * ldc + jj] = total;
    }
  }
}

bool use_skinny(std::int64_t m, std::int64_t n, std::int64_t k) {
  return m > 1 && m <= kSkinnyRows && n >= kLanes &&
         static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) >= kSkinnyWork;
}

// Narrow products (a convolution with few filters over few channels, e.g. 3x3 taps of one
// channel into 8 filters): a packing GEMM would copy all of a for a few multiply-adds per element.
// Each output row is instead one pass over its row of a with the row's accumulators in registers, b
// (at most kNarrowK x kNarrowN floats) staying in L1.
constexpr std::int64_t kNarrowN = 32;
// Column granularity of a split across threads (a multiple of every kernel's register width).
constexpr std::int64_t kColumnGrain = 64;
constexpr std::int64_t kNarrowK = 64;
static_assert(kNarrowK <= kSumBlock, "a narrow product is one sum block");

bool use_narrow(std::int64_t n, std::int64_t k) {
  return n <= kNarrowN && k <= kNarrowK;
}

// b (k x n, row stride ldb, n <= kNarrowN) with its rows zero-padded to whole vectors, so that
// every step of the narrow kernels is full-width.
std::int64_t padded_width(std::int64_t n) {
  return (n + kLanes - 1) / kLanes * kLanes;
}

void pad_columns(const float* b, std::int64_t ldb, std::int64_t n, std::int64_t k, float* padded) {
  const std::int64_t width = padded_width(n);
  for (std::int64_t p = 0; p < k; ++p) {
    std::copy(b + p * ldb, b + p * ldb + n, padded + p * width);
    std::fill(padded + p * width + n, padded + (p + 1) * width, 0.0f);
  }
}

void pad_columns(const float* b, std::int64_t ldb, std::int64_t n, std::int64_t k,
                 std::vector<float>& padded) {
  padded.resize(static_cast<std::size_t>(k * padded_width(n)));
  pad_columns(b, ldb, n, k, padded.data());
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
  narrow_kernel_upto<kNarrowN / kLanes, Gathered>((n + kLanes - 1) / kLanes, base, step, count,
                                                  offsets, k, padded, n, out, ldo);
}

void narrow_rows(std::int64_t r0, std::int64_t r1, std::int64_t n, std::int64_t k, const float* a,
                 std::int64_t lda, const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  thread_local std::vector<float> padded;
  pad_columns(b, ldb, n, k, padded);
  narrow<false>(a + r0 * lda, lda, r1 - r0, nullptr, k, padded.data(), n, c + r0 * ldc, ldc);
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
    for (std::int64_t p = p0; p < std::min(k, p0 + kSumBlock); ++p) {
      x = _mm512_fmadd_ps(_mm512_set1_ps(a[p]), _mm512_maskz_loadu_ps(mask, b + p * ldb), x);
    }
    total = p0 == 0 ? x : _mm512_add_ps(total, x);
  }
  _mm512_mask_storeu_ps(c, mask, total);
#else
  float total[kLanes] = {};
  for (std::int64_t p0 = 0; p0 < k; p0 += kSumBlock) {
    float x[kLanes] = {};
    for (std::int64_t p = p0; p < std::min(k, p0 + kSumBlock); ++p) {
      for (std::int64_t j = 0; j < n; ++j) x[j] = multiply_add(x[j], a[p], b[p * ldb + j]);
    }
    for (std::int64_t j = 0; j < n; ++j) total[j] = p0 == 0 ? x[j] : total[j] + x[j];
  }
  std::copy(total, total + n, c);
#endif
}

void row_times_matrix(std::int64_t n, std::int64_t k, const float* a, const float* b,
                      std::int64_t ldb, float* c) {
  if (n < kLanes) {
    narrow_row_times_matrix(n, k, a, b, ldb, c);
    return;
  }
  if (k <= 0) {
    std::fill(c, c + n, 0.0f);
    return;
  }
  static_assert(kSumBlock % kRowBlock == 0);
  alignas(64) float block[kRowPanel];
  for (std::int64_t j0 = 0; j0 < n; j0 += kRowPanel) {
    const std::int64_t width = std::min(kRowPanel, n - j0);
    float* total = c + j0;
    for (std::int64_t p0 = 0; p0 < k; p0 += kSumBlock) {
      const std::int64_t p1 = std::min(k, p0 + kSumBlock);
      float* sums = p0 == 0 ? total : block;  // the first block's sums are the total so far
      std::fill(sums, sums + width, 0.0f);
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

}  // namespace

NarrowOperand::NarrowOperand(const float* b, std::int64_t k, std::int64_t n)
    : padded_(Tensor::uninitialized({k, padded_width(n)}, DType::Float32)), k_(k), n_(n) {
  pad_columns(b, n, n, k, padded_.f32_mut());
}

void narrow_gather(const float* base, std::int64_t step, std::int64_t count,
                   const std::int64_t* offsets, const NarrowOperand& b, float* out) {
  narrow<true>(base, step, count, offsets, b.k(), b.padded(), b.n(), out, b.n());
}

void gemm_serial(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                 const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (use_skinny(m, n, k)) {
    skinny(m, 0, n, k, a, lda, b, ldb, c, ldc);
  } else if (use_narrow(n, k)) {
    narrow_rows(0, m, n, k, a, lda, b, ldb, c, ldc);
  } else {
    general(m, n, k, a, lda, b, ldb, c, ldc);
  }
}

void gemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
          const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  if (use_skinny(m, n, k)) {
    // Threads take whole column strips; the last part also takes the column tail.
    const std::int64_t strips = n / kLanes;
    parallel_for(strips, 1, work, [&](std::int64_t s0, std::int64_t s1) {
      const std::int64_t j1 = s1 == strips ? n : s1 * kLanes;
      skinny(m, s0 * kLanes, j1, k, a, lda, b, ldb, c, ldc);
    });
    return;
  }
  if (use_narrow(n, k)) {
    parallel_rows(m, work, [&](std::int64_t r0, std::int64_t r1) {
      narrow_rows(r0, r1, n, k, a, lda, b, ldb, c, ldc);
    });
    return;
  }
  if (n > m && n >= 2 * kColumnGrain) {
    // More columns than rows (a Dense layer at a batch of a few dozen): threads take column
    // blocks, at multiples of kColumnGrain, so that each reads and packs only its share of b, the
    // larger operand. Every kernel sums each element in the same order whatever its columns, so
    // the split changes no result.
    const std::int64_t units = (n + kColumnGrain - 1) / kColumnGrain;
    parallel_for(units, 1, work, [&](std::int64_t u0, std::int64_t u1) {
      const std::int64_t j0 = u0 * kColumnGrain;
      const std::int64_t j1 = std::min(n, u1 * kColumnGrain);
      general(m, j1 - j0, k, a, lda, b + j0, ldb, c + j0, ldc);
    });
    return;
  }
  // Rows split at multiples of kRowGrain (bitwise identical to one GEMM, see kRowGrain).
  parallel_rows(m, work, [&](std::int64_t r0, std::int64_t r1) {
    general(r1 - r0, n, k, a + r0 * lda, lda, b, ldb, c + r0 * ldc, ldc);
  });
}

namespace {

// b_i for item i: the stored block itself, or its transpose in a per-thread buffer.
const float* item_b(const float* b, std::int64_t i, std::int64_t n, std::int64_t k,
                    bool transposed) {
  const float* bi = b + i * k * n;
  if (!transposed) return bi;
  thread_local std::vector<float> t;
  t.resize(static_cast<std::size_t>(k * n));
  for (std::int64_t j = 0; j < n; ++j) {
    for (std::int64_t p = 0; p < k; ++p) t[static_cast<std::size_t>(p * n + j)] = bi[j * k + p];
  }
  return t.data();
}

}  // namespace

void batched_gemm(std::int64_t count, std::int64_t m, std::int64_t n, std::int64_t k,
                  const float* a, const float* b, bool b_transposed, float* c) {
  if (count <= 0 || m <= 0 || n <= 0) return;
  const double work = static_cast<double>(count) * static_cast<double>(m) * static_cast<double>(n) *
                      static_cast<double>(std::max<std::int64_t>(k, 1));
  if (count < static_cast<std::int64_t>(num_threads())) {
    for (std::int64_t i = 0; i < count; ++i) {
      gemm(m, n, k, a + i * m * k, k, item_b(b, i, n, k, b_transposed), n, c + i * m * n, n);
    }
    return;
  }
  parallel_for(count, 1, work, [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i) {
      gemm_serial(m, n, k, a + i * m * k, k, item_b(b, i, n, k, b_transposed), n, c + i * m * n, n);
    }
  });
}

}  // namespace kserde::ops
