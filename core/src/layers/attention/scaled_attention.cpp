#include "layers/attention/scaled_attention.hpp"

#include <algorithm>
#include <cmath>

#include "layers/activation_dtype.hpp"
#include "ops/gemm.hpp"
#include "ops/gemm_f64.hpp"

namespace kserde::detail {

namespace {

std::optional<Tensor> input_mask(const CallContext& ctx, std::size_t i) {
  return i < ctx.input_masks.size() ? ctx.input_masks[i] : std::nullopt;
}

const Tensor* kwarg(const CallContext& ctx, const char* name) {
  auto it = ctx.kwargs.find(name);
  return it == ctx.kwargs.end() ? nullptr : &it->second;
}

// (1, tq, tv) from a predicate on (row, column).
template <class F>
BoolArray position_mask(std::int64_t tq, std::int64_t tv, F keep) {
  BoolArray m{{1, tq, tv}, {}};
  for (std::int64_t i = 0; i < tq; ++i) {
    for (std::int64_t j = 0; j < tv; ++j) m.values.push_back(keep(i, j) ? 1 : 0);
  }
  return m;
}

// Attention over the projected q (.., heads, key_dim), k, v; returns (.., heads, value_dim) in
// q's layout and sets `scores` to the probabilities (batch axes.., query axes.., key axes..).
// `T` is float (float32 operands) or double (float64 operands).
// `half` (float16/bfloat16; float32 for none) rounds where Keras's NumPy backend computes in the
// half type: fused, the q k^T einsum (float16 only: bfloat16 operands are einsummed in
// float32), then scale and softmax in float32, the probabilities and the weighted values
// rounded; otherwise the query scaling, the scores, Softmax's operations and the weighted values.
template <class T>
Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v,
              const std::optional<BoolArray>& mask, bool fused, Tensor& scores, DType half,
              const AttentionGeometry& g) {
  const bool hp = half != DType::Float32;
  const std::string& w = g.who;
  const std::int64_t key_dim_ = g.key_dim;
  const std::int64_t value_dim_ = g.value_dim;
  const std::size_t r = q.rank();
  detail::Axes batch_axes;
  detail::Axes attn_axes;
  for (std::int64_t a : g.attention_axes) attn_axes.push_back(static_cast<std::size_t>(a));
  for (std::size_t a = 0; a + 1 < r; ++a) {
    if (std::find(attn_axes.begin(), attn_axes.end(), a) == attn_axes.end())
      batch_axes.push_back(a);
  }
  std::int64_t nb = 1, tq = 1, tk = 1;
  Shape score_shape;
  for (std::size_t a : batch_axes) {
    if (k.dim(a) != q.dim(a) || v.dim(a) != q.dim(a)) {
      throw ShapeError(w + ": query " + shape_to_string(q.shape()) + " and key/value " +
                       shape_to_string(k.shape()) + " differ on non-attention axis " +
                       std::to_string(a));
    }
    nb *= q.dim(a);
    score_shape.push_back(q.dim(a));
  }
  for (std::size_t a : attn_axes) {
    tq *= q.dim(a);
    score_shape.push_back(q.dim(a));
  }
  for (std::size_t a : attn_axes) {
    tk *= k.dim(a);
    score_shape.push_back(k.dim(a));
  }
  detail::Axes perm = batch_axes;
  perm.insert(perm.end(), attn_axes.begin(), attn_axes.end());
  perm.push_back(r - 1);
  Tensor qp = detail::permute(q, perm);
  const Tensor kp = detail::permute(k, perm);
  const Tensor vp = detail::permute(v, perm);
  constexpr bool kF64 = sizeof(T) == 8;
  constexpr DType kType = kF64 ? DType::Float64 : DType::Float32;
  if constexpr (kF64) {
    // Keras's Python float 1 / sqrt(key_dim), cast to the query's dtype.
    const double inv_sqrt = 1.0 / std::sqrt(static_cast<double>(key_dim_));
    if (!fused) {
      for (double& e : qp.mutable_values<double>()) e *= inv_sqrt;
    }
    scores = Tensor::uninitialized({nb, tq, tk}, kType);  // written by the product
    double* s = scores.mutable_values<double>().data();
    ops::batched_gemm_f64(nb, tq, tk, key_dim_, qp.values<double>().data(),
                          kp.values<double>().data(), true, s);
    if (fused) {
      for (std::int64_t i = 0; i < nb * tq * tk; ++i) s[i] *= inv_sqrt;
    }
  } else {
    // Half types: Keras's Python float 1 / sqrt(key_dim) cast to float32 (fused) or to the
    // half type (the query scaling).
    const float inv_sqrt = hp ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(key_dim_)))
                              : 1.0f / std::sqrt(static_cast<float>(key_dim_));
    // Keras scales the query on this path, the logits on the fused one.
    if (!fused && hp) {
      ops::scale(
          qp,
          ops::rounded_to(Tensor::from_floats({}, std::vector<float>{inv_sqrt}), half).f32()[0]);
      ops::round_to(qp, half);
    } else if (!fused) {
      ops::scale(qp, inv_sqrt);
    }
    scores = Tensor::uninitialized({nb, tq, tk}, kType);  // written by the product
    float* s = scores.f32_mut();
    ops::batched_gemm(nb, tq, tk, key_dim_, qp.f32(), kp.f32(), true, s);
    if (hp && (!fused || half == DType::Float16)) ops::round_to(scores, half);
    if (fused) {
      for (std::int64_t i = 0; i < nb * tq * tk; ++i) s[i] *= inv_sqrt;
    }
  }
  T* s = scores.template mutable_values<T>().data();
  detail::ByteBuffer keep;
  if (mask) {
    BoolArray m = *mask;
    if (m.shape.size() > score_shape.size()) {
      throw ShapeError(w + ": attention mask of shape " + shape_to_string(m.shape) +
                       " has more dimensions than the scores " + shape_to_string(score_shape));
    }
    const int axis = -2 * static_cast<int>(attn_axes.size()) - 1;
    while (m.shape.size() < score_shape.size()) m = detail::expand_dims(m, axis);
    keep = detail::broadcast_to(m, score_shape, w);
  }
  if constexpr (!kF64) {
    if (hp && !fused) {
      // Keras's Softmax layer in the half type: masked logits replaced by -3e4 (float16) or
      // -1e9, each softmax operation rounded, masked results replaced by 0.
      const float neg = half == DType::Float16 ? -3e4f : -1e9f;
      const float neg_h =
          ops::rounded_to(Tensor::from_floats({}, std::vector<float>{neg}), half).f32()[0];
      for (std::size_t i = 0; i < keep.size(); ++i) {
        if (keep[i] == 0) s[i] = neg_h;
      }
      Tensor rows = scores.clone().reshaped({nb * tq, tk});
      detail::activate_half(*builtin_activation("softmax"), rows, half);
      std::copy(rows.f32(), rows.f32() + nb * tq * tk, s);
      for (std::size_t i = 0; i < keep.size(); ++i) {
        if (keep[i] == 0) s[i] = 0.0f;
      }
    } else {
      detail::masked_softmax_rows(s, nb * tq, tk, keep.empty() ? nullptr : keep.data(), !fused);
      if (hp) ops::round_to(scores, half);  // probs.astype(the half type)
    }
  } else {
    detail::masked_softmax_rows(s, nb * tq, tk, keep.empty() ? nullptr : keep.data(), !fused);
  }

  Shape o_shape;
  for (std::size_t a : perm) o_shape.push_back(q.dim(a));
  o_shape.back() = value_dim_;
  Tensor o = Tensor::uninitialized(o_shape, kType);  // written by the product
  if constexpr (kF64) {
    ops::batched_gemm_f64(nb, tq, value_dim_, tk, s, vp.values<double>().data(), false,
                          o.mutable_values<double>().data());
  } else {
    ops::batched_gemm(nb, tq, value_dim_, tk, s, vp.f32(), false, o.f32_mut());
    if (hp) ops::round_to(o, half);
  }
  scores = scores.reshaped(score_shape);
  detail::Axes inverse(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = i;
  return detail::permute(o, inverse);
}

}  // namespace

