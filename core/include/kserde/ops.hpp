// Numeric building blocks for layer implementations (built-in and plugin). float32 tensors,
// row-major; Eigen does the work behind these calls and stays out of public headers.
#pragma once

#include "kserde/tensor.hpp"

namespace kserde::ops {

// x[..., k] @ w[k, n] -> [..., n] (Dense's kernel applied to the last axis).
Tensor matmul_last_axis(const Tensor& x, const Tensor& w);
// t[..., n] += b[n].
void add_bias_last_axis(Tensor& t, const Tensor& b);
// t *= s.
void scale(Tensor& t, float s);
// A float32 view of `t` (converts other dtypes, shares storage when already float32).
Tensor as_float32(const Tensor& t);
// Rounds every value of a float32 tensor to the nearest `dtype` value (float16 or bfloat16; a
// no-op for others), in place: half-precision arithmetic computed in float32.
void round_to(Tensor& t, DType dtype);
// A float32 copy of `t` rounded to `dtype` (shares storage when nothing needs rounding).
Tensor rounded_to(const Tensor& t, DType dtype);

}  // namespace kserde::ops
