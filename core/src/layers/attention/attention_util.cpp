// Mask broadcasting, permutation, masked softmax and the sub-layers of MultiHeadAttention.
#include "layers/attention/attention_util.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "layers/activation_dtype.hpp"
#include "ops/gemm.hpp"
#include "ops/gemm_f64.hpp"
#include "ops/thread_pool.hpp"

namespace kserde::detail {

BoolArray to_bool_array(const Tensor& t) {
  BoolArray a{t.shape(), {}};
  const Tensor b = t.to(DType::Bool);
  for (bool v : b.values<bool>()) a.values.push_back(v ? 1 : 0);
  return a;
}

BoolArray expand_dims(const BoolArray& a, int axis) {
  const int rank = static_cast<int>(a.shape.size()) + 1;
  const int pos = axis < 0 ? axis + rank : axis;
  BoolArray out = a;
  out.shape.insert(out.shape.begin() + std::clamp(pos, 0, rank - 1), 1);
  return out;
}

namespace {

// Result shape of broadcasting a and b (right-aligned), or nullopt.
std::optional<Shape> broadcast_shape(const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank, 1);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[i] = std::max(da, db);
  }
  return out;
}

// Element strides of `s` viewed as `target` (right-aligned; broadcast axes get stride 0).
Shape broadcast_strides(const Shape& s, const Shape& target) {
  Shape strides(target.size(), 0);
  std::int64_t stride = 1;
  for (std::size_t k = 0; k < s.size(); ++k) {
    const std::size_t i = s.size() - 1 - k;
    const std::size_t j = target.size() - 1 - k;
    strides[j] = s[i] == 1 ? 0 : stride;
    stride *= s[i];
  }
  return strides;
}

// Calls f(source offset) for every element of `target` in row-major order.
template <class F>
void for_each_offset(const Shape& target, const Shape& strides, F f) {
  const std::int64_t total = shape_num_elements(target);
  Shape idx(target.size(), 0);
  std::int64_t off = 0;
  for (std::int64_t n = 0; n < total; ++n) {
    f(off);
    for (std::size_t k = target.size(); k-- > 0;) {
      if (++idx[k] < target[k]) {
        off += strides[k];
        break;
      }
      off -= strides[k] * (target[k] - 1);
      idx[k] = 0;
    }
  }
}

}  // namespace

ByteBuffer broadcast_to(const BoolArray& a, const Shape& target, const std::string& where) {
  auto s = broadcast_shape(a.shape, target);
  if (a.shape.size() > target.size() || !s || *s != target) {
    throw ShapeError(where + ": mask of shape " + shape_to_string(a.shape) +
                     " cannot be broadcast to " + shape_to_string(target));
  }
  ByteBuffer out;
  out.reserve(static_cast<std::size_t>(shape_num_elements(target)));
  for_each_offset(target, broadcast_strides(a.shape, target), [&](std::int64_t off) {
    out.push_back(a.values[static_cast<std::size_t>(off)]);
  });
  return out;
}

BoolArray logical_and(const std::optional<BoolArray>& a, const BoolArray& b,
                      const std::string& where) {
  if (!a) return b;
  auto s = broadcast_shape(a->shape, b.shape);
  if (!s) {
    throw ShapeError(where + ": masks of shapes " + shape_to_string(a->shape) + " and " +
                     shape_to_string(b.shape) + " cannot be combined");
  }
  const auto x = broadcast_to(*a, *s, where);
  const auto y = broadcast_to(b, *s, where);
  BoolArray out{*s, ByteBuffer(x.size())};
  for (std::size_t i = 0; i < x.size(); ++i) out.values[i] = static_cast<std::uint8_t>(x[i] & y[i]);
  return out;
}

Tensor permute(const Tensor& t, const Axes& perm) {
  const Shape& s = t.shape();
  Shape out_shape(perm.size());
  Shape src_strides(s.size(), 1);
  for (std::size_t i = s.size(); i-- > 1;) src_strides[i - 1] = src_strides[i] * s[i];
  Shape strides(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) {
    out_shape[i] = s[perm[i]];
    strides[i] = s[perm[i]] == 1 ? 0 : src_strides[perm[i]];
  }
  std::int64_t n = 0;
  if (t.dtype() == DType::Float64) {
    Tensor out = Tensor::uninitialized(out_shape, DType::Float64);  // every element written
    const double* src = t.values<double>().data();
    double* dst = out.mutable_values<double>().data();
    for_each_offset(out_shape, strides, [&](std::int64_t off) { dst[n++] = src[off]; });
    return out;
  }
  Tensor out = Tensor::uninitialized(out_shape, DType::Float32);  // every element written
  const float* src = t.f32();
  float* dst = out.f32_mut();
  for_each_offset(out_shape, strides, [&](std::int64_t off) { dst[n++] = src[off]; });
  return out;
}