std::optional<BoolArray> combined_attention_mask(const CallContext& ctx, std::int64_t tq,
                                                 std::int64_t tv, bool causal,
                                                 std::int64_t sliding_window,
                                                 const std::string& w) {
  std::optional<BoolArray> mask;
  const std::optional<Tensor> query_mask = input_mask(ctx, 0);
  if (query_mask)
    mask =
        detail::logical_and(mask, detail::expand_dims(detail::to_bool_array(*query_mask), -1), w);
  const Tensor* vm = kwarg(ctx, "value_mask");
  const std::optional<Tensor> value_mask =
      vm != nullptr ? std::optional<Tensor>(*vm) : input_mask(ctx, 1);
  if (value_mask)
    mask =
        detail::logical_and(mask, detail::expand_dims(detail::to_bool_array(*value_mask), -2), w);
  const Tensor* km = kwarg(ctx, "key_mask");
  const std::optional<Tensor> key_mask =
      km != nullptr ? std::optional<Tensor>(*km) : input_mask(ctx, 2);
  if (key_mask)
    mask = detail::logical_and(mask, detail::expand_dims(detail::to_bool_array(*key_mask), -2), w);
  if (causal) {
    mask =
        detail::logical_and(mask, position_mask(tq, tv, [](auto i, auto j) { return i >= j; }), w);
  }
  if (sliding_window > 0) {
    const std::int64_t sw = sliding_window;
    mask = detail::logical_and(
        mask, position_mask(tq, tv, [sw](auto i, auto j) { return std::abs(i - j) < sw; }), w);
  }
  if (const Tensor* am = kwarg(ctx, "attention_mask")) {
    mask = detail::logical_and(mask, detail::to_bool_array(*am), w);
  }
  return mask;
}

Tensor scaled_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                        const std::optional<BoolArray>& mask, bool fused, Tensor& scores,
                        DType half, const AttentionGeometry& geometry) {
  return q.dtype() == DType::Float64 ? attend<double>(q, k, v, mask, fused, scores, half, geometry)
                                     : attend<float>(q, k, v, mask, fused, scores, half, geometry);
}

}  // namespace kserde::detail
