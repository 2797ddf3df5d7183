// Internal: the one matrix product behind every layer that multiplies matrices (Dense, EinsumDense,
// convolutions, recurrent cells, attention, Dot, the matmul op).
#pragma once

#include <cstdint>
#include <vector>

#include "kserde/tensor.hpp"

namespace kserde::ops {

// c[m, n] = a[m, k] @ b[k, n], all row-major float32 with the given leading dimensions (row
// strides in floats). Splits the work across the inference pool. Each output element is computed
// by the same operations (simd::kSumBlock's rule) whatever the number of rows, the kernel or the
// thread count, so results are bitwise identical for any batch and pool size. Allocates nothing in
// steady state.
void gemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
          const float* b, std::int64_t ldb, float* c, std::int64_t ldc);

// For every i < count: c_i[m, n] = a_i[m, k] @ b_i, where b_i is [k, n] or, when `b_transposed`,
// the transpose of a stored [n, k] (attention's scores, q @ k^T), and operand i of each is the
// i-th contiguous row-major block (a + i * m * k, ...). Items are split across the inference pool
// (one per head and sample in attention), or each product is when there are fewer items than
// threads; the same sums as gemm either way.
void batched_gemm(std::int64_t count, std::int64_t m, std::int64_t n, std::int64_t k,
                  const float* a, const float* b, bool b_transposed, float* c);

// The same product on the calling thread only (for callers that split work themselves).
void gemm_serial(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                 const float* b, std::int64_t ldb, float* c, std::int64_t ldc);

struct KernelSet;

// b (k x n, n <= 32) with each row zero-padded to whole vectors: the operand of narrow_gather,
// prepared once per layer call instead of once per row of output, for the kernel set in use then.
class NarrowOperand {
 public:
  NarrowOperand(const float* b, std::int64_t k, std::int64_t n);
  const float* padded() const { return padded_.f32(); }
  std::int64_t k() const { return k_; }
  std::int64_t n() const { return n_; }
  const KernelSet& kernels() const { return *kernels_; }

 private:
  const KernelSet* kernels_;  // the set the padding was laid out for
  Tensor padded_;             // from the tensor buffer cache: steady-state calls allocate nothing
  std::int64_t k_;
  std::int64_t n_;
};

// For o < count: out[o * n, + n) = sum over p < k of base[o * step + offsets[p]] * b[p * n, + n]
// (b is k x n, n <= 32): a narrow product whose a-rows are gathered from fixed offsets, as a
// convolution reads its windows. Each element is one multiply-add chain over p in order.
void narrow_gather(const float* base, std::int64_t step, std::int64_t count,
                   const std::int64_t* offsets, const NarrowOperand& b, float* out);

}  // namespace kserde::ops
