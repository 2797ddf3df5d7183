#include <algorithm>
#include <cmath>
#include <numbers>

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
  for_each_last_axis_row<float>(y, [half](std::span<float> row) {
    const float m = *std::max_element(row.begin(), row.end());
    float sum = 0.0f;
    for (float& x : row) {
      x = round_half(std::exp(round_half(x - m, half)), half);
      sum += x;
    }
    const float s = round_half(sum, half);
    for (float& x : row) x = round_half(x / s, half);
  });
}

// NumPy's elu/selu in a half type: where(x >= 0, x, r(alpha) * r(expm1(x))) [* r(scale)].
float elu_half(float x, float alpha, DType half) {
  return x >= 0.0f ? x : round_half(alpha * round_half(std::expm1(x), half), half);
}

// Keras's exact gelu in a half type: x * r(erf(r(x / r(sqrt 2))) + 1) / 2, where SciPy's erf of
// a half array returns float32 (its float loop evaluates the double erf) and the sum with 1 stays
// float32 until the cast.
float gelu_half(float x, DType half) {
  const float t = round_half(x / round_half(static_cast<float>(std::numbers::sqrt2), half), half);
  const float c = round_half(static_cast<float>(std::erf(static_cast<double>(t))) + 1.0f, half);
  return round_half(round_half(x * c, half) / 2.0f, half);
}

// Keras's tanh-approximate gelu: x * r(0.5 * r(1 + r(tanh(r(s * r(x + r(0.044715 * r(x^3))))))))
// with s = r(sqrt(2 / pi)) and the constants rounded to the half type.
float gelu_tanh_half(float x, DType half) {
  const float s = round_half(std::sqrt(2.0f / std::numbers::pi_v<float>), half);
  const float x3 = round_half(x * x * x, half);
  const float inner = round_half(x + round_half(round_half(0.044715f, half) * x3, half), half);
  const float th = round_half(std::tanh(round_half(s * inner, half)), half);
  const float cdf = round_half(0.5f * round_half(1.0f + th, half), half);
  return round_half(x * cdf, half);
}

// x - max - log(sum(exp(x - max))) over the last axis, each operation rounded (the sum
// accumulated in float32).
void log_softmax_half(Tensor& y, DType half) {
  for_each_last_axis_row<float>(y, [half](std::span<float> row) {
    const float m = *std::max_element(row.begin(), row.end());
    float sum = 0.0f;
    for (const float x : row) sum += round_half(std::exp(round_half(x - m, half)), half);
    const float lse = round_half(std::log(round_half(sum, half)), half);
    for (float& x : row) x = round_half(round_half(x - m, half) - lse, half);
  });
}

template <class F>
void each(Tensor& y, F f) {
  for (float& x : y.mutable_values<float>()) x = f(x);
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
  if (a.name == "elu") {
    each(y, [half](float x) { return elu_half(x, 1.0f, half); });
    return;
  }
  if (a.name == "selu") {
    const float alpha = round_half(1.6732632423543772f, half);
    const float scale = round_half(1.0507009873554805f, half);
    each(y, [=](float x) { return round_half(scale * elu_half(x, alpha, half), half); });
    return;
  }
  if (a.name == "softsign") {  // x / (1 + |x|)
    each(y,
         [half](float x) { return round_half(x / round_half(1.0f + std::fabs(x), half), half); });
    return;
  }
  if (a.name == "gelu") {
    each(y, [half](float x) { return gelu_half(x, half); });
    return;
  }
  if (a.name == "gelu_approximate") {
    each(y, [half](float x) { return gelu_tanh_half(x, half); });
    return;
  }
  if (a.name == "mish") {  // x * tanh(softplus(x)), softplus one NumPy ufunc (logaddexp)
    each(y, [half](float x) {
      // NumPy's logaddexp(x, 0): max + log1p(exp(-|x|)), rounded once.
      const float sp = round_half(std::max(x, 0.0f) + std::log1p(std::exp(-std::fabs(x))), half);
      return round_half(x * round_half(std::tanh(sp), half), half);
    });
    return;
  }
  if (a.name == "log_softmax") {
    log_softmax_half(y, half);
    return;
  }
  a.apply(y);
  ops::round_to(y, half);
}

}  // namespace kserde::detail
