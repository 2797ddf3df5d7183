// Internal helpers of the attention layers: boolean masks with NumPy broadcasting, axis
// permutation, masked softmax, and the weightless/projection sub-layers MultiHeadAttention owns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "layers/common.hpp"

namespace kserde::detail {

// A boolean array (1 = attend), shaped like a NumPy bool array.
struct BoolArray {
  Shape shape;
  ByteBuffer values;
};

// Nonzero -> true, any dtype.
BoolArray to_bool_array(const Tensor& t);
// NumPy expand_dims (negative axes count from the end of the result).
BoolArray expand_dims(const BoolArray& a, int axis);
// a & b with NumPy broadcasting (ShapeError naming `where` when incompatible); a missing operand
// yields the other one.
BoolArray logical_and(const std::optional<BoolArray>& a, const BoolArray& b,
                      const std::string& where);
// `a` broadcast to `target` (same rank or lower; right-aligned), as a dense row-major array.
ByteBuffer broadcast_to(const BoolArray& a, const Shape& target, const std::string& where);

// Row-major float32 or float64 transpose: out.shape[i] = t.shape[perm[i]].
Tensor permute(const Tensor& t, const Axes& perm);

// Softmax of each row of a (rows, cols) block. Entries whose mask byte is 0 are replaced by -1e9
// first (Keras's Softmax layer and dot_product_attention); with `zero_masked` they are set to 0
// afterwards (the Softmax layer does, dot_product_attention does not).
void masked_softmax_rows(float* scores, std::int64_t rows, std::int64_t cols,
                         const std::uint8_t* mask, bool zero_masked);
// The same in double (float64 policies).
void masked_softmax_rows(double* scores, std::int64_t rows, std::int64_t cols,
                         const std::uint8_t* mask, bool zero_masked);

// True when a keyword flag (use_causal_mask, return_attention_scores) is present and nonzero. Keras
// passes these as Python bools; kserde callers pass them as scalar tensors in ctx.kwargs.
bool kwarg_flag(const CallContext& ctx, std::string_view name);
// The same for a graph node's plain keyword arguments (output shapes at load time).
bool constant_flag(const std::map<std::string, Tensor>& constant_kwargs, const std::string& name);

// A sub-layer without variables, present so the saving traversal writes its (empty) group, like
// MultiHeadAttention's `_softmax` and `_dropout_layer`.
class WeightlessChild final : public Layer {
 public:
  WeightlessChild(const std::string& class_name, const std::string& name, const JsonValue& dtype);
  TensorList call(const TensorList& inputs, CallContext&) override { return inputs; }
};

// The EinsumDense projections inside MultiHeadAttention: `bound_dims` trailing input axes are
// contracted with a kernel of shape (*bound, *out) and replaced by `out`; bias shape `out`.
// A float64 input is projected in double (the float64 policy), anything else in float32.
// Variables: 0 kernel, 1 bias (when use_bias). Class name "EinsumDense" like Keras's sub-layers.
class EinsumProjection final : public Layer {
 public:
  EinsumProjection(const std::string& name, const JsonValue& dtype, std::size_t free_dims,
                   const Shape& bound, const Shape& out, bool use_bias, bool sigmoid);
  TensorList call(const TensorList& inputs, CallContext&) override;
  Tensor project(const Tensor& x) const;
  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override;

 protected:
  void build_impl(const std::vector<Shape>&) override;

 private:
  Shape bound_;
  Shape out_;
  bool use_bias_;
  bool sigmoid_;
};

}  // namespace kserde::detail
