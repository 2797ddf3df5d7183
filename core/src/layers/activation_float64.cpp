#include "layers/activation_dtype.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "layers/activation_formulas.hpp"

namespace kserde::detail {

namespace {

using Scalar = formulas::Unary<double>;

void softmax_last_axis(Tensor& y) {
  const std::int64_t n = y.rank() == 0 ? 1 : y.shape().back();
  auto v = y.mutable_values<double>();
  const std::int64_t rows = n == 0 ? 0 : y.num_elements() / n;
  for (std::int64_t r = 0; r < rows; ++r) {
    double* row = v.data() + r * n;
    const double m = *std::max_element(row, row + n);
    double sum = 0.0;
    for (std::int64_t j = 0; j < n; ++j) {
      row[j] = std::exp(row[j] - m);
      sum += row[j];
    }
    for (std::int64_t j = 0; j < n; ++j) row[j] /= sum;
  }
}

void log_softmax_last_axis(Tensor& y) {
  const std::int64_t n = y.rank() == 0 ? 1 : y.shape().back();
  auto v = y.mutable_values<double>();
  const std::int64_t rows = n == 0 ? 0 : y.num_elements() / n;
  for (std::int64_t r = 0; r < rows; ++r) {
    double* row = v.data() + r * n;
    const double m = *std::max_element(row, row + n);
    double sum = 0.0;
    for (std::int64_t j = 0; j < n; ++j) sum += std::exp(row[j] - m);
    const double lse = std::log(sum);
    for (std::int64_t j = 0; j < n; ++j) row[j] = row[j] - m - lse;
  }
}

}  // namespace

bool has_float64_activation(const Activation& a) {
  return a.is_linear() || a.name == "softmax" || a.name == "log_softmax" ||
         formulas::unary<double>(a.name) != nullptr;
}

Tensor activate_float64(const Activation& a, Tensor y) {
  if (a.is_linear()) return y;
  if (y.dtype() == DType::Float64) {
    if (a.name == "softmax") {
      softmax_last_axis(y);
      return y;
    }
    if (a.name == "log_softmax") {
      log_softmax_last_axis(y);
      return y;
    }
    if (const Scalar f = formulas::unary<double>(a.name)) {
      for (double& x : y.mutable_values<double>()) x = f(x);
      return y;
    }
  }
  Tensor f = y.dtype() == DType::Float32 ? std::move(y) : y.to(DType::Float32);
  a.apply(f);
  return f;
}

}  // namespace kserde::detail
