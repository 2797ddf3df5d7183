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

}  // namespace kserde::ops
