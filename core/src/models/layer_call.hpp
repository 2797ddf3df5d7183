// Internal: one layer call inside a model, wrapped as Keras's Layer.__call__ wraps call().
#pragma once

#include "kserde/layer.hpp"

namespace kserde::detail {

// Runs `layer` on `args` with `ctx` (whose input_masks hold the masks of `args`, or are empty):
//   * floating inputs are cast to the layer's compute dtype (Keras's autocast; not for keras.ops
//     operations or layers with autocast off), and floating outputs of a layer whose compute
//     dtype is not float32 are cast to it (float16 / bfloat16 rounding, float64 storage);
//   * an explicit single "mask" argument becomes the first input's mask;
//   * `output_masks` receives the outputs' masks: those call() set (Keras's compute_mask), else
//     the previous mask on the first output when the layer supports masking, else none.
// Steady state allocates nothing (every list draws on the tensor buffer cache).
TensorList call_layer(Layer& layer, const TensorList& args, CallContext& ctx,
                      MaskList& output_masks);

// Casts floating tensors to `dtype` (others unchanged).
Tensor cast_floating(const Tensor& t, DType dtype);

}  // namespace kserde::detail
