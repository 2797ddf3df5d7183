#include <algorithm>
#include <cmath>

#include "kserde/ops.hpp"
#include "layers/activation_dtype.hpp"

namespace kserde::detail {

namespace {

float round_half(float v, DType half) {
  return half == DType::BFloat16 ? bfloat16_to_float(float_to_bfloat16(v))
                                 : half_to_float(float_to_half(v));
}

// NumPy's sigmoid in a half type: 1 / (1 + exp(-x)), each operation rounded.
float sigmoid_half(float x, DType half) {
  const float e = round_half(std::exp(-x), half);
  return round_half(1.0f / round_half(1.0f + e, half), half);
}

// exp(x - max) / sum(exp(x - max)) over the last axis, each operation rounded.
void softmax_half(Tensor& y, DType half) {
  const std::int64_t n = y.rank() == 0 ? 1 : y.shape().back();
  auto v = y.mutable_values<float>();
  const std::int64_t rows = n == 0 ? 0 : y.num_elements() / n;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = v.data() + r * n;
    const float m = *std::max_element(row, row + n);
    float sum = 0.0f;
    for (std::int64_t j = 0; j < n; ++j) {
      row[j] = round_half(std::exp(round_half(row[j] - m, half)), half);
      sum += row[j];
    }
    const float s = round_half(sum, half);
    for (std::int64_t j = 0; j < n; ++j) row[j] = round_half(row[j] / s, half);
  }
}

}  // namespace

void activate_half(const Activation& a, Tensor& y, DType half) {
  if (a.name == "sigmoid") {
    for (float& x : y.mutable_values<float>()) x = sigmoid_half(x, half);
    return;
  }
  if (a.name == "silu") {
    for (float& x : y.mutable_values<float>()) x = round_half(x * sigmoid_half(x, half), half);
    return;
  }
  if (a.name == "softmax") {
    softmax_half(y, half);
    return;
  }
  a.apply(y);
  ops::round_to(y, half);
}

}  // namespace kserde::detail
