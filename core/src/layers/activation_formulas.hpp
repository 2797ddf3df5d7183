// Internal: the element-wise keras.activations formulas (Keras 3's defaults for string
// activations), written once for float32 (kserde/activations.hpp) and double (float64 layers,
// layers/activation_dtype.hpp) so the two dtypes cannot drift apart.
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string_view>

namespace kserde::detail::formulas {

template <class T>
T relu(T x) {
  return std::max(x, T(0));
}
template <class T>
T relu6(T x) {
  return std::min(std::max(x, T(0)), T(6));
}
template <class T>
T leaky_relu(T x) {
  return x >= 0 ? x : T(0.2) * x;
}
template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
template <class T>
T tanh(T x) {
  return std::tanh(x);
}
template <class T>
T elu(T x) {
  return x > 0 ? x : std::expm1(x);
}
template <class T>
T selu(T x) {
  constexpr T alpha = T(1.6732632423543772848170429916717);
  constexpr T scale = T(1.0507009873554804934193349852946);
  return scale * (x > 0 ? x : alpha * std::expm1(x));
}
template <class T>
T celu(T x) {
  return std::max(x, T(0)) + std::min(T(0), std::expm1(x));
}
template <class T>
T softplus(T x) {
  return std::max(x, T(0)) + std::log1p(std::exp(-std::fabs(x)));
}
template <class T>
T softsign(T x) {
  return x / (std::fabs(x) + T(1));
}
template <class T>
T silu(T x) {
  return x * sigmoid(x);
}
template <class T>
T gelu(T x) {
  return T(0.5) * x * (T(1) + std::erf(x / std::numbers::sqrt2_v<T>));
}
template <class T>
T gelu_tanh(T x) {
  const T c = std::sqrt(T(2) / std::numbers::pi_v<T>);
  return T(0.5) * x * (T(1) + std::tanh(c * (x + T(0.044715) * x * x * x)));
}
template <class T>
T exponential(T x) {
  return std::exp(x);
}
template <class T>
T hard_sigmoid(T x) {
  return relu6(x + T(3)) / T(6);
}
template <class T>
T hard_silu(T x) {
  return x * relu6(x + T(3)) / T(6);
}
template <class T>
T hard_tanh(T x) {
  return std::min(std::max(x, T(-1)), T(1));
}
template <class T>
T hard_shrink(T x) {
  return std::fabs(x) > T(0.5) ? x : T(0);
}
template <class T>
T soft_shrink(T x) {
  return x > T(0.5) ? x - T(0.5) : (x < T(-0.5) ? x + T(0.5) : T(0));
}
template <class T>
T tanh_shrink(T x) {
  return x - std::tanh(x);
}
template <class T>
T sparse_plus(T x) {
  return x <= T(-1) ? T(0) : (x >= T(1) ? x : T(0.25) * (x + T(1)) * (x + T(1)));
}
template <class T>
T sparse_sigmoid(T x) {
  return x <= T(-1) ? T(0) : (x >= T(1) ? T(1) : T(0.5) * (x + T(1)));
}
template <class T>
T squareplus(T x) {
  return T(0.5) * (x + std::sqrt(x * x + T(4)));
}
template <class T>
T log_sigmoid(T x) {
  return -softplus(-x);
}
template <class T>
T mish(T x) {
  return x * std::tanh(softplus(x));
}

template <class T>
using Unary = T (*)(T);

// The element-wise activation `name` (after Keras's aliases swish -> silu, hard_swish ->
// hard_silu; "gelu_approximate" is gelu with approximate=True), or nullptr.
template <class T>
Unary<T> unary(std::string_view name) {
  struct Entry {
    std::string_view name;
    Unary<T> fn;
  };
  static constexpr Entry kEntries[] = {
      {"relu", relu<T>},
      {"relu6", relu6<T>},
      {"leaky_relu", leaky_relu<T>},
      {"sigmoid", sigmoid<T>},
      {"tanh", tanh<T>},
      {"elu", elu<T>},
      {"selu", selu<T>},
      {"celu", celu<T>},
      {"softplus", softplus<T>},
      {"softsign", softsign<T>},
      {"silu", silu<T>},
      {"gelu", gelu<T>},
      {"gelu_approximate", gelu_tanh<T>},
      {"exponential", exponential<T>},
      {"hard_sigmoid", hard_sigmoid<T>},
      {"hard_silu", hard_silu<T>},
      {"hard_tanh", hard_tanh<T>},
      {"hard_shrink", hard_shrink<T>},
      {"soft_shrink", soft_shrink<T>},
      {"tanh_shrink", tanh_shrink<T>},
      {"sparse_plus", sparse_plus<T>},
      {"sparse_sigmoid", sparse_sigmoid<T>},
      {"squareplus", squareplus<T>},
      {"log_sigmoid", log_sigmoid<T>},
      {"mish", mish<T>},
  };
  for (const Entry& e : kEntries) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

}  // namespace kserde::detail::formulas
