// Internal: the float64 matrix product of the float64 policy's layers and operations (EinsumDense,
// MultiHeadAttention, Dot, the matmul op), which NumPy computes in double.
#pragma once

#include <cstdint>

namespace kserde::ops {

// For every i < count: c_i[m, n] = a_i[m, k] @ b_i, where b_i is [k, n] or, when `b_transposed`,
// the transpose of a stored [n, k]; operand i of each is the i-th contiguous row-major block.
// Each element is summed in double over k in order. Single-threaded; allocates nothing.
void batched_gemm_f64(std::int64_t count, std::int64_t m, std::int64_t n, std::int64_t k,
                      const double* a, const double* b, bool b_transposed, double* c);

}  // namespace kserde::ops
