// Internal: the one matrix product behind Dense, EinsumDense and every convolution.
#pragma once

#include <cstdint>

namespace kserde::ops {

// c[m, n] = a[m, k] @ b[k, n], all row-major float32 with the given leading dimensions (row
// strides in floats). Splits the work across the inference pool. Each output element is computed
// by the same operations in the same order whatever the thread count, so results are bitwise
// identical for any pool size. Allocates nothing in steady state.
void gemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
          const float* b, std::int64_t ldb, float* c, std::int64_t ldc);

// The same product on the calling thread only (for callers that split work themselves).
void gemm_serial(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                 const float* b, std::int64_t ldb, float* c, std::int64_t ldc);

}  // namespace kserde::ops
