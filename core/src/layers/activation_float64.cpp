#include "layers/activation_dtype.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>

namespace kserde::detail {

namespace {

using Scalar = double (*)(double);

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

// The element-wise built-ins, with the formulas of Keras's NumPy backend.
Scalar scalar_for(std::string_view name) {
  if (name == "relu") return [](double x) { return std::max(x, 0.0); };
  if (name == "relu6") return [](double x) { return std::min(std::max(x, 0.0), 6.0); };
  if (name == "leaky_relu") return [](double x) { return std::max(x, 0.2 * x); };
  if (name == "sigmoid") return sigmoid;
  if (name == "tanh") return [](double x) { return std::tanh(x); };
  if (name == "elu") return [](double x) { return x >= 0.0 ? x : std::expm1(x); };
  if (name == "selu") {
    return [](double x) {
      constexpr double alpha = 1.6732632423543772848170429916717;
      constexpr double scale = 1.0507009873554804934193349852946;
      return scale * (x > 0.0 ? x : alpha * std::expm1(x));
    };
  }
  if (name == "softplus") {
    return [](double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); };
  }
  if (name == "softsign") return [](double x) { return x / (1.0 + std::fabs(x)); };
  if (name == "silu") return [](double x) { return x * sigmoid(x); };
  if (name == "exponential") return [](double x) { return std::exp(x); };
  return nullptr;
}

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

}  // namespace

bool has_float64_activation(const Activation& a) {
  return a.is_linear() || a.name == "softmax" || scalar_for(a.name) != nullptr;
}

Tensor activate_float64(const Activation& a, Tensor y) {
  if (a.is_linear()) return y;
  if (y.dtype() == DType::Float64) {
    if (a.name == "softmax") {
      softmax_last_axis(y);
      return y;
    }
    if (const Scalar f = scalar_for(a.name)) {
      for (double& x : y.mutable_values<double>()) x = f(x);
      return y;
    }
  }
  Tensor f = y.dtype() == DType::Float32 ? std::move(y) : y.to(DType::Float32);
  a.apply(f);
  return f;
}

}  // namespace kserde::detail