namespace {

template <class T>
void softmax_rows(T* scores, std::int64_t rows, std::int64_t cols, const std::uint8_t* mask,
                  bool zero_masked) {
  constexpr T kLargeNegative = static_cast<T>(-1e9);
  // Rows are independent: split across the inference pool (an exp costs a few multiply-adds).
  constexpr double kWorkPerElement = 8;
  const double work = kWorkPerElement * static_cast<double>(rows) * static_cast<double>(cols);
  ops::parallel_for(rows, 1, work, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      T* row = scores + r * cols;
      const std::uint8_t* m = mask != nullptr ? mask + r * cols : nullptr;
      T mx = -std::numeric_limits<T>::infinity();
      for (std::int64_t c = 0; c < cols; ++c) {
        if (m != nullptr && m[c] == 0) row[c] = kLargeNegative;
        mx = std::max(mx, row[c]);
      }
      T sum = 0;
      for (std::int64_t c = 0; c < cols; ++c) {
        row[c] = std::exp(row[c] - mx);
        sum += row[c];
      }
      for (std::int64_t c = 0; c < cols; ++c) {
        row[c] = (zero_masked && m != nullptr && m[c] == 0) ? T(0) : row[c] / sum;
      }
    }
  });
}

}  // namespace

void masked_softmax_rows(float* scores, std::int64_t rows, std::int64_t cols,
                         const std::uint8_t* mask, bool zero_masked) {
  softmax_rows(scores, rows, cols, mask, zero_masked);
}

void masked_softmax_rows(double* scores, std::int64_t rows, std::int64_t cols,
                         const std::uint8_t* mask, bool zero_masked) {
  softmax_rows(scores, rows, cols, mask, zero_masked);
}

bool kwarg_flag(const CallContext& ctx, std::string_view name) {
  auto it = ctx.kwargs.find(name);
  if (it == ctx.kwargs.end() || it->second.num_elements() == 0) return false;
  const Tensor b = it->second.to(DType::Bool);
  return b.values<bool>()[0];
}

bool constant_flag(const std::map<std::string, Tensor>& constant_kwargs, const std::string& name) {
  auto it = constant_kwargs.find(name);
  if (it == constant_kwargs.end() || it->second.num_elements() == 0) return false;
  return it->second.to(DType::Bool).values<bool>()[0];
}

namespace {

std::shared_ptr<JsonDocument> sub_layer_dict(const std::string& class_name, const std::string& name,
                                             const JsonValue& dtype) {
  auto doc = std::make_shared<JsonDocument>();
  doc->SetObject();
  auto& a = doc->GetAllocator();
  doc->AddMember("module", "keras.layers", a);
  doc->AddMember("class_name", cfg::str(class_name, a), a);
  JsonValue c(rapidjson::kObjectType);
  c.AddMember("name", cfg::str(name, a), a);
  c.AddMember("trainable", true, a);
  JsonValue d;
  d.CopyFrom(dtype, a);
  c.AddMember("dtype", d, a);
  doc->AddMember("config", c, a);
  doc->AddMember("registered_name", JsonValue(), a);
  return doc;
}

std::string letters(std::size_t from, std::size_t count) {
  std::string s;
  for (std::size_t i = 0; i < count; ++i) s.push_back(static_cast<char>('a' + from + i));
  return s;
}

// The EinsumDense config Keras's MultiHeadAttention gives this projection (for display/saving).
std::shared_ptr<JsonDocument> projection_dict(const std::string& name, const JsonValue& dtype,
                                              std::size_t free_dims, const Shape& bound,
                                              const Shape& out, bool use_bias, bool sigmoid) {
  auto doc = sub_layer_dict("EinsumDense", name, dtype);
  auto& a = doc->GetAllocator();
  JsonValue& c = (*doc)["config"];
  const std::string free = letters(0, free_dims);
  const std::string bnd = letters(free_dims, bound.size());
  const std::string outl = letters(free_dims + bound.size(), out.size());
  Shape out_shape(free_dims + out.size() - 1 - out.size(), -1);
  out_shape.insert(out_shape.end(), out.begin(), out.end());
  c.AddMember("output_shape", cfg::from_shape(out_shape, a), a);
  c.AddMember("equation", cfg::str(free + bnd + "," + bnd + outl + "->" + free + outl, a), a);
  c.AddMember("activation", cfg::str(sigmoid ? "sigmoid" : "linear", a), a);
  if (use_bias) {
    c.AddMember("bias_axes", cfg::str(outl, a), a);
  } else {
    c.AddMember("bias_axes", JsonValue(), a);
  }
  return doc;
}

}  // namespace

