#include <string>

#include "kserde/error.hpp"
#include "kserde/ops.hpp"
#include "ops/gemm.hpp"
#include "ops/kernel_set.hpp"

namespace kserde::ops {

Tensor as_float32(const Tensor& t) {
  return t.dtype() == DType::Float32 ? t : t.to(DType::Float32);
}

Tensor matmul_last_axis(const Tensor& x_in, const Tensor& w_in) {
  const Tensor x = as_float32(x_in);
  const Tensor w = as_float32(w_in);
  if (x.rank() < 1 || w.rank() != 2 || x.shape().back() != w.dim(0)) {
    throw ShapeError("matmul: input " + shape_to_string(x.shape()) + " does not match kernel " +
                     shape_to_string(w.shape()));
  }
  const std::int64_t k = w.dim(0);
  const std::int64_t n = w.dim(1);
  const std::int64_t rows = k == 0 ? 0 : x.num_elements() / k;
  Shape out_shape = x.shape();
  out_shape.back() = n;
  Tensor out = Tensor::uninitialized(out_shape, DType::Float32);  // gemm writes every element
  if (rows > 0 && n > 0) {
    gemm(rows, n, k, x.f32(), k, w.f32(), n, out.f32_mut(), n);
  }
  return out;
}

void add_bias_last_axis(Tensor& t, const Tensor& b_in) {
  const Tensor b = as_float32(b_in);
  const std::int64_t n = b.num_elements();
  if (t.rank() < 1 || t.shape().back() != n) {
    throw ShapeError("bias of shape " + shape_to_string(b.shape()) + " does not match " +
                     shape_to_string(t.shape()));
  }
  if (n == 0) return;
  active_kernels().add_bias(t.mutable_values<float>().data(), t.num_elements() / n, n,
                            b.values<float>().data());
}

void round_to(Tensor& t, DType dtype) {
  if (dtype == DType::Float16) {
    for (float& v : t.mutable_values<float>()) v = half_to_float(float_to_half(v));
  } else if (dtype == DType::BFloat16) {
    for (float& v : t.mutable_values<float>()) v = bfloat16_to_float(float_to_bfloat16(v));
  }
}

Tensor rounded_to(const Tensor& t, DType dtype) {
  if (dtype != DType::Float16 && dtype != DType::BFloat16) return as_float32(t);
  if (t.dtype() == dtype) return t.to(DType::Float32);  // already representable
  Tensor out = t.dtype() == DType::Float32 ? t.clone() : t.to(DType::Float32);
  round_to(out, dtype);
  return out;
}

void scale(Tensor& t, float s) {
  for (float& v : t.mutable_values<float>()) v *= s;
}

}  // namespace kserde::ops
