// Internal tensor helpers shared by the merging, normalization, core and reshaping layers:
// NumPy-style broadcasting, transposition, axis canonicalization, and config axis parsing.
// Everything works on concrete tensors (no -1 dimensions) unless stated otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kserde/json.hpp"
#include "kserde/layer.hpp"
#include "kserde/tensor.hpp"
#include "layers/common.hpp"

namespace kserde::detail {

// Row-major strides (in elements) of a shape.
Shape strides_of(const Shape& shape);

// NumPy broadcast of two shapes (right-aligned; a dimension of 1 stretches). -1 (unknown) is
// allowed and propagates unless the other side is a known dimension > 1. Throws ShapeError
// "<where>: ..." for incompatible shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& where);

// Strides of `shape` viewed as broadcast to `target` (0 where the dimension is stretched).
// `shape` must broadcast to `target`.
Shape broadcast_strides(const Shape& shape, const Shape& target);

// Copy of `x` (any dtype) broadcast to `target`.
Tensor broadcast_to(const Tensor& x, const Shape& target, const std::string& where);

// out[i...] = f(a[...], b[...]) over the broadcast shape of two float32 tensors (`T` float), or
// two float64 tensors (`T` double).
template <class T = float, class F>
Tensor broadcast_binary(const Tensor& a, const Tensor& b, F f, const std::string& where) {
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), where);
  Tensor out = Tensor::recycled_zeros(out_shape, sizeof(T) == 8 ? DType::Float64 : DType::Float32);
  const T* pa = a.template values<T>().data();
  const T* pb = b.template values<T>().data();
  T* po = out.template mutable_values<T>().data();
  const std::int64_t n = out.num_elements();
  if (a.shape() == b.shape()) {  // the common case: no index arithmetic
    for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    return out;
  }
  if (n == 0) return out;
  const auto sa = broadcast_strides(a.shape(), out_shape);
  const auto sb = broadcast_strides(b.shape(), out_shape);
  const std::size_t rank = out_shape.size();
  if (rank == 0) {
    po[0] = f(pa[0], pb[0]);
    return out;
  }
  // Odometer over all but the last axis; the last axis is the inner loop.
  Shape idx(rank, 0);
  const std::int64_t inner = out_shape.back();
  const std::int64_t ia = sa.back();
  const std::int64_t ib = sb.back();
  std::int64_t oa = 0;
  std::int64_t ob = 0;
  for (std::int64_t o = 0; o < n; o += inner) {
    for (std::int64_t j = 0; j < inner; ++j) po[o + j] = f(pa[oa + j * ia], pb[ob + j * ib]);
    for (std::size_t d = rank - 1; d-- > 0;) {
      if (++idx[d] < out_shape[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= sa[d] * (idx[d] - 1);
      ob -= sb[d] * (idx[d] - 1);
      idx[d] = 0;
    }
  }
  return out;
}

// Permutes the axes of `x` (any dtype): out.shape[i] = x.shape[perm[i]].
Tensor transpose(const Tensor& x, const Axes& perm);

// The permutation that keeps the axes not in `axes` in order and moves `axes` (in the given
// order) to the end; and the inverse of a permutation.
Axes axes_last_perm(std::size_t rank, const Axes& axes);
Axes inverse_perm(const Axes& perm);

// Applies `fn(row, n)` to each row of `x` viewed with `axes` (sorted, distinct) moved last and
// flattened into rows of n = prod(dims at axes) float32 values; returns the result in x's layout.
// The offset of an element within its row is its row-major index over `axes`, i.e. the flat
// index into a parameter of shape (dims at axes).
// `T` is the element type of `x` (float, or double for float64 tensors).
template <class T = float, class Fn>
Tensor map_rows(const Tensor& x, const Axes& axes, Fn fn) {
  const auto perm = axes_last_perm(x.rank(), axes);
  Tensor t = transpose(x, perm).clone();
  std::int64_t n = 1;
  for (std::size_t a : axes) n *= x.dim(a);
  T* p = t.template mutable_values<T>().data();
  if (n > 0) {
    for (std::int64_t r = 0; r < t.num_elements() / n; ++r) fn(p + r * n, n);
  }
  return transpose(t, inverse_perm(perm));
}

// Pads (positive) or crops (negative) each axis of `x` (any dtype) by before[i] / after[i]
// elements; padding is zero-filled.
Tensor pad_or_crop(const Tensor& x, const Shape& before, const Shape& after);

// Python-style axis in [-rank, rank) -> [0, rank); ShapeError "<where>: ..." when out of range.
std::size_t canonical_axis(std::int64_t axis, std::size_t rank, const std::string& where);
// The same, naming `layer` (described only when the axis is out of bounds: calls stay
// allocation-free).
std::size_t canonical_axis(std::int64_t axis, std::size_t rank, const Layer& layer);

// A config "axis" value that is an int or a list of ints; ConfigError naming `key` otherwise.
std::vector<std::int64_t> axis_values(const JsonValue& config, const char* key,
                                      const std::string& where, std::int64_t fallback);

// A numeric config value as a float32 tensor: a number (rank 0), a nested list (its shape), or
// a serialized array {"class_name": "__numpy__" or "__tensor__", "config": {"value": ...}}.
// ConfigError "<where>: '<key>' ..." for anything else or ragged lists.
Tensor array_from_json(const JsonValue& v, const std::string& key, const std::string& where);

// Per-axis (before, after) amounts from a config entry, as ZeroPadding/Cropping accept them:
// n == 1: an int p or a pair [a, b]; n > 1: an int p, a list of n ints (symmetric per axis), or a
// list of n pairs. Negative values are a ConfigError. The config entry is rewritten to Keras's
// normalized form ([a, b] for n == 1, [[a, b], ...] otherwise), as its get_config writes it.
std::vector<std::pair<std::int64_t, std::int64_t>> border_pairs(JsonDocument& object_dict,
                                                                const char* key, std::size_t n,
                                                                const std::string& where);

}  // namespace kserde::detail
