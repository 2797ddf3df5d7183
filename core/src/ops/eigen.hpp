// Internal: Eigen views over kserde tensors. Include only from .cpp files that do math.
#pragma once

#include <Eigen/Core>

#include "kserde/tensor.hpp"

namespace kserde::ops {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMatrix>;
using ConstMatrixMap = Eigen::Map<const RowMatrix>;

inline ConstMatrixMap as_matrix(const Tensor& t, Eigen::Index rows, Eigen::Index cols) {
  return {t.values<float>().data(), rows, cols};
}
inline MatrixMap as_matrix(Tensor& t, Eigen::Index rows, Eigen::Index cols) {
  return {t.mutable_values<float>().data(), rows, cols};
}

// a (rows x depth, row-major) @ b[:, first, first + cols) where b is row-major with `ldb` floats
// per row, through ops::gemm (threaded; every element summed by the same rule whatever the rows,
// so a row's result does not depend on the batch).
RowMatrix product(const float* a, Eigen::Index rows, Eigen::Index depth, const float* b,
                  Eigen::Index ldb, Eigen::Index first, Eigen::Index cols);
inline RowMatrix product(const RowMatrix& a, const float* b, Eigen::Index ldb, Eigen::Index first,
                         Eigen::Index cols) {
  return product(a.data(), a.rows(), a.cols(), b, ldb, first, cols);
}

}  // namespace kserde::ops
