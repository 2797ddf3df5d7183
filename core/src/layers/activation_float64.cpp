#include "layers/activation_dtype.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "layers/activation_formulas.hpp"

namespace kserde::detail {

namespace {

using Scalar = formulas::Unary<double>;

void softmax_last_axis(Tensor& y) {
  for_each_last_axis_row<double>(y, [](std::span<double> row) {
    const double m = *std::max_element(row.begin(), row.end());
    double sum = 0.0;
    for (double& x : row) {
      x = std::exp(x - m);
      sum += x;
    }
    for (double& x : row) x /= sum;
  });
}

void log_softmax_last_axis(Tensor& y) {
  for_each_last_axis_row<double>(y, [](std::span<double> row) {
    const double m = *std::max_element(row.begin(), row.end());
    double sum = 0.0;
    for (const double x : row) sum += std::exp(x - m);
    const double lse = std::log(sum);
    for (double& x : row) x = x - m - lse;
  });
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
