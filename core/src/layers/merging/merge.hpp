// Shared base of Keras's merge layers (keras/src/layers/merging/base_merge.py): Add, Subtract,
// Multiply, Average, Maximum, Minimum (elementwise, this base does the work) and Concatenate, Dot
// (which override call and the shape rules). No variables.
//
// Elementwise broadcasting follows Keras: build checks the non-batch dimensions right-aligned
// (a 1 stretches, batch sizes must agree); at call time, inputs of lower rank get size-1 axes
// inserted at axis 1 until all ranks agree, then NumPy broadcasting applies.
// Masks: the output mask is the logical OR of the input masks when every input has one.
#pragma once

#include <optional>
#include <vector>

#include "layers/common.hpp"

namespace kserde::detail {

class Merge : public Layer {
 public:
  explicit Merge(std::shared_ptr<JsonDocument> d);

  TensorList call(const TensorList& inputs, CallContext& ctx) override;
  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override;

 protected:
  void build_impl(const std::vector<Shape>& in) override;
  // Combines float32 inputs of equal rank. `masks[i]` is input i's mask broadcast to its shape,
  // or empty. Returns the merged tensor.
  virtual Tensor merge(const TensorList& xs, const MaskList& masks) const = 0;
  // float64 inputs (a float64 policy): the double operation, folded left to right over the
  // inputs as Keras's NumPy backend computes it; nullptr (the default) computes in float32.
  // Average divides the sum by the input count afterwards.
  using DoubleOp = double (*)(double, double);
  virtual DoubleOp float64_op() const { return nullptr; }
  // merge() for float64 inputs when float64_op() is set. The default folds float64_op() and
  // ignores the masks (Add, Subtract, Average: masks set only the output mask, as in Keras).
  virtual Tensor merge_float64(const TensorList& xs, const MaskList& masks) const;
  virtual bool divides_by_count() const { return false; }
  // Exact input count the layer needs (0 = any count >= 1).
  virtual std::size_t exact_inputs() const { return 0; }
  void check_input_count(std::size_t n) const;
  // Input masks of this call (one entry per input; nullopt where absent).
  static MaskList input_masks(const CallContext& ctx, std::size_t n);
};

// The mask of `x` (shape x.shape[:-1] or x.shape) expanded to x's full shape, as Keras's
// broadcast_to(expand_dims(mask, -1), shape(x)).
Tensor expand_mask(const Tensor& mask, const Shape& x_shape, const std::string& where);

// NumPy's where(m, a, b) with broadcasting, over float64 values when `a` and `b` are both float64,
// else float32 values; `m` is any mask dtype.
Tensor select(const Tensor& m, const Tensor& a, const Tensor& b, const std::string& where);

// Keras's Merge._apply_merge_op_and_or_mask (Maximum, Minimum): folds `op` over the inputs,
// where a masked-out entry takes the other operand's value so it cannot win.
using BinaryOp = float (*)(float, float);
Tensor masked_fold(const TensorList& xs, const MaskList& masks, BinaryOp op,
                   const std::string& where);
// The same over float64 inputs.
Tensor masked_fold(const TensorList& xs, const MaskList& masks, double (*op)(double, double),
                   const std::string& where);

}  // namespace kserde::detail