WeightlessChild::WeightlessChild(const std::string& class_name, const std::string& name,
                                 const JsonValue& dtype)
    : Layer(sub_layer_dict(class_name, name, dtype)) {}

EinsumProjection::EinsumProjection(const std::string& name, const JsonValue& dtype,
                                   std::size_t free_dims, const Shape& bound, const Shape& out,
                                   bool use_bias, bool sigmoid)
    : Layer(projection_dict(name, dtype, free_dims, bound, out, use_bias, sigmoid)),
      bound_(bound),
      out_(out),
      use_bias_(use_bias),
      sigmoid_(sigmoid) {}

void EinsumProjection::build_impl(const std::vector<Shape>&) {
  Shape k = bound_;
  k.insert(k.end(), out_.begin(), out_.end());
  add_weight("kernel", k);
  if (use_bias_) add_weight("bias", out_);
}

Tensor EinsumProjection::project(const Tensor& x_in) const {
  const bool f64 = x_in.dtype() == DType::Float64;
  const Tensor x = f64 ? x_in : ops::as_float32(x_in);
  const std::size_t nb = bound_.size();
  if (x.rank() < nb + 1 || !std::equal(bound_.begin(), bound_.end(),
                                       x.shape().end() - static_cast<std::ptrdiff_t>(nb))) {
    throw ShapeError(describe() + ": input of shape " + shape_to_string(x.shape()) +
                     " does not end in " + shape_to_string(bound_));
  }
  const std::int64_t k = shape_num_elements(bound_);
  const std::int64_t n = shape_num_elements(out_);
  Shape flat(x.shape().begin(), x.shape().end() - static_cast<std::ptrdiff_t>(nb));
  Shape result = flat;
  flat.push_back(k);
  result.insert(result.end(), out_.begin(), out_.end());
  if (f64) {
    const Tensor w = variables().at(0).value.to(DType::Float64);
    Shape rows_out = flat;
    rows_out.back() = n;
    Tensor y = Tensor::uninitialized(rows_out, DType::Float64);  // written by the product
    const std::int64_t m = k == 0 ? 0 : x.num_elements() / k;
    ops::batched_gemm_f64(1, m, n, k, x.values<double>().data(), w.values<double>().data(), false,
                          y.mutable_values<double>().data());
    auto yv = y.mutable_values<double>();
    if (use_bias_) {
      const Tensor b = variables().at(1).value.to(DType::Float64);
      const auto bv = b.values<double>();
      for (std::size_t i = 0; i < yv.size(); ++i) yv[i] += bv[i % static_cast<std::size_t>(n)];
    }
    if (sigmoid_) {
      for (double& v : yv) v = 1.0 / (1.0 + std::exp(-v));
    }
    return y.reshaped(result);
  }
  const DType compute = compute_dtype();
  if (compute == DType::Float16 || compute == DType::BFloat16) {
    // As Keras's EinsumDense in a half type: operands rounded, the einsum (summed in float32)
    // rounded, the bias add rounded, each operation of the gate's sigmoid rounded.
    Tensor y = ops::matmul_last_axis(ops::rounded_to(x, compute).reshaped(flat),
                                     ops::rounded_to(weight(0), compute).reshaped({k, n}));
    ops::round_to(y, compute);
    if (use_bias_) {
      ops::add_bias_last_axis(y, ops::rounded_to(weight(1), compute).reshaped({n}));
      ops::round_to(y, compute);
    }
    if (sigmoid_) {
      const auto sig = builtin_activation("sigmoid");
      activate_half(*sig, y, compute);
    }
    return y.reshaped(result);
  }
  Tensor y = ops::matmul_last_axis(x.reshaped(flat), weight(0).reshaped({k, n}));
  if (use_bias_) ops::add_bias_last_axis(y, weight(1).reshaped({n}));
  if (sigmoid_) {
    for (float& v : y.mutable_values<float>()) v = 1.0f / (1.0f + std::exp(-v));
  }
  return y.reshaped(result);
}

TensorList EinsumProjection::call(const TensorList& inputs, CallContext&) {
  expect_inputs(inputs, 1);
  return {project(inputs[0])};
}

std::vector<Shape> EinsumProjection::compute_output_shape(const std::vector<Shape>& in) const {
  Shape s(in.at(0).begin(), in.at(0).end() - static_cast<std::ptrdiff_t>(bound_.size()));
  s.insert(s.end(), out_.begin(), out_.end());
  return {s};
}

}  // namespace kserde::detail
