#include "ops/eigen.hpp"

#include "ops/gemm.hpp"

namespace kserde::ops {

RowMatrix product(const float* a, Eigen::Index rows, Eigen::Index depth, const float* b,
                  Eigen::Index ldb, Eigen::Index first, Eigen::Index cols) {
  RowMatrix out(rows, cols);
  gemm(rows, cols, depth, a, depth, b + first, ldb, out.data(), cols);
  return out;
}

}  // namespace kserde::ops
