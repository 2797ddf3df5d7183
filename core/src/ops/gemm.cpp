#include "ops/gemm.hpp"
#include "ops/gemm_f64.hpp"

#include <algorithm>
#include <vector>

#include "ops/kernel_set.hpp"
#include "ops/thread_pool.hpp"

namespace kserde::ops {

namespace {

// Few rows (a Dense layer at small batch) go to the skinny kernel, which streams b once, when the
// product is big enough for its panel set-up to pay.
constexpr double kSkinnyWork = 1 << 16;
// Column granularity of a split across threads (a multiple of every kernel set's register width).
constexpr std::int64_t kColumnGrain = 64;

bool use_skinny(const KernelSet& kern, std::int64_t m, std::int64_t n, std::int64_t k) {
  return m > 1 && m <= kSkinnyRows && n >= kern.lanes &&
         static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) >= kSkinnyWork;
}

bool use_narrow(std::int64_t n, std::int64_t k) {
  return n <= kNarrowColumns && k <= kNarrowSteps;
}

}  // namespace

NarrowOperand::NarrowOperand(const float* b, std::int64_t k, std::int64_t n)
    : kernels_(&active_kernels()),
      padded_(Tensor::uninitialized({k, kernels_->padded_width(n)}, DType::Float32)),
      k_(k),
      n_(n) {
  kernels_->pad_columns(b, n, n, k, padded_.f32_mut());
}

void narrow_gather(const float* base, std::int64_t step, std::int64_t count,
                   const std::int64_t* offsets, const NarrowOperand& b, float* out) {
  b.kernels().narrow_gather(base, step, count, offsets, b.k(), b.padded(), b.n(), out);
}

void gemm_serial(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                 const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const KernelSet& kern = active_kernels();
  if (use_skinny(kern, m, n, k)) {
    kern.skinny(m, 0, n, k, a, lda, b, ldb, c, ldc);
  } else if (use_narrow(n, k)) {
    kern.narrow_rows(0, m, n, k, a, lda, b, ldb, c, ldc);
  } else {
    kern.general(m, n, k, a, lda, b, ldb, c, ldc);
  }
}

void gemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
          const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const KernelSet& kern = active_kernels();
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  if (use_skinny(kern, m, n, k)) {
    // Threads take whole column strips; the last part also takes the column tail.
    const std::int64_t strips = n / kern.lanes;
    parallel_for(strips, 1, work, [&](std::int64_t s0, std::int64_t s1) {
      const std::int64_t j1 = s1 == strips ? n : s1 * kern.lanes;
      kern.skinny(m, s0 * kern.lanes, j1, k, a, lda, b, ldb, c, ldc);
    });
    return;
  }
  if (use_narrow(n, k)) {
    parallel_rows(m, work, [&](std::int64_t r0, std::int64_t r1) {
      kern.narrow_rows(r0, r1, n, k, a, lda, b, ldb, c, ldc);
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
      kern.general(m, j1 - j0, k, a, lda, b + j0, ldb, c + j0, ldc);
    });
    return;
  }
  // Rows split at multiples of kRowGrain (bitwise identical to one GEMM, see kRowGrain).
  parallel_rows(m, work, [&](std::int64_t r0, std::int64_t r1) {
    kern.general(r1 - r0, n, k, a + r0 * lda, lda, b, ldb, c + r0 * ldc, ldc);
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

void batched_gemm_f64(std::int64_t count, std::int64_t m, std::int64_t n, std::int64_t k,
                      const double* a, const double* b, bool b_transposed, double* c) {
  for (std::int64_t i = 0; i < count; ++i) {
    const double* ai = a + i * m * k;
    const double* bi = b + i * k * n;
    double* ci = c + i * m * n;
    for (std::int64_t r = 0; r < m; ++r) {
      double* row = ci + r * n;
      std::fill(row, row + n, 0.0);
      for (std::int64_t p = 0; p < k; ++p) {
        const double v = ai[r * k + p];
        if (b_transposed) {
          for (std::int64_t j = 0; j < n; ++j) row[j] += v * bi[j * k + p];
        } else {
          for (std::int64_t j = 0; j < n; ++j) row[j] += v * bi[p * n + j];
        }
      }
    }
  }
}

}  // namespace kserde::ops
