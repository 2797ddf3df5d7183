// Internal: built-in activations in a layer's compute dtype, as Keras's NumPy backend applies them
// (in the tensor's dtype): over float64 tensors in double, and in float16/bfloat16 with each NumPy
// operation of the activation rounded.
#pragma once

#include <cstdint>
#include <span>

#include "kserde/activations.hpp"
#include "kserde/tensor.hpp"

namespace kserde::detail {

// Calls f(row) for each row of `y`'s last axis (one row for a scalar), as a std::span<T> of the
// values of T = y's element type.
template <class T, class F>
void for_each_last_axis_row(Tensor& y, F f) {
  const std::int64_t n = y.rank() == 0 ? 1 : y.shape().back();
  auto v = y.mutable_values<T>();
  const std::int64_t rows = n == 0 ? 0 : y.num_elements() / n;
  for (std::int64_t r = 0; r < rows; ++r) {
    f(v.subspan(static_cast<std::size_t>(r * n), static_cast<std::size_t>(n)));
  }
}

// True when `a` is linear or a built-in computed in double here: every element-wise built-in
// (layers/activation_formulas.hpp), softmax and log_softmax (last axis); not sparsemax or glu.
bool has_float64_activation(const Activation& a);

// Applies `a` to the float64 tensor `y`: in double when has_float64_activation(a), otherwise in
// float32 on a float32 copy (the result is then float32; the caller's cast makes it float64).
Tensor activate_float64(const Activation& a, Tensor y);

// Applies `a` to `y` (float32 holding values of the half type `half`) and rounds the result to
// `half`. sigmoid, silu (swish) and softmax round each NumPy operation they are made of (float16
// ufuncs compute in float32 and round; sums accumulate in float32 and round once); other
// activations are one operation (or piecewise linear) and are computed in float32 then rounded.
void activate_half(const Activation& a, Tensor& y, DType half);

}  // namespace kserde::detail
