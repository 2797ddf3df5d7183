// Internal: the cache-blocked GEMM kernel behind ops::gemm for products of many rows.
#pragma once

#include <cstdint>

namespace kserde::ops::KSERDE_KERNEL_NS {

// c[m, n] = a[m, k] @ b[k, n] (row-major, leading dimensions in floats) on the calling thread.
// b (and a, when a block is wide) is copied block by block into per-thread buffers laid out for a
// register-tiled kernel (allocated once per thread, then reused). Each output element is summed by
// simd::kSumBlock's rule, the same operations as the other kernels in gemm_kernels.cpp, whatever
// the row or column split.
void packed_gemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                 const float* b, std::int64_t ldb, float* c, std::int64_t ldc);

}  // namespace kserde::ops::KSERDE_KERNEL_NS
