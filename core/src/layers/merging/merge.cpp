#include "layers/merging/merge.hpp"

#include <set>

#include "layers/merging/tensor_algebra.hpp"

namespace kserde::detail {

namespace {

// Keras's _compute_elemwise_op_output_shape: right-aligned, 1 stretches, unknown stays unknown.
Shape elementwise_shape(const Shape& a, const Shape& b, const std::string& where) {
  if (a.size() < b.size()) return elementwise_shape(b, a, where);
  Shape out(a.begin(), a.end() - static_cast<std::ptrdiff_t>(b.size()));
  const std::size_t off = a.size() - b.size();
  for (std::size_t k = 0; k < b.size(); ++k) {
    const std::int64_t i = a[off + k];
    const std::int64_t j = b[k];
    if (i < 0 || j < 0) {
      out.push_back(-1);
    } else if (i == 1) {
      out.push_back(j);
    } else if (j == 1 || i == j) {
      out.push_back(i);
    } else {
      throw ShapeError(where + ": inputs have incompatible shapes " + shape_to_string(a) + " and " +
                       shape_to_string(b));
    }
  }
  return out;
}

Tensor as_bool(const Tensor& t) {
  return t.dtype() == DType::Bool ? t : t.to(DType::Bool);
}

}  // namespace

Merge::Merge(std::shared_ptr<JsonDocument> d) : Layer(std::move(d)) {
  config_default("trainable", "true");
  config_default("dtype", kDefaultDTypePolicy);
}

void Merge::check_input_count(std::size_t n) const {
  if (n == 0 || (exact_inputs() != 0 && n != exact_inputs())) {
    throw ShapeError(describe() + " should be called on " +
                     (exact_inputs() != 0 ? "exactly " + std::to_string(exact_inputs())
                                          : std::string("a list of at least 1")) +
                     " input(s), got " + std::to_string(n));
  }
}

void Merge::build_impl(const std::vector<Shape>& in) {
  check_input_count(in.size());
  compute_output_shape(in);  // validates batch sizes and broadcasting
}

std::vector<Shape> Merge::compute_output_shape(const std::vector<Shape>& in) const {
  check_input_count(in.size());
  std::set<std::int64_t> batches;
  for (const Shape& s : in) {
    if (s.empty()) throw ShapeError(describe() + ": inputs need a batch dimension");
    if (s[0] >= 0) batches.insert(s[0]);
  }
  if (batches.size() > 1) {
    throw ShapeError(describe() + ": cannot merge tensors with different batch sizes");
  }
  Shape out(in[0].begin() + 1, in[0].end());
  for (std::size_t i = 1; i < in.size(); ++i) {
    out = elementwise_shape(out, Shape(in[i].begin() + 1, in[i].end()), describe());
  }
  Shape result{batches.empty() ? -1 : *batches.begin()};
  result.insert(result.end(), out.begin(), out.end());
  return {result};
}

MaskList Merge::input_masks(const CallContext& ctx, std::size_t n) {
  MaskList m(n);
  for (std::size_t i = 0; i < n && i < ctx.input_masks.size(); ++i) m[i] = ctx.input_masks[i];
  return m;
}

Tensor expand_mask(const Tensor& mask, const Shape& x_shape, const std::string& where) {
  Tensor m = as_bool(mask);
  if (m.rank() + 1 == x_shape.size()) {
    Shape s = m.shape();
    s.push_back(1);
    m = m.reshaped(s);
  }
  return broadcast_to(m, x_shape, where);
}

namespace {

template <class T>
Tensor select_as(const Tensor& m, const Tensor& a, const Tensor& b, const std::string& where) {
  const Shape shape =
      broadcast_shapes(broadcast_shapes(m.shape(), a.shape(), where), b.shape(), where);
  const Tensor mm = broadcast_to(m.to(DType::Bool), shape, where);
  const Tensor aa = broadcast_to(a, shape, where);
  const Tensor bb = broadcast_to(b, shape, where);
  Tensor out = Tensor::recycled_zeros(shape, dtype_of<T>());
  const auto flags = mm.values<bool>();
  const T* pa = aa.values<T>().data();
  const T* pb = bb.values<T>().data();
  T* po = out.mutable_values<T>().data();
  for (std::size_t i = 0; i < flags.size(); ++i) po[i] = flags[i] ? pa[i] : pb[i];
  return out;
}

template <class T>
Tensor masked_fold_as(const TensorList& xs, const MaskList& masks, T (*op)(T, T),
                      const std::string& where) {
  Tensor out = xs[0];
  std::optional<Tensor> out_mask = masks[0];
  for (std::size_t i = 1; i < xs.size(); ++i) {
    Tensor x = xs[i];
    const std::optional<Tensor>& m = masks[i];
    if (m) x = select(*m, x, out, where);
    if (out_mask) out = select(*out_mask, out, x, where);
    if (m && out_mask) {
      out_mask = broadcast_binary(
                     out_mask->to(DType::Float32), m->to(DType::Float32),
                     [](float a, float b) { return (a != 0.0f || b != 0.0f) ? 1.0f : 0.0f; }, where)
                     .to(DType::Bool);
    } else {
      out_mask.reset();
    }
    out = broadcast_binary<T>(out, x, op, where);
  }
  return out;
}

}  // namespace

Tensor select(const Tensor& m, const Tensor& a, const Tensor& b, const std::string& where) {
  if (a.dtype() == DType::Float64 && b.dtype() == DType::Float64) {
    return select_as<double>(m, a, b, where);
  }
  return select_as<float>(m, a, b, where);
}

Tensor masked_fold(const TensorList& xs, const MaskList& masks, BinaryOp op,
                   const std::string& where) {
  return masked_fold_as<float>(xs, masks, op, where);
}

Tensor masked_fold(const TensorList& xs, const MaskList& masks, double (*op)(double, double),
                   const std::string& where) {
  return masked_fold_as<double>(xs, masks, op, where);
}

Tensor Merge::merge_float64(const TensorList& xs, const MaskList&) const {
  Tensor y = xs[0].clone();
  for (std::size_t i = 1; i < xs.size(); ++i) {
    y = broadcast_binary<double>(y, xs[i], float64_op(), describe());
  }
  if (divides_by_count()) {
    const auto n = static_cast<double>(xs.size());
    for (double& v : y.mutable_values<double>()) v /= n;
  }
  return y;
}

TensorList Merge::call(const TensorList& inputs, CallContext& ctx) {
  check_input_count(inputs.size());
  std::size_t max_rank = 0;
  for (const Tensor& x : inputs) max_rank = std::max(max_rank, x.rank());
  const auto raw_masks = input_masks(ctx, inputs.size());
  bool in_double = float64_op() != nullptr;
  for (const Tensor& x : inputs) in_double = in_double && x.dtype() == DType::Float64;
  TensorList xs;
  xs.reserve(inputs.size());
  for (const Tensor& x : inputs) {
    Tensor f = in_double ? x : ops::as_float32(x);
    if (f.rank() < max_rank) {  // Keras inserts the missing axes right after the batch axis
      Shape s = f.shape();
      s.insert(s.begin() + (s.empty() ? 0 : 1), max_rank - f.rank(), 1);
      f = f.reshaped(s);
    }
    xs.push_back(std::move(f));
  }
  ctx.output_masks.clear();
  const DType compute = compute_dtype();
  bool unmasked = true;
  for (const auto& m : raw_masks) unmasked = unmasked && !m;
  if (!in_double && unmasked && float64_op() != nullptr &&
      (compute == DType::Float16 || compute == DType::BFloat16)) {
    // Half types: each NumPy operation of the fold rounded (in float32, then to the half type).
    const DoubleOp op = float64_op();
    const auto f = [op](float a, float b) { return static_cast<float>(op(a, b)); };
    Tensor y = ops::rounded_to(xs[0], compute);
    for (std::size_t i = 1; i < xs.size(); ++i) {
      y = broadcast_binary(y, ops::rounded_to(xs[i], compute), f, describe());
      ops::round_to(y, compute);
    }
    if (divides_by_count()) {
      const auto n = static_cast<float>(xs.size());
      for (float& v : y.mutable_values<float>()) v /= n;
      ops::round_to(y, compute);
    }
    return {y};
  }
  MaskList masks(inputs.size());
  bool all_masked = !inputs.empty();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (raw_masks[i]) {
      masks[i] = expand_mask(*raw_masks[i], xs[i].shape(), describe());
    } else {
      all_masked = false;
    }
  }
  Tensor y = in_double ? merge_float64(xs, masks) : merge(xs, masks);
  if (all_masked) {
    // Output mask: OR of the input masks (broadcast), as Merge.compute_mask.
    Tensor acc = raw_masks[0]->to(DType::Float32);
    for (std::size_t i = 1; i < raw_masks.size(); ++i) {
      acc = broadcast_binary(
          acc, raw_masks[i]->to(DType::Float32),
          [](float a, float b) { return (a != 0.0f || b != 0.0f) ? 1.0f : 0.0f; }, describe());
    }
    ctx.output_masks.emplace_back(acc.to(DType::Bool));
  }
  return {y};
}

}  // namespace kserde::detail
